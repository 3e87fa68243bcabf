/**
 * The decoder-only transformer behind Qwen2/Qwen2.5, Qwen3 and Llama 3 (SmolLM2): token embedding, per layer
 * RMSNorm → grouped-query attention with RoPE → residual → RMSNorm → SwiGLU MLP → residual, final RMSNorm and a
 * (tied or separate) LM head. Weights are tfjs variables keyed by their Hugging Face names, so loading and saving
 * is a dictionary walk. Linear weights are held transposed ([in, out]) so the forward pass uses plain matmuls.
 */
import * as tf from "@tensorflow/tfjs";
import { MaxentError } from "../errors.ts";
import { loadModelConfig, type ModelConfig } from "./config.ts";
import { checkpoint } from "./checkpointing.ts";
import { KVCache } from "./kv_cache.ts";
import { hostMaskRows } from "./host_mask.ts";
import { DEFAULT_LOGITS_CHUNK_ELEMENTS, embeddingLookup, targetLogProbs, TiedEmbeddingGrad } from "./logprobs.ts";
import { applyRope, ropeInvFreq, ropeTables } from "./rope.ts";
import {
  type HostTensor,
  iterateSafetensorsDir,
  readSafetensorsDirHeaders,
  writeSafetensorsDir,
  writeTextAtomic,
} from "./safetensors.ts";
import { uniform01 } from "../mulberry32.ts";

/** Additive attention bias for masked positions (finite, so fully masked padding rows stay finite). */
const MASKED = -1e9;

/** The tensor names and Hugging Face shapes ([out, in] for linear weights) a config implies. */
export function expectedTensorShapes(config: ModelConfig): Map<string, number[]> {
  const { hiddenSize: H, intermediateSize: I, vocabSize: V, headDim: d } = config;
  const q = config.numAttentionHeads * d;
  const kv = config.numKeyValueHeads * d;
  const m = new Map<string, number[]>();
  m.set("model.embed_tokens.weight", [V, H]);
  for (let i = 0; i < config.numHiddenLayers; i++) {
    const p = `model.layers.${i}.`;
    m.set(p + "input_layernorm.weight", [H]);
    m.set(p + "self_attn.q_proj.weight", [q, H]);
    m.set(p + "self_attn.k_proj.weight", [kv, H]);
    m.set(p + "self_attn.v_proj.weight", [kv, H]);
    m.set(p + "self_attn.o_proj.weight", [H, q]);
    if (config.qkvBias) {
      m.set(p + "self_attn.q_proj.bias", [q]);
      m.set(p + "self_attn.k_proj.bias", [kv]);
      m.set(p + "self_attn.v_proj.bias", [kv]);
    }
    if (config.oBias) m.set(p + "self_attn.o_proj.bias", [H]);
    if (config.qkNorm) {
      m.set(p + "self_attn.q_norm.weight", [d]);
      m.set(p + "self_attn.k_norm.weight", [d]);
    }
    m.set(p + "post_attention_layernorm.weight", [H]);
    m.set(p + "mlp.gate_proj.weight", [I, H]);
    m.set(p + "mlp.up_proj.weight", [I, H]);
    m.set(p + "mlp.down_proj.weight", [H, I]);
  }
  m.set("model.norm.weight", [H]);
  if (!config.tieWordEmbeddings) m.set("lm_head.weight", [V, H]);
  return m;
}

/** Linear layers' weights are stored transposed inside the model. */
function isProjection(name: string): boolean {
  return name.endsWith("_proj.weight");
}

/** Row-major transpose of a [rows, cols] matrix (blocked for cache locality). */
export function transposeHost(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  const bs = 32;
  for (let r0 = 0; r0 < rows; r0 += bs) {
    const r1 = Math.min(rows, r0 + bs);
    for (let c0 = 0; c0 < cols; c0 += bs) {
      const c1 = Math.min(cols, c0 + bs);
      for (let r = r0; r < r1; r++) {
        for (let c = c0; c < c1; c++) out[c * rows + r] = data[r * cols + c];
      }
    }
  }
  return out;
}

