/**
 * Backend benchmarks (issue 8): raw OpenBLAS sgemm through FFI, tfjs matMul per backend with the stock kernels and
 * with maxent's (BLAS + fast kernels), and one fwd+bwd+Adam step of a Qwen2-style transformer block (RMSNorm,
 * causal multi-head attention, SwiGLU; hidden 256, FF 1024, seq 128, batch 8) per backend against the same block in
 * PyTorch eager (bench/torch_block.py through /usr/bin/python3) as a speed ratio.
 */
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../src/backend/mod.ts";
import { loadBlas } from "../src/backend/blas.ts";
import { adamWUpdate } from "../src/backend/adamw.ts";
import { restoreStockKernels } from "../src/backend/registry.ts";
import { measure, type Report } from "./report.ts";

/** Sizes of the block. */
export interface BlockConfig {
  hidden: number;
  ff: number;
  heads: number;
  seq: number;
  batch: number;
}

/** hidden 256, FF 1024, 4 heads, seq 128, batch 8: the size issue 8 benchmarks. */
export const BENCH_BLOCK: BlockConfig = { hidden: 256, ff: 1024, heads: 4, seq: 128, batch: 8 };

/** A block with its weights, input and a training step (loss = mean of the squared output). */
export interface Block {
  step(): number;
  /** Model FLOPs of one fwd+bwd step (3 × the forward matmul FLOPs). */
  flops: number;
  dispose(): void;
}

/**
 * Builds the block's variables and optimizer on the active backend: `tfjs-adam` is tf.train.adam, `fused-adamw` is
 * maxent's one-pass update (src/backend/adamw.ts, weight decay 0, i.e. Adam).
 */
export function makeBlock(c: BlockConfig, optimizer: "tfjs-adam" | "fused-adamw" = "fused-adamw", seed = 1): Block {
  const { hidden: h, ff, heads, seq, batch } = c;
  const hd = h / heads;
  const init = (shape: number[], i: number) =>
    tf.tidy(() => tf.variable(tf.randomNormal(shape, 0, 1 / Math.sqrt(shape[0]), "float32", seed + i)));
  const w = {
    norm1: tf.tidy(() => tf.variable(tf.ones([h]))),
    norm2: tf.tidy(() => tf.variable(tf.ones([h]))),
    wq: init([h, h], 1),
    bq: tf.tidy(() => tf.variable(tf.zeros([h]))),
    wk: init([h, h], 2),
    bk: tf.tidy(() => tf.variable(tf.zeros([h]))),
    wv: init([h, h], 3),
    bv: tf.tidy(() => tf.variable(tf.zeros([h]))),
    wo: init([h, h], 4),
    wg: init([h, ff], 5),
    wu: init([h, ff], 6),
    wd: init([ff, h], 7),
  };
  const vars = Object.values(w);
  const x = tf.randomNormal([batch * seq, h], 0, 1, "float32", seed + 100);
  const mask = tf.tidy(() => tf.sub(tf.ones([seq, seq]), tf.linalg.bandPart(tf.ones([seq, seq]), -1, 0)).mul(-1e9));
  const opt = tf.train.adam(1e-3);
  const moments = vars.map((v) => [0, 1].map(() => tf.tidy(() => tf.variable(tf.zerosLike(v), false))));
  let t = 0;

  // RMSNorm(x) = x / sqrt(mean(x²) + ε) · w
  const rmsNorm = (t: tf.Tensor2D, g: tf.Tensor) => t.mul(tf.rsqrt(t.square().mean(-1, true).add(1e-6))).mul(g);
  const heads4 = (t: tf.Tensor2D) => t.reshape([batch, seq, heads, hd]).transpose([0, 2, 1, 3]);

  const forward = (): tf.Scalar => {
    const n1 = rmsNorm(x as tf.Tensor2D, w.norm1) as tf.Tensor2D;
    const q = heads4(n1.matMul(w.wq).add(w.bq));
    const k = heads4(n1.matMul(w.wk).add(w.bk));
    const v = heads4(n1.matMul(w.wv).add(w.bv));
    // attention = softmax(q kᵀ / √d + causal mask) v
    const scores = tf.matMul(q, k, false, true).mul(1 / Math.sqrt(hd)).add(mask);
    const att = tf.matMul(tf.softmax(scores), v).transpose([0, 2, 1, 3]).reshape([batch * seq, h]);
    const h1 = x.add(att.matMul(w.wo)) as tf.Tensor2D;
    const n2 = rmsNorm(h1, w.norm2) as tf.Tensor2D;
    // SwiGLU(n) = (silu(n W_g) ⊙ n W_u) W_d
    const g = n2.matMul(w.wg);
    const mlp = g.mul(tf.sigmoid(g)).mul(n2.matMul(w.wu)).matMul(w.wd);
    const out = h1.add(mlp);
    return out.square().mean() as tf.Scalar;
  };

  const fwdFlops = 2 * batch * seq * (4 * h * h + 3 * h * ff) + 2 * 2 * batch * heads * seq * seq * hd;
  return {
    flops: 3 * fwdFlops,
    step() {
      return tf.tidy(() => {
        if (optimizer === "tfjs-adam") return (opt.minimize(forward, true, vars) as tf.Scalar).dataSync()[0];
        const { value, grads } = tf.variableGrads(forward, vars);
        t++;
        const s = {
          beta1: 0.9,
          beta2: 0.999,
          epsilon: 1e-8,
          stepSize: 1e-3 / (1 - 0.9 ** t),
          bc2Sqrt: Math.sqrt(1 - 0.999 ** t),
          decay: 1,
        };
        for (const [i, v] of vars.entries()) {
          const [p1, m1, v1] = adamWUpdate(v, grads[v.name], moments[i][0], moments[i][1], s);
          v.assign(p1);
          moments[i][0].assign(m1);
          moments[i][1].assign(v1);
        }
        return value.dataSync()[0];
      });
    },
    dispose() {
      for (const v of vars) v.dispose();
      x.dispose();
      mask.dispose();
      opt.dispose();
      tf.dispose(moments.flat());
    },
  };
}

