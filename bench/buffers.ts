/**
 * Counting live tensor memory the way the memory targets mean it: bytes of distinct backend buffers, through the
 * engine's per-buffer table (`tf.memory().numBytes` and `tf.profile`'s peakBytes count every tensor, so clones and
 * reshapes that share a buffer would be counted again). Used by the benchmarks and by tests that bound a peak.
 */
import * as tf from "@tensorflow/tfjs";

/** What a buffer entry of the engine's table holds. */
interface BufferInfo {
  bytes: number;
  shape: number[];
}

/** Live and peak bytes (net of frees) and counts of the buffers allocated since `trackBuffers` was called. */
export interface BufferTracker {
  live(): number;
  peak(): number;
  liveCount(): number;
  peakCount(): number;
  /** Starts a new peak from the current live bytes. */
  resetPeak(): void;
  /** The buffers live at the byte peak, grouped by shape: "3 × [1024,1024] 12 MB, …, N others M MB". */
  atPeak(): string;
  /** Stops tracking (the table's own methods again). */
  stop(): void;
}

/** Tracks the buffers allocated from now on that `filter` accepts (default: all). */
export function trackBuffers(filter: (b: BufferInfo) => boolean = () => true, engine = tf.engine()): BufferTracker {
  // deno-lint-ignore no-explicit-any
  const table = (engine as any).state.tensorInfo as WeakMap<object, BufferInfo>;
  const liveSet = new Map<object, BufferInfo>();
  let live = 0, peak = 0, peakCount = 0;
  let peakSet: BufferInfo[] = [];
  const set = table.set.bind(table), del = table.delete.bind(table);
  table.set = (k, v) => {
    if (!table.has(k) && filter(v)) {
      live += v.bytes;
      liveSet.set(k, v);
      peakCount = Math.max(peakCount, liveSet.size);
      if (live > peak) {
        peak = live;
        peakSet = [...liveSet.values()];
      }
    }
    return set(k, v);
  };
  // live bytes are net: a buffer from before the call that is freed now counts down too (the total is then the bytes
  // before the call plus `live`); counts and `atPeak` cover the buffers allocated since
  table.delete = (k) => {
    const v = table.get(k);
    if (v && filter(v)) live -= v.bytes;
    liveSet.delete(k);
    return del(k);
  };
  return {
    live: () => live,
    peak: () => peak,
    liveCount: () => liveSet.size,
    peakCount: () => peakCount,
    resetPeak: () => void (peak = live),
    atPeak() {
      const groups = new Map<string, { n: number; bytes: number }>();
      for (const b of peakSet) {
        const g = groups.get(`[${b.shape}]`) ?? { n: 0, bytes: 0 };
        g.n++;
        g.bytes += b.bytes;
        groups.set(`[${b.shape}]`, g);
      }
      const sorted = [...groups].sort((x, y) => y[1].bytes - x[1].bytes);
      const rest = sorted.slice(4).reduce((a, [, g]) => ({ n: a.n + g.n, bytes: a.bytes + g.bytes }), {
        n: 0,
        bytes: 0,
      });
      return [
        ...sorted.slice(0, 4).map(([shape, g]) => `${g.n} × ${shape} ${(g.bytes / 2 ** 20).toFixed(0)} MB`),
        `${rest.n} others ${(rest.bytes / 2 ** 20).toFixed(0)} MB`,
      ].join(", ");
    },
    stop() {
      // back to WeakMap.prototype's methods
      delete (table as { set?: unknown }).set;
      delete (table as { delete?: unknown }).delete;
    },
  };
}