/**
 * Random initial weights as transformers initialises them: linear and embedding weights ~ N(0, initializer_range),
 * biases 0, norm weights 1. Deterministic for a seed.
 */
export function randomWeights(config: ModelConfig, seed: number): Map<string, HostTensor> {
  const rand = uniform01(seed);
  const std = typeof config.raw.initializer_range === "number" ? config.raw.initializer_range : 0.02;
  const out = new Map<string, HostTensor>();
  for (const [name, shape] of expectedTensorShapes(config)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (name.endsWith("norm.weight")) data.fill(1);
    else if (!name.endsWith(".bias")) {
      // Box–Muller: z = sqrt(−2 ln u1)·cos(2π u2)
      for (let i = 0; i < n; i += 2) {
        const u1 = Math.max(rand(), 1e-12);
        const u2 = rand();
        const r = Math.sqrt(-2 * Math.log(u1)) * std;
        data[i] = r * Math.cos(2 * Math.PI * u2);
        if (i + 1 < n) data[i + 1] = r * Math.sin(2 * Math.PI * u2);
      }
    }
    out.set(name, { shape, data });
  }
  return out;
}

/** Options for building a model. */
export interface CausalLMOptions {
  /** Whether the weights are trainable variables (default true). */
  trainable?: boolean;
  /** Elements in one [rows, vocab] logits block of `tokenLogProbs` (default 2^24). */
  logitsChunkElements?: number;
  /** `load` only: rewrites each Hugging Face-layout tensor as it is read (e.g. merges a LoRA adapter into it). */
  transform?: (name: string, t: HostTensor) => HostTensor | Promise<HostTensor>;
}

/**
 * A hook on the linear projections (LoRA, `src/model/lora.ts`): `project` computes x·W (+b) plus its own term for
 * the module (`model.layers.0.self_attn.q_proj`), `weight` may replace a base weight, `variables` are trained too.
 */
export interface ProjectionAdapter {
  project(module: string, x: tf.Tensor2D, w: tf.Tensor2D, bias?: tf.Tensor): tf.Tensor2D;
  weight(name: string): tf.Variable | undefined;
  variables(): Map<string, tf.Variable>;
  /** Random draws made so far (LoRA dropout masks); gradient checkpointing rewinds it to replay the same masks. */
  dropoutCalls?: number;
}

/** RMSNorm: x · w / sqrt(mean(x²) + ε) over the last axis. */
function rmsNorm<T extends tf.Tensor>(x: T, w: tf.Tensor, eps: number): T {
  return tf.tidy(() => tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps))), w) as T);
}

/** Per row, the RoPE position of each step: real tokens count 0, 1, 2, …; padding gets 0. */
function positionsFromMask(mask: number[][]): number[][] {
  return mask.map((row) => {
    let n = 0;
    return row.map((m) => (m ? n++ : 0));
  });
}

/**
 * Additive attention bias [B, 1, T, S] for queries at cache indices qStart…qStart+T−1 over S keys: 0 where key s ≤
 * query index and key s is a real token, MASKED elsewhere.
 */
function attentionBias(mask: number[][], qStart: number, T: number): tf.Tensor4D {
  const B = mask.length;
  const S = mask[0].length;
  const bias = new Float32Array(B * T * S);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const base = (b * T + t) * S;
      const q = qStart + t;
      for (let s = 0; s < S; s++) bias[base + s] = s <= q && mask[b][s] ? 0 : MASKED;
    }
  }
  return tf.tensor4d(bias, [B, 1, T, S]);
}

/** The mask's 0/1 rows on the host (from its host array when made with `maskTensor`: no device read, as webgpu needs). */
function maskRows(attentionMask: tf.Tensor2D): number[][] {
  return hostMaskRows(attentionMask);
}

