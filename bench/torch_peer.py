"""The PyTorch eager peer of maxent's bench model, for the maxent/PyTorch ratios of `bench/peer.ts` (issue 8).

The same Qwen2 config as `maxent init --preset bench` (4 layers, hidden 256, 4 heads, 2 KV heads, head dim 64,
intermediate 1024, vocab 151,936 tied, RMSNorm eps 1e-6, RoPE theta 1e6, q/k/v biases, SwiGLU), written directly in
torch (no transformers), float32 on CPU, or on a GPU with `"device": "cuda"` (then every phase ends with
torch.cuda.synchronize(), and it also reports float32 sgemm GFLOP/s at 2048² with TF32 off and the peak of allocated
GPU memory). Measures, with the sizes given on the command line:

- fwdbwd: sum of log p(target) over a [batch, seq] batch, forward + backward (what `bench/model.ts` times in maxent);
- sampling: K candidates of one prompt with a preallocated KV cache (prefill once, cache repeated K times), temperature
  1, top-p 0.9 as transformers' TopPLogitsWarper does it (sort, cumulative softmax), `torch.multinomial`;
- grpo: one MaxEnt-GRPO step: sampling K candidates for each of P prompts (one batch), a frozen reference's log-probs,
  the policy's fwd+bwd of the weighted token NLL (one group of K per micro-batch), clipping and AdamW;
- wall seconds (perf_counter) and CPU seconds of all threads (process_time) per phase; peak RSS (ru_maxrss).

Usage: python3 bench/torch_peer.py '{"threads": 2, "batch": 8, "seq": 128, "k": 8, "prompt": 64, "new": 128,
                                     "grpo": [2, 8, 64, 128], "micro": 8, "reps": 2}'
Prints one JSON object on the last line of stdout. Never a product dependency.
"""
import json
import math
import resource
import sys
import time

import torch
import torch.nn.functional as F

CONFIG = dict(layers=4, hidden=256, heads=4, kv_heads=2, inter=1024, vocab=151936, eps=1e-6, theta=1e6)


