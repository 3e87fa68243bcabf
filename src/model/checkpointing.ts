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
import { backpropagateFreeing, filteredNodesXToY, type GradEngine, type TapeNode } from "../backend/backprop.ts";

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

/**
 * d⟨dy, f()⟩/d xs for each of `xs` (zeros where f does not depend on it), by reverse-mode over a fresh tape with the
 * freeing loop of src/backend/backprop.ts (each intermediate gradient and each node's saved tensors freed once used;
 * tfjs's own backward would hold the block's activations plus a gradient for each to the end), whether or not that
 * backward is installed on the engine. Must run outside any tape (inside a backward pass, as here).
 */
function gradientsFreeingAsYouGo(f: () => tf.Tensor, xs: tf.Tensor[], dy: tf.Tensor): tf.Tensor[] {
  const engine = tf.engine() as unknown as GradEngine;
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
    const filtered = filteredNodesXToY(tape, xs, y);
    return tf.tidy(() => {
      const grads: Record<number, tf.Tensor> = { [y.id]: dy };
      const scope = engine.state.activeScope?.id;
      backpropagateFreeing(grads, filtered, (g) => tf.tidy(g), tf.add, new Set(xs.map((x) => x.id)), scope, true);
      // an x f did not reach (e.g. a disabled adapter's variable) gets a zero gradient
      return xs.map((x) => grads[x.id] ?? tf.zerosLike(x));
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