/**
 * A causal language model (Qwen2, Qwen3 or Llama architecture) whose weights are tfjs variables.
 *
 * @example
 * ```ts
 * const model = await CausalLM.load("models/tiny");
 * const lp = model.tokenLogProbs(tf.tensor2d([[1, 5, 7]], undefined, "int32"), tf.ones([1, 3]) as tf.Tensor2D);
 * ```
 */
export class CausalLM {
  /** The validated configuration (its `raw` JSON is what `save` writes). */
  readonly config: ModelConfig;
  /** Weights by Hugging Face name; `*_proj.weight` variables hold the transpose ([in, out]) of the HF tensor. */
  readonly weights: Map<string, tf.Variable>;
  /** Elements per [rows, vocab] block in `tokenLogProbs`. */
  logitsChunkElements: number;
  /** Adapters on the projections (LoRA), or null for the plain model. */
  adapter: ProjectionAdapter | null = null;
  /**
   * Recompute each decoder layer in the backward pass instead of keeping its activations (`gradient_checkpointing`):
   * a training forward then keeps one [B, T, H] input per layer (`src/model/checkpointing.ts`).
   */
  gradientCheckpointing = false;
  private readonly invFreq: Float64Array;

  private constructor(config: ModelConfig, weights: Map<string, tf.Variable>, chunk: number) {
    this.config = config;
    this.weights = weights;
    this.logitsChunkElements = chunk;
    this.invFreq = ropeInvFreq(config);
  }

  /**
   * Builds a model from Hugging Face-layout host tensors (names and shapes as `expectedTensorShapes`). Tensors the
   * config does not use (`lm_head.weight` of a tied model, rotary `inv_freq` buffers) are ignored.
   */
  static fromTensors(
    config: ModelConfig,
    tensors: Map<string, HostTensor> | Iterable<[string, HostTensor]>,
    opts: CausalLMOptions = {},
    source = "weights",
  ): CausalLM {
    const expected = expectedTensorShapes(config);
    const weights = new Map<string, tf.Variable>();
    const trainable = opts.trainable ?? true;
    try {
      for (const [name, t] of tensors) {
        const shape = expected.get(name);
        if (!shape) {
          if (isIgnorable(name, config)) continue;
          throw new MaxentError(`${source}: unexpected tensor "${name}" for this config (${describe(config)})`);
        }
        checkShape(source, name, t.shape, shape);
        let data = t.data;
        let s = shape;
        if (isProjection(name)) {
          data = transposeHost(t.data, shape[0], shape[1]);
          s = [shape[1], shape[0]];
        }
        weights.get(name)?.dispose();
        weights.set(name, toVariable(tf.tensor(data, s, "float32"), trainable));
      }
      for (const name of expected.keys()) {
        if (!weights.has(name)) throw new MaxentError(`${source}: missing tensor "${name}" (${describe(config)})`);
      }
    } catch (e) {
      for (const v of weights.values()) v.dispose();
      throw e;
    }
    return new CausalLM(config, weights, opts.logitsChunkElements ?? DEFAULT_LOGITS_CHUNK_ELEMENTS);
  }

  /**
   * Loads `dir/config.json` and its safetensors weights (single file or sharded), checking every tensor's name and
   * shape against the config before reading any data, then streaming tensor by tensor.
   */
  static async load(dir: string, opts: CausalLMOptions = {}): Promise<CausalLM> {
    const config = await loadModelConfig(dir);
    const expected = expectedTensorShapes(config);
    const headers = await readSafetensorsDirHeaders(dir);
    const found = new Set<string>();
    for (const h of headers) {
      for (const [name, e] of h.tensors) {
        const shape = expected.get(name);
        if (!shape) {
          if (isIgnorable(name, config)) continue;
          throw new MaxentError(`${h.file}: unexpected tensor "${name}" for ${dir}/config.json (${describe(config)})`);
        }
        checkShape(h.file, name, e.shape, shape);
        found.add(name);
      }
    }
    for (const name of expected.keys()) {
      if (!found.has(name)) {
        throw new MaxentError(
          `${dir}: checkpoint lacks tensor "${name}" that config.json implies (${describe(config)})`,
        );
      }
    }
    const stream = iterateSafetensorsDir(dir, { filter: (n) => expected.has(n) });
    // Convert each tensor to a variable as soon as it is read, so only one host copy is alive at a time.
    const weights = new Map<string, tf.Variable>();
    const trainable = opts.trainable ?? true;
    try {
      for await (const [name, t] of stream) {
        const host = opts.transform ? await opts.transform(name, t) : t;
        const one = CausalLM.variableFromHost(name, host, expected.get(name)!, trainable);
        weights.get(name)?.dispose();
        weights.set(name, one);
      }
    } catch (e) {
      for (const v of weights.values()) v.dispose();
      throw e;
    }
    return new CausalLM(config, weights, opts.logitsChunkElements ?? DEFAULT_LOGITS_CHUNK_ELEMENTS);
  }

