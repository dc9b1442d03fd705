#!/usr/bin/env python3
"""Regenerate every test fixture under TestModels/.

All GGUF files are written by the reference `gguf` Python package (GGUFWriter),
never by modelsurgery's own writer. Corrupted files under bad/ are byte-level
patches of tiny-base.gguf; the patch locations come from gguf.GGUFReader.
expected.json records what gguf.GGUFReader reads from every valid fixture.

Usage (from the repository root):  .venv/bin/python TestModels/generate.py
The output is deterministic: running it twice gives identical files.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
from pathlib import Path

import numpy as np

import gguf
from gguf import GGMLQuantizationType as T

HERE = Path(__file__).resolve().parent
SEED = 20240601
OTHER_GENERATORS = {"quants.gguf"}     # written by generate_quants.py


# ---------------------------------------------------------------- tensor data

def quantize_q4_k(x: np.ndarray) -> np.ndarray:
    """Q4_K quantization (gguf-py only ships the dequantizer).

    Returns the byte-shaped uint8 array GGUFWriter expects for raw_dtype=Q4_K.
    Block layout (144 bytes per 256 values): d f16, dmin f16, 12 bytes of packed
    6-bit scales/mins, 128 bytes of 4-bit values, as in ggml's block_q4_K.
    """
    rows, cols = x.shape
    assert cols % 256 == 0, "Q4_K needs rows that are a multiple of 256 values"
    sub = x.astype(np.float32).reshape(-1, 8, 32)               # (n_blocks, 8 sub-blocks, 32)
    lo = np.minimum(sub.min(axis=-1), 0.0)                       # (n, 8), <= 0
    hi = sub.max(axis=-1)
    step = np.maximum(hi - lo, 1e-8) / 15.0                      # per sub-block scale
    d = (step.max(axis=-1) / 63.0).astype(np.float16)            # (n,)
    dmin = ((-lo).max(axis=-1) / 63.0).astype(np.float16)
    d32 = np.maximum(d.astype(np.float32), 1e-12)[:, None]
    dmin32 = np.maximum(dmin.astype(np.float32), 1e-12)[:, None]
    sc = np.clip(np.rint(step / d32), 1, 63).astype(np.uint8)    # (n, 8)
    mn = np.clip(np.rint(-lo / dmin32), 0, 63).astype(np.uint8)
    scale = (d.astype(np.float32)[:, None] * sc)[..., None]
    offset = (dmin.astype(np.float32)[:, None] * mn)[..., None]
    q = np.clip(np.rint((sub + offset) / np.maximum(scale, 1e-12)), 0, 15).astype(np.uint8)

    packed = np.empty((sub.shape[0], 12), dtype=np.uint8)
    packed[:, 0:4] = (sc[:, 0:4] & 0x3F) | ((sc[:, 4:8] >> 4) << 6)
    packed[:, 4:8] = (mn[:, 0:4] & 0x3F) | ((mn[:, 4:8] >> 4) << 6)
    packed[:, 8:12] = (sc[:, 4:8] & 0x0F) | ((mn[:, 4:8] & 0x0F) << 4)
    qs = (q[:, 0::2, :] | (q[:, 1::2, :] << 4)).reshape(-1, 128)  # pairs of sub-blocks share bytes

    blocks = np.concatenate(
        [d.reshape(-1, 1).view(np.uint8), dmin.reshape(-1, 1).view(np.uint8), packed, qs], axis=1
    )
    out = blocks.reshape(rows, -1)
    back = gguf.quants.dequantize(out, T.Q4_K)                   # self-check with gguf's decoder
    assert np.abs(back - x).max() <= 0.2 * np.abs(x).max() + 1e-6
    return out


class Builder:
    """Random weights written through one GGUFWriter, each in a chosen type."""

    def __init__(self, writer: gguf.GGUFWriter, seed: int):
        self.w = writer
        self.rng = np.random.default_rng(seed)

    def weight(self, name: str, rows: int, cols: int | None, qtype: T, scale: float | None = None) -> None:
        """scale (default: none) multiplies the drawn values, e.g. to make attention sharp enough that a wrong
        RoPE or a missing bias shows in the logits; the random stream is the same either way."""
        shape = (rows,) if cols is None else (rows, cols)
        if name.endswith("norm.weight"):
            data = 1.0 + 0.1 * self.rng.standard_normal(shape)
        elif name.endswith(".bias"):
            data = 0.01 * self.rng.standard_normal(shape)
        else:
            data = 0.05 * self.rng.standard_normal(shape)
        if scale is not None:
            data = scale * data
        data = data.astype(np.float32)
        if qtype == T.F32:
            self.w.add_tensor(name, data)
        elif qtype == T.F16:
            self.w.add_tensor(name, data.astype(np.float16))
        elif qtype == T.Q4_K:
            self.w.add_tensor(name, quantize_q4_k(data), raw_dtype=qtype)
        else:
            self.w.add_tensor(name, gguf.quants.quantize(data, qtype), raw_dtype=qtype)


def add_gpt2_tokenizer(w: gguf.GGUFWriter, n_vocab: int) -> None:
    """A minimal byte-level BPE vocabulary of exactly n_vocab tokens, with merges."""
    chars = ["<|endoftext|>", "\u0120", "\u010a"]                  # Ġ (space), Ċ (newline)
    chars += list("etahinosrdlucmfwgypbvkjxqz0123456789.,!?")      # common letters first
    pairs = [("t", "h"), ("h", "e"), ("\u0120", "t"), ("th", "e"), ("i", "n"), ("e", "r"),
             ("a", "n"), ("\u0120", "a"), ("o", "n"), ("r", "e"), ("\u0120t", "he"),
             ("e", "n"), ("a", "t"), ("o", "r"), ("e", "s"), ("i", "s"), ("\u0120", "s"),
             ("in", "g"), ("e", "d"), ("\u0120", "w"), ("o", "u"), ("a", "l"), ("i", "t")]
    # llama.cpp refuses a gpt2 vocabulary without merges, so even tiny ones get a few.
    n_merges = min(len(pairs), max(3, n_vocab - len(chars)))
    tokens = chars[:n_vocab - n_merges]
    merges: list[str] = []
    for a, b in pairs[:n_merges]:
        assert a in tokens and b in tokens, (a, b)
        tokens.append(a + b)
        merges.append(f"{a} {b}")
    assert len(tokens) == n_vocab
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types([gguf.TokenType.CONTROL] + [gguf.TokenType.NORMAL] * (n_vocab - 1))
    w.add_token_merges(merges)          # GGUFWriter skips empty arrays
    w.add_bos_token_id(0)
    w.add_eos_token_id(0)


def write(writer: gguf.GGUFWriter) -> None:
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


# ---------------------------------------------------------------- fixtures

def add_llama_keys(w: gguf.GGUFWriter, *, n_blocks: int, n_embd: int, n_head, n_head_kv, head_dim: int, n_ff,
                   n_vocab: int) -> None:
    """llama's hyper-parameters, tokenizer and file type (head counts and widths: one value, or one per layer)."""
    w.add_context_length(128)
    w.add_embedding_length(n_embd)
    w.add_block_count(n_blocks)
    w.add_feed_forward_length(n_ff)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_head_kv)
    first_heads = n_head[0] if isinstance(n_head, list) else n_head
    if head_dim != n_embd // first_heads:
        w.add_key_length(head_dim)
        w.add_value_length(head_dim)
    w.add_rope_dimension_count(head_dim)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    w.add_vocab_size(n_vocab)
    add_gpt2_tokenizer(w, n_vocab)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)


