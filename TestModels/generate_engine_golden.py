#!/usr/bin/env python3
"""Golden outputs of llama.cpp (llama-cpp-python) for the engine parity tests: TestModels/engine-golden.json.

For each model and prompt: llama.cpp's token ids, and at every position the logits of a fixed sample of
vocabulary ids plus that position's top 5, and log-sum-exp over the whole vocabulary; and llama-perplexity's
protocol on data/held-out.txt (windows of `ctx` tokens, BOS first when the model adds one, second half scored).

Run: .venv/bin/python TestModels/generate_engine_golden.py   (needs models/: make models)
"""
import json
import math
from pathlib import Path

import llama_cpp
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MODELS = {
    "smollm2": ROOT / "models/SmolLM2-135M-Instruct.Q4_1.gguf",
    "gemma3": ROOT / "models/gemma-3-270m-q4_k_m.gguf",
    "tiny-llama": ROOT / "TestModels/tiny-llama.gguf",
    "tiny-gemma3": ROOT / "TestModels/tiny-gemma3.gguf",
    "tiny-qwen2": ROOT / "TestModels/tiny-qwen2-uniform.gguf",
    "tiny-qwen3": ROOT / "TestModels/tiny-qwen3.gguf",
    "tiny-deci": ROOT / "TestModels/tiny-deci.gguf",
}
PROMPTS = [
    "The lighthouse on the northern cape was built in 1868, after a winter in which three ships were lost.",
    "def larger(a, b):\n    if a > b:\n        return a\n    return b\n",
]
SAMPLED_IDS = 24
PERPLEXITY_CTX = 128


def load(path: Path, ctx: int) -> llama_cpp.Llama:
    return llama_cpp.Llama(str(path), n_ctx=ctx, n_batch=ctx, n_ubatch=ctx, logits_all=True, verbose=False, seed=0)


def logits_for(model: llama_cpp.Llama, tokens: list[int]) -> np.ndarray:
    model.reset()
    model.eval(tokens)
    return np.array(model.scores[: len(tokens)], dtype=np.float64)


def log_sum_exp(row: np.ndarray) -> float:
    top = row.max()
    return float(top + math.log(np.exp(row - top).sum()))


def prompt_record(model: llama_cpp.Llama, text: str, rng: np.random.Generator) -> dict:
    tokens = model.tokenize(text.encode(), add_bos=model._model.add_bos_token(), special=False)
    logits = logits_for(model, tokens)
    vocab = logits.shape[1]
    sample = sorted(rng.choice(vocab, size=min(SAMPLED_IDS, vocab), replace=False).tolist())
    positions = []
    for row in logits:
        top = np.argsort(-row)[:5].tolist()
        ids = sorted(set(sample) | set(top))
        positions.append({"ids": ids, "logits": [float(row[i]) for i in ids], "logSumExp": log_sum_exp(row),
                          "top": top})
    return {"text": text, "tokens": tokens, "positions": positions}


def perplexity_record(path: Path) -> dict:
    model = load(path, PERPLEXITY_CTX)
    add_bos = model._model.add_bos_token()
    tokens = model.tokenize((ROOT / "data/held-out.txt").read_bytes(), add_bos=add_bos, special=False)
    ctx, nll, count, chunks = PERPLEXITY_CTX, 0.0, 0, len(tokens) // PERPLEXITY_CTX
    for chunk in range(chunks):
        window = tokens[chunk * ctx:(chunk + 1) * ctx]
        if add_bos:
            window = [model.token_bos()] + window[1:]
        logits = logits_for(model, window)
        for i in range(ctx // 2, ctx - 1):
            nll += log_sum_exp(logits[i]) - logits[i][window[i + 1]]
            count += 1
    return {"ctx": ctx, "chunks": chunks, "tokens": tokens, "perplexity": math.exp(nll / count), "scored": count}


def main() -> None:
    golden = {"_about": __doc__.strip().splitlines()[0], "llama_cpp_python": llama_cpp.__version__, "models": {}}
    for name, path in MODELS.items():
        rng = np.random.default_rng(7)
        model = load(path, 256)
        golden["models"][name] = {
            "file": str(path.relative_to(ROOT)),
            "prompts": [prompt_record(model, text, rng) for text in PROMPTS],
            "perplexity": perplexity_record(path) if name in ("smollm2", "gemma3") else None,
        }
        print(name, "ok", golden["models"][name]["perplexity"] and golden["models"][name]["perplexity"]["perplexity"])
    (ROOT / "TestModels/engine-golden.json").write_text(json.dumps(golden, separators=(",", ":")))


if __name__ == "__main__":
    main()
