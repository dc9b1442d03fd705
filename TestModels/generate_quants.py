#!/usr/bin/env python3
"""Write the dequantization fixtures: TestModels/quants.gguf and TestModels/quants-expected.bin.

Usage (from the repository root):  .venv/bin/python TestModels/generate_quants.py
The output is deterministic: running it twice gives identical files.

quants.gguf holds one tensor per ggml type, named after the type ("Q4_K"), 4 rows of 256 elements
(a whole number of blocks for every type), written by the reference gguf.GGUFWriter. Where gguf-py
can quantize a type, the data is gguf.quants.quantize of seeded random floats (rows of very
different magnitudes, so some block scales are f16 subnormals); for the types it cannot quantize
the blocks are random bits with their float scale fields replaced by finite values of every
magnitude, so every code, scale and sign pattern occurs.

quants-expected.bin holds, for each tensor in file order, the float32 little-endian values of
gguf.quants.dequantize(raw bytes, type). gguf-py has no dequantizer for Q8_K; its values are
d * q in float32 (ggml's dequantize_row_q8_K).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import gguf
from gguf import GGMLQuantizationType as T

HERE = Path(__file__).resolve().parent
SEED = 20250117
ROWS, COLUMNS = 4, 256

TYPES = [
    T.F32, T.F16, T.BF16,
    T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0,
    T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K, T.Q8_K,
    T.IQ4_NL, T.IQ4_XS,
    T.TQ1_0, T.TQ2_0, T.MXFP4,
]

# Byte offsets of the f16 scale fields in each block of the types gguf-py cannot quantize.
HALF_FIELDS = {
    T.Q2_K: [80, 82],   # scales[16], qs[64], d, dmin
    T.Q3_K: [108],      # hmask[32], qs[64], scales[12], d
    T.Q4_K: [0, 2],     # d, dmin, scales[12], qs[128]
    T.Q5_K: [0, 2],     # d, dmin, scales[12], qh[32], qs[128]
    T.Q6_K: [208],      # ql[128], qh[64], scales[16], d
    T.IQ4_NL: [0],      # d, qs[16]
    T.IQ4_XS: [0],      # d, scales_h, scales_l[4], qs[128]
}


def source_floats(rng: np.random.Generator) -> np.ndarray:
    """Rows of normal values at magnitudes 1, 1e-2, 1e-6 (subnormal f16 scales) and 300."""
    magnitudes = np.array([1.0, 1e-2, 1e-6, 300.0], dtype=np.float32).reshape(ROWS, 1)
    return (rng.standard_normal((ROWS, COLUMNS)).astype(np.float32) * magnitudes).astype(np.float32)


def finite_scales(rng: np.random.Generator, count: int, dtype) -> np.ndarray:
    """Scales of both signs from 1e-7 (subnormal in f16) to 10, with a few zeros."""
    magnitude = 10.0 ** rng.uniform(-7, 1, size=count)
    sign = rng.choice([-1.0, 1.0], size=count)
    values = (sign * magnitude).astype(dtype)
    values[rng.random(count) < 0.05] = 0
    assert np.all(np.isfinite(values))
    return values


def random_blocks(rng: np.random.Generator, qtype: T) -> np.ndarray:
    block_size, type_size = gguf.GGML_QUANT_SIZES[qtype]
    blocks = ROWS * COLUMNS // block_size
    raw = rng.integers(0, 256, size=(blocks, type_size), dtype=np.uint8)
    if qtype == T.Q8_K:  # d (f32), qs[256], bsums[16]
        raw[:, 0:4] = finite_scales(rng, blocks, np.float32).view(np.uint8).reshape(blocks, 4)
    else:
        for offset in HALF_FIELDS[qtype]:
            raw[:, offset:offset + 2] = finite_scales(rng, blocks, np.float16).view(np.uint8).reshape(blocks, 2)
    return raw.reshape(ROWS, COLUMNS // block_size * type_size)


def encode(rng: np.random.Generator, qtype: T) -> np.ndarray:
    """The tensor's bytes as GGUFWriter takes them: float arrays for F32/F16, uint8 rows otherwise."""
    data = source_floats(rng)
    try:
        return gguf.quants.quantize(data, qtype)
    except NotImplementedError:
        return random_blocks(rng, qtype)


def expected(raw: np.ndarray, qtype: T) -> np.ndarray:
    raw = np.ascontiguousarray(raw)
    if qtype == T.Q8_K:
        blocks = raw.view(np.uint8).reshape(-1, 292)
        d = blocks[:, 0:4].copy().view(np.float32)
        q = blocks[:, 4:260].view(np.int8).astype(np.float32)
        return (d * q).reshape(-1)
    if qtype in (T.F32, T.F16):
        raw = raw.view(np.uint8)
    return gguf.quants.dequantize(raw, qtype).astype(np.float32, copy=False).reshape(-1)


def main() -> None:
    rng = np.random.default_rng(SEED)
    writer = gguf.GGUFWriter(HERE / "quants.gguf", arch="quants")
    values = []
    for qtype in TYPES:
        data = encode(rng, qtype)
        if data.dtype == np.uint8:
            writer.add_tensor(qtype.name, data, raw_dtype=qtype)
        else:
            writer.add_tensor(qtype.name, data)
        decoded = expected(data, qtype)
        assert decoded.size == ROWS * COLUMNS and np.all(np.isfinite(decoded)), qtype.name
        values.append(decoded)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    np.concatenate(values).astype("<f4").tofile(HERE / "quants-expected.bin")


if __name__ == "__main__":
    main()