def llama_like(path: Path, *, n_blocks: int, n_embd: int, n_head: int, n_head_kv: int,
               head_dim: int, n_ff: int, n_vocab: int, types: dict, seed: int,
               alignment: int | None = None, split_max_tensors: int = 0,
               name: str = "tiny-llama", globals_first: bool = False) -> None:
    """A llama-architecture model. types maps a tensor suffix (or 'blk.N.suffix') to its type."""
    w = gguf.GGUFWriter(path, "llama", split_max_tensors=split_max_tensors)
    w.add_name(name)
    if alignment is not None:
        w.add_custom_alignment(alignment)
    add_llama_keys(w, n_blocks=n_blocks, n_embd=n_embd, n_head=n_head, n_head_kv=n_head_kv, head_dim=head_dim,
                   n_ff=n_ff, n_vocab=n_vocab)

    b = Builder(w, seed)

    def t(suffix: str, block: int | None = None) -> T:
        return types.get(f"blk.{block}.{suffix}", types[suffix]) if block is not None else types[suffix]

    def global_head() -> None:
        b.weight("output_norm.weight", n_embd, None, T.F32)
        b.weight("output.weight", n_vocab, n_embd, t("output"))

    b.weight("token_embd.weight", n_vocab, n_embd, t("token_embd"))
    if globals_first:
        global_head()
    q_out, kv_out = n_head * head_dim, n_head_kv * head_dim
    for i in range(n_blocks):
        p = f"blk.{i}."
        b.weight(p + "attn_norm.weight", n_embd, None, T.F32)
        b.weight(p + "attn_q.weight", q_out, n_embd, t("attn_q", i))
        b.weight(p + "attn_k.weight", kv_out, n_embd, t("attn_k", i))
        b.weight(p + "attn_v.weight", kv_out, n_embd, t("attn_v", i))
        b.weight(p + "attn_output.weight", n_embd, q_out, t("attn_output", i))
        b.weight(p + "ffn_norm.weight", n_embd, None, T.F32)
        b.weight(p + "ffn_gate.weight", n_ff, n_embd, t("ffn_gate", i))
        b.weight(p + "ffn_up.weight", n_ff, n_embd, t("ffn_up", i))
        b.weight(p + "ffn_down.weight", n_embd, n_ff, t("ffn_down", i))
    if not globals_first:
        global_head()
    write(w)


