/**
 * Gradient checkpointing (activation recomputation) for tfjs, which has none: a checkpointed block keeps only its
 * input (and the constants it reads) for the backward pass and recomputes its forward inside its gradient function.
 * The decoder uses it per layer (`CausalLM.gradientCheckpointing`), so a training forward keeps ≈ layers × rows ×
 * hidden floats instead of every intermediate of every layer; the price is one more forward of each layer.
 *
 * How it is built: `tf.customGrad` with the block input and the block's *trainable* variables as explicit inputs (so
 * the engine routes their gradients; frozen weights are read from the closure and get none), the forward run with the
 * tape off (tfjs records nothing inside a custom-gradient kernel) and tidied at once, and a gradient function that
 * re-runs the block under a fresh tape (`engine.gradients`) with the incoming dy. Randomness inside the block (LoRA
 * dropout) is replayed: the caller passes the block's random-draw counter, rewound before the recomputation so it draws
 * the same masks.
 */
import * as tf from "@tensorflow/tfjs";

/** A counter of random draws (e.g. LoRA's `dropoutCalls`) that a recomputation rewinds to replay the same draws. */
export interface DrawCounter {
  get(): number;
  set(n: number): void;
}

// Depth of checkpointed forwards whose outputs are being recorded for a backward pass (they run with the tape off).
let checkpointedForwards = 0;

/**
 * Whether the ops running now belong to a pass that will be differentiated: a gradient tape is recording, or this is
 * the forward of a checkpointed block under a tape (which runs with the tape off and is recomputed, taped, in the
 * backward). Training-only behaviour (dropout) keys on this, so the forward and its recomputation agree.
 */
export function isRecordingForBackward(): boolean {
  return checkpointedForwards > 0 || tf.engine().isTapeOn();
}

/** A node of tfjs's gradient tape (tfjs-core `tape.ts`; not in its public types). */
interface TapeNode {
  id: number;
  kernelName: string;
  inputs: Record<string, tf.Tensor>;
  outputs: tf.Tensor[];
  gradient?: (dys: Array<tf.Tensor | null>) => Record<string, () => tf.Tensor>;
  saved?: tf.Tensor[];
}

/** The engine's tape machinery (tfjs-core `engine.ts`; not in its public types). */
interface TapeEngine {
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
  startTape(): void;
  endTape(): void;
}

/**
 * The nodes of `tape` on a path from one of `xs` to y, their inputs pruned to those that depend on `xs` (what tfjs's
 * `getFilteredNodesXToY` does).
 */
function nodesFromXsToY(tape: TapeNode[], xs: tf.Tensor[], y: tf.Tensor): TapeNode[] {
  const fromX = new Set(xs.map((x) => x.id));
  const nodesFromX = new Set<number>();
  for (const node of tape) {
    if (Object.values(node.inputs).some((t) => fromX.has(t.id))) {
      for (const o of node.outputs) fromX.add(o.id);
      nodesFromX.add(node.id);
    }
  }
  const toY = new Set([y.id]);
  const nodesToY = new Set<number>();
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i];
    if (node.outputs.some((o) => toY.has(o.id))) {
      for (const t of Object.values(node.inputs)) toY.add(t.id);
      nodesToY.add(node.id);
    }
  }
  const out: TapeNode[] = [];
  for (const node of tape) {
    if (!nodesFromX.has(node.id) || !nodesToY.has(node.id)) continue;
    const inputs: Record<string, tf.Tensor> = {};
    for (const [k, t] of Object.entries(node.inputs)) if (fromX.has(t.id)) inputs[k] = t;
    out.push({ ...node, inputs });
  }
  return out;
}

/**
 * d⟨dy, f()⟩/d xs for each of `xs` (zeros where f does not depend on it), by reverse-mode over a fresh tape — like
 * `engine.gradients`, but each intermediate's gradient is freed as soon as its producer's gradient has run (every
 * consumer comes later on the tape, so it is complete and used by then) and each node's saved tensors right after its
 * own gradient: tfjs's backward holds all of them to the end, i.e. the block's activations plus a gradient for each.
 * Must run outside any tape (inside a backward pass, as here).
 */
