/**
 * Prompt building, as open-r1 / TRL do it: an optional system message (`system_prompt`), the user message from the
 * prompt column, the tokenizer's chat template with `add_generation_prompt: true`, tokenised without special tokens,
 * and `max_prompt_length` truncation that keeps the LAST tokens (TRL ≤ 0.27 tokenised prompts with
 * `truncation_side="left"`; TRL 0.28 dropped `max_prompt_length`, the seed recipes still set it).
 */
import type { ChatMessage, Example } from "./types.ts";

/** Prompt settings from the recipe. */
export interface PromptOptions {
  /** `system_prompt`: prepended as a system message unless the example's messages already have one. */
  systemPrompt?: string;
  /** `max_prompt_length` in tokens; longer prompts keep their last tokens. Absent or ≤ 0: no limit. */
  maxPromptLength?: number;
  /** `chat_template` override (a Jinja template); the tokenizer's own template otherwise. */
  chatTemplate?: string;
}

/** What prompt building needs from a tokenizer (`src/tokenizer` implements it). */
export interface ChatTokenizer {
  encode(text: string, opts?: { addSpecialTokens?: boolean }): number[];
  applyChatTemplate(
    messages: Array<{ role: string; content: string }>,
    opts?: { addGenerationPrompt?: boolean; chatTemplate?: string },
  ): string;
  /** Optional: lets a truncated prompt's `text` match its kept ids. */
  decode?(ids: number[], opts?: { skipSpecialTokens?: boolean }): string;
}

/** A built prompt. */
export interface BuiltPrompt {
  /** The rendered prompt (decoded from the kept ids when truncated and the tokenizer can decode). */
  text: string;
  /** Prompt token ids (no special tokens added beyond what the template writes), at most `maxPromptLength`. */
  ids: number[];
  /** Whether tokens were cut from the front. */
  truncated: boolean;
}

/**
 * The conversation for an example: its message list (trailing assistant turns dropped, so a dataset's answer never
 * leaks into the prompt) or one user message with `example.prompt`; the system prompt goes first unless a system
 * message exists (open-r1 adds it whenever `system_prompt` is set, even to "").
 */
export function promptMessages(example: Example, systemPrompt?: string): ChatMessage[] {
  const messages = example.messages
    ? example.messages.map((m) => ({ role: m.role, content: m.content }))
    : [{ role: "user", content: example.prompt }];
  while (messages.length > 1 && messages[messages.length - 1].role === "assistant") messages.pop();
  if (systemPrompt != null && !messages.some((m) => m.role === "system")) {
    messages.unshift({ role: "system", content: systemPrompt });
  }
  return messages;
}

/**
 * Renders and tokenises one example's prompt.
 *
 * @example
 * ```ts
 * const { text, ids, truncated } = buildPrompt(example, tokenizer, { systemPrompt: "Be brief.", maxPromptLength: 512 });
 * ```
 */
export function buildPrompt(example: Example, tokenizer: ChatTokenizer, opts: PromptOptions): BuiltPrompt {
  const messages = promptMessages(example, opts.systemPrompt);
  const text = tokenizer.applyChatTemplate(messages, {
    addGenerationPrompt: true,
    ...(opts.chatTemplate !== undefined ? { chatTemplate: opts.chatTemplate } : {}),
  });
  const ids = tokenizer.encode(text, { addSpecialTokens: false });
  const max = opts.maxPromptLength;
  if (max === undefined || max === null || max <= 0 || ids.length <= max) return { text, ids, truncated: false };
  // Left truncation: keep ids[n − max … n − 1].
  const kept = ids.slice(ids.length - max);
  return {
    text: tokenizer.decode ? tokenizer.decode(kept, { skipSpecialTokens: false }) : text,
    ids: kept,
    truncated: true,
  };
}

/**
 * Builds every prompt and counts truncations; when any prompt was truncated, `warn` (if given) gets one line.
 */
export function buildPrompts(
  examples: Example[],
  tokenizer: ChatTokenizer,
  opts: PromptOptions,
  warn?: (line: string) => void,
): { prompts: BuiltPrompt[]; truncated: number } {
  const prompts = examples.map((e) => buildPrompt(e, tokenizer, opts));
  const truncated = prompts.filter((p) => p.truncated).length;
  if (truncated > 0) {
    warn?.(
      `warning: ${truncated} of ${prompts.length} prompts exceeded max_prompt_length=${opts.maxPromptLength} ` +
        `tokens and were truncated from the left (the last ${opts.maxPromptLength} tokens are kept)`,
    );
  }
  return { prompts, truncated };
}
