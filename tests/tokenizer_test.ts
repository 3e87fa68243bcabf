/**
 * Tests for src/tokenizer: the real Qwen3 tokenizer fixture (ids, Unicode round trips, special tokens), chat templates
 * (Qwen2.5's known format, override, named-template list, plain fallback), eos/pad/bos resolution, the character-level
 * tokenizer, and clear errors for missing or corrupt files. When the Python `tokenizers` (and `transformers`) packages
 * are importable, encodings, decodings and chat templates are cross-checked against them.
 */
import { pythonCanImport } from "./python.ts";
import { join } from "node:path";
import { assert, assertEquals, assertRejects, assertThrows } from "./assert.ts";
import { MaxentError, UsageError } from "../src/errors.ts";
import { charTokenizerFiles, Tokenizer } from "../src/tokenizer/mod.ts";

const FIXTURES = new URL("./fixtures/tokenizers/", import.meta.url).pathname;
const QWEN3_DIR = join(FIXTURES, "qwen3");
const QWEN25_TEMPLATE = Deno.readTextFileSync(join(FIXTURES, "qwen2.5_chat_template.jinja"));

let qwenPromise: Promise<Tokenizer> | undefined;
/** The Qwen3 fixture tokenizer, loaded once (≈0.4 s). */
function qwen(): Promise<Tokenizer> {
  qwenPromise ??= Tokenizer.load(QWEN3_DIR);
  return qwenPromise;
}

const SYS_USER = [
  { role: "system", content: "You are a careful solver." },
  { role: "user", content: "What is 2+2?" },
];

/** Texts for round trips and Python cross-checks: ASCII, CJK, emoji, accents, combining marks, whitespace, specials. */
const SAMPLES = [
  "Hello, world!",
  "  leading   and trailing   spaces  \n\n\tTabs\r\nCRLF",
  "日本語のテキストと中文混合",
  "emoji 👩‍👩‍👧‍👦 🎉🇺🇸 ok",
  "café naïve résumé Ångström",
  "e\u0301 combining a\u0308 o\u0323\u0302",
  "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
  "x = 12345678 + 3.14159; // numbers",
  "Ünïcödé  \u00a0nbsp\u2003emspace",
  "don't I'll we're THEY'RE",
  "<think>\nreason\n</think>\n\n<answer>42</answer>",
  "ﬁ ligature Ⅻ ①",
  "Кириллица и ελληνικά",
  "a\n\n\n\nb    c\t\t\td",
  "",
];

// ---------------------------------------------------------------------------------------------------------------
// Qwen3 fixture

Deno.test("qwen3 fixture: special tokens, eos/pad/bos and vocabulary size", async () => {
  const tok = await qwen();
  // Qwen3's tokenizer.json: ids 0..151642 in the BPE vocabulary, added tokens 151643..151668.
  assertEquals(tok.vocabSize, 151669);
  assertEquals(tok.tokenToId("<|endoftext|>"), 151643);
  assertEquals(tok.tokenToId("<|im_start|>"), 151644);
  assertEquals(tok.tokenToId("<|im_end|>"), 151645);
  assertEquals(tok.tokenToId("<think>"), 151667);
  assertEquals(tok.idToToken(151668), "</think>");
  assertEquals(tok.idToToken(9707), "Hello");
  assertEquals(tok.idToToken(1879), "Ġworld"); // byte-level: Ġ is the space byte
  assertEquals(tok.idToToken(200000), undefined);
  assertEquals(tok.tokenToId("no such token"), undefined);
  assertEquals(tok.eosTokenIds, [151645]); // tokenizer_config eos_token <|im_end|> (no generation_config.json here)
  assertEquals(tok.padTokenId, 151643); // pad_token <|endoftext|>
  assertEquals(tok.bosTokenId, null); // bos_token: null
  assert(tok.hasChatTemplate);
});

