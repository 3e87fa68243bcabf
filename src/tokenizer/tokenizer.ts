/**
 * The tokenizer of a Hugging Face model directory: `tokenizer.json` (run by `@huggingface/tokenizers`, a pure-JS port
 * of the Rust `tokenizers` pipeline), with the special tokens of `tokenizer_config.json` / `special_tokens_map.json`,
 * the EOS ids of `generation_config.json`, and the model's chat template.
 */
import { join } from "node:path";
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import { MaxentError } from "../errors.ts";
import {
  type ChatMessage,
  plainChatFormat,
  renderChatTemplate,
  selectChatTemplate,
  type TemplateTokens,
} from "./chat_template.ts";

/** The files of a Hugging Face model directory that make up its tokenizer. */
export const TOKENIZER_FILES = {
  tokenizer: "tokenizer.json",
  config: "tokenizer_config.json",
  specialTokensMap: "special_tokens_map.json",
  generationConfig: "generation_config.json",
  chatTemplate: "chat_template.jinja",
} as const;

const REQUIRED: string[] = [TOKENIZER_FILES.tokenizer, TOKENIZER_FILES.config];
const OPTIONAL: string[] = [
  TOKENIZER_FILES.specialTokensMap,
  TOKENIZER_FILES.generationConfig,
  TOKENIZER_FILES.chatTemplate,
];

type Json = Record<string, unknown>;

/**
 * A Hugging Face tokenizer with its special tokens and chat template.
 *
 * Encoding parses special-token strings in the text (`<|im_end|>`) as their single tokens, like `transformers`.
 *
 * @example
 * ```ts
 * const tok = Tokenizer.fromFiles(charTokenizerFiles());
 * const ids = tok.encode("hi");             // one id per character
 * tok.decode(ids);                          // "hi"
 * tok.applyChatTemplate([{ role: "user", content: "hi" }], { addGenerationPrompt: true });
 * // "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
 * ```
 */
export class Tokenizer {
  /** Number of embedding rows the ids need: max id + 1 over the model vocabulary and the added tokens. */
  readonly vocabSize: number;
  /** Ids that end generation: generation_config.json `eos_token_id` (number or list), else the `eos_token`. */
  readonly eosTokenIds: number[];
  /** Id used to pad batches: the `pad_token`, else the first EOS id. */
  readonly padTokenId: number;
  /** Id of the `bos_token`, or null when the tokenizer has none (Qwen). */
  readonly bosTokenId: number | null;
  /** Whether the model ships a chat template (else applyChatTemplate uses the plain format). */
  readonly hasChatTemplate: boolean;

  readonly #hf: HfTokenizer;
  readonly #chatTemplate: unknown;
  readonly #chatTemplateSource: string;
  readonly #templateTokens: TemplateTokens;