  /** One weight as a variable: `*_proj.weight` transposed to [in, out], the rest as stored. */
  private static variableFromHost(name: string, t: HostTensor, shape: number[], trainable: boolean): tf.Variable {
    if (isProjection(name)) {
      return toVariable(tf.tensor(transposeHost(t.data, shape[0], shape[1]), [shape[1], shape[0]]), trainable);
    }
    return toVariable(tf.tensor(t.data, shape, "float32"), trainable);
  }

  /** A randomly initialised model (see `randomWeights`), deterministic for `seed`. */
  static random(config: ModelConfig, seed: number, opts: CausalLMOptions = {}): CausalLM {
    return CausalLM.fromTensors(config, randomWeights(config, seed), opts, "random init");
  }

  private w(name: string): tf.Variable {
    const v = this.adapter?.weight(name) ?? this.weights.get(name);
    if (!v) throw new MaxentError(`model has no weight "${name}"`);
    return v;
  }

  /** The LM head weight [V, H]: the embedding when tied. */
  private headWeight(): tf.Tensor2D {
    return (this.config.tieWordEmbeddings
      ? this.w("model.embed_tokens.weight")
      : this.w("lm_head.weight")) as tf.Tensor2D;
  }

  private linear(x: tf.Tensor2D, name: string, bias: boolean): tf.Tensor2D {
    if (this.adapter) {
      const b = bias ? this.w(`${name}.bias`) : undefined;
      return this.adapter.project(name, x, this.w(`${name}.weight`) as tf.Tensor2D, b);
    }
    const y = tf.matMul(x, this.w(`${name}.weight`)) as tf.Tensor2D;
    return bias ? tf.add(y, this.w(`${name}.bias`)) as tf.Tensor2D : y;
  }