/** Peak GFLOP/s of raw `cblas_sgemm` on JS Float32Arrays (no tfjs): the best of several calls, or null. */
function sgemmGflops(n: number): number | null {
  const { blas } = loadBlas();
  if (!blas) return null;
  const a = new Float32Array(n * n).map((_, i) => ((i * 7919) % 2003) / 1001 - 1), b = a.slice();
  const c = new Float32Array(n * n);
  blas.sgemm(false, false, n, n, n, 1, a, b, 0, c);
  let best = Infinity;
  const start = performance.now();
  for (let i = 0; i < 8 && (i < 3 || performance.now() - start < 1000); i++) {
    const t0 = performance.now();
    blas.sgemm(false, false, n, n, n, 1, a, b, 0, c);
    best = Math.min(best, performance.now() - t0);
  }
  return (2 * n ** 3) / best / 1e6;
}

/** GFLOP/s of tf.matMul at n³ on the active backend (plain, transposed A, transposed B). */
function tfMatMulGflops(n: number, slow: boolean): { plain: number; transA: number; transB: number } {
  const x = tf.randomNormal([n, n], 0, 1, "float32", 5);
  const o = slow ? { warmup: 0, minIters: 1, minMs: 0 } : { warmup: 1, minIters: 3, minMs: 300 };
  const time = (ta: boolean, tb: boolean) =>
    // (Return nothing from tidy: it walks a returned TypedArray element by element, ~0.5 s per 1M elements.)
    (2 * n ** 3) / measure(() => tf.tidy(() => void tf.matMul(x, x, ta, tb).dataSync()), o) / 1e6;
  const r = { plain: time(false, false), transA: time(true, false), transB: time(false, true) };
  x.dispose();
  return r;
}

/** Milliseconds of one block step on the active backend. */
function blockStepMs(slow: boolean, optimizer: "tfjs-adam" | "fused-adamw"): { ms: number; flops: number } {
  const block = makeBlock(BENCH_BLOCK, optimizer);
  const ms = measure(() => block.step(), slow ? { warmup: 1, minIters: 1, minMs: 0 } : { warmup: 2, minIters: 5 });
  const flops = block.flops;
  block.dispose();
  return { ms, flops };
}

