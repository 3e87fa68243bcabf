/**
 * LoRA adapters (PEFT semantics) on a `CausalLM`'s linear projections: each targeted projection W gains
 * y = x·W (+b) + (α/r)·(dropout(x)·Aᵀ)·Bᵀ with A [r, in] ~ kaiming-uniform(a=√5) and B [out, r] = 0, so a fresh
 * adapter leaves the model unchanged. Only the adapters (and copies of `modules_to_save` modules) are trainable; the
 * base weights stay frozen and are shared with the reference model, which is the same base with adapters switched
 * off (`adapterFreeView`, no second copy). Adapters save and load in PEFT's format (`adapter_model.safetensors` +
 * `adapter_config.json`) and merge into full Hugging Face weights (W + (α/r)·B·A).
 */
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { MaxentError } from "../errors.ts";
import type { ModelConfig } from "./config.ts";
import { isRecordingForBackward } from "./checkpointing.ts";
import { tensorOwningArray } from "../backend/eager_free.ts";
import {
  type HostTensor,
  readSafetensorsHeader,
  readSafetensorsTensor,
  writeSafetensorsFile,
  writeTextAtomic,
} from "./safetensors.ts";
import { type CausalLM, expectedTensorShapes, type ProjectionAdapter, transposeHost } from "./transformer.ts";
import { uniform01 } from "../mulberry32.ts";

/** PEFT's adapter file names. */
export const ADAPTER_WEIGHTS_FILE = "adapter_model.safetensors";
export const ADAPTER_CONFIG_FILE = "adapter_config.json";
/** The prefix PEFT's `PeftModelForCausalLM` puts before the base model's module names. */
export const PEFT_PREFIX = "base_model.model.";
/** TRL/open-r1's default LoRA targets for Qwen/Llama: every attention and MLP projection. */
export const DEFAULT_TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

/** What an adapter is (the `adapter_config.json` fields maxent uses). */
export interface LoraSettings {
  /** Rank r. */
  r: number;
  /** α: the update is scaled by α / r. */
  alpha: number;
  /** Dropout probability on the adapter input (training passes only). */
  dropout: number;
  /** Module-name suffixes (PEFT list semantics), a regex (PEFT string semantics) or "all-linear". */
  targetModules: string[] | string;
  /** Modules trained fully and saved beside the adapters (e.g. ["lm_head"]). */
  modulesToSave?: string[] | null;
  /** The base model id or path, written as base_model_name_or_path. */
  baseModel: string;
  /** The base model's revision (null when unknown). */
  revision?: string | null;
}

/** A projection's module path (`model.layers.0.self_attn.q_proj`) → [in, out]. */
export function projectionModules(config: ModelConfig): Map<string, [number, number]> {
  const out = new Map<string, [number, number]>();
  for (const [name, shape] of expectedTensorShapes(config)) {
    if (name.endsWith("_proj.weight")) out.set(name.slice(0, -".weight".length), [shape[1], shape[0]]);
  }
  return out;
}

/**
 * Whether PEFT would target `module` (a full module path): "all-linear" = every linear layer except the output
 * layer; a list = the path equals an entry or ends with "." + entry; a single string = a regex matching the whole path.
 */
export function isTargeted(module: string, targets: string[] | string): boolean {
  if (targets === "all-linear" || (Array.isArray(targets) && targets.length === 1 && targets[0] === "all-linear")) {
    return module.endsWith("_proj");
  }
  if (typeof targets === "string") return new RegExp(`^(?:${targets})$`).test(module);
  return targets.some((t) => module === t || module.endsWith("." + t));
}

/** The base weights (HF names) a `modules_to_save` entry covers: every tensor of each module it names. */
function savedWeightNames(config: ModelConfig, modules: string[]): string[] {
  const names = [...expectedTensorShapes(config).keys()];
  const out: string[] = [];
  for (const m of modules) {
    const hit = names.filter((n) => {
      const mod = n.slice(0, n.lastIndexOf("."));
      return mod === m || mod.endsWith("." + m);
    });
    if (hit.length === 0) {
      throw new MaxentError(
        `lora_modules_to_save: "${m}" names no module of this model${
          m === "lm_head" && config.tieWordEmbeddings ? " (its LM head is tied to model.embed_tokens)" : ""
        }; use module names such as embed_tokens, lm_head (untied models) or norm`,
      );
    }
    out.push(...hit);
  }
  return [...new Set(out)];
}

