/**
 * Arms of a comparison (`maxent experiment compare --arms …`): each arm is a training objective — an algorithm and
 * the recipe keys it sets — and nothing else, so every arm starts from the same model and sees the same prompts,
 * group size and sampling budget. Syntax: `name[:key=value,...]`, arms separated by commas:
 *
 *   grpo,dr_grpo,maxent-grpo:tau=0.2,xdr-grpo:tau=0.05,beta=0.01
 *
 * A comma-separated item with `=` and no `:` continues the previous arm's keys. Names: an algorithm (`grpo`,
 * `maxent-grpo`, `xdr-grpo`) or `dr_grpo` (= grpo with loss_type dr_grpo, scale_rewards none, beta 0). `tau` means
 * `maxent_tau` for maxent-grpo and `xdr_tau` for xdr-grpo (`inf` = ∞, which is exactly Dr.GRPO).
 */
import YAML from "yaml";
import { UsageError } from "../errors.ts";
import type { Algorithm } from "../recipe/mod.ts";

/** One arm: its label (the normalised spec), the algorithm, and the recipe keys it sets. */
export interface ArmSpec {
  /** Normalised spec, e.g. `xdr-grpo:tau=0.05`; unique within an experiment. */
  label: string;
  /** The name as written: an algorithm or `dr_grpo`. */
  name: string;
  algorithm: Algorithm;
  /** Recipe keys the arm sets (the algorithm's fixed keys and the user's), in the recipe's own names. */
  settings: Record<string, unknown>;
}

/** A τ (or other key) sweep: one arm per value. */
export interface SweepSpec {
  /** The arm the sweep varies, e.g. `xdr-grpo`. */
  name: string;
  /** The key as written (`tau`) and the values. */
  key: string;
  values: number[];
  /** The sweep's arms, in value order. */
  arms: ArmSpec[];
}

const ARM_NAMES = ["grpo", "dr_grpo", "maxent-grpo", "xdr-grpo"] as const;

/**
 * Keys an arm may set: the objective's own knobs. Keys that change the prompts, the group size, the sampling budget
 * or the start model (num_generations, batch sizes, max_steps, temperature, seed, model, data, …) are shared by every
 * arm and come from the recipe. `learning_rate` is allowed because the objectives' losses have different scales.
 */
export const ARM_KEYS: readonly string[] = [
  "maxent_tau",
  "maxent_q_temperature",
  "maxent_q_epsilon",
  "maxent_length_normalize_ref",
  "init_kl_coeff",
  "beta",
  "xdr_tau",
  "xdr_ref_tilt",
  "loss_type",
  "scale_rewards",
  "epsilon",
  "epsilon_high",
  "learning_rate",
];

/** The keys each arm name fixes before the user's keys. */
function fixedSettings(name: (typeof ARM_NAMES)[number]): { algorithm: Algorithm; settings: Record<string, unknown> } {
  switch (name) {
    case "grpo":
      // TRL's GRPO aggregation and std scaling; β = 0 like the other arms (add :beta=0.04 for TRL's KL term)
      return { algorithm: "grpo", settings: { algorithm: "grpo", loss_type: "grpo", scale_rewards: "group", beta: 0 } };
    case "dr_grpo":
      return {
        algorithm: "grpo",
        settings: { algorithm: "grpo", loss_type: "dr_grpo", scale_rewards: "none", beta: 0 },
      };
    case "maxent-grpo":
      return { algorithm: "maxent-grpo", settings: { algorithm: "maxent-grpo" } };
    case "xdr-grpo":
      return { algorithm: "xdr-grpo", settings: { algorithm: "xdr-grpo" } };
  }
}

/** Parses a key's value: YAML scalars (`0.05`, `true`, `dr_grpo`), `inf`/`infinity` = ∞. */
function parseValue(raw: string): unknown {
  const t = raw.trim();
  if (/^[+]?(inf|infinity|\.inf)$/i.test(t)) return Infinity;
  try {
    return YAML.parse(t);
  } catch {
    return t;
  }
}

/** The recipe key of an arm key (`tau` → maxent_tau / xdr_tau). */
function recipeKey(armSpec: string, name: string, key: string): string {
  if (key === "tau") {
    if (name === "maxent-grpo") return "maxent_tau";
    if (name === "xdr-grpo") return "xdr_tau";
    throw new UsageError(
      `arm "${armSpec}": tau is the temperature of maxent-grpo or xdr-grpo; ${name} has none (drop tau or change ` +
        `the algorithm)`,
    );
  }
  if (!ARM_KEYS.includes(key)) {
    throw new UsageError(
      `arm "${armSpec}": key "${key}" cannot differ between arms (arms differ only in objective keys: tau, ` +
        `${ARM_KEYS.join(", ")}); set it in the recipe for every arm`,
    );
  }
  return key;
}

/** Formats a value for a label (∞ as inf). */
function formatValue(v: unknown): string {
  return v === Infinity ? "inf" : typeof v === "string" ? v : JSON.stringify(v);
}

/**
 * Parses one arm `name[:key=value,...]`. Throws a UsageError naming the arm for an unknown name, a malformed or
 * duplicate key, a key arms may not change, or `tau` on an arm without one.
 *
 * @example
 * ```ts
 * parseArm("xdr-grpo:tau=0.05").settings; // { algorithm: "xdr-grpo", xdr_tau: 0.05 }
 * parseArm("dr_grpo").settings.loss_type; // "dr_grpo"
 * ```
 */
