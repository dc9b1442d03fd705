#!/usr/bin/env python3
"""Measure GGUF models in llama.cpp (llama-cpp-python): blocks, parameters, file size, perplexity, prompt and
generation speed, KV-cache bytes per token; one row per model, ratios against the first model given.

Run: .venv/bin/python scripts/llama_measure.py MODEL.gguf [MODEL.gguf ...] [--text data/held-out-long.txt]
         [--ctx 256] [--pp 256] [--tg 64] [--repeats 3] [--json]

- perplexity: this repo's llama-perplexity protocol (TestModels/generate_engine_golden.py): tokenize the text
  with BOS when the model adds one, cut it into len // ctx windows of ctx tokens, put BOS first in each window,
  score positions ctx/2 .. ctx-2 predicting the next token. (llama-perplexity itself refuses texts under 2*ctx
  tokens; here one window is enough and a shorter text is reported in the row's note.)
- pp tok/s: one batch of --pp tokens from an emptied cache; tg tok/s: --tg single-token evals, each feeding the
  argmax of the last logits, after an 8-token prompt. Best of --repeats. The machine may be shared: the load
  average is printed, compare ratios rather than absolute speeds.
- KV bytes per token (f16 cache) computed from the GGUF metadata as llama-kv-cache.cpp sizes it. K of layer il
  is n_head_kv(il) * head_k, V is n_head_kv(il) * head_v with flash attention (kv_bytes_per_token_fa); without
  it the V cache is transposed and every layer's V is padded to the widest layer's ([TAG_V_CACHE_VARIABLE]:
  kv_bytes_per_token_nofa). llama-cpp-python defaults to flash_attn=False (LLAMA_FLASH_ATTN_TYPE_DISABLED, not
  llama.cpp's AUTO), so _nofa is what it allocates; the two differ only when n_head_kv varies over layers (deci).
  Head sizes: key_length/value_length, else n_embd / n_head of layer 0 (as llama.cpp; 0 if layer 0 has no heads).
  kv_bytes_per_token_llama is llama.cpp's own "llama_kv_cache: size = X MiB (N cells ...)" log line, X / N
  (N is n_ctx padded to 256); the log rounds X to 0.01 MiB, hence kv_llama_tolerance.
"""
import argparse
import glob
import json
import math
import os
import re
import sys
import tempfile
import time

import gguf
import llama_cpp
import llama_cpp._logger
import numpy as np


def shards(path: str) -> list[str]:
    match = re.match(r"(.*)-\d{5}-of-(\d{5})\.gguf$", path)
    return sorted(glob.glob(f"{match[1]}-?????-of-{match[2]}.gguf")) if match else [path]


def gguf_facts(path: str) -> dict:
    readers = [gguf.GGUFReader(p) for p in shards(path)]
    field = lambda key, default=None: readers[0].fields[key].contents() if key in readers[0].fields else default
    arch = field("general.architecture")
    n_layer = field(f"{arch}.block_count")
    per_layer = lambda v: list(v) if isinstance(v, list) else [v] * n_layer
    n_head = per_layer(field(f"{arch}.attention.head_count", 0))
    n_head_kv = per_layer(field(f"{arch}.attention.head_count_kv", n_head))
    default_head = field(f"{arch}.embedding_length") // n_head[0] if n_head[0] else 0   # llama.cpp uses layer 0
    head_k = field(f"{arch}.attention.key_length", default_head)
    head_v = field(f"{arch}.attention.value_length", default_head)
    k = [h * head_k for h in n_head_kv]
    v = [h * head_v for h in n_head_kv]
    return {"parameters": sum(int(t.n_elements) for r in readers for t in r.tensors),
            "file_bytes": sum(os.path.getsize(p) for p in shards(path)),
            "kv_bytes_per_token_fa": 2 * (sum(k) + sum(v)), "kv_bytes_per_token_nofa": 2 * (sum(k) + max(v) * n_layer)}


def load(path: str, n_ctx: int, n_batch: int) -> tuple[llama_cpp.Llama, float | None, float | None]:
    """Load with fd 2 sent to a temp file; read llama.cpp's KV-cache size lines (two for SWA models) from it:
    bytes per cell, and the error bound of that figure."""
    with tempfile.TemporaryFile(mode="w+") as log:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(log.fileno(), 2)
        try:
            model = llama_cpp.Llama(path, n_ctx=n_ctx, n_batch=n_batch, n_ubatch=n_batch, n_threads=os.cpu_count(),
                                    logits_all=True, seed=0, verbose=True)
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            llama_cpp._logger.set_verbose(False)
        log.seek(0)
        text = log.read()
    sizes = re.findall(r"llama_kv_cache: size = +([\d.]+) MiB \( *(\d+) cells", text)
    if not sizes:
        return model, None, None
    return (model, sum(float(mib) * 2**20 / int(cells) for mib, cells in sizes),
            sum(0.005 * 2**20 / int(cells) for _, cells in sizes))      # the log rounds to 0.01 MiB