def tiny_llama() -> None:
    # embedding 256 so that Q4_K (256-value super-blocks) fits rows of n_embd.
    # Heads are 16 wide and the FFN is 64 wide to keep the file small (~0.3 MB).
    types = {
        "token_embd": T.Q8_0, "output": T.Q4_K,
        "attn_q": T.Q4_K, "attn_k": T.Q8_0, "attn_v": T.Q4_0, "attn_output": T.Q8_0,
        "ffn_gate": T.Q4_K, "ffn_up": T.Q4_0, "ffn_down": T.Q8_0,
        "blk.1.ffn_down": T.BF16, "blk.2.ffn_down": T.F16, "blk.3.attn_k": T.F16,
    }
    llama_like(HERE / "tiny-llama.gguf", n_blocks=4, n_embd=256, n_head=4, n_head_kv=2,
               head_dim=16, n_ff=64, n_vocab=64, types=types, seed=SEED + 1, globals_first=True)


SMALL_TYPES = {
    "token_embd": T.Q4_0, "output": T.Q8_0,
    "attn_q": T.Q8_0, "attn_k": T.F16, "attn_v": T.Q8_0, "attn_output": T.Q4_0,
    "ffn_gate": T.Q8_0, "ffn_up": T.Q4_0, "ffn_down": T.F16,
}


def tiny_llama_align64() -> None:
    # 61-row Q4_0 token_embd (2196 bytes) is not a multiple of 64 (nor 32): padding matters.
    llama_like(HERE / "tiny-llama-align64.gguf", n_blocks=2, n_embd=64, n_head=4, n_head_kv=2,
               head_dim=16, n_ff=96, n_vocab=61, types=SMALL_TYPES, seed=SEED + 2,
               alignment=64, name="tiny-llama-align64")


def tiny_split() -> None:
    (HERE / "split").mkdir(exist_ok=True)
    kw = dict(n_blocks=3, n_embd=64, n_head=4, n_head_kv=2, head_dim=16, n_ff=64,
              n_vocab=64, types=SMALL_TYPES, seed=SEED + 3, name="tiny-split")
    # 3 + 3*9 = 30 tensors, 10 per shard -> tiny-split-0000K-of-00003.gguf
    llama_like(HERE / "split" / "tiny-split.gguf", split_max_tensors=10, **kw)
    # The same model (same keys, same tensor bytes) as one file.
    llama_like(HERE / "tiny-split-whole.gguf", **kw)


def tiny_base() -> None:
    types = {"token_embd": T.F16, "output": T.Q8_0, "attn_q": T.Q8_0, "attn_k": T.Q8_0,
             "attn_v": T.Q8_0, "attn_output": T.Q8_0, "ffn_gate": T.Q8_0, "ffn_up": T.Q8_0,
             "ffn_down": T.F16}
    # 2 blocks so that "prune --layers 1" is a valid request on the uncorrupted file.
    llama_like(HERE / "tiny-base.gguf", n_blocks=2, n_embd=32, n_head=2, n_head_kv=1,
               head_dim=16, n_ff=32, n_vocab=16, types=types, seed=SEED + 4, name="tiny-base")


