"""PyTorch + transformers reference for bench/model.ts: the same bench config (Qwen2, 4 layers, hidden 256, 4 heads,
2 KV heads, intermediate 1024, vocab 151,936 tied) at batch 8 x 128, token log-probs forward and forward+backward.

Usage: python3 bench/torch_model.py [threads]   (needs torch and transformers; prints tok/s lines)
"""
import sys
import time

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

threads = int(sys.argv[1]) if len(sys.argv) > 1 else torch.get_num_threads()
torch.set_num_threads(threads)
torch.manual_seed(0)
cfg = Qwen2Config(vocab_size=151936, hidden_size=256, intermediate_size=1024, num_hidden_layers=4,
                  num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True, rope_theta=1e6)
model = Qwen2ForCausalLM(cfg).float()
B, T = 8, 128
ids = torch.tensor([[(b * 7919 + t * 104729) % 151936 for t in range(T)] for b in range(B)])


def logprobs():
    logits = model(ids).logits[:, :-1]
    return torch.log_softmax(logits.float(), -1).gather(-1, ids[:, 1:, None]).squeeze(-1)


def timed(fn, n=3):
    fn()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


with torch.no_grad():
    fwd = timed(logprobs)


def fwd_bwd():
    model.zero_grad()
    logprobs().sum().backward()


fb = timed(fwd_bwd)
print(f"torch {torch.__version__} ({threads} threads): forward {B * T / fwd:.1f} tok/s ({fwd * 1000:.0f} ms/batch), "
      f"forward+backward {B * T / fb:.1f} tok/s ({fb * 1000:.0f} ms/batch)")