Deno.test("qwen3 fixture: known token ids (verified with Python tokenizers 0.23.2)", async () => {
  const tok = await qwen();
  const known: Array<[string, number[]]> = [
    ["Hello, world!", [9707, 11, 1879, 0]],
    ["日本語のテキストと中文混合", [101059, 102819, 15767, 56833, 61803, 70534, 19182, 104811, 105063]],
    // Qwen splits digits one per token.
    ["x = 12345678 + 3.14159; // numbers", [
      87,
      284,
      220,
      16,
      17,
      18,
      19,
      20,
      21,
      22,
      23,
      488,
      220,
      18,
      13,
      16,
      19,
      16,
      20,
      24,
      26,
      442,
      5109,
    ]],
    ["<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", [
      151644,
      872,
      198,
      6023,
      151645,
      198,
      151644,
      77091,
      198,
    ]],
    ["<think>\nreason\n</think>\n\n<answer>42</answer>", [
      151667,
      198,
      19895,
      198,
      151668,
      271,
      27,
      9217,
      29,
      19,
      17,
      522,
      9217,
      29,
    ]],
    ["café naïve résumé Ångström", [924, 58858, 94880, 586, 9333, 1242, 963, 79252, 968, 495, 85584]],
  ];
  for (const [text, ids] of known) assertEquals(tok.encode(text), ids, JSON.stringify(text));
  // Qwen has no BOS and a no-op post-processor: addSpecialTokens changes nothing.
  assertEquals(tok.encode("Hello, world!", { addSpecialTokens: true }), [9707, 11, 1879, 0]);
  assertEquals(tok.encode(""), []);
});

Deno.test("qwen3 fixture: decode(encode(s)) round trips ASCII, Unicode, whitespace and special tokens", async () => {
  const tok = await qwen();
  for (const s of SAMPLES) {
    // Qwen's normalizer is NFC, so combining sequences come back composed (e + U+0301 → é), as in transformers.
    assertEquals(tok.decode(tok.encode(s)), s.normalize("NFC"), JSON.stringify(s));
  }
  // Byte-level BPE covers every character, including ones unlikely to be in the vocabulary as a whole.
  const rare = "\u{1F9EC}\u{10348}\u{E000}\u0000\u007f\u{1D11E}";
  assertEquals(tok.decode(tok.encode(rare)), rare);
  // A special-token string in the text is one token, not its characters.
  const ids = tok.encode("a<|im_end|>b");
  assertEquals(ids.filter((id) => id === 151645).length, 1);
  assertEquals(ids.length, 3);
});

Deno.test("qwen3 fixture: skipSpecialTokens drops special tokens but keeps <think>; unknown ids are skipped", async () => {
  const tok = await qwen();
  const ids = tok.encode("<|im_start|>assistant\n<think>\nhm\n</think>\n\n4<|im_end|><|endoftext|>");
  assertEquals(tok.decode(ids, { skipSpecialTokens: true }), "assistant\n<think>\nhm\n</think>\n\n4");
  assertEquals(tok.decode(ids), "<|im_start|>assistant\n<think>\nhm\n</think>\n\n4<|im_end|><|endoftext|>");
  // Ids past the tokenizer (Qwen's embedding has 151,936 rows) have no text, as in the Rust tokenizers library.
  assertEquals(tok.decode([9707, 151900, 0]), "Hello!");
  assertEquals(tok.decode([]), "");
});

Deno.test("qwen3 fixture: encodes 100 KB of mixed text consistently", async () => {
  const tok = await qwen();
  const text = mixedText(100_000, 7);
  const t0 = performance.now();
  const ids = tok.encode(text);
  const ms = performance.now() - t0;
  console.log(`  encode ${new TextEncoder().encode(text).length} bytes → ${ids.length} tokens in ${ms.toFixed(0)} ms`);
  assertEquals(tok.decode(ids), text.normalize("NFC"));
  assert(ids.length > 10_000 && ids.length < 100_000, `unexpected token count ${ids.length}`);
});

// ---------------------------------------------------------------------------------------------------------------
// Chat templates

Deno.test("chat template: Qwen2.5's template gives the known format for system + user", async () => {
  const tok = await qwen();
  const expected = "<|im_start|>system\nYou are a careful solver.<|im_end|>\n" +
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n";
  assertEquals(tok.applyChatTemplate(SYS_USER, { addGenerationPrompt: true, chatTemplate: QWEN25_TEMPLATE }), expected);
  // Without a system message Qwen2.5 adds its default one; without the generation prompt the text stops after user.
  assertEquals(
    tok.applyChatTemplate([{ role: "user", content: "hi" }], { chatTemplate: QWEN25_TEMPLATE }),
    "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n" +
      "<|im_start|>user\nhi<|im_end|>\n",
  );
  // Qwen3's own template (from the fixture's tokenizer_config.json) writes the same text for this conversation.
  assertEquals(tok.applyChatTemplate(SYS_USER, { addGenerationPrompt: true }), expected);
  // The templated prompt tokenizes with the ChatML tokens as single ids.
  const ids = tok.encode(expected);
  assertEquals(ids[0], 151644);
  assertEquals(ids.filter((id) => id === 151645).length, 2);
  assertEquals(ids.slice(-3), [151644, 77091, 198]); // "<|im_start|>", "assistant", "\n"
});

