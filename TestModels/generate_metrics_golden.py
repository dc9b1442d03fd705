#!/usr/bin/env python3
"""Reference block metrics for the scoring tests: TestModels/metrics-golden.json.

A plain float64 numpy forward of tiny-llama.gguf (weights dequantized by gguf-py; RMSNorm, RoPE in llama.cpp's
adjacent-pair mode, grouped-query causal attention, SwiGLU), run on fixed calibration sequences. For each
block, from its input x and output y per token: mean cos(x, y), mean arccos(cos)/pi, mean |y-x|^2/|x|^2 and
mean |y-x|_1/|x|_1; and the angular distance between x_l and x_(l+2). The forward's last-position logits are
checked against llama.cpp's (engine-golden.json) before anything is written.

Run: .venv/bin/python TestModels/generate_metrics_golden.py
"""
import json
from pathlib import Path

import gguf
import numpy as np

ROOT = Path(__file__).resolve().parent
MODEL = ROOT / "tiny-llama.gguf"
RUN_LENGTH = 2


def load(path: Path):
    reader = gguf.GGUFReader(path)
    meta = {f.name: f.contents() for f in reader.fields.values() if not f.name.startswith("GGUF.")}
    weights = {t.name: gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float64).reshape(
        tuple(int(d) for d in reversed(t.shape.tolist()))) for t in reader.tensors}
    return meta, weights


def rms_norm(x, weight, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * weight


def rope(x, heads, head_size, dims, base):
    """llama.cpp's "norm" mode: adjacent pairs (2i, 2i+1) of each head rotated by pos * base^(-2i/dims)."""
    positions = np.arange(x.shape[0])[:, None]
    angles = positions * base ** (-np.arange(0, dims, 2) / dims)[None, :]
    cos, sin = np.cos(angles), np.sin(angles)
    x = x.reshape(x.shape[0], heads, head_size).copy()
    a, b = x[:, :, 0:dims:2].copy(), x[:, :, 1:dims:2].copy()
    x[:, :, 0:dims:2] = a * cos[:, None, :] - b * sin[:, None, :]
    x[:, :, 1:dims:2] = a * sin[:, None, :] + b * cos[:, None, :]
    return x.reshape(x.shape[0], -1)


def block(x, w, i, meta):
    eps = meta["llama.attention.layer_norm_rms_epsilon"]
    heads, kv_heads = meta["llama.attention.head_count"], meta["llama.attention.head_count_kv"]
    hd, dims, base = meta["llama.attention.key_length"], meta["llama.rope.dimension_count"], meta["llama.rope.freq_base"]
    p = f"blk.{i}."
    h = rms_norm(x, w[p + "attn_norm.weight"], eps)
    q = rope(h @ w[p + "attn_q.weight"].T, heads, hd, dims, base)
    k = rope(h @ w[p + "attn_k.weight"].T, kv_heads, hd, dims, base)
    v = h @ w[p + "attn_v.weight"].T
    n = x.shape[0]
    out = np.zeros((n, heads * hd))
    mask = np.triu(np.full((n, n), -np.inf), 1)
    for head in range(heads):
        g = head // (heads // kv_heads)
        scores = q[:, head * hd:(head + 1) * hd] @ k[:, g * hd:(g + 1) * hd].T / np.sqrt(hd) + mask
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        out[:, head * hd:(head + 1) * hd] = (scores / scores.sum(-1, keepdims=True)) @ v[:, g * hd:(g + 1) * hd]
    x = x + out @ w[p + "attn_output.weight"].T
    h = rms_norm(x, w[p + "ffn_norm.weight"], eps)
    gate = h @ w[p + "ffn_gate.weight"].T
    return x + ((gate / (1 + np.exp(-gate))) * (h @ w[p + "ffn_up.weight"].T)) @ w[p + "ffn_down.weight"].T


def metrics(x, y):
    cos = np.clip((x * y).sum(-1) / np.sqrt((x * x).sum(-1) * (y * y).sum(-1)), -1, 1)
    d = y - x
    return {"cosine": cos.mean(), "angular": (np.arccos(cos) / np.pi).mean(),
            "mssd": ((d * d).sum(-1) / (x * x).sum(-1)).mean(), "masd": (np.abs(d).sum(-1) / np.abs(x).sum(-1)).mean()}


def main() -> None:
    meta, w = load(MODEL)
    golden = json.loads((ROOT / "engine-golden.json").read_text())["models"]["tiny-llama"]["prompts"]
    tokens = golden[0]["tokens"]
    sequences = [tokens[:16], tokens[-16:]]
    blocks = meta["llama.block_count"]

    # The forward must agree with llama.cpp before its metrics mean anything.
    x = w["token_embd.weight"][tokens]
    for i in range(blocks):
        x = block(x, w, i, meta)
    logits = rms_norm(x, w["output_norm.weight"], meta["llama.attention.layer_norm_rms_epsilon"]) @ w["output.weight"].T
    reference = golden[0]["positions"][-1]
    ours = logits[-1][reference["ids"]]
    spread = max(reference["logits"]) - min(reference["logits"])
    assert np.abs(ours - np.array(reference["logits"])).max() < 0.05 * spread, "numpy forward disagrees with llama.cpp"

    inputs = [np.concatenate([w["token_embd.weight"][s] for s in sequences])]
    per_block = []
    for i in range(blocks):
        x = inputs[-1]
        y = np.concatenate([block(x[j * 16:(j + 1) * 16], w, i, meta) for j in range(len(sequences))])
        per_block.append({k: float(v) for k, v in metrics(x, y).items()})
        inputs.append(y)
    runs = [float(metrics(inputs[l], inputs[l + RUN_LENGTH])["angular"]) for l in range(blocks - RUN_LENGTH + 1)]
    out = {"_about": __doc__.strip().splitlines()[0], "model": MODEL.name, "sequences": sequences,
           "runLength": RUN_LENGTH, "blocks": per_block, "runAngular": runs}
    (ROOT / "metrics-golden.json").write_text(json.dumps(out, indent=1))
    print(json.dumps(per_block, indent=1))


if __name__ == "__main__":
    main()
