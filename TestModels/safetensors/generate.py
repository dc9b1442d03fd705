#!/usr/bin/env python3
"""Regenerate the safetensors fixtures under TestModels/safetensors/.

Every valid file is written by the reference `safetensors` package (its numpy API, or its raw
`serialize_file` for F4 and the FNUZ floats), except handmade.safetensors, which holds what no reference
writer produces (F6, a header out of offset order, several metadata keys, whitespace) and which the
reference reader accepts. sharded/ is single/model.safetensors split the way transformers splits
(`max_shard_size`), each shard written by the reference, the index as transformers writes it.
bad/ holds files and folders that must be refused. expected.json records what the reference reader
(`safetensors.deserialize`, and Python's json for header order) reads from every valid file.

Usage (from the repository root):  .venv/bin/python TestModels/safetensors/generate.py
The output is deterministic: running it twice gives identical files.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
from pathlib import Path

import ml_dtypes
import numpy as np
import safetensors
from safetensors import TensorSpec, deserialize, safe_open, serialize_file
from safetensors.numpy import save_file

HERE = Path(__file__).resolve().parent
SEED = 20251123
# Small enough that the 8-block fixture model splits into two shards.
MAX_SHARD_SIZE = 1500


def rng() -> np.random.Generator:
    return np.random.default_rng(SEED)


def raw_file(path: Path, header: str | bytes, data: bytes = b"", length: int | None = None) -> None:
    """A file laid out by hand: length prefix, header text, data."""
    header = header.encode() if isinstance(header, str) else header
    path.write_bytes(struct.pack("<Q", len(header) if length is None else length) + header + data)


# ---------------------------------------------------------------- valid files

def dtypes_file() -> None:
    """One tensor of every dtype numpy can hand the reference writer."""
    r = rng()
    floats = r.standard_normal((3, 5))
    tensors = {
        "f64": floats.astype(np.float64),
        "f32": floats.astype(np.float32),
        "f16": floats.astype(np.float16),
        "bf16": floats.astype(ml_dtypes.bfloat16),
        "f8_e4m3": floats.astype(ml_dtypes.float8_e4m3fn),
        "f8_e5m2": floats.astype(ml_dtypes.float8_e5m2),
        "f8_e8m0": np.abs(floats).astype(ml_dtypes.float8_e8m0fnu),
        "c64": (floats + 1j * floats[::-1]).astype(np.complex64),
        "bool": floats > 0,
        "scalar": np.array(7.5, dtype=np.float32),
        "empty": np.zeros((0, 3), dtype=np.float32),
    }
    for bits in (8, 16, 32, 64):
        tensors[f"i{bits}"] = r.integers(-100, 100, size=(2, 3, 2)).astype(f"int{bits}")
        tensors[f"u{bits}"] = r.integers(0, 200, size=(4, 2)).astype(f"uint{bits}")
    save_file(tensors, HERE / "dtypes.safetensors", metadata={"format": "np"})


def packed_file() -> None:
    """F4 (torch's float4_e2m1fn_x2: two values a byte) and AMD's FP8 variants, through the raw writer."""
    data = {name: rng().integers(0, 256, size=n, dtype=np.uint8) for name, n in
            [("f4", 6), ("e4m3fnuz", 8), ("e5m2fnuz", 4)]}
    specs = {
        "f4": TensorSpec(dtype="float4_e2m1fn_x2", shape=[2, 3], data_ptr=data["f4"].ctypes.data, data_len=6),
        "e4m3fnuz": TensorSpec(dtype="float8_e4m3fnuz", shape=[8], data_ptr=data["e4m3fnuz"].ctypes.data, data_len=8),
        "e5m2fnuz": TensorSpec(dtype="float8_e5m2fnuz", shape=[2, 2], data_ptr=data["e5m2fnuz"].ctypes.data, data_len=4),
    }
    serialize_file(specs, str(HERE / "packed.safetensors"), metadata=None)


def handmade_file() -> None:
    """Header keys out of data order, metadata in a chosen order, sub-byte F6, whitespace; the reference accepts it."""
    header = ('  {"z_f6b": {"dtype": "F6_E3M2", "shape": [2, 4], "data_offsets": [3, 9]},\n'
              ' "__metadata__": {"zeta": "last", "alpha": "first, with \\"quotes\\" and \\u00e9", "mid": ""},\n'
              ' "a_f6": {"dtype": "F6_E2M3", "shape": [4], "data_offsets": [0, 3]},\n'
              ' "u8": {"dtype": "U8", "shape": [3], "data_offsets": [9, 12], "ignored": true}}   ')
    raw_file(HERE / "handmade.safetensors", header, bytes(range(12)))


def tiny_model() -> dict[str, np.ndarray]:
    r = rng()
    tensors = {"model.embed_tokens.weight": r.standard_normal((16, 8)).astype(ml_dtypes.bfloat16),
               "model.norm.weight": np.ones(8, dtype=np.float32)}
    for block in range(8):
        p = f"model.layers.{block}."
        tensors[p + "self_attn.q_proj.weight"] = r.standard_normal((8, 8)).astype(ml_dtypes.bfloat16)
        tensors[p + "mlp.down_proj.weight"] = r.standard_normal((8, 4)).astype(ml_dtypes.bfloat16)
        tensors[p + "input_layernorm.weight"] = r.standard_normal(8).astype(np.float32)
    return tensors


def single_and_sharded() -> None:
    tensors = tiny_model()
    (HERE / "single").mkdir()
    save_file(tensors, HERE / "single" / "model.safetensors", metadata={"format": "pt"})

    # The data order the reference writer chose, read back; split as transformers splits it.
    with safe_open(HERE / "single" / "model.safetensors", "numpy") as f:
        order = list(f.offset_keys())
    shards, current, size = [], {}, 0
    for name in order:
        n = tensors[name].nbytes
        assert n <= MAX_SHARD_SIZE
        if current and size + n > MAX_SHARD_SIZE:
            shards.append(current)
            current, size = {}, 0
        current[name] = tensors[name]
        size += n
    shards.append(current)

    folder = HERE / "sharded"
    folder.mkdir()
    weight_map = {}
    for i, shard in enumerate(shards):
        name = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        save_file(shard, folder / name, metadata={"format": "pt"})
        weight_map.update({tensor: name for tensor in shard})
    index = {"metadata": {"total_size": sum(t.nbytes for t in tensors.values())}, "weight_map": weight_map}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")


# ---------------------------------------------------------------- bad files

def entry(dtype: str, shape: list, start: int, end: int) -> dict:
    return {"dtype": dtype, "shape": shape, "data_offsets": [start, end]}


def make_bad_files() -> dict[str, str]:
    bad = HERE / "bad"
    bad.mkdir()
    notes = {}

    def header_file(name: str, note: str, header: dict | str | bytes, data: bytes, length: int | None = None):
        text = header if isinstance(header, (str, bytes)) else json.dumps(header, separators=(",", ":"))
        raw_file(bad / name, text, data, length)
        notes[name] = note

    ok = entry("F32", [2, 2], 0, 16)
    header_file("too-small.safetensors", "4 bytes: no room for the header length", b"", b"", None)
    (bad / "too-small.safetensors").write_bytes(b"\x10\x00\x00\x00")
    header_file("header-past-end.safetensors", "header length 4096 in a 100-byte file", {"a": ok}, bytes(16), 4096)
    header_file("header-too-large.safetensors", "header length claims 100000001 bytes (limit 100000000)",
                {"a": ok}, bytes(16), 100_000_001)
    header_file("malformed-json.safetensors", "header is not JSON", '{"a": {"dtype": "F32",', bytes(16))
    header_file("not-utf8.safetensors", "header bytes are not UTF-8", b'{"\xff": 1}', b"")
    header_file("not-object.safetensors", "header is a JSON array", "[]", b"")
    header_file("missing-dtype.safetensors", "a tensor without dtype",
                {"a": {"shape": [2, 2], "data_offsets": [0, 16]}}, bytes(16))
    header_file("bad-metadata.safetensors", "__metadata__ value is a number",
                {"__metadata__": {"k": 1}, "a": ok}, bytes(16))
    header_file("unknown-dtype.safetensors", "dtype F7", {"a": entry("F7", [2, 2], 0, 16)}, bytes(16))
    header_file("lowercase-dtype.safetensors", "dtype names are case-sensitive",
                {"a": entry("f32", [2, 2], 0, 16)}, bytes(16))
    header_file("overlapping-offsets.safetensors", "second tensor starts inside the first",
                {"a": ok, "b": entry("F32", [2, 2], 8, 24)}, bytes(24))
    header_file("hole.safetensors", "8 bytes between two tensors",
                {"a": ok, "b": entry("F32", [2, 2], 24, 40)}, bytes(40))
    header_file("offsets-past-end.safetensors", "tensor data beyond the end of the file",
                {"a": entry("F32", [4, 4], 0, 64)}, bytes(16))
    header_file("trailing-bytes.safetensors", "8 bytes after the last tensor", {"a": ok}, bytes(24))
    header_file("size-mismatch.safetensors", "F32 [2, 3] needs 24 bytes, offsets give 20",
                {"a": entry("F32", [2, 3], 0, 20)}, bytes(20))
    header_file("shape-overflow.safetensors", "element count overflows",
                {"a": entry("F32", [2**40, 2**40], 0, 16)}, bytes(16))
    header_file("partial-f4.safetensors", "3 F4 values do not fill whole bytes",
                {"a": entry("F4", [3], 0, 2)}, bytes(2))
    header_file("duplicate-tensor.safetensors", "name 'a' twice",
                '{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},'
                '"a":{"dtype":"F32","shape":[2,2],"data_offsets":[16,32]}}', bytes(32))

    # Sharded folders with a broken index; their shards are written by the reference.
    def folder(name: str, note: str, shards: dict[str, list[str]], weight_map: dict[str, str]):
        path = bad / name
        path.mkdir()
        for shard, names in shards.items():
            save_file({n: np.arange(4, dtype=np.float32) for n in names}, path / shard)
        index = {"metadata": {"total_size": 16 * len(weight_map)}, "weight_map": weight_map}
        (path / "model.safetensors.index.json").write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
        notes[name] = note

    s1, s2 = "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"
    folder("missing-shard", "the index names a shard that is not there", {s1: ["a"]}, {"a": s1, "b": s2})
    folder("tensor-not-in-shard", "the index puts 'b' in a shard without it", {s1: ["a"], s2: ["c"]},
           {"a": s1, "b": s2, "c": s2})
    folder("unlisted-tensor", "a shard holds 'c', which the index does not list", {s1: ["a"], s2: ["b", "c"]},
           {"a": s1, "b": s2})
    folder("duplicate-across-shards", "'a' is in both shards", {s1: ["a"], s2: ["a", "b"]}, {"a": s1, "b": s2})
    return notes


# ---------------------------------------------------------------- expected.json

def describe(path: Path) -> dict:
    """What the reference reader finds: tensors in data order with their bytes' digest, metadata in header order."""
    blob = path.read_bytes()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    tensors = dict(deserialize(blob))
    with safe_open(path, "numpy") as f:
        reference_metadata = f.metadata() or {}
    metadata = [[k, v] for k, v in (header.get("__metadata__") or {}).items()]
    assert dict(metadata) == reference_metadata
    infos = sorted(((k, v) for k, v in header.items() if k != "__metadata__"), key=lambda kv: kv[1]["data_offsets"])
    described = []
    for name, info in infos:
        t = tensors[name]
        assert t["dtype"] == info["dtype"] and list(t["shape"]) == info["shape"]
        start, end = info["data_offsets"]
        assert end - start == len(t["data"])
        described.append({"name": name, "dtype": t["dtype"], "shape": list(t["shape"]),
                          "offset": 8 + n + start, "nBytes": len(t["data"]),
                          "sha256": hashlib.sha256(bytes(t["data"])).hexdigest()})
    return {"dataStart": 8 + n, "metadata": metadata, "tensors": described}


def main() -> None:
    for child in HERE.iterdir():
        if child.name in {"generate.py"}:
            continue
        shutil.rmtree(child) if child.is_dir() else child.unlink()
    dtypes_file()
    packed_file()
    handmade_file()
    single_and_sharded()
    notes = make_bad_files()

    files = sorted(p.relative_to(HERE).as_posix() for p in HERE.rglob("*.safetensors")
                   if not p.relative_to(HERE).as_posix().startswith("bad/"))
    expected = {
        "generator": f"safetensors {safetensors.__version__}",
        "files": {name: describe(HERE / name) for name in files},
        "bad": notes,
    }
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
