/** Tests for `maxent --version`: the version line and the cheap prediction of the backend `auto` picks. */
import { assert, assertEquals, assertMatch } from "./assert.ts";
import { runCli } from "./cli_helpers.ts";
import { type BackendProbes, predictAutoBackend, versionReport } from "../src/cli/version_info.ts";
import { VERSION } from "../src/version.ts";
import denoJson from "../deno.json" with { type: "json" };

function probes(over: Partial<BackendProbes>): BackendProbes {
  return {
    tfjsNode: () => null,
    hardwareGpu: () => Promise.resolve(null),
    blas: () => ({ ok: true, text: "OpenBLAS 0.3.21 at /lib/libopenblas.so.0" }),
    ...over,
  };
}

Deno.test("version: --version prints maxent's, Deno's and tfjs's versions and a backend line", async () => {
  const r = await runCli(["--version"]);
  assertEquals(r.code, 0, r.err);
  const lines = r.out.split("\n");
  assertEquals(lines.length, 2, r.out);
  // tfjs's version, independently: the pin in deno.json's import map.
  const tfjs = denoJson.imports["@tensorflow/tfjs"].replace(/^npm:@tensorflow\/tfjs@/, "");
  assertEquals(
    lines[0],
    `maxent ${VERSION} (deno ${Deno.version.deno}, typescript ${Deno.version.typescript}, tfjs ${tfjs})`,
  );
  assertMatch(lines[1], /^backend auto: (tensorflow|webgpu|wasm) \(/);
});

Deno.test("version: the backend prediction follows auto's order tensorflow > hardware webgpu > wasm", async () => {
  assertEquals(
    await predictAutoBackend(probes({ tfjsNode: () => "@tensorflow/tfjs-node-gpu" })),
    "tensorflow (@tensorflow/tfjs-node-gpu is installed)",
  );
  assertEquals(
    await predictAutoBackend(probes({ hardwareGpu: () => Promise.resolve("nvidia hopper H100") })),
    "webgpu (nvidia hopper H100)",
  );
  const wasm = await predictAutoBackend(probes({}));
  assert(wasm.startsWith("wasm (OpenBLAS 0.3.21 at /lib/libopenblas.so.0;"), wasm);
  const noBlas = await predictAutoBackend(probes({ blas: () => ({ ok: false, text: "libopenblas.so.0 not found" }) }));
  assert(noBlas.startsWith("wasm (no BLAS: libopenblas.so.0 not found;"), noBlas);
});

Deno.test("version: a failing probe gives an 'unknown' backend line, not a failed --version", async () => {
  const text = await versionReport(probes({ hardwareGpu: () => Promise.reject(new Error("boom")) }));
  assertEquals(text.split("\n")[1], "backend auto: unknown (boom)");
});