Deno.test("chat template: an override wins and sees bos/eos tokens and add_generation_prompt", () => {
  const tok = Tokenizer.fromFiles(withConfig(charTokenizerFiles(), { bos_token: "<|endoftext|>" }));
  const override = "{{ bos_token }}{% for m in messages %}[{{ m.role | upper }}] {{ m.content }}{{ eos_token }}" +
    "{% endfor %}{% if add_generation_prompt %}[ASSISTANT]{% endif %}";
  assertEquals(
    tok.applyChatTemplate(SYS_USER, { addGenerationPrompt: true, chatTemplate: override }),
    "<|endoftext|>[SYSTEM] You are a careful solver.<|im_end|>[USER] What is 2+2?<|im_end|>[ASSISTANT]",
  );
  assertEquals(
    tok.applyChatTemplate(SYS_USER, { chatTemplate: override }),
    "<|endoftext|>[SYSTEM] You are a careful solver.<|im_end|>[USER] What is 2+2?<|im_end|>",
  );
});

Deno.test("chat template: the list-of-named-templates form uses 'default'", () => {
  const named = [
    { name: "tool_use", template: "TOOLS" },
    { name: "default", template: "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}" },
  ];
  const tok = Tokenizer.fromFiles(withConfig(charTokenizerFiles(), { chat_template: named }));
  assert(tok.hasChatTemplate);
  assertEquals(tok.applyChatTemplate(SYS_USER), "<system>You are a careful solver.<user>What is 2+2?");
  const noDefault = Tokenizer.fromFiles(withConfig(charTokenizerFiles(), { chat_template: [named[0]] }));
  assertThrows(() => noDefault.applyChatTemplate(SYS_USER), MaxentError, "tokenizer_config.json", "default");
  // An override still works when the model's list has no default.
  assertEquals(noDefault.applyChatTemplate(SYS_USER, { chatTemplate: "{{ messages | length }}" }), "2");
});

Deno.test("chat template: a chat_template.jinja file takes precedence over tokenizer_config.json", () => {
  const files = { ...charTokenizerFiles(), "chat_template.jinja": "{{ messages[0].content }}!" };
  assertEquals(Tokenizer.fromFiles(files).applyChatTemplate(SYS_USER), "You are a careful solver.!");
});

Deno.test("chat template: a model without one falls back to the plain format", () => {
  const tok = Tokenizer.fromFiles(withConfig(charTokenizerFiles(), { chat_template: undefined }));
  assert(!tok.hasChatTemplate);
  assertEquals(
    tok.applyChatTemplate(SYS_USER, { addGenerationPrompt: true }),
    "You are a careful solver.\n\nWhat is 2+2?",
  );
  assertEquals(tok.applyChatTemplate([{ role: "user", content: "only" }]), "only");
  // The override still applies.
  assertEquals(tok.applyChatTemplate(SYS_USER, { chatTemplate: "{{ messages[1].content }}" }), "What is 2+2?");
});

Deno.test("chat template: broken templates and messages are MaxentErrors naming the source", () => {
  const tok = Tokenizer.fromFiles(charTokenizerFiles());
  assertThrows(
    () => tok.applyChatTemplate(SYS_USER, { chatTemplate: "{% for m in messages %}no endfor" }),
    MaxentError,
    "chat_template override",
  );
  assertThrows(
    () => tok.applyChatTemplate(SYS_USER, { chatTemplate: "{{ raise_exception('roles must alternate') }}" }),
    MaxentError,
    "roles must alternate",
  );
  const bad = Tokenizer.fromFiles(withConfig(charTokenizerFiles(), { chat_template: "{% if %}" }));
  assertThrows(() => bad.applyChatTemplate(SYS_USER), MaxentError, "tokenizer_config.json chat_template");
  assertThrows(
    () => tok.applyChatTemplate([{ role: "user", content: 3 as unknown as string }]),
    MaxentError,
    "chat message 0",
  );
});

