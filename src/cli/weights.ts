/**
 * `maxent weights`: the closed-form MaxEnt target inspector. Given one group's utilities (and optionally the
 * reference model's log-probs), prints q, π_ref over the group, the target weights w, H(w) and ESS.
 */
import { Command } from "@commander-js/extra-typings";
import { UsageError } from "../errors.ts";
import { maxentGroup } from "../objective/maxent.ts";
import { MAXENT_DEFAULTS } from "../recipe/schema.ts";
import type { CliContext } from "./context.ts";
import { parseNumber, parseNumberList } from "./parse.ts";
import { parseTau, xdrWeightsAction } from "./weights_xdr.ts";

/** Builds the `weights` subcommand. */
export function weightsCommand(ctx: CliContext) {
  return new Command("weights")
    .description(
      "Print the MaxEnt-GRPO target for one group: q = softmax(u/T_q) with an ε floor, π_ref over the group, the " +
        "weights w ∝ q^{1/(τ+β)}·π_ref^{β/(τ+β)}, their entropy and effective sample size.",
    )
    .option(
      "--utilities <list>",
      "utilities u_i of the K candidates, e.g. 1,0,0,1",
      parseNumberList("--utilities"),
    )
    .option(
      "--ref-logprobs <list>",
      "reference log-prob sums of the candidates, e.g. -3.1,-2.0,-5.2,-4.4 (default: uniform reference)",
      parseNumberList("--ref-logprobs"),
    )
    .option("--lengths <list>", "completion token counts, for length normalisation", parseNumberList("--lengths"))
    .option("--tau <number>", "τ, entropy weight (maxent_tau)", parseTau("--tau"), MAXENT_DEFAULTS.maxent_tau)
    .option("--beta <number>", "β, reverse-KL weight to π_ref (init_kl_coeff)", parseNumber("--beta"), 0)
    .option(
      "--q-temperature <number>",
      "T_q, temperature of q (maxent_q_temperature)",
      parseNumber("--q-temperature"),
      MAXENT_DEFAULTS.maxent_q_temperature,
    )
    .option(
      "--q-eps <number>",
      "ε floor on q (maxent_q_epsilon)",
      parseNumber("--q-eps"),
      MAXENT_DEFAULTS.maxent_q_epsilon,
    )
    .option(
      "--length-normalize-ref",
      `divide --ref-logprobs by --lengths (maxent_length_normalize_ref; default ${MAXENT_DEFAULTS.maxent_length_normalize_ref})`,
    )
    .option("--no-length-normalize-ref", "use --ref-logprobs as given")
    .option("--json", "print one JSON object {q, ref, weights, entropy, ess}")
    .option(
      "--algorithm <name>",
      "maxent (default), or xdr: xDr.GRPO weights K·softmax(U/τ), U = A·T/T_max, from --advantages, --lengths, " +
        "--t-max [--tau (default inf = Dr.GRPO), --ref-tilt, --ref-logprobs]",
    )
    .option("--advantages <list>", "xdr: Dr.GRPO advantages A_i of the K candidates", parseNumberList("--advantages"))
    .option("--t-max <number>", "xdr: T_max (max_completion_length)", parseNumber("--t-max"))
    .option("--ref-tilt <number>", "xdr: λ, reference tilt (xdr_ref_tilt; default 0)", parseNumber("--ref-tilt"))
    .action((opts, cmd) => {
      if (opts.algorithm === "xdr") {
        const tau = cmd.getOptionValueSource("tau") === "default" ? undefined : opts.tau;
        return xdrWeightsAction(ctx, { ...opts, tau });
      }
      if (opts.algorithm !== undefined && opts.algorithm !== "maxent") {
        throw new UsageError(`--algorithm must be maxent or xdr, got "${opts.algorithm}"`);
      }
      if (opts.utilities === undefined) {
        throw new UsageError("--utilities <list> is required: the utilities u_i of the K candidates, e.g. 1,0,0,1");
      }
      const k = opts.utilities.length;
      const ref = opts.refLogprobs;
      if (ref !== undefined && ref.length !== k) {
        throw new UsageError(
          `--ref-logprobs has ${ref.length} entries but --utilities has ${k}; give one per candidate`,
        );
      }
      if (opts.lengths !== undefined) {
        if (ref === undefined) throw new UsageError("--lengths needs --ref-logprobs (they normalise its entries)");
        if (opts.lengths.length !== k) {
          throw new UsageError(
            `--lengths has ${opts.lengths.length} entries but --utilities has ${k}; give one per candidate`,
          );
        }
        opts.lengths.forEach((n, i) => {
          if (!Number.isInteger(n) || n < 0) {
            throw new UsageError(`--lengths: entry ${i + 1} (${n}) is not a token count (an integer ≥ 0)`);
          }
        });
      }
      const explicitNormalize = opts.lengthNormalizeRef;
      if (explicitNormalize === true && opts.lengths === undefined) {
        throw new UsageError("--length-normalize-ref needs --lengths (one completion token count per candidate)");
      }
      // Without --lengths there is nothing to normalise by: the log-probs are used as given.
      const normalize = (explicitNormalize ?? MAXENT_DEFAULTS.maxent_length_normalize_ref) &&
        opts.lengths !== undefined;
      if (opts.tau < 0) throw new UsageError(`--tau must be ≥ 0, got ${opts.tau}`);
      if (opts.beta < 0) throw new UsageError(`--beta must be ≥ 0, got ${opts.beta}`);
      if (!(opts.qTemperature > 0)) throw new UsageError(`--q-temperature must be > 0, got ${opts.qTemperature}`);
      if (opts.qEps < 0 || k * opts.qEps >= 1) {
        throw new UsageError(`--q-eps must satisfy 0 ≤ ε < 1/K = ${1 / k} for K = ${k}, got ${opts.qEps}`);
      }

      const r = maxentGroup(opts.utilities, {
        refLogProbSums: ref,
        lengths: opts.lengths,
        tau: opts.tau,
        beta: opts.beta,
        qTemperature: opts.qTemperature,
        qEpsilon: opts.qEps,
        lengthNormalizeRef: normalize,
      });

      if (opts.json) {
        ctx.out(JSON.stringify({ q: r.q, ref: r.ref, weights: r.weights, entropy: r.entropy, ess: r.ess }));
        return;
      }
      const refText = ref === undefined
        ? "uniform"
        : normalize
        ? "from --ref-logprobs, per token (÷ --lengths)"
        : "from --ref-logprobs, as given";
      ctx.out(`MaxEnt target for K = ${k} candidates`);
      ctx.out(
        `  τ = ${opts.tau}, β = ${opts.beta}, T_q = ${opts.qTemperature}, ε = ${opts.qEps}; reference: ${refText}`,
      );
      const header = ["i", "utility", "q", "ref score", "π_ref", "w"];
      const rows = opts.utilities.map((u, i) => [
        String(i + 1),
        String(u),
        fixed(r.q[i]),
        fixed(r.scores[i]),
        fixed(r.ref[i]),
        fixed(r.weights[i]),
      ]);
      for (const line of table(header, rows)) ctx.out(line);
      ctx.out(`entropy H(w) = ${fixed(r.entropy)} nats (uniform: ln ${k} = ${fixed(Math.log(k))})`);
      ctx.out(`ESS = 1/Σw² = ${fixed(r.ess)} of K = ${k}`);
    });
}

function fixed(x: number): string {
  return x.toFixed(6);
}

// Right-aligned columns, two spaces apart.
function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (cells: string[]) => "  " + cells.map((s, c) => s.padStart(widths[c])).join("  ");
  return [line(header), ...rows.map(line)];
}