def perplexity(model: llama_cpp.Llama, tokens: list[int], ctx: int, add_bos: bool) -> tuple[float, int]:
    nll, count = 0.0, 0
    for chunk in range(len(tokens) // ctx):
        window = tokens[chunk * ctx:(chunk + 1) * ctx]
        if add_bos:
            window = [model.token_bos()] + window[1:]
        model.reset()
        model.eval(window)
        logits = np.asarray(model.scores[:ctx], dtype=np.float64)
        for i in range(ctx // 2, ctx - 1):
            top = logits[i].max()
            nll += top + math.log(np.exp(logits[i] - top).sum()) - logits[i][window[i + 1]]
            count += 1
    return math.exp(nll / count), count


def speeds(model: llama_cpp.Llama, tokens: list[int], pp: int, tg: int, repeats: int) -> tuple[float, float]:
    model._logits_all = False            # logits of the last token only, as llama-bench
    batch = (tokens * (pp // max(len(tokens), 1) + 1))[:pp] if tokens else [model.token_bos()] * pp
    best_pp, best_tg = math.inf, math.inf
    for _ in range(repeats):
        model.reset()
        started = time.perf_counter()
        model.eval(batch)
        best_pp = min(best_pp, time.perf_counter() - started)
        model.reset()
        model.eval(batch[:8])
        started = time.perf_counter()
        for _ in range(tg):
            logits = np.ctypeslib.as_array(model._ctx.get_logits_ith(-1), shape=(model.n_vocab(),))
            model.eval([int(logits.argmax())])
        best_tg = min(best_tg, time.perf_counter() - started)
    model._logits_all = True
    return pp / best_pp, tg / best_tg


def measure(path: str, args: argparse.Namespace, text: str) -> dict:
    row = {"name": os.path.basename(path), **gguf_facts(path), "note": ""}
    model, llama_kv, tolerance = load(path, max(args.ctx, args.pp, 8 + args.tg), max(args.ctx, args.pp))
    row["kv_bytes_per_token_llama"], row["kv_llama_tolerance"] = llama_kv, tolerance
    if llama_kv is None:
        row["note"] += "no llama_kv_cache size line in llama.cpp's log; "
    elif abs(llama_kv - row["kv_bytes_per_token_nofa"]) > tolerance * 1.001:
        row["note"] += f"llama.cpp's KV {llama_kv:.0f}+-{tolerance:.0f} B/token != computed (flash attention off); "
    row["blocks"] = llama_cpp.llama_model_n_layer(model.model)
    add_bos = model._model.add_bos_token()
    tokens = model.tokenize(text.encode("utf-8"), add_bos=add_bos, special=False)
    row["text_tokens"] = len(tokens)
    row["perplexity"], row["scored"] = None, 0
    if len(tokens) < args.ctx:
        row["note"] += f"text gives {len(tokens)} tokens < ctx {args.ctx}: no perplexity"
    else:
        row["perplexity"], row["scored"] = perplexity(model, tokens, args.ctx, add_bos)
    row["pp_tps"], row["tg_tps"] = speeds(model, tokens, args.pp, args.tg, args.repeats)
    model.close()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+")
    parser.add_argument("--text", default="data/held-out-long.txt")
    parser.add_argument("--ctx", type=int, default=256)
    parser.add_argument("--pp", type=int, default=256)
    parser.add_argument("--tg", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of the table")
    args = parser.parse_args()
    text = open(args.text, encoding="utf-8").read()
    load_avg = os.getloadavg()
    print(f"# load average {load_avg[0]:.2f} {load_avg[1]:.2f} {load_avg[2]:.2f}, {os.cpu_count()} threads, "
          f"ctx {args.ctx}, pp {args.pp}, tg {args.tg}, best of {args.repeats}", file=sys.stderr if args.json else sys.stdout)
    if not args.json:
        print(f"{'model':<36} {'blocks':>6} {'params':>11} {'bytes':>11} {'ppl':>9} {'pp tok/s':>9} {'tg tok/s':>9} "
              f"{'kv_fa':>7} {'kv_nofa':>7} {'kv_llama':>9} {'ppl/1st':>8} {'tg/1st':>7}  note", flush=True)
    rows = []
    for path in args.models:
        row = measure(path, args, text)
        row["load_avg"] = load_avg
        first = rows[0] if rows else row
        row["ppl_vs_first"] = row["perplexity"] / first["perplexity"] if row["perplexity"] and first["perplexity"] else None
        row["tg_vs_first"] = row["tg_tps"] / first["tg_tps"]
        rows.append(row)
        if not args.json:
            fmt = lambda v, f: "-".rjust(int(f.split('.')[0])) if v is None else format(v, f)
            print(f"{row['name']:<36} {row['blocks']:>6} {row['parameters']:>11} {row['file_bytes']:>11} "
                  f"{fmt(row['perplexity'], '9.3f')} {row['pp_tps']:>9.0f} {row['tg_tps']:>9.1f} {row['kv_bytes_per_token_fa']:>7} "
                  f"{row['kv_bytes_per_token_nofa']:>7} {fmt(row['kv_bytes_per_token_llama'], '9.1f')} {fmt(row['ppl_vs_first'], '8.3f')} "
                  f"{row['tg_vs_first']:>7.3f}  {row['note']}", flush=True)
    if args.json:
        print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