// ---------------------------------------------------------------------------------------------------------------
// eos / pad / bos resolution

Deno.test("special tokens: generation_config eos_token_id (number or list) wins over tokenizer_config eos_token", () => {
  const base = charTokenizerFiles(); // ids: 96 <|endoftext|>, 97 <|im_start|>, 98 <|im_end|>
  const plain = Tokenizer.fromFiles(base);
  assertEquals(plain.eosTokenIds, [98]);
  assertEquals(plain.padTokenId, 96);
  assertEquals(plain.bosTokenId, null);
  const one = Tokenizer.fromFiles({ ...base, "generation_config.json": JSON.stringify({ eos_token_id: 96 }) });
  assertEquals(one.eosTokenIds, [96]);
  const list = Tokenizer.fromFiles({ ...base, "generation_config.json": JSON.stringify({ eos_token_id: [98, 96] }) });
  assertEquals(list.eosTokenIds, [98, 96]);
  assertEquals(list.padTokenId, 96);
  // generation_config without eos_token_id → tokenizer_config's eos_token.
  const noEos = Tokenizer.fromFiles({ ...base, "generation_config.json": JSON.stringify({ do_sample: true }) });
  assertEquals(noEos.eosTokenIds, [98]);
});

Deno.test("special tokens: pad falls back to the first eos; AddedToken objects, bos and special_tokens_map", () => {
  const base = charTokenizerFiles();
  const noPad = Tokenizer.fromFiles(withConfig(base, { pad_token: null }));
  assertEquals(noPad.padTokenId, 98);
  const noPadGen = Tokenizer.fromFiles({
    ...withConfig(base, { pad_token: undefined }),
    "generation_config.json": JSON.stringify({ eos_token_id: [97, 98] }),
  });
  assertEquals(noPadGen.padTokenId, 97);
  const objForm = Tokenizer.fromFiles(
    withConfig(base, { eos_token: { content: "<|endoftext|>", lstrip: false }, bos_token: "<|im_start|>" }),
  );
  assertEquals(objForm.eosTokenIds, [96]);
  assertEquals(objForm.bosTokenId, 97);
  // special_tokens_map.json overrides tokenizer_config.json (as transformers' from_pretrained does).
  const mapped = Tokenizer.fromFiles({
    ...base,
    "special_tokens_map.json": JSON.stringify({ pad_token: { content: "<|im_start|>" }, eos_token: "<|endoftext|>" }),
  });
  assertEquals(mapped.padTokenId, 97);
  assertEquals(mapped.eosTokenIds, [96]);
});

Deno.test("special tokens: unknown or missing eos/pad are MaxentErrors naming the file", () => {
  const base = charTokenizerFiles();
  assertThrows(
    () => Tokenizer.fromFiles(withConfig(base, { eos_token: "</s>" })),
    MaxentError,
    "tokenizer_config.json",
    "eos_token",
    "</s>",
  );
  assertThrows(
    () => Tokenizer.fromFiles(withConfig(base, { pad_token: "<pad>" })),
    MaxentError,
    "pad_token",
    "<pad>",
  );
  assertThrows(
    () => Tokenizer.fromFiles(withConfig(base, { eos_token: null })),
    MaxentError,
    "no eos_token",
  );
  assertThrows(
    () => Tokenizer.fromFiles({ ...base, "generation_config.json": JSON.stringify({ eos_token_id: [98, 5000] }) }),
    MaxentError,
    "generation_config.json",
    "eos_token_id",
  );
  assertThrows(
    () => Tokenizer.fromFiles(withConfig(base, { eos_token: 42 })),
    MaxentError,
    "eos_token must be",
  );
});

// ---------------------------------------------------------------------------------------------------------------
// Character-level tokenizer

