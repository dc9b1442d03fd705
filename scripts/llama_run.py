#!/usr/bin/env python3
"""Load GGUF models in llama.cpp (llama-cpp-python) and report, for each: blocks, file size, perplexity on a
text (llama.cpp's protocol: windows of --ctx tokens, the second half of each scored), speed and a short
greedy generation. Used by `make demo` to show that pruned files are valid models for the real client."""
import argparse
import math
import os
import time

import llama_cpp
import numpy as np


def perplexity(model: llama_cpp.Llama, tokens: list[int], ctx: int) -> float:
    nll, count = 0.0, 0
    for start in range(0, len(tokens) - ctx + 1, ctx):
        window = tokens[start:start + ctx]
        model.reset()
        model.eval(window)
        logits = np.asarray(model.scores[:ctx], dtype=np.float64)
        for i in range(ctx // 2, ctx - 1):
            row = logits[i]
            top = row.max()
            nll += top + math.log(np.exp(row - top).sum()) - row[window[i + 1]]
            count += 1
    return math.exp(nll / count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("models", nargs="+")
    parser.add_argument("--text", required=True)
    parser.add_argument("--ctx", type=int, default=256)
    parser.add_argument("--prompt", default="The lighthouse keeper")
    args = parser.parse_args()
    text = open(args.text, encoding="utf-8").read()
    print(f"{'model':<40} {'blocks':>6} {'size MB':>8} {'ppl':>8} {'eval tok/s':>10}  generation")
    for path in args.models:
        model = llama_cpp.Llama(path, n_ctx=args.ctx, n_batch=args.ctx, n_threads=os.cpu_count(), logits_all=True,
                                verbose=False, seed=0)
        tokens = model.tokenize(text.encode("utf-8"), add_bos=True)
        started = time.perf_counter()
        ppl = perplexity(model, tokens, args.ctx)
        speed = (len(tokens) // args.ctx) * args.ctx / (time.perf_counter() - started)
        model.reset()
        sample = model(args.prompt, max_tokens=24, temperature=0.0)["choices"][0]["text"]
        blocks = llama_cpp.llama_model_n_layer(model.model)
        size = os.path.getsize(path) / 1e6
        print(f"{os.path.basename(path):<40} {blocks:>6} {size:>8.1f} {ppl:>8.2f} {speed:>10.0f}  "
              f"{args.prompt!r} ->{sample!r}")


if __name__ == "__main__":
    main()
