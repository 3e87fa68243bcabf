/**
 * A tiny character-level tokenizer in real Hugging Face format (tokenizer.json + tokenizer_config.json), for the small
 * demo and test models maxent builds: one token per character, ChatML special tokens, ~100 ids instead of 151,936.
 * The files load unchanged in the Python `tokenizers` / `transformers` libraries.
 */
import { UsageError } from "../errors.ts";

/** The default alphabet: printable ASCII (space through `~`) and newline. */
export const DEFAULT_CHAR_ALPHABET: string =
  Array.from({ length: 0x7f - 0x20 }, (_, i) => String.fromCharCode(0x20 + i))
    .join("") + "\n";

/** Added tokens after the characters, in id order; the `<|…|>` ones are special (skipped by skipSpecialTokens). */
export const CHAR_TOKENIZER_ADDED_TOKENS: ReadonlyArray<{ content: string; special: boolean }> = [
  { content: "<|endoftext|>", special: true },
  { content: "<|im_start|>", special: true },
  { content: "<|im_end|>", special: true },
  { content: "<think>", special: false },
  { content: "</think>", special: false },
  { content: "<answer>", special: false },
  { content: "</answer>", special: false },
];

/** A Qwen-style ChatML template (Qwen2.5's format without its default system prompt and tool branches). */
export const CHATML_TEMPLATE: string = "{%- for message in messages %}\n" +
  "    {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}\n" +
  "{%- endfor %}\n" +
  "{%- if add_generation_prompt %}\n" +
  "    {{- '<|im_start|>assistant\\n' }}\n" +
  "{%- endif %}\n";

/**
 * The files of a character-level Hugging Face tokenizer: a BPE model with no merges (each character of the alphabet
 * is one token, ids 0..n−1 in alphabet order; characters outside the alphabet are dropped, as BPE without an
 * unk_token does), a Fuse decoder, and the {@link CHAR_TOKENIZER_ADDED_TOKENS} as added tokens (ids n..n+6).
 * tokenizer_config.json has a ChatML `chat_template`, eos `<|im_end|>`, pad `<|endoftext|>`, no bos.
 *
 * @example
 * ```ts
 * const files = charTokenizerFiles();                 // {"tokenizer.json": ..., "tokenizer_config.json": ...}
 * const tok = Tokenizer.fromFiles(files);
 * tok.vocabSize;                                      // 103 (96 characters + 7 added tokens)
 * ```
 */
export function charTokenizerFiles(opts: { alphabet?: string } = {}): Record<string, string> {
  const chars = Array.from(opts.alphabet ?? DEFAULT_CHAR_ALPHABET);
  if (chars.length === 0) throw new UsageError("char tokenizer alphabet is empty: give at least one character");
  const vocab: Record<string, number> = {};
  for (const [i, c] of chars.entries()) {
    if (c in vocab) {
      throw new UsageError(`char tokenizer alphabet repeats ${JSON.stringify(c)}: list each character once`);
    }
    vocab[c] = i;
  }
  const added = CHAR_TOKENIZER_ADDED_TOKENS.map((t, i) => ({
    id: chars.length + i,
    content: t.content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: t.special,
  }));
  // The layout the Python tokenizers library writes (Tokenizer.to_str()) for this model.
  const tokenizerJson = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: null,
    post_processor: null,
    decoder: { type: "Fuse" },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: [],
    },
  };
  const addedTokensDecoder: Record<string, unknown> = {};
  for (const { id, ...rest } of added) addedTokensDecoder[String(id)] = rest;
  const tokenizerConfig = {
    add_bos_token: false,
    added_tokens_decoder: addedTokensDecoder,
    additional_special_tokens: ["<|im_start|>", "<|im_end|>"],
    bos_token: null,
    chat_template: CHATML_TEMPLATE,
    clean_up_tokenization_spaces: false,
    eos_token: "<|im_end|>",
    model_max_length: 32768,
    pad_token: "<|endoftext|>",
    split_special_tokens: false,
    tokenizer_class: "PreTrainedTokenizerFast",
    unk_token: null,
  };
  return {
    "tokenizer.json": JSON.stringify(tokenizerJson, null, 2) + "\n",
    "tokenizer_config.json": JSON.stringify(tokenizerConfig, null, 2) + "\n",
  };
}