Deno.test("char tokenizer: one id per character, added tokens after the alphabet, round trip", () => {
  const tok = Tokenizer.fromFiles(charTokenizerFiles());
  const alphabet = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join("") + "\n";
  assertEquals(tok.vocabSize, 96 + 7);
  // Independent expectation: id = position in the alphabet.
  assertEquals(tok.encode(alphabet), Array.from({ length: 96 }, (_, i) => i));
  assertEquals(tok.encode("Hi!"), [alphabet.indexOf("H"), alphabet.indexOf("i"), alphabet.indexOf("!")]);
  const specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>", "<answer>", "</answer>"];
  specials.forEach((s, i) => assertEquals(tok.tokenToId(s), 96 + i, s));
  const text =
    "<|im_start|>user\nSolve: 3*(4+5) = ?<|im_end|>\n<think>\n  27  \n</think>\n<answer>27</answer><|im_end|>";
  const ids = tok.encode(text);
  assertEquals(tok.decode(ids), text);
  assertEquals(ids.length, text.length - specials.reduce((n, s) => n + (text.split(s).length - 1) * (s.length - 1), 0));
  assertEquals(
    tok.decode(ids, { skipSpecialTokens: true }),
    "user\nSolve: 3*(4+5) = ?\n<think>\n  27  \n</think>\n<answer>27</answer>",
  );
  // Characters outside the alphabet are dropped (BPE without unk_token).
  assertEquals(tok.decode(tok.encode("né\tw")), "nw");
  assertEquals(
    tok.applyChatTemplate(SYS_USER, { addGenerationPrompt: true }),
    "<|im_start|>system\nYou are a careful solver.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n" +
      "<|im_start|>assistant\n",
  );
  assertEquals(tok.eosTokenIds, [98]);
  assertEquals(tok.padTokenId, 96);
});

Deno.test("char tokenizer: custom alphabets, including non-ASCII; bad alphabets are UsageErrors", () => {
  const tok = Tokenizer.fromFiles(charTokenizerFiles({ alphabet: "ab😀\n" }));
  assertEquals(tok.vocabSize, 4 + 7);
  assertEquals(tok.encode("b😀a\nz"), [1, 2, 0, 3]);
  assertEquals(tok.decode([1, 2, 0, 3, 6]), "b😀a\n<|im_end|>");
  assertThrows(() => charTokenizerFiles({ alphabet: "abca" }), UsageError, "repeats", '"a"');
  assertThrows(() => charTokenizerFiles({ alphabet: "" }), UsageError, "empty");
});