/** The same block in PyTorch eager through /usr/bin/python3, or null when torch is not importable there. */
async function torchBlockMs(): Promise<{ ms: number; threads: number; torch: string } | null> {
  const c = BENCH_BLOCK;
  const script = new URL("./torch_block.py", import.meta.url).pathname;
  try {
    const out = await new Deno.Command("/usr/bin/python3", {
      args: [script, ...[c.hidden, c.ff, c.heads, c.seq, c.batch, 10].map(String)],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) return null;
    const r = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").pop()!);
    return { ms: r.ms_per_step, threads: r.threads, torch: r.torch };
  } catch {
    return null;
  }
}

/** Runs the backend suite. */
export async function run(report: Report): Promise<void> {
  const { blas, reason } = loadBlas();
  let peak = 0;
  for (const n of [1024, 2048]) {
    const g = sgemmGflops(n);
    if (g === null) {
      report({ name: `sgemm ${n}³ (OpenBLAS, FFI)`, value: NaN, unit: "GFLOP/s", detail: `no BLAS: ${reason}` });
      continue;
    }
    peak = Math.max(peak, g);
    report({ name: `sgemm ${n}³ (OpenBLAS, FFI)`, value: g, unit: "GFLOP/s", detail: `${blas!.threads} threads` });
  }
  const c = BENCH_BLOCK;
  const shape = `hidden ${c.hidden}, FF ${c.ff}, seq ${c.seq}, batch ${c.batch}`;
  for (const name of ["wasm", "cpu"] as const) {
    // PyTorch right before this backend's rows, so that the ratio compares runs under the same machine load.
    const torch = await torchBlockMs();
    if (torch) {
      report({
        name: `block fwd+bwd+Adam, PyTorch eager (before the ${name} rows)`,
        value: torch.ms,
        unit: "ms",
        detail: `torch ${torch.torch}, ${torch.threads} thread(s), ${shape}`,
      });
    }
    const info = await initBackend(name);
    // The stock rows (the "before" numbers) take ~30 s on cpu: MAXENT_BENCH_STOCK=0 skips them.
    const withStock = Deno.env.get("MAXENT_BENCH_STOCK") !== "0";
    for (const kernels of withStock ? ["maxent", "stock"] as const : ["maxent"] as const) {
      if (kernels === "stock") restoreStockKernels(name);
      const slow = kernels === "stock";
      const label = `${name}${kernels === "maxent" ? (info.blas ? "+BLAS+fast kernels" : "+fast kernels") : " stock"}`;
      const mm = tfMatMulGflops(1024, slow && name === "cpu");
      report({
        name: `tf.matMul 1024³, ${label}`,
        value: mm.plain,
        unit: "GFLOP/s",
        detail: `transposeA ${mm.transA.toFixed(1)}, transposeB ${mm.transB.toFixed(1)}`,
      });
      const step = blockStepMs(slow, slow ? "tfjs-adam" : "fused-adamw");
      const gflops = step.flops / step.ms / 1e6;
      const extra = [
        `${gflops.toFixed(1)} GFLOP/s`,
        peak ? `${((100 * gflops) / peak).toFixed(0)}% of sgemm peak` : "",
        torch ? `maxent/PyTorch speed ${(torch.ms / step.ms).toFixed(2)}` : "",
      ].filter(Boolean).join(", ");
      const opt = slow ? "tf.train.adam" : "fused AdamW";
      report({ name: `block fwd+bwd+Adam, ${label}, ${opt}`, value: step.ms, unit: "ms", detail: extra });
      if (!slow) {
        const plain = blockStepMs(false, "tfjs-adam");
        const ratio = torch ? `, maxent/PyTorch speed ${(torch.ms / plain.ms).toFixed(2)}` : "";
        report({
          name: `block fwd+bwd+Adam, ${label}, tf.train.adam`,
          value: plain.ms,
          unit: "ms",
          detail: ratio.slice(2),
        });
      }
    }
  }
  await initBackend("cpu");
}
