#!/usr/bin/env python3
"""Load GGUF models in llama.cpp (llama-cpp-python) and report, for each: blocks, file size, perplexity on a
text (llama.cpp's protocol: windows of --ctx tokens, the second half of each scored), prompt-processing and
generation speed as llama-bench measures them (pp512, tg128) and a short greedy generation. Used by `make demo` to show that pruned files are valid models for the real client."""
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


def speed(model: llama_cpp.Llama, tokens: list[int], prompt: int = 512, generated: int = 128) -> tuple[float, float]:
    """llama-bench's pp512 and tg128 through llama-cpp-python: one prompt of 512 tokens decoded in one batch,
    then 128 tokens generated greedily one at a time; tokens per second of each (after a short warm-up)."""
    prompt_tokens = (tokens * (prompt // max(len(tokens), 1) + 1))[:prompt]
    model.reset()
    model.eval(prompt_tokens[:16])                      # warm-up
    model.reset()
    started = time.perf_counter()
    model.eval(prompt_tokens)
    pp = prompt / (time.perf_counter() - started)
    model.reset()
    model.eval(prompt_tokens[:1])
    started = time.perf_counter()
    for _ in range(generated):
        token = int(np.argmax(model.scores[model.n_tokens - 1]))
        model.eval([token])
    tg = generated / (time.perf_counter() - started)
    return pp, tg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("models", nargs="+")
    parser.add_argument("--text", required=True)
    parser.add_argument("--ctx", type=int, default=256)
    parser.add_argument("--prompt", default="The lighthouse keeper")
    args = parser.parse_args()
    text = open(args.text, encoding="utf-8").read()
    threads = os.cpu_count()
    print(f"llama.cpp through llama-cpp-python {llama_cpp.__version__}, {threads} threads")
    print(f"{'model':<40} {'blocks':>6} {'size MB':>8} {'ppl':>8} {'pp512 t/s':>10} {'tg128 t/s':>10}  generation")
    for path in args.models:
        model = llama_cpp.Llama(path, n_ctx=max(args.ctx, 640), n_batch=512, n_ubatch=512, n_threads=threads,
                                logits_all=True, verbose=False, seed=0)
        tokens = model.tokenize(text.encode("utf-8"), add_bos=True)
        ppl = perplexity(model, tokens, args.ctx)
        # llama-bench computes only the last token's logits; a model with logits_all would compute 512 rows.
        timed = llama_cpp.Llama(path, n_ctx=640, n_batch=512, n_ubatch=512, n_threads=threads, verbose=False, seed=0)
        pp, tg = speed(timed, tokens)
        del timed
        model.reset()
        sample = model(args.prompt, max_tokens=24, temperature=0.0)["choices"][0]["text"]
        blocks = llama_cpp.llama_model_n_layer(model.model)
        size = os.path.getsize(path) / 1e6
        print(f"{os.path.basename(path):<40} {blocks:>6} {size:>8.1f} {ppl:>8.2f} {pp:>10.0f} {tg:>10.1f}  "
              f"{args.prompt!r} ->{sample!r}")


if __name__ == "__main__":
    main()
