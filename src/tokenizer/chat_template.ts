/**
 * Chat templates: renders a conversation into the prompt text a model was trained on, with the model's Jinja
 * `chat_template` (via `@huggingface/jinja`, which trims blocks like `transformers` does), and a plain fallback for
 * models that ship none.
 */
import { Template } from "@huggingface/jinja";
import { MaxentError } from "../errors.ts";

/** One conversation turn, as `transformers`' `apply_chat_template` takes it. */
export interface ChatMessage {
  role: string;
  content: string;
}

/** The special-token strings a template may refer to (`{{ bos_token }}`, `eos_token`, …); absent ones stay undefined. */
export interface TemplateTokens {
  bos_token?: string;
  eos_token?: string;
  pad_token?: string;
  unk_token?: string;
}

/**
 * The `chat_template` field of tokenizer_config.json: one template string, or the list-of-named-templates form
 * (`[{name, template}]`), of which maxent uses the one named "default".
 */
export type ChatTemplateField = string | Array<{ name: string; template: string }>;

const compiled = new Map<string, Template>();

/**
 * Picks the template maxent uses from a `chat_template` field: the string itself, or the entry named "default" of the
 * list form. Throws MaxentError (naming `source`) when the field is malformed or the list has no "default".
 */
export function selectChatTemplate(field: unknown, source: string): string {
  if (typeof field === "string") return field;
  if (Array.isArray(field)) {
    const names: string[] = [];
    for (const entry of field) {
      if (entry === null || typeof entry !== "object" || typeof entry.name !== "string") {
        throw new MaxentError(`${source}: chat_template list entries must be {"name": ..., "template": ...} objects`);
      }
      names.push(entry.name);
      if (entry.name === "default") {
        if (typeof entry.template !== "string") {
          throw new MaxentError(`${source}: chat_template entry "default" has no template string`);
        }
        return entry.template;
      }
    }
    throw new MaxentError(
      `${source}: chat_template lists templates ${JSON.stringify(names)} but none named "default"; ` +
        `set the recipe's chat_template to the template text you want`,
    );
  }
  throw new MaxentError(`${source}: chat_template must be a string or a list of {name, template}`);
}

/**
 * Renders `messages` with a Jinja chat template, passing `messages`, `add_generation_prompt` and the special-token
 * strings as `transformers` does. Template syntax or runtime errors become MaxentError naming `source`.
 *
 * @example
 * ```ts
 * const text = renderChatTemplate(
 *   "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}",
 *   [{ role: "user", content: "hi" }], { addGenerationPrompt: false, tokens: {}, source: "example" },
 * );
 * // "<|im_start|>user\nhi<|im_end|>\n"
 * ```
 */
export function renderChatTemplate(
  template: string,
  messages: ChatMessage[],
  opts: { addGenerationPrompt: boolean; tokens: TemplateTokens; source: string },
): string {
  let tpl = compiled.get(template);
  if (tpl === undefined) {
    try {
      tpl = new Template(template);
    } catch (e) {
      throw new MaxentError(`chat template from ${opts.source} does not parse: ${errorText(e)}`, { cause: e });
    }
    compiled.set(template, tpl);
  }
  const context: Record<string, unknown> = {
    messages: messages.map((m) => ({ role: m.role, content: m.content })),
    add_generation_prompt: opts.addGenerationPrompt,
  };
  for (const [k, v] of Object.entries(opts.tokens)) if (typeof v === "string") context[k] = v;
  try {
    return tpl.render(context);
  } catch (e) {
    throw new MaxentError(`chat template from ${opts.source} failed to render: ${errorText(e)}`, { cause: e });
  }
}

/**
 * The fallback for models without a chat template: the messages' contents in order, separated by a blank line
 * (`system\n\nuser`), with no role markers and no generation prompt.
 */
export function plainChatFormat(messages: ChatMessage[]): string {
  return messages.map((m) => m.content).join("\n\n");
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