  private constructor(files: Record<string, string>, where: (file: string) => string) {
    const tokenizerJson = parseJson(files, TOKENIZER_FILES.tokenizer, where, true)!;
    const config = parseJson(files, TOKENIZER_FILES.config, where, true)!;
    const specialMap = parseJson(files, TOKENIZER_FILES.specialTokensMap, where, false) ?? {};
    const generation = parseJson(files, TOKENIZER_FILES.generationConfig, where, false) ?? {};
    const tokPath = where(TOKENIZER_FILES.tokenizer);

    const model = tokenizerJson.model as Json | undefined;
    if (model === null || typeof model !== "object" || model.vocab === undefined) {
      throw new MaxentError(`${tokPath} has no "model" with a "vocab": not a Hugging Face tokenizer.json`);
    }
    const addedTokens = tokenizerJson.added_tokens ?? [];
    if (!Array.isArray(addedTokens)) throw new MaxentError(`${tokPath}: "added_tokens" must be a list`);
    try {
      this.#hf = new HfTokenizer({ ...tokenizerJson, added_tokens: addedTokens }, config);
    } catch (e) {
      throw new MaxentError(`${tokPath} cannot be loaded: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    this.vocabSize = maxId(model.vocab, addedTokens, tokPath) + 1;

    // special_tokens_map.json overrides tokenizer_config.json, as in transformers' from_pretrained.
    const cfgPath = where(TOKENIZER_FILES.config);
    const sources = [
      { fields: specialMap, file: where(TOKENIZER_FILES.specialTokensMap) },
      { fields: config, file: cfgPath },
    ];
    const special = (key: string): { token: string; file: string } | null => {
      for (const { fields, file } of sources) {
        const token = tokenContent(fields[key], file, key);
        if (token !== null) return { token, file };
      }
      return null;
    };
    const idOf = (s: { token: string; file: string }, key: string): number => {
      const id = this.tokenToId(s.token);
      if (id === undefined) {
        throw new MaxentError(`${s.file}: ${key} ${JSON.stringify(s.token)} is not a token of ${tokPath}`);
      }
      return id;
    };

    const eos = special("eos_token");
    const genEos = generation.eos_token_id;
    if (genEos !== undefined && genEos !== null) {
      const list = Array.isArray(genEos) ? genEos : [genEos];
      const genPath = where(TOKENIZER_FILES.generationConfig);
      for (const id of list) {
        if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
          throw new MaxentError(
            `${genPath}: eos_token_id ${JSON.stringify(genEos)} must be token ids in [0, ${this.vocabSize})`,
          );
        }
      }
      if (list.length === 0) throw new MaxentError(`${genPath}: eos_token_id is an empty list`);
      this.eosTokenIds = list as number[];
    } else if (eos !== null) {
      this.eosTokenIds = [idOf(eos, "eos_token")];
    } else {
      throw new MaxentError(
        `${cfgPath} names no eos_token and there is no ${TOKENIZER_FILES.generationConfig} eos_token_id: ` +
          `add "eos_token" to ${cfgPath} so generation can stop`,
      );
    }
    const pad = special("pad_token");
    this.padTokenId = pad !== null ? idOf(pad, "pad_token") : this.eosTokenIds[0];
    const bos = special("bos_token");
    this.bosTokenId = bos !== null ? idOf(bos, "bos_token") : null;

    this.#templateTokens = {
      bos_token: bos?.token,
      eos_token: eos?.token ?? this.idToToken(this.eosTokenIds[0]),
      pad_token: pad?.token,
      unk_token: special("unk_token")?.token,
    };
    // A chat_template.jinja file (newer transformers) takes precedence over tokenizer_config.json's field.
    const jinjaFile = files[TOKENIZER_FILES.chatTemplate];
    const fromJinjaFile = typeof jinjaFile === "string" && jinjaFile.trim() !== "";
    const chatTemplate = fromJinjaFile ? jinjaFile : config.chat_template ?? null;
    this.#chatTemplate = chatTemplate;
    this.#chatTemplateSource = fromJinjaFile ? where(TOKENIZER_FILES.chatTemplate) : `${cfgPath} chat_template`;
    this.hasChatTemplate = chatTemplate !== null && chatTemplate !== "";
  }

  /**
   * Loads the tokenizer of a Hugging Face model directory: tokenizer.json and tokenizer_config.json (required),
   * special_tokens_map.json, generation_config.json and chat_template.jinja (optional).
   * Throws MaxentError naming the file when one is missing, unreadable or not valid.
   */
  static async load(dir: string): Promise<Tokenizer> {
    const files: Record<string, string> = {};
    for (const name of [...REQUIRED, ...OPTIONAL]) {
      const path = join(dir, name);
      try {
        files[name] = await Deno.readTextFile(path);
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) {
          if (REQUIRED.includes(name)) {
            throw new MaxentError(
              `${path} not found: a tokenizer directory needs ${REQUIRED.join(" and ")} (as on the Hugging Face Hub)`,
            );
          }
          continue;
        }
        throw new MaxentError(`cannot read ${path}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      }
    }
    return new Tokenizer(files, (name) => join(dir, name));
  }

  /**
   * Builds a tokenizer from file contents keyed by file name (the same files as {@link Tokenizer.load} reads).
   *
   * @example
   * ```ts
   * const tok = Tokenizer.fromFiles(charTokenizerFiles());
   * ```
   */
  static fromFiles(files: Record<string, string>): Tokenizer {
    for (const name of REQUIRED) {
      if (typeof files[name] !== "string") {
        throw new MaxentError(`${name} missing: a tokenizer needs ${REQUIRED.join(" and ")}`);
      }
    }
    return new Tokenizer(files, (name) => name);
  }

  /**
   * Token ids of `text`. Special-token strings in the text become their tokens. `addSpecialTokens` (default false,
   * unlike transformers) runs the tokenizer's post-processor, e.g. prepending Llama's BOS; chat templates already
   * write those tokens, so leave it off for templated prompts and for completions.
   */
  encode(text: string, opts: { addSpecialTokens?: boolean } = {}): number[] {
    const ids = this.#hf.encode(text, { add_special_tokens: opts.addSpecialTokens ?? false }).ids;
    // Characters with no token and no unk_token are dropped, as the Rust tokenizers library does.
    return ids.filter((id) => id !== undefined && id !== null);
  }