def tiny_qwen2() -> None:
    n_blocks, n_embd, n_head, head_dim, n_vocab = 4, 64, 4, 16, 64
    ffn = [64, 96, 128, 160]         # per-layer FFN widths (multiples of 32 for Q8_0 rows)
    kv_heads = [2, 1, 2, 4]
    w = gguf.GGUFWriter(HERE / "tiny-qwen2.gguf", "qwen2")
    w.add_name("tiny-qwen2")
    w.add_context_length(128)
    w.add_embedding_length(n_embd)
    w.add_block_count(n_blocks)
    w.add_feed_forward_length(ffn)
    w.add_head_count(n_head)
    w.add_head_count_kv(kv_heads)
    w.add_rope_freq_base(1000000.0)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    add_gpt2_tokenizer(w, n_vocab)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)

    b = Builder(w, SEED + 5)
    b.weight("token_embd.weight", n_vocab, n_embd, T.Q8_0)
    for i in range(n_blocks):
        p, kv = f"blk.{i}.", kv_heads[i] * head_dim
        b.weight(p + "attn_norm.weight", n_embd, None, T.F32)
        b.weight(p + "attn_q.weight", n_head * head_dim, n_embd, T.Q8_0)
        b.weight(p + "attn_q.bias", n_head * head_dim, None, T.F32)
        b.weight(p + "attn_k.weight", kv, n_embd, T.Q8_0)
        b.weight(p + "attn_k.bias", kv, None, T.F32)
        b.weight(p + "attn_v.weight", kv, n_embd, T.Q4_0)
        b.weight(p + "attn_v.bias", kv, None, T.F32)
        b.weight(p + "attn_output.weight", n_embd, n_head * head_dim, T.Q8_0)
        b.weight(p + "ffn_norm.weight", n_embd, None, T.F32)
        b.weight(p + "ffn_gate.weight", ffn[i], n_embd, T.Q4_0)
        b.weight(p + "ffn_up.weight", ffn[i], n_embd, T.Q4_0)
        b.weight(p + "ffn_down.weight", n_embd, ffn[i], T.Q8_0)
    b.weight("output_norm.weight", n_embd, None, T.F32)
    b.weight("output.weight", n_vocab, n_embd, T.Q8_0)
    write(w)


# The default weights give nearly uniform attention, under which a wrong RoPE pairing or a dropped bias
# or Q/K norm barely moves the logits. The Qwen fixtures scale Q/K (weights, biases, per-head norms) up so
# that attention depends on them; the engine parity tests then fail on any of those mistakes.
SHARP, BIG_BIAS, SHARP_NORM = 4.0, 30.0, 1.5


def tiny_qwen2_uniform() -> None:
    # Qwen2 as llama.cpp loads it: one head_count_kv for all blocks, attn_output n_embd x n_embd, Q/K/V
    # biases, NEOX RoPE (implied by the architecture), an untied output head.
    n_blocks, n_embd, n_head, n_head_kv, head_dim, n_ff, n_vocab = 4, 64, 4, 2, 16, 64, 64
    w = gguf.GGUFWriter(HERE / "tiny-qwen2-uniform.gguf", "qwen2")
    w.add_name("tiny-qwen2-uniform")
    w.add_context_length(128)
    w.add_embedding_length(n_embd)
    w.add_block_count(n_blocks)
    w.add_feed_forward_length(n_ff)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_head_kv)
    w.add_rope_freq_base(1000000.0)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    add_gpt2_tokenizer(w, n_vocab)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)

    b = Builder(w, SEED + 7)
    b.weight("token_embd.weight", n_vocab, n_embd, T.Q8_0)
    kv = n_head_kv * head_dim
    for i in range(n_blocks):
        p = f"blk.{i}."
        b.weight(p + "attn_norm.weight", n_embd, None, T.F32)
        b.weight(p + "attn_q.weight", n_head * head_dim, n_embd, T.Q8_0, scale=SHARP)
        b.weight(p + "attn_q.bias", n_head * head_dim, None, T.F32, scale=BIG_BIAS)
        b.weight(p + "attn_k.weight", kv, n_embd, T.F16 if i == 1 else T.Q8_0, scale=SHARP)
        b.weight(p + "attn_k.bias", kv, None, T.F32, scale=BIG_BIAS)
        b.weight(p + "attn_v.weight", kv, n_embd, T.Q4_0)
        b.weight(p + "attn_v.bias", kv, None, T.F32, scale=BIG_BIAS)
        b.weight(p + "attn_output.weight", n_embd, n_head * head_dim, T.Q8_0)
        b.weight(p + "ffn_norm.weight", n_embd, None, T.F32)
        b.weight(p + "ffn_gate.weight", n_ff, n_embd, T.Q4_0)
        b.weight(p + "ffn_up.weight", n_ff, n_embd, T.Q4_0)
        b.weight(p + "ffn_down.weight", n_embd, n_ff, T.Q8_0)
    b.weight("output_norm.weight", n_embd, None, T.F32)
    b.weight("output.weight", n_vocab, n_embd, T.Q8_0)
    write(w)


