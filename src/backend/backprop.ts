/**
 * tfjs's reverse-mode pass (`Engine.gradients`, behind tf.grads / tf.variableGrads / tf.valueAndGrads) with the same
 * arithmetic but freeing as it goes. tfjs keeps every accumulated gradient — one per intermediate tensor — and every
 * node's saved tensors until the whole backward pass ends; the peak of a training step is then the end of the
 * backward pass with all intermediate gradients and all activations still live. Here:
 *
 * - the gradient of a tensor is freed once the last tape node that reads it (its producer, walking the tape backward)
 *   has made its input gradients, unless it is one of the requested xs or something else still refers to it;
 * - on the outermost tape (no higher-order gradient being recorded), a node's saved tensors (the engine's own kept
 *   clones, which only that node's gradient reads) are freed right after its gradient has run.
 *
 * Only tensors tfjs would dispose anyway when the backward ends are freed early (gradients the backward pass made:
 * not kept, tracked in its scope; saved clones of the outermost tape), so the values, the order of the float32 adds
 * and the errors are those of tfjs 4.22 (`tfjs-core/src/engine.ts` `gradients`, `tape.ts`). Installed on the engine by
 * `initBackend`; `MAXENT_EAGER_BACKPROP=0` leaves tfjs's own (for A/B measurements).
 */
import * as tf from "@tensorflow/tfjs";

/** A node of tfjs's gradient tape (tfjs-core `tape.ts`; not in its public types). */
export interface TapeNode {
  id: number;
  kernelName: string;
  inputs: Record<string, tf.Tensor>;
  outputs: tf.Tensor[];
  gradient?: (dys: Array<tf.Tensor | null>) => Record<string, () => tf.Tensor>;
  saved?: tf.Tensor[];
}

/** A tensor as the engine sees it: the tidy scope that tracks it, and whether it is kept (tf.keep, variables). */
type EngineTensor = tf.Tensor & { scopeId?: number; kept?: boolean };

/** The engine internals `gradients` uses (tfjs-core `engine.ts`; not in its public types). */
export interface GradEngine {
  state: { activeTape: TapeNode[] | null; gradientDepth: number; activeScope: { id: number } | null };
  scopedRun<T>(start: () => void, end: () => void, f: () => T): T;
  startTape(): void;
  endTape(): void;
  tidy<T>(nameOrFn: string | (() => T), fn?: () => T): T;
  gradients: GradientsFn;
}

type GradientsFn = (
  f: () => tf.Tensor,
  xs: tf.Tensor[],
  dy?: tf.Tensor,
  allowNoGradients?: boolean,
) => { value: tf.Tensor; grads: tf.Tensor[] };

/**
 * The nodes of `tape` on a path from one of `xs` to `y`, in tape order, each a copy with its inputs pruned to those
 * that are functions of `xs`: tfjs-core's `getFilteredNodesXToY`, line for line in effect (a node without inputs is on
 * no path).
 */
export function filteredNodesXToY(tape: TapeNode[], xs: tf.Tensor[], y: tf.Tensor): TapeNode[] {
  // forward: the tensors (and nodes) that are transitively a function of some x
  const tensorsFromX = new Set<number>(xs.map((x) => x.id));
  const nodesFromX = new Set<number>();
  for (const node of tape) {
    for (const name in node.inputs) {
      if (tensorsFromX.has(node.inputs[name].id)) {
        for (const o of node.outputs) tensorsFromX.add(o.id);
        nodesFromX.add(node.id);
        break;
      }
    }
  }
  // backward: the tensors (and nodes) that lead to y
  const tensorsLeadToY = new Set<number>([y.id]);
  const nodesToY = new Set<number>();
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i];
    if (node.outputs.some((o) => tensorsLeadToY.has(o.id))) {
      for (const name in node.inputs) {
        tensorsLeadToY.add(node.inputs[name].id);
        nodesToY.add(node.id);
      }
    }
  }
  const filtered: TapeNode[] = [];
  for (const node of tape) {
    if (!nodesFromX.has(node.id) || !nodesToY.has(node.id)) continue;
    const inputs: Record<string, tf.Tensor> = {};
    for (const name in node.inputs) if (tensorsFromX.has(node.inputs[name].id)) inputs[name] = node.inputs[name];
    filtered.push({ ...node, inputs, outputs: node.outputs });
  }
  return filtered;
}