  /**
   * Text of `ids`. `skipSpecialTokens` drops special tokens (`<|im_end|>`, pad) but keeps non-special added tokens
   * (`<think>`). Ids with no token (e.g. embedding rows past the tokenizer's vocabulary) are skipped, as in the Rust
   * tokenizers library.
   */
  decode(ids: number[], opts: { skipSpecialTokens?: boolean } = {}): string {
    const known = ids.filter((id) => this.#hf.id_to_token(id) !== undefined);
    if (known.length === 0) return "";
    return this.#hf.decode(known, { skip_special_tokens: opts.skipSpecialTokens ?? false });
  }

  /** Id of a token string (vocabulary or added token), or undefined. */
  tokenToId(token: string): number | undefined {
    return this.#hf.token_to_id(token);
  }

  /** Token string of an id, or undefined when the id has no token. */
  idToToken(id: number): string | undefined {
    return Number.isInteger(id) ? this.#hf.id_to_token(id) : undefined;
  }

  /**
   * Renders a conversation as the model's prompt text. Template choice: `chatTemplate` (the recipe override) if
   * given, else the model's (chat_template.jinja, else tokenizer_config.json `chat_template`, whose list form uses
   * the template named "default"); a model without one gets the plain format: the contents joined by a blank line
   * (`system\n\nuser`), nothing else. The template sees `messages`, `add_generation_prompt` (default false),
   * `bos_token`, `eos_token`, `pad_token` and `unk_token`.
   */
  applyChatTemplate(
    messages: Array<{ role: string; content: string }>,
    opts: { addGenerationPrompt?: boolean; chatTemplate?: string } = {},
  ): string {
    for (const [i, m] of messages.entries()) {
      if (typeof m?.role !== "string" || typeof m?.content !== "string") {
        throw new MaxentError(`chat message ${i} must have string "role" and "content"`);
      }
    }
    const addGenerationPrompt = opts.addGenerationPrompt ?? false;
    if (opts.chatTemplate !== undefined && opts.chatTemplate !== "") {
      return renderChatTemplate(opts.chatTemplate, messages as ChatMessage[], {
        addGenerationPrompt,
        tokens: this.#templateTokens,
        source: "the chat_template override",
      });
    }
    if (!this.hasChatTemplate) return plainChatFormat(messages);
    const template = selectChatTemplate(this.#chatTemplate, this.#chatTemplateSource);
    return renderChatTemplate(template, messages, {
      addGenerationPrompt,
      tokens: this.#templateTokens,
      source: this.#chatTemplateSource,
    });
  }
}

function parseJson(
  files: Record<string, string>,
  name: string,
  where: (file: string) => string,
  required: boolean,
): Json | null {
  const text = files[name];
  if (text === undefined) {
    if (required) throw new MaxentError(`${where(name)} missing`);
    return null;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new MaxentError(
      `${where(name)} is not valid JSON (${e instanceof Error ? e.message : String(e)}): re-download the file`,
      { cause: e },
    );
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new MaxentError(`${where(name)} must hold a JSON object`);
  }
  return value as Json;
}

/** A special-token field is a string, an AddedToken object `{content, ...}`, or null/absent. */
function tokenContent(value: unknown, file: string, key: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === "string") return value;
  if (typeof value === "object" && typeof (value as Json).content === "string") {
    return (value as Json).content as string;
  }
  throw new MaxentError(`${file}: ${key} must be a token string or {"content": ...}`);
}

/** Largest id in a BPE/WordPiece/WordLevel vocab ({token: id}) or Unigram vocab ([[token, score], ...]) and added tokens. */
function maxId(vocab: unknown, addedTokens: unknown[], path: string): number {
  let max = -1;
  if (Array.isArray(vocab)) {
    max = vocab.length - 1;
  } else if (vocab !== null && typeof vocab === "object") {
    for (const id of Object.values(vocab)) {
      if (!Number.isInteger(id)) throw new MaxentError(`${path}: model.vocab ids must be integers`);
      if ((id as number) > max) max = id as number;
    }
  } else {
    throw new MaxentError(`${path}: model.vocab must be an object or a list`);
  }
  for (const t of addedTokens) {
    const id = (t as Json)?.id;
    if (!Number.isInteger(id)) throw new MaxentError(`${path}: every added_tokens entry needs an integer "id"`);
    if ((id as number) > max) max = id as number;
  }
  return max;
}