  /**
   * One decoder layer on x [B, T, H]. Keys/values of earlier positions come from `past`; returns the layer output
   * and the full keys/values [B, kvHeads, S, d].
   */
  private layer(
    i: number,
    x: tf.Tensor3D,
    cos: tf.Tensor4D,
    sin: tf.Tensor4D,
    bias: tf.Tensor4D,
    past?: { k: tf.Tensor4D; v: tf.Tensor4D },
  ): { out: tf.Tensor3D; k: tf.Tensor4D; v: tf.Tensor4D } {
    const c = this.config;
    const p = `model.layers.${i}.`;
    const [B, T, H] = x.shape;
    const nH = c.numAttentionHeads;
    const nKV = c.numKeyValueHeads;
    const d = c.headDim;
    const g = nH / nKV;
    const h = tf.reshape(rmsNorm(x, this.w(p + "input_layernorm.weight"), c.rmsNormEps), [B * T, H]) as tf.Tensor2D;
    const heads = (y: tf.Tensor2D, n: number, norm?: string): tf.Tensor4D => {
      let r = tf.reshape(y, [B, T, n, d]) as tf.Tensor4D;
      if (norm) r = rmsNorm(r, this.w(p + norm), c.rmsNormEps);
      return tf.transpose(r, [0, 2, 1, 3]);
    };
    let q = heads(this.linear(h, p + "self_attn.q_proj", c.qkvBias), nH, c.qkNorm ? "self_attn.q_norm.weight" : "");
    let k = heads(this.linear(h, p + "self_attn.k_proj", c.qkvBias), nKV, c.qkNorm ? "self_attn.k_norm.weight" : "");
    let v = heads(this.linear(h, p + "self_attn.v_proj", c.qkvBias), nKV);
    q = applyRope(q, cos, sin);
    k = applyRope(k, cos, sin);
    if (past) {
      k = tf.concat([past.k, k], 2);
      v = tf.concat([past.v, v], 2);
    }
    const S = k.shape[2];
    // Grouped-query attention without repeating K/V: query head j = kv·g + r, so [B, nH, T, d] → [B, nKV, g·T, d].
    // scores = (q / sqrt(d)) · kᵀ + bias; probs = softmax(scores); ctx = probs · v
    const qg = tf.reshape(tf.mul(q, 1 / Math.sqrt(d)), [B, nKV, g * T, d]);
    const scores = tf.add(tf.reshape(tf.matMul(qg, k, false, true), [B, nH, T, S]), bias);
    const probs = tf.reshape(tf.softmax(scores), [B, nKV, g * T, S]);
    const ctx = tf.reshape(tf.transpose(tf.reshape(tf.matMul(probs, v), [B, nH, T, d]), [0, 2, 1, 3]), [B * T, nH * d]);
    const attnOut = this.linear(ctx as tf.Tensor2D, p + "self_attn.o_proj", c.oBias);
    const x1 = tf.add(x, tf.reshape(attnOut, [B, T, H])) as tf.Tensor3D;
    // SwiGLU MLP: down(silu(gate(h)) · up(h)), silu(z) = z·sigmoid(z)
    const h2 = tf.reshape(rmsNorm(x1, this.w(p + "post_attention_layernorm.weight"), c.rmsNormEps), [B * T, H]);
    const gate = this.linear(h2 as tf.Tensor2D, p + "mlp.gate_proj", false);
    const up = this.linear(h2 as tf.Tensor2D, p + "mlp.up_proj", false);
    const act = tf.mul(tf.mul(gate, tf.sigmoid(gate)), up) as tf.Tensor2D;
    const down = this.linear(act, p + "mlp.down_proj", false);
    const out = tf.add(x1, tf.reshape(down, [B, T, H])) as tf.Tensor3D;
    return { out, k, v };
  }

  /**
   * Layer i under gradient checkpointing: only x and the RoPE/bias tables are kept for the backward pass, which
   * recomputes the layer. The layer's trainable variables (adapters, or its weights when they train) are the node's
   * inputs so their gradients flow; frozen base weights are not.
   */
  private checkpointedLayer(i: number, x: tf.Tensor3D, tables: [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D]): tf.Tensor3D {
    const prefix = `model.layers.${i}.`;
    const variables: tf.Variable[] = [];
    for (const [name, v] of [...this.weights, ...(this.adapter?.variables() ?? [])]) {
      if (v.trainable && name.includes(prefix)) variables.push(v);
    }
    const ad = this.adapter;
    const draws = ad && ad.dropoutCalls !== undefined
      ? { get: () => ad.dropoutCalls ?? 0, set: (n: number) => void (ad.dropoutCalls = n) }
      : undefined;
    return checkpoint(
      (xi, [cos, sin, bias]) => this.layer(i, xi, cos as tf.Tensor4D, sin as tf.Tensor4D, bias as tf.Tensor4D).out,
      x,
      tables,
      variables,
      draws,
    );
  }

