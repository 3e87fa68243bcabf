/**
 * The `maxent init` arguments of the small character-level model that the demo and the experiment script train:
 * 2 layers, 4/2 heads, hidden 128 and FF 256 (32 and 64 with `quick`, for smoke runs in tests).
 */

/** `maxent init` arguments for the scripts' tiny model at `dir`. */
export function tinyModelInitArgs(dir: string, quick: boolean, seed: number): string[] {
  const [hidden, intermediate] = quick ? [32, 64] : [128, 256];
  return [
    "init",
    dir,
    "--force",
    "--preset",
    "tiny",
    ...["--hidden", String(hidden), "--layers", "2", "--heads", "4", "--kv-heads", "2"],
    ...["--intermediate", String(intermediate), "--seed", String(seed)],
  ];
}
