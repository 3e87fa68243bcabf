/**
 * Tokenizers and chat templates: load a Hugging Face model directory's tokenizer, encode/decode, render chat
 * prompts, and build the tiny character-level tokenizer used by demo and test models.
 *
 * @example
 * ```ts
 * import { charTokenizerFiles, Tokenizer } from "./mod.ts";
 * const tok = Tokenizer.fromFiles(charTokenizerFiles());
 * tok.decode(tok.encode("2+2=4")); // "2+2=4"
 * ```
 *
 * @module
 */
export { Tokenizer, TOKENIZER_FILES } from "./tokenizer.ts";
export { copyTokenizerFiles, TOKENIZER_FILE_NAMES } from "./files.ts";
export {
  CHAR_TOKENIZER_ADDED_TOKENS,
  charTokenizerFiles,
  CHATML_TEMPLATE,
  DEFAULT_CHAR_ALPHABET,
} from "./char_tokenizer.ts";
export type { ChatMessage } from "./chat_template.ts";