  /**
   * Runs the decoder on ids [B, T] whose cache positions start at `qStart`, with per-row `mask` over all S = qStart+T
   * positions and RoPE `positions` [B][T]; returns final-normed hidden states [B, T, H]. Must run inside tf.tidy.
   */
  private decode(
    ids: tf.Tensor2D,
    mask: number[][],
    positions: number[][],
    qStart: number,
    cache?: KVCache,
    newCache?: { k: tf.Tensor4D[]; v: tf.Tensor4D[] },
    tied?: TiedEmbeddingGrad,
  ): tf.Tensor3D {
    const c = this.config;
    const [B, T] = ids.shape;
    const { cos, sin } = ropeTables(this.invFreq, positions);
    const bias = attentionBias(mask, qStart, T);
    const table = this.w("model.embed_tokens.weight") as tf.Tensor2D;
    const flat = tf.reshape(ids, [B * T]) as tf.Tensor1D;
    let x = tf.reshape(embeddingLookup(table, flat, tied), [B, T, c.hiddenSize]) as tf.Tensor3D;
    for (let i = 0; i < c.numHiddenLayers; i++) {
      if (this.gradientCheckpointing && !cache && !newCache && tf.engine().isTapeOn()) {
        x = this.checkpointedLayer(i, x, [cos, sin, bias]);
        continue;
      }
      const past = cache ? { k: cache.keys[i], v: cache.values[i] } : undefined;
      // one scope per layer: its intermediates go as soon as it is done (a tape keeps what its backward needs)
      const r = tf.tidy(() => this.layer(i, x, cos, sin, bias, past));
      // without a tape nothing needs the layer's input any more (a tape keeps its own copy)
      if (!tf.engine().isTapeOn()) x.dispose();
      x = r.out;
      if (newCache) {
        newCache.k.push(tf.keep(r.k));
        newCache.v.push(tf.keep(r.v));
      } else tf.dispose([r.k, r.v]);
    }
    return rmsNorm(x, this.w("model.norm.weight"), c.rmsNormEps);
  }

  private checkIds(ids: tf.Tensor2D, attentionMask: tf.Tensor2D): void {
    if (ids.rank !== 2 || attentionMask.rank !== 2 || ids.shape.join() !== attentionMask.shape.join()) {
      throw new MaxentError(
        `ids ${JSON.stringify(ids.shape)} and attentionMask ${JSON.stringify(attentionMask.shape)} must both be [B, T]`,
      );
    }
  }

  /**
   * Final hidden states [B, T, H] for left-padded ids [B, T] (attentionMask 1 = real token). Differentiable.
   */
  hiddenStates(ids: tf.Tensor2D, attentionMask: tf.Tensor2D): tf.Tensor3D {
    this.checkIds(ids, attentionMask);
    const mask = maskRows(attentionMask);
    return tf.tidy(() => this.decode(tf.cast(ids, "int32") as tf.Tensor2D, mask, positionsFromMask(mask), 0));
  }

  /**
   * log p(ids[b][t] | ids[b][<t]) for t ≥ 1: [B, T−1]. ids are left-padded, attentionMask 1 = real token; entries
   * whose target or predecessor is padding are 0. Differentiable (use under tf.variableGrads); the LM head is applied in row
   * chunks so at most one [rows, vocab] block exists at a time.
   */
  tokenLogProbs(ids: tf.Tensor2D, attentionMask: tf.Tensor2D): tf.Tensor2D {
    this.checkIds(ids, attentionMask);
    const [B, T] = ids.shape;
    if (T < 2) return tf.zeros([B, Math.max(0, T - 1)]) as tf.Tensor2D;
    const mask = maskRows(attentionMask);
    return tf.tidy(() => {
      const id32 = tf.cast(ids, "int32") as tf.Tensor2D;
      // a trainable tied embedding gets one gradient buffer: the head's dW, into which the lookup adds its rows; a
      // frozen head weight (LoRA, the reference) has its dW dropped at once (tfjs gives frozen variables no gradient)
      const table = this.headWeight();
      const trainable = table instanceof tf.Variable && table.trainable;
      const tied = trainable && this.config.tieWordEmbeddings ? new TiedEmbeddingGrad() : undefined;
      const h = this.decode(id32, mask, positionsFromMask(mask), 0, undefined, undefined, tied);
      const H = this.config.hiddenSize;
      const hPrev = tf.reshape(tf.slice(h, [0, 0, 0], [B, T - 1, H]), [B * (T - 1), H]) as tf.Tensor2D;
      const targets = tf.reshape(tf.slice(id32, [0, 1], [B, T - 1]), [B * (T - 1)]) as tf.Tensor1D;
      const lp = targetLogProbs(hPrev, table, targets, this.logitsChunkElements, trainable ? tied : "none");
      // a target counts only when it and its predecessor are real tokens (the first real token has no context)
      const targetMask = tf.tensor2d(mask.map((r) => r.slice(1).map((m, t) => m * r[t])), [B, T - 1], "float32");
      return tf.mul(tf.reshape(lp, [B, T - 1]), targetMask) as tf.Tensor2D;
    });
  }