/**
 * tfjs-core's `backpropagateGradients` (same loop, checks, error messages and accumulation `add(cur, dx)` then
 * `cur.dispose()`), plus the early frees described in the module comment. `grads` maps tensor id → accumulated
 * gradient and holds the seed dy of y on entry; `keepIds` are the ids whose gradients the caller returns.
 * `ownScopeId` is the backward pass's tidy scope: only tensors it tracks (and does not keep) are freed early.
 * `freeSaved`: also free each node's saved tensors once its gradient has run (outermost tape only).
 */
export function backpropagateFreeing(
  grads: Record<number, tf.Tensor>,
  filteredTape: TapeNode[],
  tidy: (f: () => tf.Tensor) => tf.Tensor,
  add: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor,
  keepIds: Set<number>,
  ownScopeId: number | undefined,
  freeSaved: boolean,
): void {
  // the node (tape index) that reads a tensor's gradient last when walking backward: its producer, the earliest
  // node with it among its outputs
  const lastReader = new Map<number, number>();
  for (let i = 0; i < filteredTape.length; i++) {
    for (const o of filteredTape[i].outputs) if (!lastReader.has(o.id)) lastReader.set(o.id, i);
  }
  // how many entries of `grads` hold each gradient tensor (a gradient function may hand its dy on as a dx)
  const entries = new Map<tf.Tensor, number>();
  const hold = (t: tf.Tensor) => entries.set(t, (entries.get(t) ?? 0) + 1);
  const drop = (t: tf.Tensor) => {
    const n = (entries.get(t) ?? 0) - 1;
    if (n > 0) entries.set(t, n);
    else entries.delete(t);
  };
  for (const id in grads) hold(grads[id]);
  const freeable = (t: EngineTensor) =>
    !entries.has(t) && !t.kept && ownScopeId !== undefined && t.scopeId === ownScopeId;

  // Walk the tape backward and keep a map of Tensor to its gradient.
  for (let i = filteredTape.length - 1; i >= 0; i--) {
    const node = filteredTape[i];
    const dys: Array<tf.Tensor | null> = [];
    for (const o of node.outputs) {
      const gradTensor = grads[o.id];
      // an output not in the back-propagation subgraph does not affect y: null dy
      dys.push(gradTensor != null ? gradTensor : null);
    }
    if (node.gradient == null) {
      throw new Error(`Cannot compute gradient: gradient function not found for ${node.kernelName}.`);
    }
    // Backprop dy through this node and accumulate gradients over the inputs.
    const inputGradients = node.gradient(dys);
    for (const inputName in node.inputs) {
      if (!(inputName in inputGradients)) {
        throw new Error(
          `Cannot backprop through input ${inputName}. Available gradients found: ${Object.keys(inputGradients)}.`,
        );
      }
      const dx = tidy(() => inputGradients[inputName]());
      if (dx.dtype !== "float32") {
        throw new Error(
          `Error in gradient for op ${node.kernelName}. The gradient of input ${inputName} must have 'float32' ` +
            `dtype, but has '${dx.dtype}'`,
        );
      }
      const x = node.inputs[inputName];
      if (!tf.util.arraysEqual(dx.shape, x.shape)) {
        throw new Error(
          `Error in gradient for op ${node.kernelName}. The gradient of input '${inputName}' has shape ` +
            `'${dx.shape}', which does not match the shape of the input '${x.shape}'`,
        );
      }
      if (grads[x.id] == null) {
        grads[x.id] = dx;
        hold(dx);
      } else {
        const curGradient = grads[x.id];
        grads[x.id] = add(curGradient, dx);
        hold(grads[x.id]);
        drop(curGradient);
        curGradient.dispose();
      }
    }
    // Every node that reads these outputs' gradients comes later on the tape and has run: they are spent.
    for (const o of node.outputs) {
      if (lastReader.get(o.id) !== i || keepIds.has(o.id)) continue;
      const g = grads[o.id];
      if (g == null) continue;
      delete grads[o.id];
      drop(g);
      if (freeable(g)) g.dispose();
    }
    // The engine's clones kept for this node's gradient alone, which has run (unless one is now a gradient).
    if (freeSaved) { for (const t of node.saved ?? []) if (!entries.has(t)) t.dispose(); }
  }
}