/** A 32-bit mix of two integers (for per-call dropout seeds). */
function mix(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x7f4a7c15, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}

/**
 * An inverted-dropout mask [rows, cols]: 0 with probability p, else 1/(1 − p), from a seeded host PRNG. One tensor
 * (tf.dropout keeps five of the input's size alive for the backward pass).
 */
function dropoutMask(shape: number[], p: number, seed: number): tf.Tensor2D {
  const rand = uniform01(seed);
  const data = new Float32Array(shape[0] * shape[1]);
  const keep = 1 / (1 - p);
  for (let i = 0; i < data.length; i++) data[i] = rand() < p ? 0 : keep;
  // handed to the backend, so the cpu backend frees it as soon as the mask is disposed (masks are ~1/5 of a
  // training pass's allocations; src/backend/eager_free.ts)
  return tensorOwningArray(data, [shape[0], shape[1]]) as tf.Tensor2D;
}

/** A trainable variable holding `t`'s data; `t` itself is released. */
function trainableVariable(t: tf.Tensor): tf.Variable {
  const v = tf.variable(t, true);
  t.dispose();
  return v;
}

/**
 * x·W with W frozen, recorded as one custom-gradient node whose backward is dx = dy·Wᵀ: the backward pass keeps
 * less alive than the generic matmul path (measured: ~0.9 vs ~2.1 MB per token per layer at the Qwen2.5-1.5B shapes).
 */
