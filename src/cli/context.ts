/** What a subcommand may touch besides its options: where to print. Injected so tests run commands in-process. */
export interface CliContext {
  /** Writes a line (newline added) to standard output. */
  out(line: string): void;
  /** Writes a line (newline added) to standard error. */
  err(line: string): void;
  /** True when standard error is a terminal (progress bars, colours). */
  isTerminal: boolean;
}

/** The context of a real process: stdout, stderr and whether stderr is a TTY. */
export function processContext(): CliContext {
  const enc = new TextEncoder();
  return {
    out: (line) => void Deno.stdout.writeSync(enc.encode(line + "\n")),
    err: (line) => void Deno.stderr.writeSync(enc.encode(line + "\n")),
    isTerminal: Deno.stderr.isTerminal(),
  };
}