/**
 * `Engine.gradients` of tfjs-core 4.22 with {@link backpropagateFreeing} as its backward loop: d(dy·f())/d xs, the
 * value f() and the gradients in xs order (undefined where f does not depend on an x and `allowNoGradients`).
 */
function eagerGradients(
  this: GradEngine,
  f: () => tf.Tensor,
  xs: tf.Tensor[],
  dy?: tf.Tensor,
  allowNoGradients = false,
): { value: tf.Tensor; grads: tf.Tensor[] } {
  tf.util.assert(xs.length > 0, () => "gradients() received an empty list of xs.");
  if (dy != null && dy.dtype !== "float32") throw new Error(`dy must have 'float32' dtype, but has '${dy.dtype}'`);
  const y = this.scopedRun(() => this.startTape(), () => this.endTape(), () => this.tidy("forward", f));
  tf.util.assert(y instanceof tf.Tensor, () => "The result y returned by f() must be a tensor.");
  // (kept aside: a gradient function may run a nested backward that replaces the engine's tape while it runs)
  const tape = this.state.activeTape ?? [];
  // Filter out the nodes that don't connect x => y.
  const filteredTape = filteredNodesXToY(tape, xs, y);
  if (!allowNoGradients && filteredTape.length === 0 && xs.length > 0) {
    throw new Error(
      "Cannot compute gradient of y=f(x) with respect to x. Make sure that the f you passed encloses all " +
        "operations that lead from x to y.",
    );
  }
  return this.tidy("backward", () => {
    const grads: Record<number, tf.Tensor> = {};
    grads[y.id] = dy == null ? tf.ones(y.shape) : dy;
    const keepIds = new Set(xs.map((x) => x.id));
    if (dy != null) keepIds.add(y.id); // the caller's dy is never ours to free
    // the saved tensors can go early only when no outer tape is recording (it would differentiate these nodes)
    const outermost = this.state.gradientDepth === 0;
    backpropagateFreeing(
      grads,
      filteredTape,
      (g) => this.tidy(g),
      tf.add,
      keepIds,
      this.state.activeScope?.id,
      outermost,
    );
    const out = xs.map((x) => grads[x.id]);
    if (this.state.gradientDepth === 0) {
      // not computing higher-order gradients: clean up the tape
      for (const node of tape) for (const t of node.saved ?? []) t.dispose();
      this.state.activeTape = null;
    }
    return { value: y, grads: out };
  });
}

/** Whether `MAXENT_EAGER_BACKPROP` asks for tfjs's own backward pass ("0"). */
function disabledByEnv(): boolean {
  try {
    return Deno.env.get("MAXENT_EAGER_BACKPROP") === "0";
  } catch {
    return false; // no --allow-env: the default
  }
}

/**
 * Makes tfjs's engine (`tf.engine()`) run its backward passes through {@link backpropagateFreeing} (`on` true), or
 * its own `Engine.gradients` again (`on` false). Without an argument: on unless `MAXENT_EAGER_BACKPROP=0`.
 * Idempotent; returns whether it is on.
 */
export function installEagerBackprop(on = !disabledByEnv()): boolean {
  const engine = tf.engine() as unknown as GradEngine;
  if (on) engine.gradients = eagerGradients;
  else delete (engine as Partial<GradEngine>).gradients; // back to Engine.prototype.gradients
  return on;
}

/** Whether the engine's backward pass is the freeing one. */
export function eagerBackpropInstalled(): boolean {
  return (tf.engine() as unknown as GradEngine).gradients === eagerGradients;
}