def tiny_qwen3() -> None:
    # Qwen3: per-head RMS norms on Q and K (attn_q_norm / attn_k_norm, head_dim wide), no biases, NEOX RoPE,
    # heads wider in total than the embedding (8 x 16 = 128 > 64, so key_length is stated), and no
    # output.weight: the head is tied to token_embd, as in the small Qwen3 models.
    n_blocks, n_embd, n_head, n_head_kv, head_dim, n_ff, n_vocab = 4, 64, 8, 2, 16, 64, 64
    w = gguf.GGUFWriter(HERE / "tiny-qwen3.gguf", "qwen3")
    w.add_name("tiny-qwen3")
    w.add_context_length(128)
    w.add_embedding_length(n_embd)
    w.add_block_count(n_blocks)
    w.add_feed_forward_length(n_ff)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_head_kv)
    w.add_key_length(head_dim)
    w.add_value_length(head_dim)
    w.add_rope_freq_base(1000000.0)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    add_gpt2_tokenizer(w, n_vocab)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)

    b = Builder(w, SEED + 8)
    b.weight("token_embd.weight", n_vocab, n_embd, T.Q8_0)
    q_out, kv = n_head * head_dim, n_head_kv * head_dim
    for i in range(n_blocks):
        p = f"blk.{i}."
        b.weight(p + "attn_norm.weight", n_embd, None, T.F32)
        b.weight(p + "attn_q.weight", q_out, n_embd, T.Q8_0)
        b.weight(p + "attn_k.weight", kv, n_embd, T.Q8_0)
        b.weight(p + "attn_v.weight", kv, n_embd, T.Q4_0)
        b.weight(p + "attn_output.weight", n_embd, q_out, T.F16 if i == 2 else T.Q8_0)
        b.weight(p + "attn_q_norm.weight", head_dim, None, T.F32, scale=SHARP_NORM)
        b.weight(p + "attn_k_norm.weight", head_dim, None, T.F32, scale=SHARP_NORM)
        b.weight(p + "ffn_norm.weight", n_embd, None, T.F32)
        b.weight(p + "ffn_gate.weight", n_ff, n_embd, T.Q4_0)
        b.weight(p + "ffn_up.weight", n_ff, n_embd, T.Q4_0)
        b.weight(p + "ffn_down.weight", n_embd, n_ff, T.Q8_0)
    b.weight("output_norm.weight", n_embd, None, T.F32)
    write(w)


def tiny_gemma3() -> None:
    # 8 blocks: with llama.cpp's period-6 rule, layer 5 is global and 6, 7 sliding again.
    n_blocks, n_embd, n_head, n_head_kv, head_dim, n_ff, n_vocab = 8, 32, 2, 1, 16, 64, 64
    w = gguf.GGUFWriter(HERE / "tiny-gemma3.gguf", "gemma3")
    w.add_name("tiny-gemma3")
    w.add_context_length(128)
    w.add_embedding_length(n_embd)
    w.add_block_count(n_blocks)
    w.add_feed_forward_length(n_ff)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_head_kv)
    w.add_key_length(head_dim)
    w.add_value_length(head_dim)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_rope_freq_base(1000000.0)
    w.add_rope_freq_base_swa(10000.0)
    w.add_sliding_window(16)         # no sliding_window_pattern key on purpose
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    add_gpt2_tokenizer(w, n_vocab)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)

    shapes: dict[str, tuple[tuple[int, ...], T]] = {
        "token_embd.weight": ((n_vocab, n_embd), T.Q8_0),
        "output_norm.weight": ((n_embd,), T.F32),
    }
    for i in range(n_blocks):
        p = f"blk.{i}."
        for norm in ("attn_norm", "post_attention_norm", "ffn_norm", "post_ffw_norm"):
            shapes[p + norm + ".weight"] = ((n_embd,), T.F32)
        shapes[p + "attn_q_norm.weight"] = ((head_dim,), T.F32)
        shapes[p + "attn_k_norm.weight"] = ((head_dim,), T.F32)
        shapes[p + "attn_q.weight"] = ((n_head * head_dim, n_embd), T.Q8_0)
        shapes[p + "attn_k.weight"] = ((n_head_kv * head_dim, n_embd), T.Q8_0)
        shapes[p + "attn_v.weight"] = ((n_head_kv * head_dim, n_embd), T.Q4_0)
        shapes[p + "attn_output.weight"] = ((n_embd, n_head * head_dim), T.F16 if i == 5 else T.Q8_0)
        shapes[p + "ffn_gate.weight"] = ((n_ff, n_embd), T.Q4_0)
        shapes[p + "ffn_up.weight"] = ((n_ff, n_embd), T.Q4_0)
        shapes[p + "ffn_down.weight"] = ((n_embd, n_ff), T.Q8_0)
    b = Builder(w, SEED + 6)
    # Name-sorted order, as some converters write it: blk.* first, token_embd last.
    for name in sorted(shapes):
        shape, qtype = shapes[name]
        b.weight(name, shape[0], shape[1] if len(shape) > 1 else None, qtype)
    write(w)