  /** Logits [B, V] of the next token from hidden states [B, H]. */
  private headLogits(h: tf.Tensor2D): tf.Tensor2D {
    return tf.matMul(h, this.headWeight(), false, true);
  }

  /**
   * Runs the prompt ids [B, T] (left-padded) and returns the cache and the logits [B, V] of the token after the
   * prompt. `maxNewTokens` is checked against max_position_embeddings.
   */
  prefill(ids: tf.Tensor2D, attentionMask: tf.Tensor2D, maxNewTokens = 0): { cache: KVCache; lastLogits: tf.Tensor2D } {
    this.checkIds(ids, attentionMask);
    const [B, T] = ids.shape;
    const mask = maskRows(attentionMask);
    const longest = Math.max(...mask.map((r) => r.reduce((a, b) => a + b, 0)));
    if (longest + maxNewTokens > this.config.maxPositionEmbeddings) {
      throw new MaxentError(
        `prompt (${longest} tokens) + ${maxNewTokens} new tokens exceed max_position_embeddings ${this.config.maxPositionEmbeddings}`,
      );
    }
    const fresh = { k: [] as tf.Tensor4D[], v: [] as tf.Tensor4D[] };
    const lastLogits = tf.tidy(() => {
      const h = this.decode(tf.cast(ids, "int32") as tf.Tensor2D, mask, positionsFromMask(mask), 0, undefined, fresh);
      const last = tf.reshape(tf.slice(h, [0, T - 1, 0], [B, 1, this.config.hiddenSize]), [B, this.config.hiddenSize]);
      return this.headLogits(last as tf.Tensor2D);
    });
    const nextPositions = mask.map((r) => r.reduce((a, b) => a + b, 0));
    return { cache: new KVCache(fresh.k, fresh.v, mask, nextPositions), lastLogits };
  }

  /**
   * Feeds one token per row (tokens [B]) at the end of `cache` (which is updated in place) and returns the logits
   * [B, V] for the following position.
   */
  decodeStep(cache: KVCache, tokens: tf.Tensor1D): tf.Tensor2D {
    const B = cache.batchSize;
    if (tokens.shape[0] !== B) throw new MaxentError(`decodeStep: ${tokens.shape[0]} tokens for a cache of ${B} rows`);
    const qStart = cache.length;
    const mask = cache.mask.map((r) => [...r, 1]);
    const positions = cache.nextPositions.map((p) => [p]);
    const fresh = { k: [] as tf.Tensor4D[], v: [] as tf.Tensor4D[] };
    const logits = tf.tidy(() => {
      const ids = tf.reshape(tf.cast(tokens, "int32"), [B, 1]) as tf.Tensor2D;
      const h = this.decode(ids, mask, positions, qStart, cache, fresh);
      return this.headLogits(tf.reshape(h, [B, this.config.hiddenSize]) as tf.Tensor2D);
    });
    for (let i = 0; i < fresh.k.length; i++) cache.setLayer(i, fresh.k[i], fresh.v[i]);
    cache.mask = mask;
    cache.nextPositions = cache.nextPositions.map((p) => p + 1);
    return logits;
  }

  /** The trainable variables (all weights when loaded trainable; none for a frozen copy). */
  trainableVariables(): tf.Variable[] {
    return [...this.weights.values(), ...(this.adapter?.variables().values() ?? [])].filter((v) => v.trainable);
  }

