/**
 * The Python peers of the cross-check tests (transformers, peft, huggingface_hub, tokenizers, pyarrow): whether
 * `python3` can import them here. Tests that need them skip with a note when it cannot (CI installs them when the
 * machine's wheel mirror allows; they are never product dependencies).
 */

/** Whether `python3 -c "import a, b, …"` succeeds (false without python3 or without --allow-run). */
export async function pythonCanImport(...modules: string[]): Promise<boolean> {
  try {
    const r = await new Deno.Command("python3", {
      args: ["-c", `import ${modules.join(", ")}`],
      stdout: "null",
      stderr: "null",
    }).output();
    return r.success;
  } catch {
    return false;
  }
}