Deno.test("addSpecialTokens runs the post-processor (a Llama-style BOS), default off", () => {
  // The post_processor Python tokenizers writes for TemplateProcessing(single="<|endoftext|> $A"); Python encodes
  // "Hi" as [96, 40, 73] with add_special_tokens=True and [40, 73] without.
  const tj = JSON.parse(charTokenizerFiles()["tokenizer.json"]);
  tj.post_processor = {
    type: "TemplateProcessing",
    single: [{ SpecialToken: { id: "<|endoftext|>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
    pair: [
      { SpecialToken: { id: "<|endoftext|>", type_id: 0 } },
      { Sequence: { id: "A", type_id: 0 } },
      { SpecialToken: { id: "<|endoftext|>", type_id: 0 } },
      { Sequence: { id: "B", type_id: 0 } },
    ],
    special_tokens: { "<|endoftext|>": { id: "<|endoftext|>", ids: [96], tokens: ["<|endoftext|>"] } },
  };
  const tok = Tokenizer.fromFiles({ ...charTokenizerFiles(), "tokenizer.json": JSON.stringify(tj) });
  assertEquals(tok.encode("Hi"), [40, 73]);
  assertEquals(tok.encode("Hi", { addSpecialTokens: false }), [40, 73]);
  assertEquals(tok.encode("Hi", { addSpecialTokens: true }), [96, 40, 73]);
  assertEquals(tok.encode("<|endoftext|>Hi", { addSpecialTokens: true }), [96, 96, 40, 73]);
});

Deno.test("char tokenizer: files written to a directory load with Tokenizer.load", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const [name, text] of Object.entries(charTokenizerFiles())) await Deno.writeTextFile(join(dir, name), text);
    const tok = await Tokenizer.load(dir);
    assertEquals(tok.decode(tok.encode("round trip\n")), "round trip\n");
    assertEquals(tok.vocabSize, 103);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------------------------------------------------------
// Errors

Deno.test("errors: missing and corrupt files are MaxentErrors naming the file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assertRejects(() => Tokenizer.load(dir), MaxentError, join(dir, "tokenizer.json"), "not found");
    await assertRejects(() => Tokenizer.load(join(dir, "nope")), MaxentError, "tokenizer.json");
    const files = charTokenizerFiles();
    await Deno.writeTextFile(join(dir, "tokenizer.json"), files["tokenizer.json"]);
    await assertRejects(() => Tokenizer.load(dir), MaxentError, join(dir, "tokenizer_config.json"), "not found");
    await Deno.writeTextFile(join(dir, "tokenizer_config.json"), files["tokenizer_config.json"]);
    await Deno.writeTextFile(join(dir, "generation_config.json"), "{ truncated");
    await assertRejects(() => Tokenizer.load(dir), MaxentError, join(dir, "generation_config.json"), "not valid JSON");
    await Deno.remove(join(dir, "generation_config.json"));
    // A truncated tokenizer.json (a half-finished download).
    await Deno.writeTextFile(join(dir, "tokenizer.json"), files["tokenizer.json"].slice(0, 300));
    await assertRejects(() => Tokenizer.load(dir), MaxentError, join(dir, "tokenizer.json"), "not valid JSON");
    await Deno.writeTextFile(join(dir, "tokenizer.json"), "[1, 2]");
    await assertRejects(() => Tokenizer.load(dir), MaxentError, "tokenizer.json", "JSON object");
    await Deno.writeTextFile(join(dir, "tokenizer.json"), JSON.stringify({ version: "1.0", added_tokens: [] }));
    await assertRejects(() => Tokenizer.load(dir), MaxentError, "tokenizer.json", "model");
    await Deno.writeTextFile(join(dir, "tokenizer.json"), files["tokenizer.json"]);
    await Deno.writeTextFile(join(dir, "tokenizer_config.json"), "");
    await assertRejects(() => Tokenizer.load(dir), MaxentError, join(dir, "tokenizer_config.json"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assertThrows(() => Tokenizer.fromFiles({ "tokenizer.json": "{}" }), MaxentError, "tokenizer_config.json missing");
  const unknownModel = JSON.parse(charTokenizerFiles()["tokenizer.json"]);
  unknownModel.model.type = "Mystery";
  delete unknownModel.model.vocab;
  assertThrows(
    () => Tokenizer.fromFiles({ ...charTokenizerFiles(), "tokenizer.json": JSON.stringify(unknownModel) }),
    MaxentError,
    "tokenizer.json",
  );
  const badPreTok = JSON.parse(charTokenizerFiles()["tokenizer.json"]);
  badPreTok.pre_tokenizer = { type: "NoSuchPreTokenizer" };
  assertThrows(
    () => Tokenizer.fromFiles({ ...charTokenizerFiles(), "tokenizer.json": JSON.stringify(badPreTok) }),
    MaxentError,
    "tokenizer.json cannot be loaded",
    "NoSuchPreTokenizer",
  );
});

// ---------------------------------------------------------------------------------------------------------------
// Cross-check against the Python libraries (skipped when they are not importable)

const PY_CHECK = `
import json, sys
req = json.load(open(sys.argv[1]))
from tokenizers import Tokenizer
out = {"encode": {}, "decode": {}, "chat": {}, "special": {}}
for name, spec in req["tokenizers"].items():
    t = Tokenizer.from_file(spec["dir"] + "/tokenizer.json")
    ids = [t.encode(s, add_special_tokens=False).ids for s in spec["texts"]]
    out["encode"][name] = ids
    out["decode"][name] = [t.decode(i, skip_special_tokens=False) for i in ids]
try:
    from transformers import AutoTokenizer
except Exception:
    AutoTokenizer = None
if AutoTokenizer is not None:
    for name, spec in req["tokenizers"].items():
        t = AutoTokenizer.from_pretrained(spec["dir"])
        out["chat"][name] = [t.apply_chat_template(m, tokenize=False, add_generation_prompt=g) for m, g in req["chats"]]
        out["special"][name] = {"eos": t.eos_token_id, "pad": t.pad_token_id, "bos": t.bos_token_id, "len": len(t)}
json.dump(out, sys.stdout)
`;

Deno.test("cross-check: encodings, decodings and chat templates equal the Python libraries'", async (t) => {
  if (!(await pythonCanImport("tokenizers"))) {
    console.log("  skipped: python3 cannot import tokenizers (pip install tokenizers transformers to run this check)");
    return;
  }
  const hasTransformers = await pythonCanImport("transformers");
  const dir = await Deno.makeTempDir();
  try {
    const charDir = join(dir, "char");
    await Deno.mkdir(charDir);
    for (const [name, text] of Object.entries(charTokenizerFiles())) {
      await Deno.writeTextFile(join(charDir, name), text);
    }
    const qwenTexts = [...SAMPLES, mixedText(20_000, 3)];
    const charTexts = [
      "Hello, world!\n",
      "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n<think>\nok\n</think>\n<answer>4</answer><|im_end|>",
      "  spaces\n\n and é dropped ~`{}|",
      Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join(""),
    ];
    const chats: Array<[Array<{ role: string; content: string }>, boolean]> = [
      [SYS_USER, true],
      [SYS_USER, false],
      [[{ role: "user", content: "hi" }], true],
      [[...SYS_USER, { role: "assistant", content: "4" }, { role: "user", content: "Sure?" }], true],
    ];
    const req = {
      tokenizers: { qwen3: { dir: QWEN3_DIR, texts: qwenTexts }, char: { dir: charDir, texts: charTexts } },
      chats,
    };
    await Deno.writeTextFile(join(dir, "req.json"), JSON.stringify(req));
    await Deno.writeTextFile(join(dir, "check.py"), PY_CHECK);
    const r = await new Deno.Command("python3", { args: [join(dir, "check.py"), join(dir, "req.json")] }).output();
    if (!r.success) throw new Error(`python check failed: ${new TextDecoder().decode(r.stderr)}`);
    const py = JSON.parse(new TextDecoder().decode(r.stdout));
    const ours = { qwen3: await qwen(), char: Tokenizer.fromFiles(charTokenizerFiles()) };
    const texts = { qwen3: qwenTexts, char: charTexts };
    for (const name of ["qwen3", "char"] as const) {
      await t.step(`${name}: encode and decode`, () => {
        texts[name].forEach((s, i) => {
          const ids = ours[name].encode(s);
          assertEquals(ids, py.encode[name][i], `${name} encode ${JSON.stringify(s.slice(0, 60))}`);
          assertEquals(ours[name].decode(ids), py.decode[name][i], `${name} decode ${JSON.stringify(s.slice(0, 60))}`);
        });
      });
      if (!hasTransformers) continue;
      await t.step(`${name}: chat template and special ids (transformers)`, () => {
        chats.forEach(([messages, gen], i) => {
          assertEquals(ours[name].applyChatTemplate(messages, { addGenerationPrompt: gen }), py.chat[name][i]);
        });
        const sp = py.special[name];
        assertEquals(ours[name].eosTokenIds, [sp.eos]);
        assertEquals(ours[name].padTokenId, sp.pad);
        assertEquals(ours[name].bosTokenId, sp.bos);
        assertEquals(ours[name].vocabSize, sp.len);
      });
    }
    if (!hasTransformers) console.log("  note: python3 cannot import transformers; chat templates not cross-checked");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------------------------------------------------------
// helpers

/** The char tokenizer files with tokenizer_config.json fields replaced (undefined deletes a field). */
function withConfig(files: Record<string, string>, patch: Record<string, unknown>): Record<string, string> {
  const config = JSON.parse(files["tokenizer_config.json"]);
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) delete config[k];
    else config[k] = v;
  }
  return { ...files, "tokenizer_config.json": JSON.stringify(config) };
}

/** Deterministic mixed text of about `bytes` UTF-8 bytes: English, code, numbers, CJK, Cyrillic, emoji, accents. */
function mixedText(bytes: number, seed: number): string {
  const words = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "lazy",
    "dog",
    "Hello,",
    "world!",
    "日本語",
    "中文",
    "café",
    "naïve",
    "👍",
    "12345",
    "x=y+1;",
    "\n",
    "  ",
    "résumé",
    "Ελληνικά",
    "Кириллица",
    "don't",
    "I'm",
    "<tag>",
    "{json:1}",
    "3.14159",
    "\t",
    "   \n\n",
    "🇯🇵",
    "ÅÄÖ",
  ];
  let state = seed >>> 0;
  const enc = new TextEncoder();
  const parts: string[] = [];
  let n = 0;
  while (n < bytes) {
    // xorshift32: a fixed pseudo-random word sequence.
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    const w = words[state % words.length];
    parts.push(w);
    n += enc.encode(w).length + 1;
  }
  return parts.join(" ");
}