  /** A frozen (non-trainable) copy with its own variables: the reference model. Shares no variable with this one. */
  frozenCopy(): CausalLM {
    const weights = new Map<string, tf.Variable>();
    for (const [name, v] of this.weights) weights.set(name, toVariable(tf.clone(v), false));
    return new CausalLM(this.config, weights, this.logitsChunkElements);
  }

  /** The weights in Hugging Face layout (names, [out, in] linear weights), copied to host memory. */
  async hostTensors(): Promise<Map<string, HostTensor>> {
    const out = new Map<string, HostTensor>();
    for (const name of [...this.weights.keys()].sort()) out.set(name, await this.hostWeight(name));
    return out;
  }

  /** One weight in Hugging Face layout, copied to host memory (read asynchronously, as webgpu needs). */
  async hostWeight(name: string): Promise<HostTensor> {
    const v = this.weights.get(name);
    if (!v) throw new MaxentError(`model has no weight "${name}"`);
    const data = (await v.data()) as Float32Array;
    if (!isProjection(name)) return { shape: [...v.shape], data: Float32Array.from(data) };
    const [i, o] = v.shape;
    return { shape: [o, i], data: transposeHost(data, i, o) };
  }

  /** Replaces weight `name` by a Hugging Face-layout host tensor of the shape the config implies. */
  assignHostWeight(name: string, t: HostTensor, source = "weights"): void {
    const v = this.weights.get(name);
    const shape = expectedTensorShapes(this.config).get(name);
    if (!v || !shape) throw new MaxentError(`${source}: unexpected tensor "${name}" for this config`);
    checkShape(source, name, t.shape, shape);
    tf.tidy(() => {
      v.assign(
        isProjection(name)
          ? tf.tensor(transposeHost(t.data, shape[0], shape[1]), [shape[1], shape[0]], "float32")
          : tf.tensor(t.data, shape, "float32"),
      );
    });
  }

  /**
   * Writes `dir/config.json` (the raw config, unchanged) and the weights as safetensors in Hugging Face names
   * (F32 by default, or BF16), sharded above `maxShardBytes` (default 5 GB).
   */
  async save(dir: string, opts: { dtype?: "F32" | "BF16"; maxShardBytes?: number } = {}): Promise<void> {
    await Deno.mkdir(dir, { recursive: true });
    await writeSafetensorsDir(dir, await this.hostTensors(), {
      dtype: opts.dtype ?? "F32",
      maxShardBytes: opts.maxShardBytes,
    });
    await writeTextAtomic(`${dir}/config.json`, JSON.stringify(this.config.raw, null, 2) + "\n");
  }

  /** Number of parameters (a tied head counted once). */
  parameterCount(): number {
    let n = 0;
    for (const v of this.weights.values()) n += v.size;
    return n;
  }

  /** Frees every variable. */
  dispose(): void {
    for (const v of this.weights.values()) v.dispose();
    this.weights.clear();
  }
}

/** Wraps `t` in a variable and releases `t` (the variable keeps the data alive). */
function toVariable(t: tf.Tensor, trainable: boolean): tf.Variable {
  const v = tf.variable(t, trainable);
  t.dispose();
  return v;
}

function isIgnorable(name: string, config: ModelConfig): boolean {
  return name.endsWith("rotary_emb.inv_freq") || (config.tieWordEmbeddings && name === "lm_head.weight");
}

function checkShape(source: string, name: string, actual: number[], expected: number[]): void {
  if (actual.length !== expected.length || actual.some((d, i) => d !== expected[i])) {
    throw new MaxentError(
      `${source}: tensor "${name}" has shape ${JSON.stringify(actual)} but the config implies ${
        JSON.stringify(expected)
      }`,
    );
  }
}

function describe(c: ModelConfig): string {
  return `${c.architecture}, ${c.numHiddenLayers} layers, hidden ${c.hiddenSize}, vocab ${c.vocabSize}${
    c.tieWordEmbeddings ? ", tied" : ""
  }`;
}