function frozenMatMul(x: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D {
  const f = tf.customGrad(
    ((xi: tf.Tensor) => ({
      value: tf.matMul(xi as tf.Tensor2D, w),
      gradFunc: (dy: tf.Tensor) => tf.matMul(dy as tf.Tensor2D, w, false, true),
      // deno-lint-ignore no-explicit-any
    })) as any,
  );
  return f(x) as tf.Tensor2D;
}

/**
 * The adapters of one model. Attach with `attach` (sets `model.adapter`); the model's `trainableVariables()` then
 * returns the adapter variables. A [in, r] and B [r, out] are held transposed from PEFT's layout so the forward pass
 * uses plain matmuls.
 */
export class LoraAdapters implements ProjectionAdapter {
  readonly settings: LoraSettings;
  /** α / r. */
  readonly scaling: number;
  /** Module path → Aᵀ [in, r]. */
  readonly a: Map<string, tf.Variable> = new Map();
  /** Module path → Bᵀ [r, out]. */
  readonly b: Map<string, tf.Variable> = new Map();
  /** Trainable copies of `modules_to_save` weights by HF name (model layout: projections [in, out]). */
  readonly saved: Map<string, tf.Variable> = new Map();
  /** Whether the adapters take part in the forward pass (false = the base model). */
  enabled = true;
  /** Whether dropout is applied (it also needs a gradient being recorded: the policy's training pass). */
  training = true;
  /** Seed of the dropout masks. */
  dropoutSeed = 0;
  /** Dropout masks drawn so far (part of a checkpoint, so a resumed run draws the same masks). */
  dropoutCalls = 0;

  private constructor(settings: LoraSettings) {
    if (!(Number.isInteger(settings.r) && settings.r > 0)) {
      throw new MaxentError(`lora_r must be a positive integer, got ${settings.r}`);
    }
    if (!(settings.dropout >= 0 && settings.dropout < 1)) {
      throw new MaxentError(`lora_dropout must be in [0, 1), got ${settings.dropout}`);
    }
    this.settings = settings;
    // scaling = α / r (use_rslora false)
    this.scaling = settings.alpha / settings.r;
  }

  /**
   * Fresh adapters for `model` as PEFT initialises them (init_lora_weights true): A ~ U(−1/√in, 1/√in) — kaiming
   * uniform with a = √5, whose bound is gain·√(3/fan_in) with gain = √(2/(1+a²)) — and B = 0. Deterministic for `seed`.
   */
  static create(model: CausalLM, settings: LoraSettings, seed: number): LoraAdapters {
    const ad = new LoraAdapters(settings);
    ad.dropoutSeed = seed;
    const rand = uniform01(mix(seed, 0x10a4));
    const r = settings.r;
    try {
      let any = false;
      for (const [mod, [fin, fout]] of projectionModules(model.config)) {
        if (!isTargeted(mod, settings.targetModules)) continue;
        any = true;
        const bound = 1 / Math.sqrt(fin);
        // PEFT draws A [r, in] row-major; hold Aᵀ [in, r]
        const aPeft = new Float32Array(r * fin);
        for (let i = 0; i < aPeft.length; i++) aPeft[i] = (2 * rand() - 1) * bound;
        ad.a.set(mod, trainableVariable(tf.tensor2d(transposeHost(aPeft, r, fin), [fin, r])));
        ad.b.set(mod, trainableVariable(tf.zeros([r, fout])));
      }
      if (!any) {
        throw new MaxentError(
          `lora_target_modules ${JSON.stringify(settings.targetModules)} match no projection of this model; ` +
            `use e.g. ${DEFAULT_TARGET_MODULES.join(", ")} or all-linear`,
        );
      }
      for (const name of savedWeightNames(model.config, settings.modulesToSave ?? [])) {
        ad.saved.set(name, trainableVariable(tf.clone(model.weights.get(name)!)));
      }
    } catch (e) {
      ad.dispose();
      throw e;
    }
    return ad;
  }

  /**
   * Loads PEFT adapters (`dir/adapter_config.json` + `dir/adapter_model.safetensors`) for `model`, checking every
   * tensor's name and shape. Dropout settings come from the config; `seed` seeds the dropout masks.
   */
  static async load(dir: string, model: { config: ModelConfig }, seed = 0): Promise<LoraAdapters> {
    const settings = await readAdapterConfig(dir);
    const ad = new LoraAdapters(settings);
    ad.dropoutSeed = seed;
    const file = join(dir, ADAPTER_WEIGHTS_FILE);
    try {
      const header = await readSafetensorsHeader(file);
      const modules = projectionModules(model.config);
      const shapes = expectedTensorShapes(model.config);
      const savedNames = new Set(savedWeightNames(model.config, settings.modulesToSave ?? []));
      // check every name and shape before reading any data
      const want = new Map<string, number[]>();
      for (const [name, e] of header.tensors) {
        if (!name.startsWith(PEFT_PREFIX)) throw new MaxentError(`${file}: unexpected tensor "${name}"`);
        const inner = name.slice(PEFT_PREFIX.length);
        const m = /^(.*)\.lora_([AB])\.weight$/.exec(inner);
        if (m) {
          const dims = modules.get(m[1]);
          if (!dims) throw new MaxentError(`${file}: "${name}" names no projection of this model`);
          want.set(name, m[2] === "A" ? [settings.r, dims[0]] : [dims[1], settings.r]);
        } else if (savedNames.has(inner)) {
          want.set(name, shapes.get(inner)!);
        } else {
          throw new MaxentError(`${file}: unexpected tensor "${name}" (not a LoRA weight or a module to save)`);
        }
        checkShape(file, name, e.shape, want.get(name)!);
      }
      // create the variables in the model's module order (as \`create\` does), not the file's alphabetical order, so
      // sums over the variables (the gradient norm) add up in the same order in a resumed run
      const transposed = async (name: string) => {
        const t = await readSafetensorsTensor(header, name);
        const [rows, cols] = t.shape;
        return trainableVariable(tf.tensor2d(transposeHost(t.data, rows, cols), [cols, rows]));
      };
      for (const mod of modules.keys()) {
        const an = `${PEFT_PREFIX}${mod}.lora_A.weight`, bn = `${PEFT_PREFIX}${mod}.lora_B.weight`;
        if (!want.has(an) && !want.has(bn)) continue;
        if (!want.has(an) || !want.has(bn)) throw new MaxentError(`${file}: ${mod} has only one of lora_A, lora_B`);
        ad.a.set(mod, await transposed(an));
        ad.b.set(mod, await transposed(bn));
      }
      if (ad.a.size === 0) throw new MaxentError(`${file}: no LoRA weights`);
      for (const n of savedNames) {
        if (!want.has(PEFT_PREFIX + n)) throw new MaxentError(`${file}: lacks "${PEFT_PREFIX}${n}" (modules_to_save)`);
        if (n.endsWith("_proj.weight")) ad.saved.set(n, await transposed(PEFT_PREFIX + n));
        else {
          const t = await readSafetensorsTensor(header, PEFT_PREFIX + n);
          ad.saved.set(n, trainableVariable(tf.tensor(t.data, t.shape)));
        }
      }
    } catch (e) {
      ad.dispose();
      throw e;
    }
    return ad;
  }

  /** Installs these adapters on `model` (replacing any); returns the adapters. */
  attach(model: CausalLM): this {
    model.adapter = this;
    return this;
  }

  /** A trainable copy replacing a base weight (modules_to_save), when enabled. */
  weight(name: string): tf.Variable | undefined {
    return this.enabled ? this.saved.get(name) : undefined;
  }

  /**
   * The projection `module` on x [N, in] with weight w [in, out] and optional bias:
   *   y = x·W (+ b) + (α/r)·(dropout(x)·Aᵀ)·Bᵀ
   * A frozen W gets no gradient; dropout only while a gradient is being recorded (`isRecordingForBackward`).
   */
  project(module: string, x: tf.Tensor2D, w: tf.Tensor2D, bias?: tf.Tensor): tf.Tensor2D {
    let y: tf.Tensor2D = (w as tf.Variable).trainable ? tf.matMul(x, w) : frozenMatMul(x, w);
    if (bias) y = tf.add(y, bias) as tf.Tensor2D;
    const a = this.a.get(module);
    if (!this.enabled || !a) return y;
    const p = this.settings.dropout;
    let xin = x;
    // (under gradient checkpointing the forward runs with the tape off and is replayed in the backward: the mask comes
    // from the call counter, which the recomputation rewinds, so both draw the same mask)
    if (p > 0 && this.training && isRecordingForBackward()) {
      xin = tf.mul(x, dropoutMask(x.shape, p, mix(this.dropoutSeed, this.dropoutCalls++))) as tf.Tensor2D;
    }
    return tf.add(y, tf.mul(tf.matMul(tf.matMul(xin, a), this.b.get(module)!), this.scaling)) as tf.Tensor2D;
  }

  /** Trainable variables by their PEFT tensor name (adapters, then modules to save). */
  variables(): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>();
    for (const [mod, a] of this.a) {
      out.set(`${PEFT_PREFIX}${mod}.lora_A.weight`, a);
      out.set(`${PEFT_PREFIX}${mod}.lora_B.weight`, this.b.get(mod)!);
    }
    for (const [name, v] of this.saved) out.set(PEFT_PREFIX + name, v);
    return out;
  }

  /** Number of trainable parameters. */
  parameterCount(): number {
    let n = 0;
    for (const v of this.variables().values()) n += v.size;
    return n;
  }

  /** The adapter tensors in PEFT's names and layout (lora_A [r, in], lora_B [out, r], saved modules as HF). */
  async hostTensors(): Promise<Map<string, HostTensor>> {
    const out = new Map<string, HostTensor>();
    for (const [name, v] of [...this.variables()].sort((p, q) => (p[0] < q[0] ? -1 : 1))) {
      const data = (await v.data()) as Float32Array; // asynchronous: webgpu has no synchronous readback
      const inner = name.slice(PEFT_PREFIX.length);
      if (/\.lora_[AB]\.weight$/.test(inner) || inner.endsWith("_proj.weight")) {
        const [rows, cols] = v.shape;
        out.set(name, { shape: [cols, rows], data: transposeHost(data, rows, cols) });
      } else {
        out.set(name, { shape: [...v.shape], data: Float32Array.from(data) });
      }
    }
    return out;
  }

  /** Writes `dir/adapter_model.safetensors` (F32) and `dir/adapter_config.json` atomically. */
  async save(dir: string): Promise<void> {
    await Deno.mkdir(dir, { recursive: true });
    await writeSafetensorsFile(join(dir, ADAPTER_WEIGHTS_FILE), [...(await this.hostTensors())], {
      dtype: "F32",
    });
    await writeTextAtomic(
      join(dir, ADAPTER_CONFIG_FILE),
      JSON.stringify(adapterConfigJson(this.settings), null, 2) + "\n",
    );
  }

  /**
   * The merged weight of base tensor `name` in Hugging Face layout, given the base tensor `base` (HF layout):
   *   W' = W + (α/r)·B·A   (W [out, in], B [out, r], A [r, in]); a module to save replaces W.
   */
  async mergedHostTensor(name: string, base: HostTensor): Promise<HostTensor> {
    const saved = this.saved.get(name);
    if (saved) {
      const data = (await saved.data()) as Float32Array;
      if (name.endsWith("_proj.weight")) {
        const [i, o] = saved.shape;
        return { shape: [o, i], data: transposeHost(data, i, o) };
      }
      return { shape: [...saved.shape], data: Float32Array.from(data) };
    }
    const mod = name.endsWith(".weight") ? name.slice(0, -".weight".length) : "";
    const a = this.a.get(mod);
    if (!a) return base;
    const [o, i] = base.shape;
    // ΔWᵀ = (α/r)·Aᵀ·Bᵀ [in, out], transposed to [out, in] and added to W
    const deltaTensor = tf.tidy(() => tf.mul(tf.matMul(a, this.b.get(mod)!), this.scaling));
    let deltaT: Float32Array;
    try {
      deltaT = (await deltaTensor.data()) as Float32Array;
    } finally {
      deltaTensor.dispose();
    }
    const delta = transposeHost(deltaT, i, o);
    const data = new Float32Array(base.data.length);
    for (let k = 0; k < data.length; k++) data[k] = base.data[k] + delta[k];
    return { shape: [...base.shape], data };
  }

  /** Frees every adapter variable (and detaches nothing: clear `model.adapter` yourself if the model lives on). */
  dispose(): void {
    for (const v of [...this.a.values(), ...this.b.values(), ...this.saved.values()]) v.dispose();
    this.a.clear();
    this.b.clear();
    this.saved.clear();
  }
}