function gradientsFreeingAsYouGo(f: () => tf.Tensor, xs: tf.Tensor[], dy: tf.Tensor): tf.Tensor[] {
  const engine = tf.engine() as unknown as TapeEngine;
  if (engine.state.gradientDepth !== 0) {
    throw new Error("gradient checkpointing: the recomputation must run outside any gradient tape");
  }
  // the outer backward still needs its tape (to free its saved tensors at the end): keep it aside
  const outerTape = engine.state.activeTape;
  let y: tf.Tensor;
  let tape: TapeNode[];
  engine.startTape(); // a fresh tape: gradientDepth 0 → 1
  try {
    y = tf.tidy(f);
  } finally {
    engine.endTape();
    tape = engine.state.activeTape ?? [];
    engine.state.activeTape = outerTape;
  }
  try {
    const filtered = nodesFromXsToY(tape, xs, y);
    const xIds = new Set(xs.map((x) => x.id));
    return tf.tidy(() => {
      const grads = new Map<number, tf.Tensor>([[y.id, dy]]);
      for (let i = filtered.length - 1; i >= 0; i--) {
        const node = filtered[i];
        if (!node.gradient) {
          throw new Error(`Cannot compute gradient: gradient function not found for ${node.kernelName}.`);
        }
        const inputGrads = node.gradient(node.outputs.map((o) => grads.get(o.id) ?? null));
        for (const [name, x] of Object.entries(node.inputs)) {
          const dx = tf.tidy(inputGrads[name]);
          if (dx.dtype !== "float32" || dx.shape.join() !== x.shape.join()) {
            throw new Error(`gradient of ${node.kernelName} input ${name}: ${dx.dtype} ${dx.shape} for ${x.shape}`);
          }
          const prev = grads.get(x.id);
          if (prev) {
            grads.set(x.id, tf.add(prev, dx));
            prev.dispose();
            dx.dispose();
          } else grads.set(x.id, dx);
        }
        // this node's outputs have no consumer left to visit: their gradients are spent
        for (const o of node.outputs) {
          const g = grads.get(o.id);
          if (g && g !== dy && !xIds.has(o.id)) {
            g.dispose();
            grads.delete(o.id);
          }
        }
        for (const t of node.saved ?? []) t.dispose();
      }
      // an x f did not reach (e.g. a disabled adapter's variable) gets a zero gradient
      return xs.map((x) => grads.get(x.id) ?? tf.zerosLike(x));
    });
  } finally {
    for (const node of tape) for (const t of node.saved ?? []) t.dispose();
    y.dispose();
  }
}

/**
 * y = fn(x, consts) recorded as one node that keeps only x and `consts` for the backward pass. Its gradient recomputes
 * fn under a fresh tape and returns dx and d(variables) for the upstream dy; `variables` must be every trainable
 * variable fn reads (others get no gradient through this node) and no frozen one (frozen weights stay out of the
 * gradient computation). With no gradient being recorded it is plain fn(x, consts). `draws`, when fn draws random
 * numbers, is rewound for the recomputation and restored after it.
 *
 * Memory: the forward keeps x (a clone sharing its buffer) and `consts`; the backward holds one block's activations
 * at a time.
 */
export function checkpoint<T extends tf.Tensor>(
  fn: (x: T, consts: tf.Tensor[]) => T,
  x: T,
  consts: tf.Tensor[],
  variables: tf.Variable[],
  draws?: DrawCounter,
): T {
  if (!tf.engine().isTapeOn()) return fn(x, consts);
  const drawsBefore = draws?.get() ?? 0;
  const node = tf.customGrad(
    ((...args: unknown[]) => {
      const xi = args[0] as T;
      const save = args[args.length - 1] as tf.GradSaveFunc;
      save([xi, ...consts]);
      checkpointedForwards++;
      let value: T;
      try {
        value = tf.tidy(() => fn(xi, consts));
      } finally {
        checkpointedForwards--;
      }
      return {
        value,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [xs, ...cs] = saved as [T, ...tf.Tensor[]];
          const drawsAfter = draws?.get() ?? 0;
          draws?.set(drawsBefore);
          try {
            return gradientsFreeingAsYouGo(() => fn(xs, cs), [xs, ...variables], dy);
          } finally {
            draws?.set(drawsAfter);
          }
        },
      };
      // deno-lint-ignore no-explicit-any
    }) as any,
  );
  return node(x, ...variables) as T;
}
