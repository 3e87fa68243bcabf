/**
 * Prompt building: system prompt, user message, message-list prompts, chat template with the generation prompt,
 * and max_prompt_length left truncation with a warning count — with a fake ChatML tokenizer written here and, when
 * `src/tokenizer/mod.ts` is present, with the real character tokenizer.
 */
import { assert, assertEquals } from "./assert.ts";
import { buildPrompt, buildPrompts, type ChatTokenizer, type Example, promptMessages } from "../src/data/mod.ts";

/** ChatML rendering written out by hand (the format of Qwen2.5's template without its default system prompt). */
function chatml(messages: Array<{ role: string; content: string }>, addGenerationPrompt: boolean): string {
  return messages.map((m) => `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`).join("") +
    (addGenerationPrompt ? "<|im_start|>assistant\n" : "");
}

/** A fake tokenizer: one id per character (its code point), special tokens as single ids ≥ 1,000,000. */
class FakeChatTokenizer implements ChatTokenizer {
  readonly specials = ["<|im_start|>", "<|im_end|>"];
  calls: Array<{ addGenerationPrompt?: boolean; chatTemplate?: string; addSpecialTokens?: boolean }> = [];
  applyChatTemplate(
    messages: Array<{ role: string; content: string }>,
    opts: { addGenerationPrompt?: boolean; chatTemplate?: string } = {},
  ): string {
    this.calls.push({ addGenerationPrompt: opts.addGenerationPrompt, chatTemplate: opts.chatTemplate });
    return opts.chatTemplate === "plain"
      ? messages.map((m) => `${m.role}: ${m.content}\n`).join("") + "assistant:"
      : chatml(messages, opts.addGenerationPrompt ?? false);
  }
  encode(text: string, opts: { addSpecialTokens?: boolean } = {}): number[] {
    this.calls.push({ addSpecialTokens: opts.addSpecialTokens });
    const ids: number[] = opts.addSpecialTokens ? [999_999] : []; // a BOS that must not appear
    for (let i = 0; i < text.length;) {
      const s = this.specials.findIndex((t) => text.startsWith(t, i));
      if (s >= 0) {
        ids.push(1_000_000 + s);
        i += this.specials[s].length;
      } else {
        ids.push(text.codePointAt(i)!);
        i += String.fromCodePoint(text.codePointAt(i)!).length;
      }
    }
    return ids;
  }
  decode(ids: number[]): string {
    return ids.map((id) => id >= 1_000_000 ? this.specials[id - 1_000_000] : String.fromCodePoint(id)).join("");
  }
}

const example = (prompt: string, messages?: Example["messages"]): Example => ({
  prompt,
  row: {},
  source: "test#0",
  ...(messages ? { messages } : {}),
});

