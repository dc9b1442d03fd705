#!/usr/bin/env python3
"""Engine benchmark: prompt-processing throughput of modelsurgery's CPU engine on SmolLM2 beside llama.cpp,
PyTorch CPU float32 and onnxruntime CPU, and its achieved GFLOP/s beside OpenBLAS's own sgemm peak.

Reproduce (from the repository root):

    swift build -c release --scratch-path .build-bench
    .venv/bin/pip install torch onnxruntime onnx          # llama-cpp-python and gguf come with `make demo`
    MODELSURGERY=.build-bench/release/modelsurgery .venv/bin/python scripts/bench_engine.py
    # options: --model PATH --threads 2 --repeats 3 --skip-onnx --keep-onnx DIR

What is timed, for every engine on the same token windows (the text of data/held-out.txt repeated until it
holds 32×256 tokens, tokenized by llama.cpp, which our tokenizer matches id for id; no BOS, as SmolLM2's GGUF
says add_bos_token = false):

- every engine does the same work: the blocks on every token of every window, then the final norm and the
  output head only on the scored rows (positions ctx/2 … ctx−2 of each window, llama-perplexity's protocol),
  and each engine's perplexity is printed to show that it computed the same thing;
- ours: `modelsurgery eval MODEL --text T --ctx N --chunks K --json`, wall time of the process, minus the
  wall time of `modelsurgery inspect MODEL` (process start, mmap, GGUF parse). What remains includes
  tokenizing the text (~11,600 tokens), dequantizing each block's weights and the head (the engine streams
  blocks and dequantizes on the fly), the forward and the log-sum-exp. A second figure, "marginal", is
  (t(K windows) − t(1 window)) / ((K − 1) · N): the cost of a token once the fixed costs are paid;
- llama.cpp (llama-cpp-python): the GGUF as is (Q4_1 blocks, Q8_0 tied embeddings; its own quantized
  kernels, not the dequantized weights), one window per llama_decode with n_ctx = n_batch = n_ubatch = N,
  the KV cache cleared between windows, logits requested only for the scored rows (per-token batch flags,
  as llama-perplexity does); the time of the llama_decode calls;
- PyTorch: a plain llama forward in float32 written here from the GGUF's weights dequantized by gguf-py
  (rope in llama.cpp's "norm" mode, adjacent pairs, on the GGUF's permuted Q/K; SDPA with is_causal); the
  whole [K, N] batch in one call, under torch.inference_mode, returning the NLL of the scored rows;
- onnxruntime: the same torch module exported to ONNX (dynamic batch and sequence), run with
  intra_op_num_threads = threads, ORT_ENABLE_ALL graph optimizations.

Every engine runs with the same thread count (default: all cores; ours through `--threads`), and then each
once more with one thread on the first shape, for the thread scaling table. Best of --repeats runs after one warm-up.
GFLOP/s counts the useful FLOPs: 2 · (block matmul parameters) per token, causal attention
2 · L² · d per layer and sequence (QKᵀ and PV over the lower triangle), and 2 · d · vocab per scored row.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHAPES = [(8, 128), (32, 256)]


# ---------------------------------------------------------------------------------------------- the model
def load_weights(path):
    import gguf
    from gguf.quants import dequantize

    reader = gguf.GGUFReader(path)
    fields = {k: f.contents() for k, f in reader.fields.items() if k.startswith("llama.")}
    tensors = {}
    for t in reader.tensors:
        values = dequantize(t.data, t.tensor_type)
        shape = [int(x) for x in reversed(t.shape.tolist())]  # numpy order: rows = ne[1]
        tensors[t.name] = np.ascontiguousarray(values.reshape(shape), dtype=np.float32)
    return fields, tensors


def build_torch_model(fields, tensors):
    import torch
    import torch.nn.functional as F

    blocks = int(fields["llama.block_count"])
    heads = int(fields["llama.attention.head_count"])
    kv_heads = int(fields["llama.attention.head_count_kv"])
    eps = float(fields["llama.attention.layer_norm_rms_epsilon"])
    base = float(fields["llama.rope.freq_base"])
    width = int(fields["llama.embedding_length"])
    head_size = width // heads

    def p(name):
        return torch.nn.Parameter(torch.from_numpy(tensors[name]), requires_grad=False)

    class Llama(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = p("token_embd.weight")
            self.head = self.embed if "output.weight" not in tensors else p("output.weight")
            self.norm = p("output_norm.weight")
            self.layers = torch.nn.ModuleList()
            for i in range(blocks):
                layer = torch.nn.Module()
                for short, name in [("attn_norm", "attn_norm"), ("wq", "attn_q"), ("wk", "attn_k"), ("wv", "attn_v"),
                                    ("wo", "attn_output"), ("ffn_norm", "ffn_norm"), ("w_gate", "ffn_gate"),
                                    ("w_up", "ffn_up"), ("w_down", "ffn_down")]:
                    setattr(layer, short, p(f"blk.{i}.{name}.weight"))
                self.layers.append(layer)
            self.register_buffer("inv_freq", base ** (-torch.arange(0, head_size, 2, dtype=torch.float32) / head_size),
                                 persistent=False)

        @staticmethod
        def rms(x, w):
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w

        def rope(self, x, cos, sin):
            # x: [B, H, L, D]; llama.cpp "norm" mode rotates adjacent pairs (x[2i], x[2i+1]).
            even, odd = x[..., 0::2], x[..., 1::2]
            return torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1).flatten(-2)

        def forward(self, tokens):
            batch, length = tokens.shape
            x = F.embedding(tokens, self.embed)
            positions = torch.arange(length, dtype=torch.float32)
            angles = positions[:, None] * self.inv_freq[None, :]
            cos, sin = angles.cos(), angles.sin()
            for layer in self.layers:
                h = self.rms(x, layer.attn_norm)
                q = (h @ layer.wq.t()).view(batch, length, heads, head_size).transpose(1, 2)
                k = (h @ layer.wk.t()).view(batch, length, kv_heads, head_size).transpose(1, 2)
                v = (h @ layer.wv.t()).view(batch, length, kv_heads, head_size).transpose(1, 2)
                q, k = self.rope(q, cos, sin), self.rope(k, cos, sin)
                k = k.repeat_interleave(heads // kv_heads, dim=1)
                v = v.repeat_interleave(heads // kv_heads, dim=1)
                a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
                x = x + a.transpose(1, 2).reshape(batch, length, width) @ layer.wo.t()
                h = self.rms(x, layer.ffn_norm)
                x = x + (F.silu(h @ layer.w_gate.t()) * (h @ layer.w_up.t())) @ layer.w_down.t()
            # Head on the scored rows only: positions length/2 .. length-2 predict length/2+1 .. length-1.
            start = length // 2
            scored = self.rms(x[:, start:length - 1], self.norm)
            logits = scored @ self.head.t()
            targets = tokens[:, start + 1:]
            return torch.logsumexp(logits, -1) - logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1)

    return Llama().eval()


def flops(fields, tensors, windows, ctx):
    blocks = int(fields["llama.block_count"])
    width = int(fields["llama.embedding_length"])
    per_token = sum(v.size for k, v in tensors.items() if k.startswith("blk.") and v.ndim == 2)
    vocab = tensors["token_embd.weight"].shape[0]
    tokens = windows * ctx
    matmul = 2 * per_token * tokens
    attention = 2 * ctx * ctx * width * blocks * windows
    head = 2 * width * vocab * windows * (ctx - 1 - ctx // 2)
    return matmul + attention + head


# ---------------------------------------------------------------------------------------------- engines
def best_of(repeats, run):
    run()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return min(times), result


def ours(binary, model, text, windows, ctx, threads, repeats):
    def wall(args):
        started = time.perf_counter()
        out = subprocess.run([binary] + args, check=True, capture_output=True, text=True).stdout
        return time.perf_counter() - started, out

    load = min(wall(["inspect", model])[0] for _ in range(repeats + 1))
    eval_args = ["eval", model, "--text", text, "--ctx", str(ctx), "--threads", str(threads), "--json"]
    wall(eval_args + ["--chunks", str(windows)])  # warm the page cache
    full = [wall(eval_args + ["--chunks", str(windows)]) for _ in range(repeats)]
    one = [wall(eval_args + ["--chunks", "1"]) for _ in range(repeats)]
    t_full, out = min(full, key=lambda r: r[0])
    t_one = min(r[0] for r in one)
    result = json.loads(out)["perplexity"]
    assert result["windows"] == windows, result
    return {"seconds": t_full - load, "marginal": (t_full - t_one) / ((windows - 1) * ctx), "load": load,
            "one": t_one, "ppl": result["perplexity"]}


def llama_cpp_run(model, batches, ctx, threads, repeats):
    import llama_cpp

    llm = llama_cpp.Llama(model, n_ctx=ctx, n_batch=ctx, n_ubatch=ctx, n_threads=threads, n_threads_batch=threads,
                          logits_all=False, verbose=False)
    ctx_ptr = llm._ctx.ctx
    vocab = llama_cpp.llama_n_vocab(llama_cpp.llama_model_get_vocab(llm.model))
    batch = llama_cpp.llama_batch_init(ctx, 0, 1)
    start = ctx // 2
    nll_rows = []

    def run(collect=False):
        elapsed = 0.0
        for window in batches:
            llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx_ptr), True)
            batch.n_tokens = ctx
            for i, token in enumerate(window):
                batch.token[i] = int(token)
                batch.pos[i] = i
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = 0
                batch.logits[i] = 1 if start <= i < ctx - 1 else 0
            t0 = time.perf_counter()
            if llama_cpp.llama_decode(ctx_ptr, batch) != 0:
                raise RuntimeError("llama_decode failed")
            elapsed += time.perf_counter() - t0
            if collect:
                for j, i in enumerate(range(start, ctx - 1)):
                    row = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx_ptr, i), shape=(vocab,))
                    row = row.astype(np.float64)
                    top = row.max()
                    nll_rows.append(top + math.log(np.exp(row - top).sum()) - row[window[i + 1]])
        return elapsed

    run(collect=True)
    seconds = min(run() for _ in range(repeats))
    llama_cpp.llama_batch_free(batch)
    return {"seconds": seconds, "ppl": math.exp(float(np.mean(nll_rows)))}


def torch_run(module, tokens, threads, repeats):
    import torch

    torch.set_num_threads(threads)
    x = torch.from_numpy(tokens.astype(np.int64))
    with torch.inference_mode():
        seconds, nll = best_of(repeats, lambda: module(x))
    return {"seconds": seconds, "ppl": math.exp(float(nll.double().mean()))}


def export_onnx(module, path):
    import torch

    example = torch.zeros((2, 16), dtype=torch.int64)
    with torch.no_grad():
        torch.onnx.export(module, (example,), path, input_names=["tokens"], output_names=["nll"], opset_version=18,
                          dynamic_axes={"tokens": {0: "batch", 1: "length"}, "nll": {0: "batch", 1: "scored"}},
                          dynamo=False)


def onnx_run(path, tokens, threads, repeats):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    feed = {"tokens": tokens.astype(np.int64)}
    seconds, (nll,) = best_of(repeats, lambda: session.run(None, feed))
    return {"seconds": seconds, "ppl": math.exp(float(nll.astype(np.float64).mean()))}


def sgemm_peak(threads):
    source = os.path.join(ROOT, "scripts", "bench_sgemm.c")
    binary = os.path.join(tempfile.gettempdir(), "modelsurgery_bench_sgemm")
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "openblas"], check=True, capture_output=True,
                           text=True).stdout.split()
    subprocess.run(["cc", "-O2", source, *flags, "-o", binary], check=True)
    rows = []
    for n_threads in sorted({1, threads}):
        for m, n, k in [(1024, 1536, 576), (2048, 2048, 2048)]:
            env = dict(os.environ, OPENBLAS_NUM_THREADS=str(n_threads))
            out = subprocess.run([binary, str(m), str(n), str(k)], check=True, capture_output=True, text=True,
                                 env=env).stdout.splitlines()
            gflops = float(out[0].split()[-1])
            rows.append((f"{m}×{n}×{k}", n_threads, gflops, out[1].lstrip("# ")))
    return rows


# ---------------------------------------------------------------------------------------------- main
def main():
    parser = argparse.ArgumentParser(description="Engine throughput beside llama.cpp, PyTorch and onnxruntime.")
    parser.add_argument("--model", default=os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf"))
    parser.add_argument("--text", default=os.path.join(ROOT, "data", "held-out.txt"))
    parser.add_argument("--binary", default=os.environ.get("MODELSURGERY", os.path.join(ROOT, ".build", "release",
                                                                                          "modelsurgery")))
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-onnx", action="store_true")
    parser.add_argument("--keep-onnx", help="folder to write the ONNX export to (default: a temporary one)")
    args = parser.parse_args()

    import llama_cpp

    need = max(w * c for w, c in SHAPES)
    source = open(args.text, encoding="utf-8").read()
    tokenizer = llama_cpp.Llama(args.model, vocab_only=True, verbose=False)
    per_copy = len(tokenizer.tokenize(source.encode(), add_bos=False, special=False))
    text = source * (need // per_copy + 2)
    workdir = tempfile.mkdtemp(prefix="modelsurgery-bench-")
    text_path = os.path.join(workdir, "text.txt")
    with open(text_path, "w", encoding="utf-8") as f:
        f.write(text)
    tokens = np.array(tokenizer.tokenize(text.encode(), add_bos=False, special=False), dtype=np.int64)
    del tokenizer

    print(f"machine: {os.cpu_count()} cores; threads {args.threads}; OPENBLAS_CORETYPE="
          f"{os.environ.get('OPENBLAS_CORETYPE', '(unset)')!r}; text: {len(tokens)} tokens", flush=True)
    fields, tensors = load_weights(args.model)
    import torch

    module = build_torch_model(fields, tensors)
    onnx_path = None
    if not args.skip_onnx:
        folder = args.keep_onnx or workdir
        os.makedirs(folder, exist_ok=True)
        onnx_path = os.path.join(folder, "smollm2.onnx")
        export_onnx(module, onnx_path)

    import onnxruntime

    versions = (f"llama-cpp-python {llama_cpp.__version__}, torch {torch.__version__}, "
                f"onnxruntime {onnxruntime.__version__}")
    results = []
    for windows, ctx in SHAPES:
        batch = tokens[:windows * ctx].reshape(windows, ctx)
        label = f"{windows}×{ctx}"
        gflop = flops(fields, tensors, windows, ctx) / 1e9
        print(f"running {label} ({gflop:.0f} GFLOP) …", flush=True)
        row = {"ours": ours(args.binary, args.model, text_path, windows, ctx, args.threads, args.repeats)}
        row["llama.cpp"] = llama_cpp_run(args.model, batch, ctx, args.threads, args.repeats)
        row["PyTorch"] = torch_run(module, batch, args.threads, args.repeats)
        if onnx_path:
            row["onnxruntime"] = onnx_run(onnx_path, batch, args.threads, args.repeats)
        results.append((label, windows * ctx, gflop, row))

    print()
    print(f"prompt processing, SmolLM2-135M ({os.path.basename(args.model)}); {versions}")
    print(f"{'engine':<13} {'batch':>7} {'seconds':>8} {'tokens/s':>9} {'÷ ours':>7} {'GFLOP/s':>8} {'ppl':>8}")
    for label, count, gflop, row in results:
        base = count / row["ours"]["seconds"]
        for name, r in row.items():
            speed = count / r["seconds"]
            print(f"{name:<13} {label:>7} {r['seconds']:>8.3f} {speed:>9.0f} {speed / base:>7.2f} "
                  f"{gflop / r['seconds']:>8.1f} {r['ppl']:>8.3f}")
        o = row["ours"]
        print(f"{'  ours, marginal':<13} {label:>7} {'':>8} {1 / o['marginal']:>9.0f} {1 / o['marginal'] / base:>7.2f} "
              f"{gflop / (o['marginal'] * count):>8.1f}   (fixed: load {o['load']:.3f} s, 1 window {o['one']:.3f} s)")
        if "onnxruntime" in row:
            print(f"  ours ÷ onnxruntime: {row['onnxruntime']['seconds'] / o['seconds']:.2f}; "
                  f"ours ÷ PyTorch: {row['PyTorch']['seconds'] / o['seconds']:.2f}")
    if args.threads > 1:
        scaling(args, tokens, module, onnx_path, text_path, results[0])
    print()
    print("OpenBLAS cblas_sgemm peak (system library, the one the engine links):")
    for shape, n_threads, gflops, core in sgemm_peak(args.threads):
        print(f"  {shape:<15} threads {n_threads}: {gflops:7.1f} GFLOP/s   ({core})")


def scaling(args, tokens, module, onnx_path, text_path, result):
    """Every engine on the first shape with one thread, beside its figure with all of them."""
    label, count, _, row = result
    windows, ctx = (int(x) for x in label.split("×"))
    batch = tokens[:windows * ctx].reshape(windows, ctx)
    print(f"running {label} with 1 thread …", flush=True)
    single = {"ours": ours(args.binary, args.model, text_path, windows, ctx, 1, args.repeats),
              "llama.cpp": llama_cpp_run(args.model, batch, ctx, 1, args.repeats),
              "PyTorch": torch_run(module, batch, 1, args.repeats)}
    if onnx_path:
        single["onnxruntime"] = onnx_run(onnx_path, batch, 1, args.repeats)
    print()
    print(f"thread scaling, {label}: tokens/s with 1 and {args.threads} threads")
    print(f"{'engine':<13} {'1 thread':>9} {f'{args.threads} threads':>10} {'speedup':>8}")
    for name, r in single.items():
        one, many = count / r["seconds"], count / row[name]["seconds"]
        print(f"{name:<13} {one:>9.0f} {many:>10.0f} {many / one:>8.2f}")


if __name__ == "__main__":
    main()
