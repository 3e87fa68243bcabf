/**
 * Cross-check with the `peft` Python library (only when `python3 -c "import peft, transformers, torch"` works): an
 * adapter maxent writes loads with `PeftModel.from_pretrained` onto the base model loaded by transformers, with no
 * missing or unexpected LoRA keys, and gives maxent's log-probs to 1e-4; its adapter_config.json keys are a subset of
 * `LoraConfig().to_dict()`; and an adapter written by peft's `save_pretrained` loads in maxent and scores the same.
 */
import { pythonCanImport } from "./python.ts";
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { assert, assertClose, assertEquals } from "./assert.ts";
import { MODEL_PRESETS, parseModelConfig } from "../src/model/config.ts";
import { CausalLM, randomWeights } from "../src/model/transformer.ts";
import { LoraAdapters } from "../src/model/lora.ts";

await tf.setBackend("cpu");

const available = await pythonCanImport("peft", "transformers", "torch");
if (!available) {
  console.log(
    "note: skipping the peft cross-check: python3 cannot import peft, transformers and torch " +
      "(pip install torch transformers peft)",
  );
}

const PY = `
import json, sys, torch
from transformers import AutoModelForCausalLM
from peft import PeftModel, LoraConfig, get_peft_model
job = json.loads(sys.stdin.read())
def lp(m, ids):
    with torch.no_grad():
        logits = m(torch.tensor([ids])).logits[0].double()
    l = torch.log_softmax(logits, -1)
    return [l[t, ids[t + 1]].item() for t in range(len(ids) - 1)]
base = AutoModelForCausalLM.from_pretrained(job["base"], dtype=torch.float32, attn_implementation="eager")
base.eval()
pm = PeftModel.from_pretrained(base, job["adapter"])
pm.eval()
res = pm.load_adapter(job["adapter"], adapter_name="check")
lora_missing = [k for k in res.missing_keys if "lora_" in k and ".check." in k]
out = {"ours": lp(pm, job["ids"]), "unexpected": list(res.unexpected_keys), "missing": lora_missing,
       "known_keys": sorted(LoraConfig().to_dict().keys()), "r": pm.peft_config["default"].r}
with pm.disable_adapter():
    out["base"] = lp(pm, job["ids"])
# an adapter written by peft itself, B non-zero
base2 = AutoModelForCausalLM.from_pretrained(job["base"], dtype=torch.float32, attn_implementation="eager")
cfg = LoraConfig(r=2, lora_alpha=6, lora_dropout=0.0, target_modules=["q_proj", "v_proj", "down_proj"],
                 task_type="CAUSAL_LM")
p2 = get_peft_model(base2, cfg)
torch.manual_seed(0)
with torch.no_grad():
    for n, p in p2.named_parameters():
        if "lora_B" in n:
            p.normal_(0, 0.2)
p2.eval()
p2.save_pretrained(job["peft_out"])
out["theirs"] = lp(p2, job["ids"])
print(json.dumps(out))
`;

Deno.test({
  name: "peft loads maxent's adapter (same log-probs) and maxent loads peft's adapter (same log-probs)",
  ignore: !available,
  fn: async () => {
    const root = await Deno.makeTempDir({ prefix: "maxent-peft-" });
    try {
      const config = parseModelConfig(MODEL_PRESETS.tiny(), "tiny");
      const model = CausalLM.fromTensors(config, randomWeights(config, 21), { trainable: false });
      const baseDir = join(root, "base");
      await model.save(baseDir);
      const ad = LoraAdapters.create(model, {
        r: 4,
        alpha: 8,
        dropout: 0.05,
        targetModules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        baseModel: baseDir,
      }, 1).attach(model);
      let s = 7;
      for (const v of ad.b.values()) {
        const d = Float32Array.from(
          { length: v.size },
          () => ((s = (s * 48271) % 2147483647) / 2147483647 - 0.5) * 0.4,
        );
        tf.tidy(() => v.assign(tf.tensor(d, v.shape)));
      }
      const adapterDir = join(root, "adapter");
      await ad.save(adapterDir);
      const ids = [1, 17, 33, 5, 250, 9, 64, 2];
      const p = new Deno.Command("python3", { args: ["-c", PY], stdin: "piped", stdout: "piped", stderr: "piped" })
        .spawn();
      const w = p.stdin.getWriter();
      await w.write(
        new TextEncoder().encode(
          JSON.stringify({ base: baseDir, adapter: adapterDir, ids, peft_out: join(root, "from_peft") }),
        ),
      );
      await w.close();
      const r = await p.output();
      if (!r.success) throw new Error(`python failed: ${new TextDecoder().decode(r.stderr).slice(-3000)}`);
      const out = JSON.parse(new TextDecoder().decode(r.stdout).trim().split("\n").pop()!);
      assertEquals(out.unexpected, []);
      assertEquals(out.missing, []);
      assertEquals(out.r, 4);
      const cfg = JSON.parse(await Deno.readTextFile(join(adapterDir, "adapter_config.json")));
      const unknown = Object.keys(cfg).filter((k) => !out.known_keys.includes(k));
      assertEquals(unknown, [], "adapter_config.json keys LoraConfig does not know");

      const score = (m: CausalLM) =>
        tf.tidy(() => {
          const x = tf.tensor2d([ids], undefined, "int32");
          return Array.from(m.tokenLogProbs(x, tf.onesLike(x) as tf.Tensor2D).dataSync());
        });
      const mine = score(model);
      for (let i = 0; i < mine.length; i++) assertClose(mine[i], out.ours[i], 1e-4);
      ad.enabled = false;
      const mineBase = score(model);
      for (let i = 0; i < mine.length; i++) assertClose(mineBase[i], out.base[i], 1e-4);
      assert(mine.some((x, i) => Math.abs(x - mineBase[i]) > 1e-3), "the adapter changes the model");
      ad.dispose();

      // the adapter peft wrote (q, v, down only; α/r = 3) loads and scores as peft scored it
      const theirs = await LoraAdapters.load(join(root, "from_peft"), model);
      theirs.attach(model);
      assertEquals(theirs.a.size, 3 * config.numHiddenLayers);
      const got = score(model);
      for (let i = 0; i < got.length; i++) assertClose(got[i], out.theirs[i], 1e-4);
      theirs.dispose();
      model.dispose();
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