Deno.test("prompt: system + user message through the chat template with the generation prompt", () => {
  const tok = new FakeChatTokenizer();
  const p = buildPrompt(example("What is 2+2?"), tok, { systemPrompt: "You are a solver." });
  const expected = "<|im_start|>system\nYou are a solver.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n" +
    "<|im_start|>assistant\n";
  assertEquals(p.text, expected);
  assertEquals(p.truncated, false);
  // One id per ordinary character plus one per special token (3 <|im_start|>, 2 <|im_end|>).
  assertEquals(p.ids.length, expected.replace(/<\|im_start\|>|<\|im_end\|>/g, "").length + 5);
  assertEquals(p.ids[0], 1_000_000);
  assertEquals(tok.decode(p.ids), expected);
  assertEquals(tok.calls, [{ addGenerationPrompt: true, chatTemplate: undefined }, { addSpecialTokens: false }]);
  // No system prompt: user message only; an empty system prompt is still a system message (open-r1).
  assertEquals(buildPrompt(example("hi"), tok, {}).text, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
  assertEquals(promptMessages(example("hi"), ""), [{ role: "system", content: "" }, { role: "user", content: "hi" }]);
  // A chat_template override reaches the tokenizer.
  assertEquals(buildPrompt(example("hi"), tok, { chatTemplate: "plain" }).text, "user: hi\nassistant:");
});

Deno.test("prompt: message-list prompts are used as-is; the system prompt only when none exists", () => {
  const withSystem = [{ role: "system", content: "Own system." }, { role: "user", content: "Q" }];
  assertEquals(promptMessages(example("Q", withSystem), "Recipe system."), withSystem);
  const noSystem = [{ role: "user", content: "Q1" }, { role: "assistant", content: "A1" }, {
    role: "user",
    content: "Q2",
  }];
  assertEquals(promptMessages(example("Q2", noSystem), "Sys"), [{ role: "system", content: "Sys" }, ...noSystem]);
  // A trailing assistant turn (the dataset's answer) never enters the prompt.
  const answered = [{ role: "user", content: "Q" }, { role: "assistant", content: "the answer" }];
  const text = buildPrompt(example("Q", answered), new FakeChatTokenizer(), {}).text;
  assertEquals(text, "<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n");
  assert(!text.includes("the answer"));
});

Deno.test("prompt: max_prompt_length keeps the LAST tokens and counts truncations", () => {
  const tok = new FakeChatTokenizer();
  const long = example("x".repeat(50) + "THE END");
  const full = buildPrompt(long, tok, {});
  const cut = buildPrompt(long, tok, { maxPromptLength: 20 });
  assertEquals(cut.truncated, true);
  assertEquals(cut.ids.length, 20);
  assertEquals(cut.ids, full.ids.slice(full.ids.length - 20));
  // 20 tokens from the end: <|im_start|> + "assistant\n" (11), <|im_end|> + "\n" (2), "THE END" (7).
  assertEquals(cut.text, "THE END<|im_end|>\n<|im_start|>assistant\n");
  assert(cut.text.endsWith("<|im_start|>assistant\n"), "the generation prompt survives");
  // Exactly at the limit: not truncated; ≤ 0 or absent: no limit.
  assertEquals(buildPrompt(long, tok, { maxPromptLength: full.ids.length }).truncated, false);
  assertEquals(buildPrompt(long, tok, { maxPromptLength: 0 }).ids, full.ids);

  const warnings: string[] = [];
  const short = example("hi");
  // "hi" renders to 21 tokens, the long prompt to 70.
  const r = buildPrompts([long, short, long], tok, { maxPromptLength: 30 }, (l) => warnings.push(l));
  assertEquals(r.truncated, 2);
  assertEquals(r.prompts.map((p) => p.truncated), [true, false, true]);
  assertEquals(warnings.length, 1);
  assert(warnings[0].includes("2 of 3") && warnings[0].includes("max_prompt_length=30"), warnings[0]);
  const none: string[] = [];
  assertEquals(buildPrompts([short], tok, { maxPromptLength: 21 }, (l) => none.push(l)).truncated, 0);
  assertEquals(none, []);
  // Without decode, text stays the full rendering while ids are cut.
  const noDecode: ChatTokenizer = { encode: tok.encode.bind(tok), applyChatTemplate: tok.applyChatTemplate.bind(tok) };
  const nd = buildPrompt(long, noDecode, { maxPromptLength: 20 });
  assertEquals([nd.text, nd.ids], [full.text, cut.ids]);
});

Deno.test("prompt: with the real character tokenizer (src/tokenizer), when present", async () => {
  const url = new URL("../src/tokenizer/mod.ts", import.meta.url);
  if (!(await Deno.stat(url).then(() => true, () => false))) {
    console.log("  skipped: src/tokenizer/mod.ts is not there yet");
    return;
  }
  const mod = await import(url.href);
  if (typeof mod.charTokenizerFiles !== "function" || !mod.Tokenizer?.fromFiles) {
    console.log("  skipped: src/tokenizer/mod.ts has no charTokenizerFiles()/Tokenizer.fromFiles");
    return;
  }
  const tok: ChatTokenizer = mod.Tokenizer.fromFiles(mod.charTokenizerFiles());
  const ex = example("Compute 12*12.");
  const p = buildPrompt(ex, tok, { systemPrompt: "Be exact." });
  const expected = chatml(
    [{ role: "system", content: "Be exact." }, { role: "user", content: "Compute 12*12." }],
    true,
  );
  assertEquals(p.text, expected);
  // One id per character, one per special token.
  const specials = (expected.match(/<\|im_start\|>|<\|im_end\|>/g) ?? []).length;
  assertEquals(p.ids.length, expected.replace(/<\|im_start\|>|<\|im_end\|>/g, "").length + specials);
  // 15 tokens from the end: "2", ".", <|im_end|>, "\n", <|im_start|>, "assistant\n" (10).
  const cut = buildPrompt(ex, tok, { systemPrompt: "Be exact.", maxPromptLength: 15 });
  assertEquals(cut.ids, p.ids.slice(-15));
  assertEquals(cut.text, "2.<|im_end|>\n<|im_start|>assistant\n");
});