export function parseArm(spec: string): ArmSpec {
  const text = spec.trim();
  const colon = text.indexOf(":");
  const name = (colon < 0 ? text : text.slice(0, colon)).trim();
  const canonical = name === "dr-grpo"
    ? "dr_grpo"
    : name === "maxent"
    ? "maxent-grpo"
    : name === "xdr"
    ? "xdr-grpo"
    : name;
  if (!(ARM_NAMES as readonly string[]).includes(canonical)) {
    throw new UsageError(
      `arm "${text}": unknown name "${name}"; use one of ${ARM_NAMES.join(", ")} (optionally with :key=value,...)`,
    );
  }
  const fixed = fixedSettings(canonical as (typeof ARM_NAMES)[number]);
  const settings: Record<string, unknown> = { ...fixed.settings };
  const parts: string[] = [];
  const seen = new Set<string>();
  if (colon >= 0) {
    const body = text.slice(colon + 1);
    if (body.trim() === "") throw new UsageError(`arm "${text}": nothing after ":"; write name:key=value`);
    for (const item of body.split(",")) {
      const eq = item.indexOf("=");
      if (eq <= 0 || item.slice(eq + 1).trim() === "") {
        throw new UsageError(`arm "${text}": "${item}" is not key=value`);
      }
      const key = item.slice(0, eq).trim();
      if (seen.has(key)) throw new UsageError(`arm "${text}": key "${key}" is given twice`);
      seen.add(key);
      const value = parseValue(item.slice(eq + 1));
      const rk = recipeKey(text, canonical, key);
      if (typeof value === "number" && Number.isNaN(value)) throw new UsageError(`arm "${text}": ${key} is NaN`);
      if (rk !== "xdr_tau" && value === Infinity) {
        throw new UsageError(`arm "${text}": ${key}=inf is only meaningful for xdr-grpo's tau`);
      }
      if (typeof value === "number" && value < 0) {
        throw new UsageError(`arm "${text}": ${key} must be ≥ 0, got ${value}`);
      }
      settings[rk] = value;
      parts.push(`${key}=${formatValue(value)}`);
    }
  }
  const label = parts.length ? `${canonical}:${parts.join(",")}` : canonical;
  return { label, name: canonical, algorithm: fixed.algorithm, settings };
}

/**
 * Splits an arm list: items separated by commas; an item with `=` and no `:` continues the previous arm's keys.
 * Throws a UsageError for an empty list, a key before any arm, or two arms with the same label.
 */
export function parseArms(list: string): ArmSpec[] {
  const specs: string[] = [];
  for (const raw of list.split(",")) {
    const item = raw.trim();
    if (item === "") throw new UsageError(`--arms "${list}": empty item; separate arms with single commas`);
    if (item.includes("=") && !item.includes(":")) {
      if (specs.length === 0) throw new UsageError(`--arms "${list}": "${item}" comes before any arm name`);
      specs[specs.length - 1] += `,${item}`;
    } else {
      specs.push(item);
    }
  }
  if (specs.length === 0) throw new UsageError(`--arms is empty; e.g. --arms dr_grpo,xdr-grpo:tau=0.05`);
  const arms = specs.map(parseArm);
  const labels = new Set<string>();
  for (const a of arms) {
    if (labels.has(a.label)) throw new UsageError(`arm "${a.label}" is listed twice in --arms`);
    labels.add(a.label);
  }
  return arms;
}

/**
 * Parses a sweep `name:key=v1,v2,...` (e.g. `xdr-grpo:tau=0.001,0.01,0.05,0.5`) into one arm per value. Throws a
 * UsageError naming the sweep for a malformed spec or a non-numeric value.
 */
export function parseSweep(spec: string): SweepSpec {
  const text = spec.trim();
  const m = /^([^:]+):([^=,]+)=(.+)$/.exec(text);
  if (!m) throw new UsageError(`--sweep "${text}": write name:key=v1,v2,… (e.g. xdr-grpo:tau=0.001,0.01,0.05)`);
  const name = m[1].trim(), key = m[2].trim();
  const values = m[3].split(",").map((s) => s.trim());
  if (values.length < 2) throw new UsageError(`--sweep "${text}": give at least two values`);
  const nums = values.map((v) => {
    const x = parseValue(v);
    if (typeof x !== "number" || Number.isNaN(x)) {
      throw new UsageError(`--sweep "${text}": "${v}" is not a number`);
    }
    return x;
  });
  const arms = nums.map((v) => parseArm(`${name}:${key}=${formatValue(v)}`));
  const order = nums.map((v, i) => [v, i] as const).sort((a, b) => a[0] - b[0]).map(([, i]) => i);
  return { name: arms[0].name, key, values: order.map((i) => nums[i]), arms: order.map((i) => arms[i]) };
}

/** The arm's `--set` overrides (`key=value`, the value as YAML). */
export function armOverrides(arm: ArmSpec): string[] {
  return Object.entries(arm.settings).map(([k, v]) =>
    `${k}=${v === Infinity ? ".inf" : typeof v === "string" ? v : JSON.stringify(v)}`
  );
}

/** A folder name for the arm: the label with every character outside `[A-Za-z0-9._=-]` replaced by `_`. */
export function armDirName(arm: ArmSpec): string {
  return arm.label.replace(/[^A-Za-z0-9._=-]+/g, "_");
}
