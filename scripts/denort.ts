/**
 * Finding the Deno runtime (`denort`) that `deno compile` prepends to the program. Deno downloads it from its
 * release host on first use; where that host cannot be reached (as on CI machines with only the npm registry) the
 * compile would fail after a DNS error or hang on a silent firewall, so this checks first, within seconds, and says
 * how to provide one with `DENORT_BIN`.
 */

/** Where `deno compile` downloads the runtime from, for this Deno version and platform. */
export function denortUrl(version = Deno.version.deno, target = Deno.build.target): string {
  return `https://dl.deno.land/release/v${version}/denort-${target}.zip`;
}

/** Where `deno compile` caches a downloaded runtime inside DENO_DIR. */
export function denortCachePath(denoDir: string, version = Deno.version.deno, target = Deno.build.target): string {
  return `${denoDir}/dl/release/v${version}/denort-${target}.zip`;
}

/** How the runtime will be obtained, or why it cannot be. */
export type DenortSource =
  | { ok: true; how: "DENORT_BIN"; path: string }
  | { ok: true; how: "cache"; path: string }
  | { ok: true; how: "download"; url: string }
  | { ok: false; reason: string };

/** Inputs of {@link findDenort}, injectable for tests. */
export interface FindDenortOptions {
  /** Value of DENORT_BIN (undefined: unset). */
  denortBin?: string;
  /** Deno's cache directory (`deno info --json`'s denoDir). */
  denoDir: string;
  /** The deno CLI binary itself: DENORT_BIN must not be it. */
  denoExe?: string;
  /** Probe timeout for the download host, milliseconds. */
  timeoutMs?: number;
  /** Overrides the probed URL (tests point it at an unroutable or local address). */
  url?: string;
}

/** The message printed when no runtime can be had: what failed and the two ways to fix it. */
export function denortHelp(reason: string, version = Deno.version.deno, target = Deno.build.target): string {
  return [
    `deno compile cannot obtain the Deno runtime (denort ${version}): ${reason}`,
    `Either let this machine reach ${new URL(denortUrl(version, target)).host} (deno compile downloads`,
    `${denortUrl(version, target)}), or download that zip elsewhere, unzip it and run`,
    `  DENORT_BIN=/path/to/denort deno task compile`,
    `(DENORT_BIN must be the denort runtime binary of Deno ${version}, not the deno CLI: a binary built on the CLI`,
    `only opens the REPL.)`,
  ].join("\n");
}

async function sameFile(a: string, b: string): Promise<boolean> {
  try {
    const [sa, sb] = await Promise.all([Deno.stat(a), Deno.stat(b)]);
    return sa.dev === sb.dev && sa.ino === sb.ino;
  } catch {
    return false;
  }
}

/** Probes `url` with a HEAD request; resolves to an error description, or null when the host answered. */
export async function probe(url: string, timeoutMs: number): Promise<string | null> {
  try {
    const res = await fetch(url, { method: "HEAD", signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel();
    if (res.status >= 400) return `${url} answered HTTP ${res.status}`;
    return null;
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    if (e instanceof DOMException && (e.name === "TimeoutError" || e.name === "AbortError")) {
      return `${new URL(url).host} did not answer within ${timeoutMs / 1000} s`;
    }
    const cause = e instanceof Error && e.cause instanceof Error ? e.cause.message : "";
    const detail = (cause.match(/dns error[^(]*|Connection refused|timed out|certificate[^)]*/i)?.[0] ?? (cause || msg))
      .split("\n")[0].trim();
    return `${new URL(url).host} is unreachable (${detail})`;
  }
}

/**
 * Decides where `deno compile` will get its runtime: DENORT_BIN (checked to be an executable file that is not the
 * deno CLI), Deno's download cache, or the release host (probed with a short timeout).
 */
export async function findDenort(opts: FindDenortOptions): Promise<DenortSource> {
  if (opts.denortBin !== undefined && opts.denortBin !== "") {
    const path = opts.denortBin;
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(path);
    } catch {
      return { ok: false, reason: `DENORT_BIN=${path} does not exist` };
    }
    if (!info.isFile || ((info.mode ?? 0o111) & 0o111) === 0) {
      return { ok: false, reason: `DENORT_BIN=${path} is not an executable file` };
    }
    if (opts.denoExe && await sameFile(path, opts.denoExe)) {
      return { ok: false, reason: `DENORT_BIN=${path} is the deno CLI itself, not the denort runtime` };
    }
    return { ok: true, how: "DENORT_BIN", path };
  }
  const cached = denortCachePath(opts.denoDir);
  try {
    if ((await Deno.stat(cached)).isFile) return { ok: true, how: "cache", path: cached };
  } catch { /* not cached */ }
  const url = opts.url ?? denortUrl();
  const problem = await probe(url, opts.timeoutMs ?? 5000);
  if (problem) return { ok: false, reason: `DENORT_BIN is not set and ${problem}` };
  return { ok: true, how: "download", url };
}

/** True when `deno compile`'s error output says it failed to set up the runtime (download or DENORT_BIN). */
export function isDenortFailure(stderr: string): boolean {
  return /Setting up base binary|denort|dl\.deno\.land/i.test(stderr);
}