function checkShape(file: string, name: string, actual: number[], expected: number[]): void {
  if (actual.length !== expected.length || actual.some((d, i) => d !== expected[i])) {
    throw new MaxentError(
      `${file}: tensor "${name}" has shape ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`,
    );
  }
}

/**
 * `adapter_config.json` as PEFT's `LoraConfig` writes it (the fields that every PEFT release since 0.10 reads;
 * inference_mode true as `save_pretrained` sets it).
 */
export function adapterConfigJson(s: LoraSettings): Record<string, unknown> {
  const targets = typeof s.targetModules === "string"
    ? s.targetModules
    : s.targetModules.length === 1 && s.targetModules[0] === "all-linear"
    ? "all-linear"
    : [...s.targetModules].sort();
  return {
    alpha_pattern: {},
    auto_mapping: null,
    base_model_name_or_path: s.baseModel,
    bias: "none",
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    layer_replication: null,
    layers_pattern: null,
    layers_to_transform: null,
    loftq_config: {},
    lora_alpha: s.alpha,
    lora_dropout: s.dropout,
    megatron_config: null,
    megatron_core: "megatron.core",
    modules_to_save: s.modulesToSave && s.modulesToSave.length ? s.modulesToSave : null,
    peft_type: "LORA",
    r: s.r,
    rank_pattern: {},
    revision: s.revision ?? null,
    target_modules: targets,
    task_type: "CAUSAL_LM",
    use_dora: false,
    use_rslora: false,
  };
}

