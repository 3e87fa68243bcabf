import { assert, assertClose, assertEquals, assertMatch } from "./assert.ts";
import { runCli } from "./cli_helpers.ts";
import { VERSION } from "../src/version.ts";

const E = Math.E;

function parseJson(out: string): { q: number[]; ref: number[]; weights: number[]; entropy: number; ess: number } {
  const lines = out.trim().split("\n");
  assertEquals(lines.length, 1, "--json prints exactly one line");
  return JSON.parse(lines[0]);
}

Deno.test("maxent --help lists weights; weights --help lists its flags; --version works", async () => {
  const help = await runCli(["--help"]);
  assertEquals(help.code, 0);
  assertMatch(help.out, /weights/);
  const sub = await runCli(["weights", "--help"]);
  assertEquals(sub.code, 0);
  for (const flag of ["--utilities", "--ref-logprobs", "--lengths", "--tau", "--beta", "--q-temperature", "--q-eps"]) {
    assert(sub.out.includes(flag), `help lacks ${flag}`);
  }
  assert(sub.out.includes("--no-length-normalize-ref") && sub.out.includes("--json"));
  const v = await runCli(["--version"]);
  assertEquals(v.code, 0);
  assert(v.out.includes(VERSION));
});

Deno.test("weights --json: keys q, ref, weights, entropy, ess with hand-checked values (uniform reference)", async () => {
  const r = await runCli(["weights", "--utilities", "1,0,0,1", "--tau", "1", "--beta", "0", "--q-eps", "0", "--json"]);
  assertEquals(r.code, 0, r.err);
  const j = parseJson(r.out);
  assertEquals(Object.keys(j).sort(), ["entropy", "ess", "q", "ref", "weights"]);
  const hi = E / (2 * E + 2);
  const lo = 1 / (2 * E + 2);
  assertClose(j.q, [hi, lo, lo, hi], 1e-12);
  assertClose(j.ref, [0.25, 0.25, 0.25, 0.25], 1e-15);
  // β = 0, τ = 1: w = q
  assertClose(j.weights, [hi, lo, lo, hi], 1e-12);
  assertClose(j.entropy, -2 * hi * Math.log(hi) - 2 * lo * Math.log(lo), 1e-12);
  assertClose(j.ess, 1 / (2 * hi * hi + 2 * lo * lo), 1e-9);
});

Deno.test("weights defaults equal the recipe defaults (τ = 0.2, β = 0, T_q = 1, ε = 1e-6)", async () => {
  const dflt = parseJson((await runCli(["weights", "--utilities", "1,0,0,1", "--json"])).out);
  const explicit = parseJson(
    (await runCli([
      "weights",
      "--utilities",
      "1,0,0,1",
      "--tau",
      "0.2",
      "--beta",
      "0",
      "--q-temperature",
      "1",
      "--q-eps",
      "1e-6",
      "--json",
    ])).out,
  );
  assertEquals(dflt, explicit);
  // τ = 0.2, β = 0: w ∝ q^5 — independent check from the q it printed.
  const p = dflt.q.map((x) => x ** 5);
  const z = p.reduce((a, b) => a + b, 0);
  assertClose(dflt.weights, p.map((x) => x / z), 1e-12);
});

Deno.test("weights with reference log-probs and lengths: per-token reference unless --no-length-normalize-ref", async () => {
  const base = ["weights", "--utilities", "1,0,0,1", "--ref-logprobs", "-3.1,-2.0,-5.2,-4.4", "--beta", "3", "--json"];
  const norm = parseJson((await runCli([...base, "--lengths", "10,12,9,30"])).out);
  const s = [-3.1 / 10, -2.0 / 12, -5.2 / 9, -4.4 / 30];
  const zs = s.map(Math.exp).reduce((a, b) => a + b, 0);
  assertClose(norm.ref, s.map((x) => Math.exp(x) / zs), 1e-12);
  // w ∝ q^{1/3.2} · e^{s·3/3.2}
  const p = norm.q.map((q, i) => q ** (1 / 3.2) * Math.exp((3 / 3.2) * s[i]));
  const zp = p.reduce((a, b) => a + b, 0);
  assertClose(norm.weights, p.map((x) => x / zp), 1e-12);
  const raw = parseJson((await runCli([...base, "--lengths", "10,12,9,30", "--no-length-normalize-ref"])).out);
  const r = [-3.1, -2.0, -5.2, -4.4];
  const zr = r.map(Math.exp).reduce((a, b) => a + b, 0);
  assertClose(raw.ref, r.map((x) => Math.exp(x) / zr), 1e-12);
  // Without --lengths the log-probs are used as given.
  assertEquals(parseJson((await runCli(base)).out), raw);
});

Deno.test("weights prints a readable table by default", async () => {
  const r = await runCli(["weights", "--utilities", "1,0,0,1", "--ref-logprobs", "-3.1,-2.0,-5.2,-4.4"]);
  assertEquals(r.code, 0, r.err);
  assertMatch(r.out, /K = 4 candidates/);
  assertMatch(r.out, /utility\s+q\s+ref score\s+π_ref\s+w/);
  assertMatch(r.out, /entropy H\(w\) = \d\.\d+ nats/);
  assertMatch(r.out, /ESS = 1\/Σw² = \d\.\d+ of K = 4/);
  assertEquals(r.out.split("\n").filter((l) => /^\s+[1-4]\s/.test(l)).length, 4);
});

Deno.test("weights: bad input is a usage error (exit 2) naming the flag", async () => {
  const cases: Array<[string[], string]> = [
    [["--utilities", "1,0,0,1", "--ref-logprobs", "-1,-2"], "--ref-logprobs"],
    [["--utilities", "1,0", "--ref-logprobs", "-1,-2", "--lengths", "3"], "--lengths"],
    [["--utilities", "1,nan"], "--utilities"],
    [["--utilities", ""], "--utilities"],
    [["--utilities", "1,,2"], "--utilities"],
    [["--utilities", "1,0", "--tau", "abc"], "--tau"],
    [["--utilities", "1,0", "--tau", "-1"], "--tau"],
    [["--utilities", "1,0", "--beta", "-0.5"], "--beta"],
    [["--utilities", "1,0", "--q-temperature", "0"], "--q-temperature"],
    [["--utilities", "1,0,0,1", "--q-eps", "0.3"], "--q-eps"],
    [["--utilities", "1,0", "--lengths", "3,4"], "--lengths"],
    [["--utilities", "1,0", "--ref-logprobs", "-1,-2", "--lengths", "3,-4"], "--lengths"],
    [["--utilities", "1,0", "--ref-logprobs", "-1,-2", "--length-normalize-ref"], "--length-normalize-ref"],
    [[], "--utilities"],
  ];
  for (const [args, flag] of cases) {
    const r = await runCli(["weights", ...args]);
    assertEquals(r.code, 2, `${args.join(" ")}: ${r.err}`);
    assert(r.err.includes(flag), `${args.join(" ")} → ${r.err}`);
    assertEquals(r.out, "");
  }
});