def tiny_deci() -> None:
    # Deci / Nemotron-51B: llama's keys under deci.*, with per-layer head_count, head_count_kv and
    # feed_forward_length arrays, and llama.cpp's four block shapes keyed on them:
    #   n_head == 0                  attention-free: the FFN reads the residual stream directly
    #   n_head > 0, n_head_kv == 0   "linear attention": attn_norm then attn_output (n_embd x n_embd), no Q/K/V
    #   n_head > 0, n_head_kv > 0    ordinary GQA attention (optional attn_output.bias)
    #   n_ff == 0                    no FFN tensors; llama.cpp `continue`s, discarding the block's attention too
    # Block 3's FFN is 1 wide with all-zero weights (how a removed FFN is encoded), leaving only its
    # ffn_down.bias; block 2's 1-wide FFN has real (scaled up) weights so that width 1 is exercised.
    n_embd, n_vocab, head_dim = 64, 64, 16
    heads = [4, 0, 4, 4, 4, 0]
    kv_heads = [2, 0, 0, 2, 2, 0]
    ffn = [96, 96, 1, 1, 0, 48]
    n_blocks = len(heads)
    bias_scale = 10.0     # Builder's 0.01 biases would move the logits by less than the parity tolerance
    w = gguf.GGUFWriter(HERE / "tiny-deci.gguf", "deci")
    w.add_name("tiny-deci")
    add_llama_keys(w, n_blocks=n_blocks, n_embd=n_embd, n_head=heads, n_head_kv=kv_heads, head_dim=head_dim,
                   n_ff=ffn, n_vocab=n_vocab)

    b = Builder(w, SEED + 9)

    def zeros(name: str, rows: int, cols: int) -> None:
        w.add_tensor(name, np.zeros((rows, cols), dtype=np.float32))

    b.weight("token_embd.weight", n_vocab, n_embd, T.Q4_0)
    for i in range(n_blocks):
        p, n_ff = f"blk.{i}.", ffn[i]
        q_out, kv = heads[i] * head_dim, kv_heads[i] * head_dim
        if heads[i] > 0:
            b.weight(p + "attn_norm.weight", n_embd, None, T.F32)
        if kv > 0:
            b.weight(p + "attn_q.weight", q_out, n_embd, T.Q8_0)
            b.weight(p + "attn_k.weight", kv, n_embd, T.F16)
            b.weight(p + "attn_v.weight", kv, n_embd, T.Q8_0)
            b.weight(p + "attn_output.weight", n_embd, q_out, T.Q4_0)
        elif heads[i] > 0:
            b.weight(p + "attn_output.weight", n_embd, n_embd, T.F16)
        if i == 3:
            b.weight(p + "attn_output.bias", n_embd, None, T.F32, scale=bias_scale)
        if n_ff == 0:
            continue
        b.weight(p + "ffn_norm.weight", n_embd, None, T.F32)
        if i == 3:
            zeros(p + "ffn_gate.weight", n_ff, n_embd)
            zeros(p + "ffn_up.weight", n_ff, n_embd)
            zeros(p + "ffn_down.weight", n_embd, n_ff)
        elif n_ff == 1:
            b.weight(p + "ffn_gate.weight", n_ff, n_embd, T.F32, scale=SHARP)
            b.weight(p + "ffn_up.weight", n_ff, n_embd, T.F32, scale=SHARP)
            b.weight(p + "ffn_down.weight", n_embd, n_ff, T.F32, scale=SHARP)
        else:
            b.weight(p + "ffn_gate.weight", n_ff, n_embd, T.Q8_0)
            b.weight(p + "ffn_up.weight", n_ff, n_embd, T.Q4_0)
            # 48-value rows are no multiple of the 32-value Q8_0 block; block 5's FFN, the last one before
            # output_norm, is scaled up or dropping it would hide inside the parity tolerance
            b.weight(p + "ffn_down.weight", n_embd, n_ff, T.Q8_0 if n_ff % 32 == 0 else T.F16,
                     scale=SHARP if i == 5 else None)
        if i in (1, 3):
            b.weight(p + "ffn_down.bias", n_embd, None, T.F32, scale=bias_scale)
    b.weight("output_norm.weight", n_embd, None, T.F32)
    b.weight("output.weight", n_vocab, n_embd, T.Q8_0)
    write(w)


