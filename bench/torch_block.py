"""The benchmark transformer block of bench/block.ts in PyTorch eager (CPU), for the maxent/PyTorch ratio.

Usage: /usr/bin/python3 bench/torch_block.py [hidden ff heads seq batch steps threads]
Prints one JSON line: {"ms_per_step": ..., "flops": ..., "threads": ..., "torch": ...}.
"""
import json
import math
import sys
import time

import torch


def main():
    a = [int(v) for v in sys.argv[1:]]
    h, ff, heads, seq, batch, steps, threads = (a + [256, 1024, 4, 128, 8, 5, 0][len(a):])[:7]
    if threads > 0:
        torch.set_num_threads(threads)
    torch.manual_seed(1)
    hd = h // heads

    def init(*shape):
        return torch.nn.Parameter(torch.randn(*shape) / math.sqrt(shape[0]))

    w = {
        "norm1": torch.nn.Parameter(torch.ones(h)), "norm2": torch.nn.Parameter(torch.ones(h)),
        "wq": init(h, h), "bq": torch.nn.Parameter(torch.zeros(h)),
        "wk": init(h, h), "bk": torch.nn.Parameter(torch.zeros(h)),
        "wv": init(h, h), "bv": torch.nn.Parameter(torch.zeros(h)),
        "wo": init(h, h), "wg": init(h, ff), "wu": init(h, ff), "wd": init(ff, h),
    }
    x = torch.randn(batch * seq, h)
    mask = torch.triu(torch.ones(seq, seq), diagonal=1) * -1e9
    opt = torch.optim.Adam(list(w.values()), lr=1e-3)

    def rms_norm(t, g):
        # RMSNorm(x) = x / sqrt(mean(x²) + ε) · w
        return t * torch.rsqrt(t.square().mean(-1, keepdim=True) + 1e-6) * g

    def heads4(t):
        return t.reshape(batch, seq, heads, hd).transpose(1, 2)

    def step():
        n1 = rms_norm(x, w["norm1"])
        q = heads4(n1 @ w["wq"] + w["bq"])
        k = heads4(n1 @ w["wk"] + w["bk"])
        v = heads4(n1 @ w["wv"] + w["bv"])
        scores = q @ k.transpose(-1, -2) * (1 / math.sqrt(hd)) + mask
        att = (torch.softmax(scores, -1) @ v).transpose(1, 2).reshape(batch * seq, h)
        h1 = x + att @ w["wo"]
        n2 = rms_norm(h1, w["norm2"])
        g = n2 @ w["wg"]
        out = h1 + (g * torch.sigmoid(g) * (n2 @ w["wu"])) @ w["wd"]
        loss = out.square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    step()
    step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    ms = (time.perf_counter() - t0) / steps * 1000
    fwd = 2 * batch * seq * (4 * h * h + 3 * h * ff) + 4 * batch * heads * seq * seq * hd
    print(json.dumps({"ms_per_step": ms, "flops": 3 * fwd, "threads": torch.get_num_threads(), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