/**
 * Reads `dir/adapter_config.json`, refusing what maxent does not implement (other PEFT types, DoRA, rsLoRA, biases,
 * rank/alpha patterns, fan_in_fan_out).
 */
export async function readAdapterConfig(dir: string): Promise<LoraSettings> {
  const path = join(dir, ADAPTER_CONFIG_FILE);
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    throw new MaxentError(`${path}: cannot read a PEFT adapter config (${(e as Error).message})`);
  }
  const bad = (field: string, why: string) => new MaxentError(`${path}: ${field} ${why}`);
  if (j.peft_type !== "LORA") throw bad("peft_type", `is ${JSON.stringify(j.peft_type)}; maxent reads LORA adapters`);
  if (typeof j.r !== "number" || typeof j.lora_alpha !== "number") throw bad("r / lora_alpha", "must be numbers");
  if (j.use_dora) throw bad("use_dora", "is true; maxent implements plain LoRA only");
  if (j.use_rslora) throw bad("use_rslora", "is true; maxent implements scaling α/r only");
  if (j.fan_in_fan_out) throw bad("fan_in_fan_out", "is true; not used by Qwen/Llama linear layers");
  if (j.bias && j.bias !== "none") throw bad("bias", `is ${JSON.stringify(j.bias)}; maxent supports "none"`);
  for (const k of ["rank_pattern", "alpha_pattern"]) {
    if (j[k] && Object.keys(j[k] as object).length) throw bad(k, "is not empty; per-module ranks are not supported");
  }
  const targets = j.target_modules;
  if (!(typeof targets === "string" || (Array.isArray(targets) && targets.every((t) => typeof t === "string")))) {
    throw bad("target_modules", "must be a string or a list of strings");
  }
  return {
    r: j.r,
    alpha: j.lora_alpha,
    dropout: typeof j.lora_dropout === "number" ? j.lora_dropout : 0,
    targetModules: targets as string[] | string,
    modulesToSave: Array.isArray(j.modules_to_save) ? j.modules_to_save as string[] : null,
    baseModel: typeof j.base_model_name_or_path === "string" ? j.base_model_name_or_path : "",
    revision: typeof j.revision === "string" ? j.revision : null,
  };
}