# ---------------------------------------------------------------- corrupted files

def field_value_offset(field: gguf.ReaderField, part_index: int) -> int:
    """File offset of field.parts[part_index] (parts are contiguous from field.offset)."""
    return field.offset + sum(int(p.nbytes) for p in field.parts[:part_index])


def make_bad_files() -> dict[str, str]:
    base_path = HERE / "tiny-base.gguf"
    base = base_path.read_bytes()
    r = gguf.GGUFReader(base_path)
    kv_fields = [f for f in r.fields.values() if not f.name.startswith("GGUF.")]
    tensors = r.tensors
    by_name = {t.name: t for t in tensors}
    bad = HERE / "bad"
    if bad.exists():
        shutil.rmtree(bad)
    bad.mkdir()
    notes: dict[str, str] = {}

    def patched(name: str, note: str, patches: list[tuple[int, bytes]] = (), cut: int | None = None):
        data = bytearray(base)
        for offset, value in patches:
            data[offset:offset + len(value)] = value
        if cut is not None:
            data = data[:cut]
        (bad / name).write_bytes(bytes(data))
        notes[name] = note

    u32 = lambda v: struct.pack("<I", v)  # noqa: E731
    u64 = lambda v: struct.pack("<Q", v)  # noqa: E731

    def tensor_part(t: gguf.ReaderTensor, part: int) -> int:
        # tensor info parts: name_len, name, n_dims, dims, type, offset
        return field_value_offset(t.field, part)

    patched("bad-magic.gguf", "magic is 'GGUX'", [(0, b"GGUX")])
    patched("version-1.gguf", "version field is 1", [(4, u32(1))])
    patched("version-99.gguf", "version field is 99", [(4, u32(99))])
    patched("big-endian.gguf", "version field byte-swapped (00 00 00 03), as a big-endian file has",
            [(4, struct.pack(">I", 3))])
    mid = kv_fields[len(kv_fields) // 2]
    patched("truncated-header.gguf", f"file cut 3 bytes into key/value '{mid.name}'", cut=mid.offset + 3)
    last = tensors[-1]
    patched("truncated-data.gguf", f"file cut halfway through the data of '{last.name}'",
            cut=last.data_offset + last.n_bytes // 2)
    past = gguf.GGUFWriter.ggml_pad(len(base), r.alignment)      # relative offset, aligned
    patched("offset-past-end.gguf", f"'{last.name}' offset is {past} (data section starts at "
            f"{r.data_offset}, file is {len(base)} bytes)", [(tensor_part(last, 5), u64(past))])
    second = tensors[1]
    rel = second.data_offset - r.data_offset
    patched("misaligned-offset.gguf", f"'{second.name}' offset is {rel + 16}, not a multiple of {r.alignment}",
            [(tensor_part(second, 5), u64(rel + 16))])
    emb = by_name["token_embd.weight"]
    assert len(emb.shape) == 2
    patched("dims-overflow.gguf", "'token_embd.weight' dimensions are 2^40 x 2^40 (product overflows 64 bits)",
            [(tensor_part(emb, 3), u64(1 << 40) + u64(1 << 40))])
    patched("absurd-tensor-count.gguf", "tensor_count is 2^62", [(8, u64(1 << 62))])
    patched("absurd-kv-count.gguf", "kv_count is 2^62", [(16, u64(1 << 62))])
    first = kv_fields[0]
    patched("string-past-end.gguf", f"length of the first key ('{first.name}') is 2^40",
            [(field_value_offset(first, 0), u64(1 << 40))])
    q, k = by_name["blk.0.attn_q.weight"], by_name["blk.0.attn_k.weight"]
    assert len(q.name) == len(k.name)
    patched("duplicate-tensor-name.gguf", f"'{q.name}' renamed to '{k.name}' (two tensors share a name)",
            [(tensor_part(q, 1), k.name.encode())])
    patched("unknown-type.gguf", f"'{tensors[0].name}' has tensor type id 200",
            [(tensor_part(tensors[0], 4), u32(200))])
    (bad / "not-gguf.txt").write_text("This is a plain text file, not a GGUF model.\n")
    notes["not-gguf.txt"] = "plain text"

    # Well-formed files whose values contradict the tensors (2 blocks, width 32, 2 heads of 16, 1 KV head,
    # FFN 32, 16 tokens): each must be refused before any work, never trap, allocate or print a wrong result.
    def value_at(key: str) -> int:
        field = r.fields[key]
        return field_value_offset(field, len(field.parts) - 1)

    for name, key, value, note in [
        ("block-count-1000.gguf", "llama.block_count", 1000, "block_count 1000 with 2 blocks of tensors"),
        ("block-count-2e31.gguf", "llama.block_count", 1 << 31, "block_count 2^31"),
        ("embedding-length-zero.gguf", "llama.embedding_length", 0, "embedding_length 0"),
        ("embedding-length-huge.gguf", "llama.embedding_length", (1 << 32) - 1, "embedding_length 2^32-1"),
        ("head-count-zero.gguf", "llama.attention.head_count", 0, "head_count 0"),
        ("head-count-huge.gguf", "llama.attention.head_count", 1 << 31, "head_count 2^31"),
        ("head-count-3.gguf", "llama.attention.head_count", 3, "head_count 3: 32 is not 3 heads"),
        ("kv-head-count-zero.gguf", "llama.attention.head_count_kv", 0, "head_count_kv 0"),
        ("rope-dims-40.gguf", "llama.rope.dimension_count", 40, "rope.dimension_count 40 with head size 16"),
        ("feed-forward-33.gguf", "llama.feed_forward_length", 33, "feed_forward_length 33 with FFN tensors of 32"),
        ("vocab-size-17.gguf", "llama.vocab_size", 17, "vocab_size 17 with 16 embedding rows"),
    ]:
        patched(name, note, [(value_at(key), u32(value))])
    return notes


# ---------------------------------------------------------------- expected.json

def canonical_json(value) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def describe(path: Path) -> dict:
    r = gguf.GGUFReader(path)
    raw = path.read_bytes()
    kvs = []
    for f in r.fields.values():
        if f.name.startswith("GGUF."):
            continue
        entry = {"key": f.name, "type": f.types[0].name}
        value = f.contents()
        if f.types[0] == gguf.GGUFValueType.ARRAY:
            entry["itemType"] = f.types[1].name if len(f.types) > 1 else None
            entry["length"] = int(f.parts[4][0])
            if len(value) > 16:
                entry["sha256"] = hashlib.sha256(canonical_json(value)).hexdigest()
                start = field_value_offset(f, 5)
                end = f.offset + sum(int(p.nbytes) for p in f.parts)
                entry["rawSha256"] = hashlib.sha256(raw[start:end]).hexdigest()
            else:
                entry["value"] = value
        else:
            entry["value"] = value
        kvs.append(entry)
    tensors = [{
        "name": t.name,
        "type": t.tensor_type.name,
        "shape": [int(d) for d in t.shape],
        "nElements": int(t.n_elements),
        "offset": int(t.data_offset),
        "nBytes": int(t.n_bytes),
        "sha256": hashlib.sha256(raw[t.data_offset:t.data_offset + t.n_bytes]).hexdigest(),
    } for t in r.tensors]
    return {
        "version": int(r.fields["GGUF.version"].parts[0][0]),
        "alignment": int(r.alignment),
        "fileSize": len(raw),
        "dataOffset": int(r.data_offset),
        "kvCount": len(kvs),
        "tensorCount": len(tensors),
        "kv": kvs,
        "tensors": tensors,
    }


def main() -> None:
    def ours() -> list[Path]:
        # quants.gguf is generate_quants.py's (with its own expected values): neither removed nor recorded here.
        return [p for p in list(HERE.glob("*.gguf")) + list((HERE / "split").glob("*.gguf"))
                if p.name not in OTHER_GENERATORS]

    for old in ours():
        old.unlink()
    tiny_base()
    tiny_llama()
    tiny_llama_align64()
    tiny_qwen2()
    tiny_qwen2_uniform()
    tiny_qwen3()
    tiny_gemma3()
    tiny_deci()
    tiny_split()
    notes = make_bad_files()

    valid = sorted(p.relative_to(HERE).as_posix() for p in ours())
    expected = {
        "_about": {
            "generator": "TestModels/generate.py with gguf (gguf-py) " + _gguf_version(),
            "shape": "GGUF ne order (innermost dimension first), as gguf.GGUFReader's tensor.shape",
            "offset": "absolute file offset of the tensor data; nBytes excludes padding",
            "arrays": "arrays longer than 16 items carry length, sha256 of their JSON "
                      "(json.dumps(value, ensure_ascii=False, separators=(',', ':')) as UTF-8) and "
                      "rawSha256 of the item bytes exactly as stored in the file, instead of value",
            "floats": "FLOAT32 values are the exact float32 value written out as a double",
        },
        "files": {name: describe(HERE / name) for name in valid},
        "bad": notes,
    }
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n")


def _gguf_version() -> str:
    from importlib.metadata import version
    return version("gguf")


if __name__ == "__main__":
    main()