class Model:
    """Qwen2 decoder with tied embeddings; parameters in a dict, linear weights stored [in, out]."""

    def __init__(self, c, seed=0, device="cpu"):
        g = torch.Generator().manual_seed(seed)
        self.c = c
        self.device = device
        h, i, v = c["hidden"], c["inter"], c["vocab"]
        self.d = h // c["heads"]
        q, kv = c["heads"] * self.d, c["kv_heads"] * self.d

        def lin(n_in, n_out):
            return torch.nn.Parameter(torch.randn(n_in, n_out, generator=g) * 0.02)

        def vec(n, val):
            return torch.nn.Parameter(torch.full((n,), float(val)))

        self.p = {"embed": torch.nn.Parameter(torch.randn(v, h, generator=g) * 0.02), "norm": vec(h, 1)}
        for layer in range(c["layers"]):
            for name, t in {
                "ln1": vec(h, 1), "ln2": vec(h, 1),
                "wq": lin(h, q), "bq": vec(q, 0), "wk": lin(h, kv), "bk": vec(kv, 0), "wv": lin(h, kv), "bv": vec(kv, 0),
                "wo": lin(q, h), "wg": lin(h, i), "wu": lin(h, i), "wd": lin(i, h),
            }.items():
                self.p[f"{layer}.{name}"] = t
        self.inv_freq = 1.0 / (c["theta"] ** (torch.arange(0, self.d, 2, dtype=torch.float64) / self.d))
        if device != "cpu":  # same initial values as on CPU, then moved
            self.p = {k: torch.nn.Parameter(v.detach().to(device)) for k, v in self.p.items()}

    def parameters(self):
        return list(self.p.values())

    def frozen_copy(self):
        other = Model.__new__(Model)
        other.c, other.d, other.inv_freq, other.device = self.c, self.d, self.inv_freq, self.device
        other.p = {k: v.detach().clone() for k, v in self.p.items()}
        return other

    def rope(self, positions):
        # cos/sin tables [T, d]: angle = position * inv_freq, halves repeated (rotate_half convention)
        ang = positions.to(torch.float64)[:, None] * self.inv_freq[None, :]
        ang = torch.cat([ang, ang], -1)
        return ang.cos().float().to(self.device), ang.sin().float().to(self.device)

    @staticmethod
    def rms_norm(x, w, eps):
        # x * w / sqrt(mean(x^2) + eps)
        return x * torch.rsqrt(x.square().mean(-1, keepdim=True) + eps) * w

    @staticmethod
    def apply_rope(x, cos, sin):
        half = x.shape[-1] // 2
        rot = torch.cat([-x[..., half:], x[..., :half]], -1)
        return x * cos + rot * sin

    def hidden(self, ids, start=0, cache=None):
        """Final-normed hidden states [B, T, H] of ids [B, T] at positions start..start+T-1; fills `cache` if given."""
        c, p = self.c, self.p
        B, T = ids.shape
        nh, nkv, d = c["heads"], c["kv_heads"], self.d
        g = nh // nkv
        cos, sin = self.rope(torch.arange(start, start + T))
        x = F.embedding(ids, p["embed"])
        S = start + T
        # causal bias over the S keys for queries start..S-1: -1e9 where key s > query index
        bias = torch.full((T, S), -1e9, device=self.device).triu(start + 1)
        for layer in range(c["layers"]):
            def w(n):
                return p[f"{layer}.{n}"]
            h = self.rms_norm(x, w("ln1"), c["eps"])
            q = (h @ w("wq") + w("bq")).view(B, T, nh, d).transpose(1, 2)
            k = (h @ w("wk") + w("bk")).view(B, T, nkv, d).transpose(1, 2)
            v = (h @ w("wv") + w("bv")).view(B, T, nkv, d).transpose(1, 2)
            q, k = self.apply_rope(q, cos, sin), self.apply_rope(k, cos, sin)
            if cache is not None:
                ck, cv = cache[layer]
                ck[:, :, start:S] = k
                cv[:, :, start:S] = v
                k, v = ck[:, :, :S], cv[:, :, :S]
            # grouped-query attention: query head j = kv*g + r; softmax(q k^T / sqrt(d) + bias) v
            qg = q.reshape(B, nkv, g * T, d) / math.sqrt(d)
            scores = (qg @ k.transpose(-1, -2)).view(B, nh, T, S) + bias
            probs = scores.softmax(-1).view(B, nkv, g * T, S)
            ctx = (probs @ v).view(B, nh, T, d).transpose(1, 2).reshape(B, T, nh * d)
            x = x + ctx @ w("wo")
            h2 = self.rms_norm(x, w("ln2"), c["eps"])
            x = x + (F.silu(h2 @ w("wg")) * (h2 @ w("wu"))) @ w("wd")
        return self.rms_norm(x, p["norm"], c["eps"])

    def token_logprobs(self, ids):
        """log p(ids[:, t] | ids[:, <t]) for t >= 1: [B, T-1] (full logits, as an eager torch user writes it)."""
        h = self.hidden(ids)[:, :-1]
        logits = h @ self.p["embed"].t()
        return torch.log_softmax(logits, -1).gather(-1, ids[:, 1:, None]).squeeze(-1)

    def new_cache(self, B, S):
        c = self.c
        return [(torch.zeros(B, c["kv_heads"], S, self.d, device=self.device),
                 torch.zeros(B, c["kv_heads"], S, self.d, device=self.device))
                for _ in range(c["layers"])]


def top_p_sample(logits, top_p, gen):
    """transformers' TopPLogitsWarper (sort ascending, drop the tail whose mass <= 1 - top_p) + multinomial."""
    sorted_logits, sorted_idx = torch.sort(logits, descending=False)
    cum = sorted_logits.softmax(-1).cumsum(-1)
    remove = cum <= (1 - top_p)
    remove[..., -1:] = False
    mask = remove.scatter(1, sorted_idx, remove)
    logits = logits.masked_fill(mask, -float("inf"))
    probs = logits.softmax(-1)
    tok = torch.multinomial(probs, 1, generator=gen).squeeze(1)
    return tok, torch.log(probs.gather(1, tok[:, None]).squeeze(1))


@torch.no_grad()
def sample(model, prompts, k, new, gen, top_p=0.9):
    """K candidates for each prompt (all rows in one batch): prefill once per prompt, cache repeated K times."""
    P, T0 = prompts.shape
    B = P * k
    cache = model.new_cache(P, T0 + new)
    h = model.hidden(prompts, 0, cache)
    logits = h[:, -1] @ model.p["embed"].t()
    cache = [(ck.repeat_interleave(k, 0), cv.repeat_interleave(k, 0)) for ck, cv in cache]
    logits = logits.repeat_interleave(k, 0)
    out = torch.empty(B, new, dtype=torch.long, device=prompts.device)
    for t in range(new):
        tok, _ = top_p_sample(logits, top_p, gen)
        out[:, t] = tok
        if t + 1 < new:
            h = model.hidden(tok[:, None], T0 + t, cache)
            logits = h[:, -1] @ model.p["embed"].t()
    return out


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2