/** Whether `dir` holds a PEFT adapter (adapter_config.json). */
export async function isAdapterDir(dir: string): Promise<boolean> {
  try {
    await Deno.stat(join(dir, ADAPTER_CONFIG_FILE));
    return true;
  } catch {
    return false;
  }
}

/**
 * The reference model of a LoRA run: a view of `model` that shares its (frozen) weights and runs with no adapter —
 * exactly the base model, with no second copy of any weight. Its `dispose` frees nothing.
 */
export function adapterFreeView(model: CausalLM): CausalLM {
  const view = Object.create(model) as CausalLM;
  Object.defineProperty(view, "adapter", { value: null, writable: false, enumerable: true });
  Object.defineProperty(view, "dispose", { value: () => {}, enumerable: false });
  Object.defineProperty(view, "trainableVariables", { value: () => [], enumerable: false });
  return view;
}

/**
 * The variables an optimiser trains, by the name checkpoints use: the model's trainable base weights (HF names) plus,
 * with an attached `LoraAdapters`, the adapter variables (PEFT names).
 */
export function namedTrainableVariables(model: CausalLM): Map<string, tf.Variable> {
  const out = new Map<string, tf.Variable>();
  for (const [name, v] of model.weights) if (v.trainable) out.set(name, v);
  const ad = model.adapter;
  if (ad instanceof LoraAdapters) { for (const [name, v] of ad.variables()) out.set(name, v); }
  return out;
}

/**
 * Turns a trained model's card into an adapter repo's card, as PEFT's are: `library_name: peft`, a `lora` tag, and
 * how to load it (PEFT on top of the base, or `maxent merge` for full weights).
 */
export function adapterModelCard(card: string, baseModel: string): string {
  return card
    .replace(/^library_name: maxent$/m, "library_name: peft")
    .replace(/^tags:\n/m, "tags:\n  - lora\n")
    .replace(
      "It loads with `transformers` like its base model.",
      `It is a LoRA adapter (PEFT format) for ${baseModel}: load it with ` +
        "`PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), this_repo)`, or write merged full " +
        "weights with `maxent merge <this dir> <out>`.",
    );
}