def main():
    a = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    threads = int(a.get("threads", 0))
    if threads > 0:
        torch.set_num_threads(threads)
    batch, seq = a.get("batch", 8), a.get("seq", 128)
    k, prompt_len, new = a.get("k", 8), a.get("prompt", 64), a.get("new", 128)
    grpo = a.get("grpo", [2, 8, 64, 128])
    micro = a.get("micro", 8)
    reps = a.get("reps", 2)
    which = a.get("phases", ["fwdbwd", "sampling", "grpo"])
    device = a.get("device", "cpu")
    cuda = device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        raise SystemExit(f"device {device}: torch {torch.__version__} sees no CUDA GPU")

    def sync():
        if cuda:
            torch.cuda.synchronize()

    c = CONFIG
    model = Model(c, 0, device)
    gen = torch.Generator(device=device).manual_seed(1)
    result = {"torch": torch.__version__, "threads": torch.get_num_threads(),
              "params": sum(t.numel() for t in model.parameters())}
    if cuda:
        result["threads"] = torch.cuda.get_device_name(device)
        torch.backends.cuda.matmul.allow_tf32 = False  # float32 like maxent's WebGPU kernels
        x, y = torch.randn(2048, 2048, device=device), torch.randn(2048, 2048, device=device)
        best = math.inf
        for i in range(6):
            sync()
            t0 = time.perf_counter()
            x @ y
            sync()
            if i > 0:
                best = min(best, time.perf_counter() - t0)
        result["sgemm_gflops"] = 2 * 2048 ** 3 / best / 1e9
        del x, y

    if "fwdbwd" in which:
        ids = torch.tensor([[(b * 7919 + t * 104729) % c["vocab"] for t in range(seq)] for b in range(batch)],
                           device=device)
        times, cpu = [], []
        for _ in range(reps + 1):
            t0, c0 = time.perf_counter(), time.process_time()
            loss = model.token_logprobs(ids).sum()
            grads = torch.autograd.grad(loss, model.parameters())
            sync()
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            del loss, grads
        result["fwdbwd_s"], result["fwdbwd_cpu_s"] = median(times[1:]), median(cpu[1:])

    if "sampling" in which:
        pr = torch.tensor([[(t * 104729) % c["vocab"] for t in range(prompt_len)]], device=device)
        sample(model, pr, 1, 4, gen)  # warm-up
        times, cpu = [], []
        for _ in range(reps):
            t0, c0 = time.perf_counter(), time.process_time()
            sample(model, pr, k, new, gen)
            sync()
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        result["sampling_s"], result["sampling_cpu_s"] = median(times), median(cpu)

    if "grpo" in which:
        P, K, T0, N = grpo
        ref = model.frozen_copy()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-5, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
        prompts = torch.tensor([[(p * 7919 + t * 104729) % c["vocab"] for t in range(T0)] for p in range(P)],
                               device=device)
        c0 = time.process_time()
        t0 = time.perf_counter()
        comp = sample(model, prompts, K, N, gen)
        sync()
        t1 = time.perf_counter()
        ids = torch.cat([prompts.repeat_interleave(K, 0), comp], 1)
        # a cheap reward (token-sum parity) and MaxEnt weights per group: softmax((u + tau*ref/len) / tau)
        rewards = (comp.sum(1) % 2 == 0).float().view(P, K)
        tau = 0.2
        with torch.no_grad():
            ref_lp = torch.cat([ref.token_logprobs(ids[i:i + micro]) for i in range(0, P * K, micro)])
        sync()
        t2 = time.perf_counter()
        seq_ref = ref_lp[:, T0 - 1:].sum(1).view(P, K) / N
        weights = torch.softmax((rewards + tau * seq_ref) / tau, 1).view(-1)
        opt.zero_grad()
        for i in range(0, P * K, micro):
            lp = model.token_logprobs(ids[i:i + micro])[:, T0 - 1:]
            # weighted token NLL: -sum_i w_i * mean_t log pi(y_t) / P
            loss = -(weights[i:i + micro] * lp.mean(1)).sum() / P
            loss.backward()
        sync()
        t3 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sync()
        t4 = time.perf_counter()
        result["grpo_cpu_s"] = time.process_time() - c0
        result["grpo"] = {"sampling_s": t1 - t0, "reference_s": t2 - t1, "policy_s": t3 - t2, "optimizer_s": t4 - t3,
                          "total_s": t4 - t0}
    result["peak_rss_mb"] = peak_rss_mb()
    if cuda:
        result["gpu_peak_mb"] = torch.cuda.max_memory_allocated(device) / 2 ** 20
    print(json.dumps(result))


if __name__ == "__main__":
    main()
