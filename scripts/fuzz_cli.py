#!/usr/bin/env python3
"""Black-box mutation fuzzer for the modelsurgery CLI ("hostile input").

It takes the small test models in TestModels/ as seeds (GGUF files, split GGUF shard sets,
Hugging Face folders, ONNX files and folders), mutates them (structure-aware GGUF metadata and
tensor-info edits, random header bytes, config.json / tokenizer.json / tokenizer_config.json /
safetensors header and index edits, ONNX protobuf edits), runs one cheap command on each mutated
input in a fresh, empty scratch folder and classifies the run:

  ok          exit status 0 and nothing left behind
  clean       exit status != 0 (no signal) with a one-line "Error: ..." message
  crash       killed by a signal, or stderr shows a Swift trap / assertion / segfault
  hang        still running after --timeout seconds (killed)
  memory      killed by SIGKILL (OOM), ENOMEM / "allocat" in stderr, or peak RSS > --rss-limit
  leftovers   a failed run left files in its output folder (hidden temp files included), any run
              left hidden temp files or files in $TMPDIR, or the input files changed
  bad-message exit status != 0 without a clean "Error: ..." last line, or an error line that is
              over 1000 characters or carries control / invalid UTF-8 bytes (raw file bytes)

Every non-ok, non-clean result is saved (deduplicated) under --out/<class>-<n>/: the mutated
input (input/), the calibration/eval text (aux/), case.json (command template, rc, signal,
mutations, stderr tail, signature) and stderr.txt; repro.sh re-runs it. --replay DIR re-runs
saved findings against another binary and says which still fail.

  .venv/bin/python scripts/fuzz_cli.py --binary .build/debug/modelsurgery --seconds 600
  .venv/bin/python scripts/fuzz_cli.py --runs 2000 --seed 7 --jobs 2 --out /tmp/fz
  .venv/bin/python scripts/fuzz_cli.py --replay /tmp/fuzz-cli-findings --binary .build/debug/modelsurgery

Needs Python 3 with numpy and the gguf package (the repository's .venv has both).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import copy
import hashlib
import json
import math
import os
import random
import re
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import traceback

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TM = os.path.join(REPO, "TestModels")

GiB = 1 << 30
CLASSES = ["ok", "clean", "crash", "hang", "memory", "leftovers", "bad-message", "harness-error"]
BAD_CLASSES = ["crash", "hang", "memory", "leftovers", "bad-message", "harness-error"]

CRASH_MARKERS = ["Fatal error", "Assertion", "Illegal instruction", "Segmentation", "malloc",
                 "Swift runtime failure", "precondition", "Program crashed", "Stack dump",
                 "Current stack trace", "Cannot allocate", "double free", "corrupted"]
SWIFT_BACKTRACE = "enable=yes,interactive=no,color=no,threads=crashed,registers=none,images=none,limit=40"
MEMORY_MARKERS = ["allocat", "enomem", "cannot allocate memory", "out of memory", "bad_alloc"]

# ---------------------------------------------------------------------------------------------
# Seeds
# ---------------------------------------------------------------------------------------------


def discover_seeds(max_bytes=2_500_000):
    seeds = []

    def add(kind, path, weight, **kw):
        if os.path.exists(path):
            seeds.append(dict(kind=kind, path=path, weight=weight, **kw))

    for d, w in ((TM, 1.0), (os.path.join(TM, "hf"), 0.6), (os.path.join(TM, "bad"), 0.15)):
        if not os.path.isdir(d):
            continue
        for n in sorted(os.listdir(d)):
            p = os.path.join(d, n)
            if n.endswith(".gguf") and os.path.isfile(p) and os.path.getsize(p) <= max_bytes:
                add("gguf", p, w)
    split = os.path.join(TM, "split")
    if os.path.isdir(split):
        groups = {}
        for n in sorted(os.listdir(split)):
            m = re.match(r"(.*)-(\d{5})-of-(\d{5})\.gguf$", n)
            if m:
                groups.setdefault(m.group(1), []).append(n)
        for prefix, names in groups.items():
            add("split", split, 4.0, shards=sorted(names))
    for n, w in (("tiny-llama-hf", 6.0), ("tiny-gemma3-hf", 6.0), ("tiny-qwen2-hf", 3.0)):
        add("hf", os.path.join(TM, "hf", n), w)
    onnx = os.path.join(TM, "onnx")
    add("onnx", os.path.join(onnx, "torch-dynamo", "qwen2", "model.onnx"), 1.0, file=True)
    add("onnx", os.path.join(onnx, "torch-dynamo", "llama", "model.onnx"), 1.0, file=True)
    add("onnx", os.path.join(onnx, "optimum", "llama"), 1.0)
    add("onnx", os.path.join(onnx, "genai", "llama", "int4"), 1.0)
    return seeds


# ---------------------------------------------------------------------------------------------
# Boundary values
# ---------------------------------------------------------------------------------------------

INT_BOUNDS = [0, 1, 2, 3, -1, -2, 7, 16, 40, 64, 255, 256, 2**15 - 1, 2**15, 2**16 - 1, 2**16,
              2**24 + 1, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**32 + 1, 2**53 + 1, 2**62,
              2**63 - 1, 2**63, 2**64 - 1, -2**31, -2**63]
FLOAT_BOUNDS = [0.0, -0.0, float("nan"), -float("nan"), float("inf"), -float("inf"), 1e-45,
                1e-38, 3.4028235e38, 1e308, 5e-324, -1.0, 1.0, 0.5, 2.0, 1e30, 1e-30, -1e30]


def int_candidates(rng, v, related=()):
    c = list(INT_BOUNDS)
    if v is not None:
        v = int(v)
        c += [v - 1, v + 1, 2 * v, v // 2, 3 * v, v * v, -v, v + 2**32, v | 2**31]
    c += [int(x) for x in related if x is not None]
    c += [int(x) + d for x in related if x is not None for d in (-1, 1)]
    return rng.choice(c)


def float_candidates(rng, v):
    c = list(FLOAT_BOUNDS)
    if v is not None and math.isfinite(v):
        c += [v * 2, v / 2, -v, v + 1, v * 1e10, v * 1e-10]
    return rng.choice(c)


def pack(fmt, v):
    """Little-endian packing that wraps integers and saturates floats instead of raising."""
    if fmt in "fd":
        try:
            v = float(v)
        except (OverflowError, ValueError):
            v = float("inf")
        if fmt == "f":
            if math.isfinite(v) and abs(v) > 3.4028235e38:
                v = math.copysign(float("inf"), v)
            return struct.pack("<f", v)
        return struct.pack("<d", v)
    if isinstance(v, float):
        v = int(v) if math.isfinite(v) else 0
    size = struct.calcsize("<" + fmt)
    return (int(v) & ((1 << (8 * size)) - 1)).to_bytes(size, "little")


def u32(v):
    return pack("I", v)


def u64(v):
    return pack("Q", v)


# ---------------------------------------------------------------------------------------------
# GGUF layout (from gguf-py's GGUFReader) and structure-aware mutation
# ---------------------------------------------------------------------------------------------

GT_FMT = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "B", 10: "Q", 11: "q", 12: "d"}
GT_NAMES = {0: "u8", 1: "i8", 2: "u16", 3: "i16", 4: "u32", 5: "i32", 6: "f32", 7: "bool",
            8: "str", 9: "arr", 10: "u64", 11: "i64", 12: "f64"}

INTERESTING = re.compile(
    r"(\.block_count|\.embedding_length|\.attention\.head_count(_kv)?|\.attention\.key_length|"
    r"\.attention\.value_length|\.rope\.dimension_count|\.feed_forward_length|\.context_length|"
    r"\.vocab_size|\.attention\.sliding_window|\.rope\.freq_base(_swa)?|"
    r"\.attention\.layer_norm_rms_epsilon|\.expert_count|\.expert_used_count|"
    r"\.sliding_window_pattern|\.final_logit_softcapping|\.attn_logit_softcapping)$"
    r"|^split\.|^tokenizer\.ggml\..*_token_id$|^general\.alignment$|^general\.file_type$")

GGML_TYPES = [0, 1, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24,
              25, 26, 27, 28, 29, 30, 31, 34, 35, 36, 39, 40, 200, 2**31, 2**32 - 1]


def _fmt_of(dt):
    return {("u", 1): "B", ("i", 1): "b", ("u", 2): "H", ("i", 2): "h", ("u", 4): "I",
            ("i", 4): "i", ("u", 8): "Q", ("i", 8): "q", ("f", 4): "f", ("f", 8): "d",
            ("b", 1): "B"}[(dt.kind, dt.itemsize)]


_LAYOUT_CACHE = {}


def gguf_layout(path):
    """Byte offsets of every value in a GGUF header, or None if gguf-py cannot parse it."""
    if path in _LAYOUT_CACHE:
        return _LAYOUT_CACHE[path]
    lay = None
    try:
        from gguf import GGUFReader
        r = GGUFReader(path, "r")
        lay = dict(fields=[], tensors=[], data_offset=int(r.data_offset),
                   alignment=int(getattr(r, "alignment", 32)), size=os.path.getsize(path),
                   known={}, arch=None)
        for name, f in r.fields.items():
            offs, o = [], int(f.offset)
            for p in f.parts:
                offs.append(o)
                o += p.nbytes
            if name.startswith("GGUF."):
                continue
            types = [int(t) for t in f.types]
            e = dict(name=name, start=int(f.offset), end=o, types=types, slots=[], n=0)
            e["slots"].append(dict(off=offs[0], fmt="Q", role="keylen", v=int(f.parts[0][0])))
            e["slots"].append(dict(off=offs[2], fmt="I", role="type", v=types[0]))
            if types[0] == 9:
                e["slots"].append(dict(off=offs[3], fmt="I", role="elemtype", v=int(f.parts[3][0])))
                e["slots"].append(dict(off=offs[4], fmt="Q", role="count", v=int(f.parts[4][0])))
                e["n"] = len(f.data)
                idx = list(f.data)
                if len(idx) > 24:
                    idx = idx[:8] + idx[-8:] + random.Random(name).sample(idx[8:-8], 8)
                elemtype = int(f.parts[3][0])
                for d in idx:
                    if elemtype == 8:
                        e["slots"].append(dict(off=offs[d - 1], fmt="Q", role="strlen",
                                               v=int(f.parts[d - 1][0]), soff=offs[d],
                                               slen=int(f.parts[d].nbytes)))
                    elif elemtype in GT_FMT:
                        fmt = _fmt_of(f.parts[d].dtype)
                        val = f.parts[d][0].item()
                        e["slots"].append(dict(off=offs[d], fmt=fmt, role="elem", v=val))
                if elemtype in (4, 5, 10, 11) and len(f.data):
                    vals = [int(f.parts[d][0]) for d in f.data]
                    e["arrvals"] = vals
                    if INTERESTING.search(name):
                        lay["known"][name.split(".", 1)[-1]] = max(vals)
            elif types[0] == 8:
                s = bytes(f.parts[4]).decode("utf-8", "replace")
                e["slots"].append(dict(off=offs[3], fmt="Q", role="strlen", v=int(f.parts[3][0]),
                                       soff=offs[4], slen=int(f.parts[4].nbytes)))
                e["str"] = s
                if name == "general.architecture":
                    lay["arch"] = s
            else:
                fmt = _fmt_of(f.parts[3].dtype)
                val = f.parts[3][0].item()
                e["slots"].append(dict(off=offs[3], fmt=fmt, role="value", v=val))
                e["value"] = val
                if isinstance(val, (int, float)) and not isinstance(val, bool):
                    lay["known"][name.split(".", 1)[-1] if "." in name else name] = val
            lay["fields"].append(e)
        for t in r.tensors:
            f = t.field
            offs, o = [], int(f.offset)
            for p in f.parts:
                offs.append(o)
                o += p.nbytes
            nd = int(f.parts[2][0])
            dims = [int(x) for x in f.parts[3]]
            e = dict(name=t.name, start=int(f.offset), end=o, ndims=nd, dims=dims,
                     type=int(f.parts[4][0]), offset=int(f.parts[5][0]),
                     abs=int(t.data_offset), nbytes=int(t.n_bytes), slots=[])
            e["slots"].append(dict(off=offs[0], fmt="Q", role="namelen", v=int(f.parts[0][0])))
            e["slots"].append(dict(off=offs[2], fmt="I", role="ndims", v=nd))
            for j in range(nd):
                e["slots"].append(dict(off=offs[3] + 8 * j, fmt="Q", role="dim", v=dims[j]))
            e["slots"].append(dict(off=offs[4], fmt="I", role="ggmltype", v=e["type"]))
            e["slots"].append(dict(off=offs[5], fmt="Q", role="offset", v=e["offset"]))
            lay["tensors"].append(e)
        ends = [t["end"] for t in lay["tensors"]] + [f["end"] for f in lay["fields"]] + [24]
        lay["header_end"] = max(ends)
        lay["kv_end"] = lay["tensors"][0]["start"] if lay["tensors"] else lay["header_end"]
        lay["tensor_count"] = len(lay["tensors"])
        lay["kv_count"] = len(lay["fields"])
        del r
    except Exception:
        lay = None
    _LAYOUT_CACHE[path] = lay
    return lay


def related_values(lay):
    k = lay["known"]
    rel = []
    for key in ("embedding_length", "block_count", "vocab_size", "feed_forward_length",
                "context_length"):
        for kk, vv in k.items():
            if kk.endswith(key) and isinstance(vv, int):
                rel.append(vv)
    emb = next((v for kk, v in k.items() if kk.endswith("embedding_length")), None)
    hc = next((v for kk, v in k.items() if kk.endswith("attention.head_count")), None)
    if isinstance(emb, int) and isinstance(hc, int) and hc:
        rel += [emb // hc, emb // hc + 1, emb // hc - 1, 40]
    rel += [lay["tensor_count"], lay["size"], lay["data_offset"], lay["alignment"]]
    return rel


def splice(buf, lay, a, b, new, kv_delta=0, tensor_delta=0):
    """Replace buf[a:b] (inside the header) by new, then re-align the tensor data behind it."""
    head = bytes(buf[:a]) + new + bytes(buf[b:lay["header_end"]])
    align = lay["alignment"] if lay["alignment"] > 0 else 32
    pad = (-len(head)) % align
    out = bytearray(head + b"\0" * pad + bytes(buf[lay["data_offset"]:]))
    if kv_delta:
        out[16:24] = u64(struct.unpack_from("<Q", buf, 16)[0] + kv_delta)
    if tensor_delta:
        out[8:16] = u64(struct.unpack_from("<Q", buf, 8)[0] + tensor_delta)
    return out


def enc_str(s):
    if isinstance(s, str):
        s = s.encode("utf-8", "surrogateescape")
    return u64(len(s)) + s


def enc_scalar(t, v):
    if t == 8:
        return enc_str(v if isinstance(v, (bytes, str)) else str(v))
    return pack(GT_FMT.get(t, "I"), v)


def enc_kv(key, t, v, elem_t=None):
    out = enc_str(key) + u32(t)
    if t == 9:
        out += u32(elem_t) + u64(len(v)) + b"".join(enc_scalar(elem_t, x) for x in v)
    else:
        out += enc_scalar(t, v)
    return out


def pick_weighted(rng, items, weight):
    ws = [weight(x) for x in items]
    tot = sum(ws)
    if tot <= 0:
        return rng.choice(items)
    r = rng.random() * tot
    for x, w in zip(items, ws):
        r -= w
        if r <= 0:
            return x
    return items[-1]


def field_weight(f, prefer=None):
    if prefer and re.search(prefer, f["name"]):
        return 40.0
    if INTERESTING.search(f["name"]):
        return 10.0
    if f["name"].startswith("tokenizer.ggml.") and f["types"][0] == 9:
        return 2.0
    if f["name"] in ("general.architecture", "tokenizer.ggml.model", "tokenizer.ggml.pre"):
        return 2.0
    return 0.5


HOSTILE_STRINGS = ["", "bogus", "llama", "gemma3", "qwen2", "qwen3", "deci", "gemma2", "mistral",
                   "gpt2", "bert", "t5", "none", "llama\0", "\udcff\udcfe", "a" * 300, "blk.0",
                   "../../../etc/passwd", "%s%n", "1e999"]


def gguf_inplace_mutation(rng, buf, lay, prefer=None):
    """Overwrite one value in place (no change of size)."""
    rel = related_values(lay)
    r = rng.random()
    if r < 0.55 and lay["fields"]:
        f = pick_weighted(rng, lay["fields"], lambda f: field_weight(f, prefer))
        slots = f["slots"]
        roles = [s for s in slots if s["role"] in ("value", "elem", "count", "strlen")]
        if not roles or rng.random() < 0.06:
            roles = slots
        s = rng.choice(roles)
        desc = f"kv {f['name']} {s['role']}"
    elif r < 0.85 and lay["tensors"]:
        t = rng.choice(lay["tensors"])
        s = pick_weighted(rng, t["slots"], lambda s: {"dim": 4, "ggmltype": 3, "offset": 3,
                                                     "ndims": 1, "namelen": 0.3}[s["role"]])
        desc = f"tensor {t['name']} {s['role']}"
        f = t
    else:
        which = rng.choice(["version", "tensor_count", "kv_count"])
        off, fmt, v = {"version": (4, "I", 3), "tensor_count": (8, "Q", lay["tensor_count"]),
                       "kv_count": (16, "Q", lay["kv_count"])}[which]
        s = dict(off=off, fmt=fmt, role=which, v=v)
        desc = f"header {which}"
    role = s["role"]
    if s["fmt"] in "fd":
        nv = float_candidates(rng, s["v"])
    elif role in ("type", "elemtype"):
        nv = rng.choice(list(range(0, 14)) + [99, 2**31, 2**32 - 1])
    elif role == "ggmltype":
        nv = rng.choice(GGML_TYPES)
    elif role == "version":
        nv = rng.choice([0, 1, 2, 4, 2**31, 2**32 - 1, 0x03000000])
    elif role == "dim":
        others = [d for d in f["dims"]]
        nv = int_candidates(rng, s["v"], rel + others + [1, 0, 2**62, 2**63 // max(1, s["v"])])
    elif role == "offset":
        ends = [t["offset"] for t in lay["tensors"]] + [t["offset"] + t["nbytes"] for t in lay["tensors"]]
        dsize = lay["size"] - lay["data_offset"]
        nv = int_candidates(rng, s["v"], ends + [dsize, dsize - lay["alignment"], s["v"] + lay["alignment"],
                                                 2**64 - lay["alignment"], 2**64 - s["v"]])
    else:
        nv = int_candidates(rng, s["v"], rel)
    buf[s["off"]:s["off"] + struct.calcsize("<" + s["fmt"])] = pack(s["fmt"], nv)
    return f"{desc} {s['v']!r} -> {nv!r}", desc


def gguf_struct_mutation(rng, buf, lay, prefer=None):
    """A mutation that changes sizes (retype, add/remove keys or tensors, resize arrays, strings)."""
    rel = related_values(lay)
    arch = lay["arch"] or "llama"
    L = next((v for k, v in lay["known"].items() if k.endswith("block_count") and isinstance(v, int)), 4)
    ops = ["retype", "add_kv", "remove_kv", "array_resize", "string", "tensor_rename",
           "tensor_add", "tensor_remove", "tensor_ndims", "token_string", "merge"]
    op = rng.choice(ops)
    fields = lay["fields"]
    if not fields:
        op = rng.choice(["tensor_rename", "tensor_remove", "tensor_add"])
    if not lay["tensors"] and op.startswith("tensor"):
        op = "add_kv"
    if op == "retype":
        cands = [f for f in fields if f["types"][0] != 9 or f["name"].endswith(("head_count", "head_count_kv", "feed_forward_length"))]
        f = pick_weighted(rng, cands or fields, lambda f: field_weight(f, prefer))
        v = f.get("value", f.get("arrvals", [L])[0] if f.get("arrvals") else 1)
        t = rng.choice([0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 9, 9, 9, 13, 99])
        if t in (6, 12):
            nv = float_candidates(rng, float(v) if isinstance(v, (int, float)) else None)
        elif t == 8:
            nv = rng.choice([str(v), "", "abc", "-1", "4294967296", "1e999"])
        else:
            nv = int_candidates(rng, v if isinstance(v, int) else None, rel)
        if t == 9:
            et = rng.choice([4, 5, 10, 11, 6, 8, 7, 9, 0])
            n = rng.choice([L, L - 1, L + 1, 0, 1, 2 * L])
            if et == 9:
                body = u32(9) + u64(n) + b"".join(u32(4) + u64(1) + u32(1) for _ in range(max(0, n)))
                new = enc_str(f["name"]) + u32(9) + body
            else:
                vals = [v if isinstance(v, (int, float)) else 1] * max(0, n)
                if vals and rng.random() < 0.7:
                    vals[rng.randrange(len(vals))] = int_candidates(rng, None, rel) if et not in (6, 8) else float_candidates(rng, None)
                new = enc_kv(f["name"], 9, vals, et)
            desc = f"retype {f['name']} -> array<{GT_NAMES.get(et, et)}>[{n}]"
        elif t in GT_FMT or t == 8:
            new = enc_kv(f["name"], t, nv)
            desc = f"retype {f['name']} -> {GT_NAMES.get(t)} {nv!r}"
        else:
            new = enc_str(f["name"]) + u32(t) + u32(1)
            desc = f"retype {f['name']} -> invalid type {t}"
        out = splice(buf, lay, f["start"], f["end"], new)
        return out, desc, f"retype {f['name']}"
    if op == "add_kv":
        keys = [f"{arch}.attention.sliding_window", "general.alignment", f"{arch}.expert_count",
                "split.count", "split.no", "tokenizer.ggml.padding_token_id",
                f"{arch}.block_count", f"{arch}.embedding_length", f"{arch}.attention.head_count_kv",
                f"{arch}.attention.key_length", f"{arch}.rope.dimension_count", f"{arch}.vocab_size",
                "general.architecture", f"{arch}.attention.layer_norm_rms_epsilon",
                f"{arch}.rope.freq_base", "tokenizer.ggml.bos_token_id"]
        key = rng.choice(keys + [f["name"] for f in fields if INTERESTING.search(f["name"])])
        if key == "general.alignment":
            new = enc_kv(key, 4, rng.choice([0, 1, 3, 7, 8, 64, 4096, 2**31, 2**32 - 1]))
        elif key == "general.architecture":
            new = enc_kv(key, 8, rng.choice(HOSTILE_STRINGS))
        elif key.endswith(("epsilon", "freq_base")):
            new = enc_kv(key, 6, float_candidates(rng, None))
        else:
            t = rng.choice([4, 4, 10, 5, 2])
            new = enc_kv(key, t, int_candidates(rng, None, rel))
        out = splice(buf, lay, lay["kv_end"], lay["kv_end"], new, kv_delta=1)
        return out, f"add kv {key} ({len(new)} bytes; duplicate={any(f['name'] == key for f in fields)})", f"add_kv {key}"
    if op == "remove_kv":
        f = pick_weighted(rng, fields, lambda f: field_weight(f, prefer) + (5 if f["name"].startswith("tokenizer.ggml.") else 0))
        out = splice(buf, lay, f["start"], f["end"], b"", kv_delta=-1)
        return out, f"remove kv {f['name']}", f"remove_kv {f['name']}"
    if op in ("array_resize", "token_string", "merge"):
        arrays = [f for f in fields if f["types"][0] == 9]
        if not arrays:
            return gguf_struct_mutation(rng, buf, lay, prefer) if rng.random() < 0.5 else (buf, "noop", "noop")
        if op == "token_string":
            arrays = [f for f in arrays if f["name"] == "tokenizer.ggml.tokens"] or arrays
        if op == "merge":
            arrays = [f for f in arrays if f["name"] == "tokenizer.ggml.merges"] or arrays
        f = pick_weighted(rng, arrays, lambda f: field_weight(f, prefer))
        et = f["types"][1] if len(f["types"]) > 1 else 4
        n = f["n"]
        # rebuild the array: read elements from buf
        body_start = f["slots"][3]["off"] + 8  # after count
        elems = []
        p = body_start
        try:
            for _ in range(n):
                if et == 8:
                    ln = struct.unpack_from("<Q", buf, p)[0]
                    elems.append(bytes(buf[p + 8:p + 8 + ln]))
                    p += 8 + ln
                elif et in GT_FMT:
                    sz = struct.calcsize("<" + GT_FMT[et])
                    elems.append(bytes(buf[p:p + sz]))
                    p += sz
                else:
                    return buf, "noop", "noop"
        except struct.error:
            return buf, "noop", "noop"
        what = rng.choice(["drop_last", "drop_first", "append", "dup", "empty", "edit", "edit", "edit"])
        if what == "drop_last" and elems:
            k = rng.choice([1, 1, 2, len(elems) // 2])
            elems = elems[:-k] if k < len(elems) else []
        elif what == "drop_first" and elems:
            elems = elems[1:]
        elif what == "append":
            extra = (b"<new>" if et == 8 else (elems[-1] if elems else pack(GT_FMT.get(et, "I"), 1)))
            elems += [extra] * rng.choice([1, 2, 1000])
        elif what == "dup" and elems:
            i, j = rng.randrange(len(elems)), rng.randrange(len(elems))
            elems[i] = elems[j]
        elif what == "empty":
            elems = []
        elif elems:
            i = rng.randrange(len(elems))
            if et == 8:
                if f["name"] == "tokenizer.ggml.merges":
                    elems[i] = rng.choice([b"", b"a", b"a b c", b" ", b"\xff \xfe", b"zz qq",
                                           elems[i] + b" x", b"a  b", elems[i].replace(b" ", b"")])
                else:
                    elems[i] = rng.choice([b"", b"\xff\xfe", b"<0x", b"<0xZZ>", b"<0x100>", b"\0",
                                           b"a" * 5000, elems[(i + 1) % len(elems)], b"<unk>",
                                           b"\xe2\x96\x81", b"\xc4\xa0" * 3])
            else:
                fmt = GT_FMT.get(et, "I")
                old = struct.unpack("<" + fmt, elems[i])[0]
                nv = float_candidates(rng, old) if fmt in "fd" else int_candidates(rng, old, rel)
                elems[i] = pack(fmt, nv)
        else:
            return buf, "noop", "noop"
        body = b"".join((u64(len(e)) + e) if et == 8 else e for e in elems)
        new = bytes(buf[f["start"]:f["slots"][3]["off"]]) + u64(len(elems)) + body
        out = splice(buf, lay, f["start"], f["end"], new)
        return out, f"array {f['name']} {what} (n {n} -> {len(elems)})", f"array {f['name']} {what}"
    if op == "string":
        strs = [f for f in fields if f["types"][0] == 8]
        if not strs:
            return buf, "noop", "noop"
        f = pick_weighted(rng, strs, lambda f: 10 if f["name"] in ("general.architecture", "tokenizer.ggml.model", "tokenizer.ggml.pre") else 1)
        s = rng.choice(HOSTILE_STRINGS)
        new = enc_kv(f["name"], 8, s)
        out = splice(buf, lay, f["start"], f["end"], new)
        return out, f"string {f['name']} -> {s[:40]!r}", f"string {f['name']}"
    tensors = lay["tensors"]
    t = rng.choice(tensors)
    if op == "tensor_rename":
        m = re.match(r"blk\.(\d+)\.(.*)", t["name"])
        suffix = m.group(2) if m else "attn_q.weight"
        newname = rng.choice([f"blk.{L}.{suffix}", f"blk.{L + 5}.{suffix}", f"blk.4294967296.{suffix}",
                              f"blk.-1.{suffix}", f"blk.00.{suffix}", f"blk.0x1.{suffix}", f"blk..{suffix}",
                              f"blk.{2**63}.{suffix}", rng.choice(tensors)["name"], "", "token_embd.weight",
                              "output.weight", t["name"] + ".x", t["name"].replace("weight", "bias"),
                              "blk.0", f"blk.1.{suffix}"])
        new = enc_str(newname) + bytes(buf[t["slots"][0]["off"] + 8 + t["slots"][0]["v"]:t["end"]])
        out = splice(buf, lay, t["start"], t["end"], new)
        return out, f"tensor rename {t['name']} -> {newname!r}", "tensor_rename"
    if op == "tensor_add":
        m = re.match(r"blk\.(\d+)\.(.*)", t["name"])
        suffix = m.group(2) if m else "attn_norm.weight"
        newname = rng.choice([f"blk.{L}.{suffix}", f"blk.{L + 3}.{suffix}", f"blk.4294967295.{suffix}",
                              t["name"], f"blk.0.{suffix}.extra", "rope_freqs.weight"])
        new = enc_str(newname) + bytes(buf[t["slots"][0]["off"] + 8 + t["slots"][0]["v"]:t["end"]])
        out = splice(buf, lay, lay["header_end"], lay["header_end"], new, tensor_delta=1)
        return out, f"tensor add {newname!r} (copy of {t['name']}'s info)", "tensor_add"
    if op == "tensor_remove":
        out = splice(buf, lay, t["start"], t["end"], b"", tensor_delta=-1)
        return out, f"tensor remove {t['name']}", "tensor_remove"
    # tensor_ndims: add or drop a dimension (consistently)
    dims = list(t["dims"])
    what = rng.choice(["add1", "drop", "add_big", "five"])
    if what == "add1":
        dims = dims + [1]
    elif what == "drop" and len(dims) > 1:
        dims = dims[:-1]
    elif what == "add_big":
        dims = dims + [rng.choice([0, 2, 2**32, 2**63])]
    else:
        dims = dims + [1] * (5 - len(dims))
    name_end = t["slots"][0]["off"] + 8 + t["slots"][0]["v"]
    new = bytes(buf[t["start"]:name_end]) + u32(len(dims)) + b"".join(u64(d) for d in dims) + \
        u32(t["type"]) + u64(t["offset"])
    out = splice(buf, lay, t["start"], t["end"], new)
    return out, f"tensor {t['name']} dims {t['dims']} -> {dims}", "tensor_ndims"


def bytes_mutation(rng, buf, hi):
    """Random byte-level edits in buf[:hi] (the header region), or a truncation."""
    descs = []
    hi = max(1, min(hi, len(buf)))
    for _ in range(rng.choice([1, 1, 2, 3, 5, 8])):
        op = rng.choice(["flip", "set", "insert", "delete", "dup", "int", "truncate", "append"])
        lim = min(hi, len(buf))
        p = rng.randrange(lim) if lim > 0 else 0
        if op == "flip" and buf:
            buf[p] ^= 1 << rng.randrange(8)
        elif op == "set" and buf:
            buf[p] = rng.choice([0, 0xFF, 0x7F, 0x80, rng.randrange(256)])
        elif op == "insert":
            buf[p:p] = bytes(rng.randrange(256) for _ in range(rng.choice([1, 2, 4, 8, 16])))
        elif op == "delete":
            del buf[p:p + rng.choice([1, 2, 4, 8, 64])]
        elif op == "dup":
            n = rng.choice([4, 8, 32])
            buf[p:p] = buf[p:p + n]
        elif op == "int":
            w = rng.choice([4, 8])
            buf[p:p + w] = pack("I" if w == 4 else "Q", int_candidates(rng, None))
        elif op == "truncate":
            cut = rng.choice([p, rng.randrange(len(buf) + 1), len(buf) - 1, len(buf) - rng.randrange(1, 64)])
            del buf[max(0, cut):]
            descs.append(f"truncate at {max(0, cut)}")
            break
        elif op == "append":
            buf += bytes(rng.randrange(256) for _ in range(rng.choice([1, 7, 100])))
        descs.append(f"{op}@{p}")
    return "bytes " + " ".join(descs)


def data_mutation(rng, buf, lay):
    """Fill (part of) one tensor's data with NaN / inf / huge values."""
    if not lay or not lay["tensors"]:
        return None
    t = rng.choice(lay["tensors"])
    a = t["abs"]
    n = min(t["nbytes"], len(buf) - a)
    if n <= 0:
        return None
    ty = t["type"]
    if ty == 0:
        pat = rng.choice([struct.pack("<f", float("nan")), struct.pack("<f", float("inf")),
                          struct.pack("<f", 3.4e38), b"\xff\xff\xff\xff", struct.pack("<f", -float("inf"))])
    elif ty == 1:
        pat = rng.choice([b"\x00\x7e", b"\x00\x7c", b"\xff\x7b", b"\x00\xfc"])
    elif ty == 30:
        pat = rng.choice([b"\xc0\x7f", b"\x80\x7f", b"\x7f\x7f"])
    else:
        pat = rng.choice([b"\x00\x7e", b"\x00\x7c", b"\xff"])  # f16 NaN/inf in block scales
    whole = rng.random() < 0.5
    if whole:
        start, ln = a, n
    else:
        start, ln = a + rng.randrange(n), min(n, rng.choice([2, 4, 64]))
        ln = min(ln, a + n - start)
    rep = (pat * (ln // len(pat) + 1))[:ln]
    buf[start:start + ln] = rep
    return f"data {t['name']} ({'all' if whole else ln} bytes) <- {pat.hex()}"


def mutate_gguf_file(rng, path, prefer=None, allow_data=True):
    """Mutate the GGUF file at path in place; returns (descriptions, target family)."""
    buf = bytearray(open(path, "rb").read())
    lay = gguf_layout(path)
    descs, family = [], None
    if lay is None:
        descs.append(bytes_mutation(rng, buf, len(buf)))
        family = "bytes"
    else:
        n_inplace = rng.choice([0, 1, 1, 1, 2, 3])
        structural = rng.random() < 0.35
        use_bytes = rng.random() < 0.2
        use_data = allow_data and rng.random() < 0.08
        if not (n_inplace or structural or use_bytes or use_data):
            n_inplace = 1
        for _ in range(n_inplace):
            d, fam = gguf_inplace_mutation(rng, buf, lay, prefer)
            descs.append(d)
            family = family or fam
        if use_data:
            d = data_mutation(rng, buf, lay)
            if d:
                descs.append(d)
                family = family or "data"
        if structural:
            buf, d, fam = gguf_struct_mutation(rng, buf, lay, prefer)
            descs.append(d)
            family = family or fam
        if use_bytes:
            descs.append(bytes_mutation(rng, buf, lay["data_offset"]))
            family = family or "bytes"
    with open(path, "wb") as fh:
        fh.write(buf)
    return descs, family


# ---------------------------------------------------------------------------------------------
# JSON (config.json, tokenizer*.json, index, genai_config.json) mutation
# ---------------------------------------------------------------------------------------------

JSON_INT_BOUNDS = [0, 1, -1, 2, 3, 7, 16, 40, 2**31 - 1, 2**31, -2**31, 2**32 - 1, 2**32, 2**53 + 1,
                   2**63 - 1, 2**63, 2**64 - 1, 2**64, 10**30, -2**63]
JSON_WEIRD = [None, True, False, "4", "", "abc", [], {}, 1.5, 1e308, -1e308, 5e-324, -0.0,
              float("nan"), float("inf"), -float("inf"), [1, 2], {"a": 1}]

CONFIG_KEYS = ["num_hidden_layers", "hidden_size", "num_attention_heads", "num_key_value_heads",
               "head_dim", "intermediate_size", "vocab_size", "rope_theta", "rms_norm_eps",
               "sliding_window", "layer_types", "bos_token_id", "eos_token_id", "pad_token_id",
               "max_position_embeddings", "tie_word_embeddings", "model_type", "architectures",
               "rope_scaling", "query_pre_attn_scalar", "sliding_window_pattern",
               "_sliding_window_pattern", "rope_local_base_freq", "torch_dtype", "dtype",
               "final_logit_softcapping", "attn_logit_softcapping", "hidden_act",
               "hidden_activation", "attention_bias", "mlp_bias", "use_sliding_window",
               "max_window_layers", "num_experts", "text_config", "quantization_config"]


def json_value_for(rng, key, v):
    r = rng.random()
    if key == "layer_types" and isinstance(v, list):
        return rng.choice([v[:-1], v + ["full_attention"], [], ["bogus"] * len(v), [1] * len(v),
                           v[:1] * 1000, None, "full_attention", [None] * len(v)])
    if key in ("architectures",):
        return rng.choice([[], ["BogusForCausalLM"], ["Qwen2ForCausalLM"], ["Gemma3ForCausalLM"],
                           ["LlamaForCausalLM"], ["MistralForCausalLM"], ["Qwen3ForCausalLM"],
                           ["Gemma2ForCausalLM"], "LlamaForCausalLM", [None], [1]])
    if key == "model_type":
        return rng.choice(["bogus", "llama", "gemma3", "gemma3_text", "qwen2", "qwen3", "mistral", "", None, 5])
    if key == "rope_scaling":
        return rng.choice([{"rope_type": "llama3", "factor": 0, "low_freq_factor": 0,
                            "high_freq_factor": 0, "original_max_position_embeddings": 0},
                           {"type": "linear", "factor": -1.0}, {"rope_type": "yarn", "factor": 1e308},
                           {"rope_type": "bogus"}, {"rope_type": "linear", "factor": float("nan")},
                           {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                            "high_freq_factor": 1.0, "original_max_position_embeddings": 8192}, [], "linear"])
    if key in ("torch_dtype", "dtype"):
        return rng.choice(["float8_e4m3fn", "int8", "bogus", "", None, "float64", "bfloat16", "float16", 3])
    if key in ("text_config", "quantization_config"):
        return rng.choice([{}, {"num_hidden_layers": 2**32}, {"quant_method": "gptq", "bits": 4}, [], 1])
    if key in ("bos_token_id", "eos_token_id", "pad_token_id") and rng.random() < 0.3:
        return rng.choice([[1, 2**32], [-1], [], [None], [10**30]])
    if r < 0.55 and isinstance(v, (int, float)) and not isinstance(v, bool):
        if isinstance(v, float):
            return rng.choice([v * 2, v / 2, -v, 0.0, -0.0, float("nan"), float("inf"), 1e308, 5e-324, 1e-320, 1])
        return rng.choice(JSON_INT_BOUNDS + [v - 1, v + 1, 2 * v, v // 2, v * v, -v, float(v), v + 0.5])
    if r < 0.8:
        return rng.choice(JSON_INT_BOUNDS)
    return rng.choice(JSON_WEIRD)


DELETE = object()


def mutate_json_obj_config(rng, obj, keys=CONFIG_KEYS):
    if not isinstance(obj, dict):
        return "config not an object", None
    present = [k for k in keys if k in obj]
    if rng.random() < 0.75 and present:
        k = rng.choice(present)
    else:
        k = rng.choice(keys)
    if k in obj and rng.random() < 0.12:
        del obj[k]
        return f"delete {k}", k
    old = obj.get(k, "<absent>")
    nv = json_value_for(rng, k, obj.get(k))
    obj[k] = nv
    return f"{k}: {json.dumps(old, allow_nan=True)[:40]} -> {json.dumps(nv, allow_nan=True)[:60]}", k


def mutate_tokenizer_json(rng, obj):
    if not isinstance(obj, dict):
        return "tokenizer not an object", "tok"
    model = obj.get("model") if isinstance(obj.get("model"), dict) else None
    op = rng.choice(["vocab_id", "vocab_id", "vocab_dup", "vocab_del", "vocab_type", "merges",
                     "merges", "added", "added", "model_type", "pretok", "normalizer", "nomodel",
                     "byte_fallback", "unk"])
    if op.startswith("vocab") and model and isinstance(model.get("vocab"), (dict, list)) and model["vocab"]:
        vocab = model["vocab"]
        if isinstance(vocab, list):  # Unigram: [[piece, score], ...]
            i = rng.randrange(len(vocab))
            choice = rng.choice([["", 0.0], [vocab[i][0], float("nan")], [vocab[i][0], 1e308], [vocab[i][0]], [],
                                 "x", [None, 0.0], [vocab[0][0], 0.0]])
            vocab[i] = choice
            return f"unigram vocab[{i}] -> {json.dumps(choice, allow_nan=True)[:40]}", "tok.vocab"
        keys = list(vocab.keys())
        k = rng.choice(keys)
        if op == "vocab_id":
            nv = rng.choice(JSON_INT_BOUNDS + [len(keys), len(keys) + 1, len(keys) * 1000, -5, 1.5, "7", None])
            vocab[k] = nv
            return f"vocab[{k!r}] -> {nv!r}", "tok.vocab_id"
        if op == "vocab_dup":
            k2 = rng.choice(keys)
            vocab[k] = vocab[k2]
            return f"vocab[{k!r}] duplicates id of {k2!r}", "tok.vocab_dup"
        if op == "vocab_del":
            del vocab[k]
            return f"vocab delete {k!r}", "tok.vocab_del"
        model["vocab"] = rng.choice([[], {}, None, "x", [[k, 0]]])
        return f"vocab -> {json.dumps(model['vocab'])[:30]}", "tok.vocab_type"
    if op == "merges" and model and isinstance(model.get("merges"), list):
        m = model["merges"]
        what = rng.choice(["bad", "bad", "unknown", "empty_list", "type", "dup"])
        if what == "bad":
            bad = rng.choice(["a", "a b c", "", " ", ["a"], ["a", "b", "c"], 123, None, ["", ""],
                              "\u0120 \u0120", [1, 2], {"a": "b"}])
            m.insert(rng.randrange(len(m) + 1), bad)
            return f"merges insert {json.dumps(bad)[:30]}", "tok.merges"
        if what == "unknown":
            m.append(rng.choice(["zzqq xxyy", ["zzqq", "xxyy"], "\u2581\u2581 \u2581\u2581"]))
            return "merges append unknown pair", "tok.merges"
        if what == "empty_list":
            model["merges"] = []
            return "merges -> []", "tok.merges"
        if what == "dup" and m:
            m.insert(0, m[-1])
            return "merges duplicate last at front", "tok.merges"
        model["merges"] = rng.choice([None, "x", {}, 5])
        return f"merges -> {model['merges']!r}", "tok.merges"
    if op == "added" and isinstance(obj.get("added_tokens"), list) and obj["added_tokens"]:
        at = obj["added_tokens"]
        i = rng.randrange(len(at))
        if not isinstance(at[i], dict):
            return "noop", "tok.added"
        field = rng.choice(["id", "id", "id", "content", "special", "dup", "extra"])
        if field == "id":
            nv = rng.choice(JSON_INT_BOUNDS + [None, "1", 1.5, -5, 10**6])
            at[i]["id"] = nv
            return f"added_tokens[{i}].id -> {nv!r}", "tok.added_id"
        if field == "content":
            nv = rng.choice(["", " ", "a", "\u0000", "x" * 10000, None, 5])
            at[i]["content"] = nv
            return f"added_tokens[{i}].content -> {json.dumps(nv)[:30]}", "tok.added_content"
        if field == "special":
            at[i]["special"] = rng.choice([None, "yes", 2])
            return f"added_tokens[{i}].special weird", "tok.added_special"
        if field == "dup":
            at.append(dict(at[i]))
            return f"added_tokens duplicate [{i}]", "tok.added_dup"
        at.append({"id": rng.choice([2**32, 10**6, -1, 2**63]), "content": "<extra>", "special": True,
                   "single_word": False, "lstrip": False, "rstrip": False, "normalized": False})
        return "added_tokens append huge id", "tok.added_extra"
    if op == "model_type" and model is not None:
        model["type"] = rng.choice(["Unigram", "WordPiece", "WordLevel", "Bogus", "", None, "BPE"])
        return f"model.type -> {model['type']!r}", "tok.model_type"
    if op == "pretok":
        obj["pre_tokenizer"] = rng.choice([
            {"type": "Split", "pattern": {"Regex": "("}, "behavior": "Isolated", "invert": False},
            {"type": "Split", "pattern": {"Regex": ""}, "behavior": "Isolated", "invert": False},
            {"type": "Sequence", "pretokenizers": []}, {"type": "Bogus"}, None, [],
            {"type": "ByteLevel", "add_prefix_space": "yes", "trim_offsets": True, "use_regex": 5},
            {"type": "Metaspace", "replacement": "", "prepend_scheme": "always"}])
        return f"pre_tokenizer -> {json.dumps(obj['pre_tokenizer'])[:60]}", "tok.pretok"
    if op == "normalizer":
        obj["normalizer"] = rng.choice([{"type": "Replace", "pattern": {"String": ""}, "content": "x"},
                                        {"type": "Prepend", "prepend": ""}, {"type": "Bogus"}, [],
                                        {"type": "Sequence", "normalizers": [None]}])
        return f"normalizer -> {json.dumps(obj['normalizer'])[:60]}", "tok.normalizer"
    if op == "nomodel":
        obj.pop("model", None)
        return "delete model", "tok.nomodel"
    if op == "byte_fallback" and model is not None:
        model["byte_fallback"] = rng.choice([True, False, "x"])
        return f"byte_fallback -> {model['byte_fallback']!r}", "tok.byte_fallback"
    if model is not None:
        model["unk_token"] = rng.choice(["<nonexistent>", "", None, 5])
        return f"unk_token -> {model['unk_token']!r}", "tok.unk"
    return "noop", "tok"


def mutate_tokenizer_config(rng, obj):
    if not isinstance(obj, dict):
        return "noop", "tokcfg"
    op = rng.choice(["decoder_key", "decoder_key", "bos", "eos", "add_bos", "max_len", "template", "class"])
    atd = obj.get("added_tokens_decoder")
    if op == "decoder_key" and isinstance(atd, dict) and atd:
        k = rng.choice(list(atd))
        nk = rng.choice(["4294967296", "-1", "abc", "18446744073709551615", "1e3", "", " 5", "0"])
        atd[nk] = atd.pop(k)
        return f"added_tokens_decoder key {k} -> {nk!r}", "tokcfg.decoder_key"
    if op in ("bos", "eos"):
        key = op + "_token"
        obj[key] = rng.choice(["<nonexistent>", "", None, 5, {"content": "<x>"}, {"content": None}, ["a"]])
        return f"{key} -> {json.dumps(obj[key])[:30]}", f"tokcfg.{key}"
    if op == "add_bos":
        obj["add_bos_token"] = rng.choice(["yes", None, 2, [], True, False])
        return f"add_bos_token -> {obj['add_bos_token']!r}", "tokcfg.add_bos"
    if op == "max_len":
        obj["model_max_length"] = rng.choice([1e30, -1, 0, 2**64, None, "x"])
        return f"model_max_length -> {obj['model_max_length']!r}", "tokcfg.max_len"
    if op == "template":
        obj["chat_template"] = rng.choice(["{{", "{% for %}", "", None, 5, "x" * 100000, [{"name": "default"}]])
        return "chat_template weird", "tokcfg.template"
    obj["tokenizer_class"] = rng.choice(["Bogus", "", None, "LlamaTokenizer", "GemmaTokenizer"])
    return f"tokenizer_class -> {obj['tokenizer_class']!r}", "tokcfg.class"


def json_text_mutation(rng, text):
    """Syntax-level mutation of a JSON document (as bytes)."""
    op = rng.choice(["truncate", "garbage", "bigint", "dupkey", "bom", "badutf8", "empty", "nul", "deep"])
    if op == "truncate":
        return text[:rng.randrange(len(text) + 1)], "json truncate"
    if op == "garbage":
        p = rng.randrange(len(text) + 1)
        return text[:p] + rng.choice([b"}", b"{", b",", b"]", b"\"", b"\\u", b"\x00", b"//x\n"]) + text[p:], "json garbage byte"
    if op == "bigint":
        nums = list(re.finditer(rb"(?<![\w.\"])-?\d+(\.\d+)?([eE][-+]?\d+)?", text))
        if nums:
            m = rng.choice(nums)
            rep = rng.choice([b"1e999", b"-1e999", b"9" * 400, b"-0", b"1E400", b"0.0000000000000000000001e-400",
                              b"18446744073709551616", b"NaN", b"Infinity", b"-9223372036854775809"])
            return text[:m.start()] + rep + text[m.end():], f"json number -> {rep[:20].decode()}"
        return text, "noop"
    if op == "dupkey":
        m = re.search(rb"\{\s*", text)
        if m:
            return text[:m.end()] + rng.choice([b'"num_hidden_layers": 99999999, ', b'"vocab_size": -1, ',
                                                b'"version": null, ', b'"model": 5, ']) + text[m.end():], "json dup key"
        return text, "noop"
    if op == "bom":
        return b"\xef\xbb\xbf" + text, "json BOM"
    if op == "badutf8":
        p = rng.randrange(len(text) + 1)
        return text[:p] + b"\xff\xfe\xc0" + text[p:], "json invalid utf8"
    if op == "empty":
        return b"", "json empty"
    if op == "nul":
        return b"\x00" * len(text), "json all NUL"
    return b"[" * 100000 + b"]" * 100000, "json nesting 100000"


def load_json(path):
    with open(path, "rb") as fh:
        return json.loads(fh.read())


def dump_json(path, obj):
    with open(path, "w") as fh:
        fh.write(json.dumps(obj, allow_nan=True, indent=1))


def mutate_json_file(rng, path, kind):
    if rng.random() < 0.12:
        text = open(path, "rb").read()
        new, d = json_text_mutation(rng, text)
        open(path, "wb").write(new)
        return f"{os.path.basename(path)}: {d}", f"{kind}.text"
    try:
        obj = load_json(path)
    except Exception:
        return "unparsable json (left as is)", kind
    if kind == "config":
        d, k = mutate_json_obj_config(rng, obj)
        fam = f"config.{k}"
    elif kind == "genai":
        dec = obj.get("model", {}).get("decoder", {}) if isinstance(obj.get("model"), dict) else {}
        target = rng.choice([dec, obj.get("model", {}), dec.get("sessions_options", {}) if isinstance(dec, dict) else {}])
        if not isinstance(target, dict):
            target = obj
        if rng.random() < 0.2 and isinstance(dec, dict) and "filename" in dec:
            dec["filename"] = rng.choice(["../../../../etc/hostname", "/dev/null", "missing.onnx", "", None, "."])
            d, k = f"decoder.filename -> {dec['filename']!r}", "filename"
        else:
            d, k = mutate_json_obj_config(rng, target, keys=["num_hidden_layers", "head_size", "hidden_size",
                                                             "num_attention_heads", "num_key_value_heads",
                                                             "context_length", "vocab_size", "bos_token_id",
                                                             "eos_token_id", "pad_token_id", "type"])
        fam = f"genai.{k}"
    elif kind == "tokenizer":
        d, fam = mutate_tokenizer_json(rng, obj)
    elif kind == "tokenizer_config":
        d, fam = mutate_tokenizer_config(rng, obj)
    elif kind == "index":
        d, fam = mutate_index(rng, obj)
    else:
        d, k = mutate_json_obj_config(rng, obj, keys=list(obj.keys()) if isinstance(obj, dict) and obj else CONFIG_KEYS)
        fam = f"{kind}.{k}"
    dump_json(path, obj)
    return f"{os.path.basename(path)}: {d}", fam


def mutate_index(rng, obj):
    wm = obj.get("weight_map") if isinstance(obj, dict) else None
    if not isinstance(wm, dict) or not wm:
        return "noop", "index"
    op = rng.choice(["target", "target", "delete", "add", "type", "total"])
    k = rng.choice(list(wm))
    if op == "target":
        nv = rng.choice(["missing.safetensors", "../../../../etc/hostname", "/dev/null", "", None, 5,
                         "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", ".",
                         "config.json", "model-00003-of-00002.safetensors"])
        wm[k] = nv
        return f"weight_map[{k}] -> {nv!r}", "index.target"
    if op == "delete":
        del wm[k]
        return f"weight_map delete {k}", "index.delete"
    if op == "add":
        wm[rng.choice(["model.layers.99.mlp.up_proj.weight", "model.layers.4294967296.input_layernorm.weight",
                       "bogus"])] = wm[k]
        return "weight_map add unknown tensor", "index.add"
    if op == "type":
        obj["weight_map"] = rng.choice([[], None, "x", {k: wm[k]}])
        return "weight_map weird type", "index.type"
    obj.setdefault("metadata", {})["total_size"] = rng.choice([-1, 0, 2**64, 1e308, "x", None])
    return "metadata.total_size weird", "index.total"


# ---------------------------------------------------------------------------------------------
# safetensors header mutation
# ---------------------------------------------------------------------------------------------


def mutate_safetensors(rng, path):
    raw = open(path, "rb").read()
    if len(raw) < 8:
        return "short file", "st"
    n = struct.unpack_from("<Q", raw)[0]
    if rng.random() < 0.12:
        nv = rng.choice([0, 1, 7, n - 1, n + 1, len(raw), len(raw) - 7, len(raw) + 1, 2**31, 2**32,
                         2**63, 2**64 - 1, 100 * 2**20 + 1])
        open(path, "wb").write(u64(nv) + raw[8:])
        return f"header length {n} -> {nv}", "st.hlen"
    try:
        hdr = json.loads(raw[8:8 + n])
    except Exception:
        open(path, "wb").write(bytes(bytearray(raw[:8]) + bytearray(raw[8:])))
        return "unparsable header", "st"
    data = raw[8 + n:]
    names = [k for k in hdr if k != "__metadata__"]
    if not names:
        return "empty header", "st"
    k = rng.choice(names)
    e = hdr[k]
    op = rng.choice(["dtype", "shape", "shape", "offsets", "offsets", "delete", "rename", "add", "meta", "entry"])
    if op == "dtype":
        e["dtype"] = rng.choice(["F64", "I8", "BOOL", "F8_E4M3", "F8_E5M2", "xx", "f32", "", None, 5,
                                 "F16", "BF16", "F32", "I64", "U8", "F4", "F6_E2M3"])
        d = f"{k}.dtype -> {e['dtype']!r}"
    elif op == "shape":
        sh = list(e.get("shape", []))
        sh = rng.choice([[0], [], [2**32, 2**32], [-1], [x + 1 for x in sh], sh[::-1], sh + [1], sh + [2],
                         [2**63], [2**64 - 1], sh[:1], [1.5], ["8"], None,
                         [sh[0] * 2] + sh[1:] if sh else [2]])
        e["shape"] = sh
        d = f"{k}.shape -> {sh}"
    elif op == "offsets":
        a, b = (e.get("data_offsets") or [0, 0])[:2]
        nv = rng.choice([[0, 0], [b, a], [a, a + 2**40], [a, len(data) + 1], [a - 4 if a >= 4 else 0, b - 4],
                         [a, b - 1], [a, b + 1], [2**63, 2**63 + (b - a)], [2**64 - 1, 2**64 - 1], [-8, b - a - 8],
                         [a], [a, b, 0], None, [float(a), float(b)], ["0", "4"]])
        e["data_offsets"] = nv
        d = f"{k}.data_offsets {[a, b]} -> {nv}"
    elif op == "delete":
        del hdr[k]
        d = f"delete tensor {k}"
    elif op == "rename":
        nk = rng.choice(["model.layers.99.self_attn.q_proj.weight", "model.layers.4294967296.mlp.up_proj.weight",
                         "model.layers.-1.input_layernorm.weight", "model.layers.01.input_layernorm.weight",
                         "model.layers..input_layernorm.weight", "lm_head.weight", "model.embed_tokens.weight",
                         rng.choice(names), "", "__metadata__x", k + ".extra"])
        hdr[nk] = hdr.pop(k)
        d = f"rename {k} -> {nk!r}"
    elif op == "add":
        nk = rng.choice(["model.layers.99.self_attn.q_proj.weight", "model.layers.4.input_layernorm.weight",
                         "model.layers.6.input_layernorm.weight", "lm_head.weight", "bogus.tensor"])
        hdr[nk] = dict(e)
        d = f"add {nk} (copy of {k})"
    elif op == "meta":
        hdr["__metadata__"] = rng.choice([{"format": 5}, [], None, {"format": "pt", "x": {"y": 1}}, "pt"])
        d = f"__metadata__ -> {json.dumps(hdr['__metadata__'])[:30]}"
    else:
        hdr[k] = rng.choice([None, [], "x", 5, {}])
        d = f"{k} entry -> {json.dumps(hdr[k])}"
    h = json.dumps(hdr, allow_nan=True).encode()
    h += b" " * ((-len(h)) % 8)
    open(path, "wb").write(u64(len(h)) + h + data)
    return f"{os.path.basename(path)}: {d}", f"st.{op}"


# ---------------------------------------------------------------------------------------------
# ONNX (protobuf) mutation, schema-guided
# ---------------------------------------------------------------------------------------------

# message -> {field: (wiretype-kind, submessage)}; kinds: v=varint, s=string/bytes, m=message, p=packed
ONNX_SCHEMA = {
    "Model": {1: ("v", None), 7: ("m", "Graph"), 8: ("m", "Opset"), 14: ("m", "SSE"), 2: ("s", None), 5: ("v", None)},
    "Opset": {1: ("s", None), 2: ("v", None)},
    "Graph": {1: ("m", "Node"), 5: ("m", "Tensor"), 11: ("m", "VI"), 12: ("m", "VI"), 13: ("m", "VI"), 2: ("s", None)},
    "Node": {1: ("s", None), 2: ("s", None), 3: ("s", None), 4: ("s", None), 5: ("m", "Attr"), 7: ("s", None)},
    "Attr": {1: ("s", None), 3: ("v", None), 4: ("s", None), 5: ("m", "Tensor"), 8: ("p", None), 20: ("v", None)},
    "Tensor": {1: ("p", None), 2: ("v", None), 8: ("s", None), 9: ("s", None), 13: ("m", "SSE"), 14: ("v", None)},
    "SSE": {1: ("s", None), 2: ("s", None)},
    "VI": {1: ("s", None), 2: ("m", "Type")},
    "Type": {1: ("m", "TT")},
    "TT": {1: ("v", None), 2: ("m", "Shape")},
    "Shape": {1: ("m", "Dim")},
    "Dim": {1: ("v", None), 2: ("s", None)},
}


def read_varint(b, p):
    v = s = 0
    while True:
        if p >= len(b):
            raise ValueError("eof")
        c = b[p]
        p += 1
        v |= (c & 0x7F) << s
        s += 7
        if not c & 0x80:
            return v, p
        if s > 70:
            raise ValueError("varint")


def enc_varint(v):
    v &= (1 << 64) - 1
    out = bytearray()
    while True:
        c = v & 0x7F
        v >>= 7
        if v:
            out.append(c | 0x80)
        else:
            out.append(c)
            return bytes(out)


def pb_walk(b, start, end, msg, chain, out, depth=0):
    """Collect mutation targets: dicts with kind, byte range, field chain (enclosing len prefixes)."""
    p = start
    schema = ONNX_SCHEMA.get(msg, {})
    while p < end:
        tag_start = p
        tag, p = read_varint(b, p)
        fno, wt = tag >> 3, tag & 7
        if wt == 0:
            vs = p
            v, p = read_varint(b, p)
            out.append(dict(kind="varint", a=vs, b=p, v=v, chain=chain, msg=msg, f=fno, whole=(tag_start, p)))
        elif wt == 1:
            p += 8
        elif wt == 5:
            p += 4
        elif wt == 2:
            ls = p
            ln, p = read_varint(b, p)
            cs, ce = p, p + ln
            if ce > end:
                raise ValueError("len")
            k = schema.get(fno, ("s", None))
            link = (ls, p)  # position of the length varint
            whole = (tag_start, ce)
            if k[0] == "m" and depth < 12:
                out.append(dict(kind="message", a=cs, b=ce, chain=chain, msg=k[1], f=fno, whole=whole, parent=msg))
                pb_walk(b, cs, ce, k[1], chain + [link], out, depth + 1)
            elif k[0] == "p":
                out.append(dict(kind="packed", a=cs, b=ce, chain=chain + [link], msg=msg, f=fno, whole=whole))
            else:
                out.append(dict(kind="bytes", a=cs, b=ce, chain=chain + [link], msg=msg, f=fno, whole=whole,
                                text=(ce - cs) < 300))
            p = ce
        else:
            raise ValueError("wiretype")


def pb_replace(b, a, e, new, chain):
    """Replace b[a:e] by new and fix the length prefixes of every enclosing field (innermost last in chain)."""
    delta = len(new) - (e - a)
    b[a:e] = new
    for (ls, le) in reversed(chain):
        ln, _ = read_varint(b, ls)
        enc = enc_varint(ln + delta)
        b[ls:le] = enc
        delta += len(enc) - (le - ls)
    return b


def mutate_onnx_file(rng, path):
    b = bytearray(open(path, "rb").read())
    targets = []
    try:
        pb_walk(b, 0, len(b), "Model", [], targets)
    except Exception:
        pass
    if not targets or rng.random() < 0.1:
        d = bytes_mutation(rng, b, min(len(b), 4096) if rng.random() < 0.5 else len(b))
        open(path, "wb").write(b)
        return d, "onnx.bytes"
    op = rng.choice(["varint", "varint", "varint", "string", "string", "remove", "dup", "raw", "packed"])
    if op == "varint":
        t = pick_weighted(rng, [t for t in targets if t["kind"] == "varint"] or targets,
                          lambda t: 5 if t["msg"] in ("Tensor", "Dim", "TT", "Attr") else 1)
        if t["kind"] != "varint":
            op = "string"
        else:
            nv = int_candidates(rng, t["v"], [t["v"] + 1, 0, 1, 16, 2**62])
            pb_replace(b, t["a"], t["b"], enc_varint(nv), t["chain"])
            open(path, "wb").write(b)
            return f"{t['msg']}.{t['f']} varint {t['v']} -> {nv}", f"onnx.{t['msg']}.{t['f']}"
    if op == "string":
        ts = [t for t in targets if t["kind"] == "bytes" and t.get("text")]
        if ts:
            t = pick_weighted(rng, ts, lambda t: 8 if (t["msg"], t["f"]) in (("SSE", 2), ("Tensor", 8), ("Node", 1), ("Node", 2)) else 1)
            names = [bytes(b[x["a"]:x["b"]]) for x in rng.sample(ts, min(20, len(ts)))]
            nv = rng.choice([b"", b"../../../../etc/hostname", b"/dev/null", b"missing.data", b"x" * 1000, b"\xff\xfe",
                             b"/model/layers.4294967296/self_attn/MatMul", b"model.layers.99.mlp.up_proj.weight",
                             b"-1", b"18446744073709551615", b"99999999999", b"0"] + names)
            pb_replace(b, t["a"], t["b"], nv, t["chain"])
            open(path, "wb").write(b)
            return f"{t['msg']}.{t['f']} string -> {nv[:40]!r}", f"onnx.{t['msg']}.{t['f']}.str"
        op = "remove"
    if op in ("remove", "dup"):
        ms = [t for t in targets if t["kind"] == "message" and t["msg"] in ("Node", "Tensor", "VI", "Attr", "SSE", "Dim")]
        if ms:
            t = rng.choice(ms)
            wa, we = t["whole"]
            chunk = bytes(b[wa:we])
            new = b"" if op == "remove" else chunk + chunk
            pb_replace(b, wa, we, new, t["chain"])
            open(path, "wb").write(b)
            return f"{op} a {t['msg']} (in {t['parent']})", f"onnx.{op}.{t['msg']}"
    if op == "packed":
        ps = [t for t in targets if t["kind"] == "packed"]
        if ps:
            t = rng.choice(ps)
            vals = rng.choice([[0], [], [2**63], [2**32, 2**32], [1, 1, 1, 1, 1, 1, 1], [2**64 - 1]])
            pb_replace(b, t["a"], t["b"], b"".join(enc_varint(v) for v in vals), t["chain"])
            open(path, "wb").write(b)
            return f"{t['msg']}.{t['f']} packed -> {vals}", f"onnx.{t['msg']}.packed"
    rs = [t for t in targets if t["kind"] == "bytes" and t["msg"] == "Tensor" and t["f"] == 9 and t["b"] > t["a"]]
    if rs:
        t = rng.choice(rs)
        ln = t["b"] - t["a"]
        nl = rng.choice([0, 1, ln - 1, ln // 2, ln + 4])
        new = bytes(b[t["a"]:t["a"] + min(nl, ln)]) + b"\0" * max(0, nl - ln)
        pb_replace(b, t["a"], t["b"], new, t["chain"])
        open(path, "wb").write(b)
        return f"Tensor raw_data {ln} -> {nl} bytes", "onnx.raw_data"
    d = bytes_mutation(rng, b, len(b))
    open(path, "wb").write(b)
    return d, "onnx.bytes"


# ---------------------------------------------------------------------------------------------
# Cases: seed + mutation + command
# ---------------------------------------------------------------------------------------------

HOSTILE_TEXTS = [b"", b"a", b"\xff\xfe\xfd invalid utf8 \xc0\x80", b"\x00" * 100, b" " * 5000,
                 ("x" * 20000).encode(), "\u2581\u0120<|begin_of_text|><bos><s></s>".encode() * 50,
                 "🙂".encode() * 500, b"\r\n" * 1000]


def commands_for(kind, rng, is_file=True, in_name=""):
    """(weight, argv template) list; {IN} is the model, {TEXT} the text, outputs are relative to cwd."""
    small = ["--samples", "2", "--seq-len", "16"]
    if kind == "onnx":
        out = "out.onnx" if is_file else "out-folder"
        return [(3, ["inspect", "{IN}"]), (2, ["inspect", "--json", "{IN}"]), (1, ["inspect", "--tensors", "{IN}"]),
                (3, ["prune", "{IN}", out, "--layers", "0"]), (1, ["prune", "{IN}", out, "--keep", "0,1"]),
                (0.5, ["prune", "{IN}", out, "--layers", "1-2", "--json"])]
    if kind == "hf":
        return [(3, ["inspect", "{IN}"]), (2, ["inspect", "--json", "{IN}"]), (0.5, ["inspect", "--tensors", "{IN}"]),
                (2, ["prune", "{IN}", "out-folder", "--count", "1", "--refine", "0"] + small),
                (0.7, ["prune", "{IN}", "out-folder", "--count", "1", "--calib", "{TEXT}"] + small),
                (2, ["prune", "{IN}", "out-folder", "--layers", "0"]),
                (0.7, ["prune", "{IN}", "out-folder", "--layers", "0", "--max-shard-size", "64K"]),
                (3, ["convert", "{IN}", "out.gguf"]),
                (1, ["convert", "{IN}", "out.gguf", "--dtype", rng.choice(["q8_0", "f16", "bf16", "f32"])]),
                (1, ["convert", "{IN}", "out-folder", "--dtype", rng.choice(["f16", "bf16", "f32"])]),
                (1.5, ["eval", "{IN}", "--text", "{TEXT}", "--ctx", "32", "--chunks", "4"]),
                (1, ["score", "{IN}", "--calib", "{TEXT}", "--count", "1", "--refine", "0"] + small)]
    out = [(3, ["inspect", "{IN}"]), (2, ["inspect", "--json", "{IN}"]), (1, ["inspect", "--tensors", "{IN}"]),
           (2, ["prune", "{IN}", "out.gguf", "--layers", "0"]),
           (2, ["prune", "{IN}", "out.gguf", "--count", "1", "--refine", "0"] + small),
           (0.7, ["prune", "{IN}", "out.gguf", "--count", "1", "--calib", "{TEXT}"] + small),
           (0.5, ["prune", "{IN}", "out.gguf", "--keep", "0"]),
           (0.5, ["prune", "{IN}", "out.gguf", "--drop", "attn:0 ffn:1"]),
           (0.5, ["prune", "{IN}", "out.gguf", "--layers", "0", "--split-max-size", "64K"]),
           (0.5, ["prune", "{IN}", "out.gguf", "--attention-count", "1", "--recover", "linear", "--calib",
                  "{TEXT}", "--refine", "0"] + small),
           (2, ["convert", "{IN}", "out-folder"]),
           (1, ["convert", "{IN}", "out.gguf", "--dtype", rng.choice(["q8_0", "f16", "bf16", "f32"])]),
           (0.5, ["convert", "{IN}", "out.gguf", "--split-max-size", "100K"]),
           (2, ["eval", "{IN}", "--text", "{TEXT}", "--ctx", "32", "--chunks", "4"]),
           (1.5, ["score", "{IN}", "--calib", "{TEXT}", "--count", "1", "--refine", "0"] + small),
           (0.5, ["score", "{IN}", "--criterion", "cosine,loo"] + small),
           (0.3, ["score", "{IN}", "--granularity", "sublayer", "--calib", "{TEXT}", "--refine", "0"] + small)]
    if kind == "split":
        out.append((2, ["convert", "{IN}", "joined.gguf"]))
    return out


def make_case(args, seeds, index, case_dir):
    """Materialize seed + mutations for case `index` under case_dir/input; deterministic in (seed, index)."""
    rng = random.Random(f"{args.seed}:{index}")
    seed = pick_weighted(rng, seeds, lambda s: s["weight"])
    inp = os.path.join(case_dir, "input")
    aux = os.path.join(case_dir, "aux")
    os.makedirs(inp)
    os.makedirs(aux)
    descs, family = [], None
    kind = seed["kind"]
    if kind == "gguf":
        name = os.path.basename(seed["path"])
        dst = os.path.join(inp, name)
        shutil.copyfile(seed["path"], dst)
        d, family = mutate_gguf_file_with_seed(rng, dst, seed["path"])
        descs += d
        model_rel = f"input/{name}"
        is_file = True
    elif kind == "split":
        for n in seed["shards"]:
            shutil.copyfile(os.path.join(seed["path"], n), os.path.join(inp, n))
        first = seed["shards"][0]
        model_rel = f"input/{first}"
        is_file = True
        r = rng.random()
        if r < 0.8:
            victim = rng.choice(seed["shards"])
            d, family = mutate_gguf_file_with_seed(rng, os.path.join(inp, victim),
                                                   os.path.join(seed["path"], victim),
                                                   prefer=r"^split\." if rng.random() < 0.5 else None)
            descs += [f"shard {victim}: {x}" for x in d]
        else:
            op = rng.choice(["delete", "swap", "extra", "dup", "truncate", "rename"])
            shards = seed["shards"]
            a, b = rng.sample(shards, 2) if len(shards) > 1 else (shards[0], shards[0])
            pa, pb = os.path.join(inp, a), os.path.join(inp, b)
            if op == "delete":
                os.unlink(pb if b != first else pa)
            elif op == "swap":
                tmp = pa + ".swap"
                os.rename(pa, tmp)
                os.rename(pb, pa)
                os.rename(tmp, pb)
            elif op == "extra":
                m = re.match(r"(.*)-(\d{5})-of-(\d{5})\.gguf$", first)
                shutil.copyfile(pb, os.path.join(inp, f"{m.group(1)}-{len(shards) + 1:05d}-of-{m.group(3)}.gguf"))
            elif op == "dup":
                shutil.copyfile(pa, pb)
            elif op == "truncate":
                with open(pb, "r+b") as fh:
                    fh.truncate(rng.choice([0, 8, 24, os.path.getsize(pb) // 2]))
            else:
                os.rename(pb, pb.replace(".gguf", ".bak"))
            descs.append(f"split set: {op} {a} {b}")
            family = f"split.{op}"
    elif kind == "hf":
        name = os.path.basename(seed["path"])
        dst = os.path.join(inp, name)
        shutil.copytree(seed["path"], dst)
        model_rel = f"input/{name}"
        is_file = False
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            d, fam = mutate_hf_folder(rng, dst)
            descs.append(d)
            family = family or fam
    else:  # onnx
        if seed.get("file"):
            src_dir = os.path.dirname(seed["path"])
            for n in os.listdir(src_dir):
                shutil.copyfile(os.path.join(src_dir, n), os.path.join(inp, n))
            model_rel = f"input/{os.path.basename(seed['path'])}"
            is_file = True
            folder = inp
        else:
            name = os.path.basename(seed["path"])
            folder = os.path.join(inp, name)
            shutil.copytree(seed["path"], folder)
            model_rel = f"input/{name}"
            is_file = False
        r = rng.random()
        onnx_files = [n for n in os.listdir(folder) if n.endswith(".onnx")]
        datas = [n for n in os.listdir(folder) if n.endswith((".data", ".onnx_data"))]
        jsons = [n for n in os.listdir(folder) if n == "genai_config.json"]
        if r < 0.75 and onnx_files:
            d, family = mutate_onnx_file(rng, os.path.join(folder, onnx_files[0]))
            descs.append(f"{onnx_files[0]}: {d}")
        elif r < 0.87 and datas:
            p = os.path.join(folder, datas[0])
            with open(p, "r+b") as fh:
                size = os.path.getsize(p)
                nsz = rng.choice([0, size // 2, size - 1])
                fh.truncate(nsz)
            descs.append(f"{datas[0]}: truncate {size} -> {nsz}")
            family = "onnx.data_truncate"
        elif jsons:
            d, family = mutate_json_file(rng, os.path.join(folder, jsons[0]), "genai")
            descs.append(d)
        elif onnx_files:
            d, family = mutate_onnx_file(rng, os.path.join(folder, onnx_files[0]))
            descs.append(f"{onnx_files[0]}: {d}")
    # the text for eval / score / prune --calib
    text = open(args.text, "rb").read()
    if rng.random() < 0.06:
        text = rng.choice(HOSTILE_TEXTS)
        descs.append(f"hostile text ({len(text)} bytes, {text[:16]!r})")
    with open(os.path.join(aux, "text.txt"), "wb") as fh:
        fh.write(text)
    cmds = commands_for(kind, rng, is_file)
    argv = list(pick_weighted(rng, cmds, lambda c: c[0])[1])
    return dict(index=index, seed=seed["path"] if kind != "split" else seed["path"] + "/" + seed["shards"][0],
                kind=kind, mutations=descs, family=family or "none", argv=argv, model=model_rel,
                text="aux/text.txt")


def mutate_gguf_file_with_seed(rng, dst, seed_path, prefer=None):
    # the layout comes from the pristine seed (same bytes as dst before mutation)
    lay = gguf_layout(seed_path)
    _LAYOUT_CACHE[dst] = lay
    try:
        return mutate_gguf_file(rng, dst, prefer)
    finally:
        _LAYOUT_CACHE.pop(dst, None)


def mutate_hf_folder(rng, folder):
    # Only regular files are mutated byte-wise (an earlier mutation may have made one a directory).
    files = {f for f in os.listdir(folder) if os.path.isfile(os.path.join(folder, f))}
    choices = []
    if "config.json" in files:
        choices.append((40, "config"))
    if "tokenizer.json" in files:
        choices.append((18, "tokenizer"))
    if "tokenizer_config.json" in files:
        choices.append((7, "tokenizer_config"))
    sts = sorted(f for f in files if f.endswith(".safetensors"))
    if sts:
        choices.append((22, "st"))
    if "model.safetensors.index.json" in files:
        choices.append((8, "index"))
    choices.append((2, "other_json"))
    choices.append((4, "folder"))
    what = pick_weighted(rng, choices, lambda c: c[0])[1]
    if what in ("config", "tokenizer", "tokenizer_config", "index"):
        fn = {"config": "config.json", "tokenizer": "tokenizer.json", "tokenizer_config": "tokenizer_config.json",
              "index": "model.safetensors.index.json"}[what]
        return mutate_json_file(rng, os.path.join(folder, fn), what)
    if what == "st":
        return mutate_safetensors(rng, os.path.join(folder, rng.choice(sts)))
    if what == "other_json":
        js = sorted(f for f in files if f.endswith(".json") and f not in ("config.json", "tokenizer.json"))
        if js:
            fn = rng.choice(js)
            return mutate_json_file(rng, os.path.join(folder, fn), fn.split(".")[0])
        return "noop", "none"
    op = rng.choice(["delete", "delete", "empty", "bad_st", "dir", "bytes_st"])
    victims = sorted(files)
    if op == "delete":
        v = pick_weighted(rng, victims, lambda f: 3 if f in ("config.json", "tokenizer.json", "model.safetensors")
                          or f.endswith(".safetensors") else 1)
        os.unlink(os.path.join(folder, v))
        return f"delete {v}", f"folder.delete.{v}"
    if op == "empty":
        v = rng.choice(victims)
        open(os.path.join(folder, v), "wb").close()
        return f"empty {v}", f"folder.empty.{v}"
    if op == "bad_st" and sts:
        bad_dir = os.path.join(TM, "safetensors", "bad")
        bads = sorted(f for f in os.listdir(bad_dir) if f.endswith(".safetensors")) if os.path.isdir(bad_dir) else []
        if bads:
            b = rng.choice(bads)
            v = rng.choice(sts)
            shutil.copyfile(os.path.join(bad_dir, b), os.path.join(folder, v))
            return f"{v} <- safetensors/bad/{b}", "folder.bad_st"
    if op == "dir":
        v = rng.choice(victims)
        p = os.path.join(folder, v)
        os.unlink(p)
        os.mkdir(p)
        return f"{v} replaced by a directory", "folder.dir"
    if sts:
        v = rng.choice(sts)
        p = os.path.join(folder, v)
        b = bytearray(open(p, "rb").read())
        n = struct.unpack_from("<Q", b)[0] if len(b) >= 8 else 0
        d = bytes_mutation(rng, b, min(len(b), 8 + n))
        open(p, "wb").write(b)
        return f"{v}: {d}", "st.bytes"
    return "noop", "none"


# ---------------------------------------------------------------------------------------------
# Running and classifying
# ---------------------------------------------------------------------------------------------


def snapshot(root, skip=()):
    """{relpath: ('f', size, sha1) | ('l', target) | ('d',)} without following symlinks."""
    out = {}
    if not os.path.exists(root):
        return out
    for dp, dns, fns in os.walk(root, followlinks=False):
        rel_dp = os.path.relpath(dp, root)
        if rel_dp in skip:
            dns[:] = []
            continue
        dns[:] = [d for d in dns if os.path.normpath(os.path.join(rel_dp, d)) not in skip]
        for d in dns:
            out[os.path.normpath(os.path.join(rel_dp, d))] = ("d",)
        for f in fns:
            rel = os.path.normpath(os.path.join(rel_dp, f))
            if rel in skip:
                continue
            p = os.path.join(dp, f)
            try:
                st = os.lstat(p)
                if os.path.islink(p):
                    out[rel] = ("l", os.readlink(p))
                elif os.path.isfile(p):
                    h = hashlib.sha1()
                    with open(p, "rb") as fh:
                        for chunk in iter(lambda: fh.read(1 << 20), b""):
                            h.update(chunk)
                    out[rel] = ("f", st.st_size, h.hexdigest())
                else:
                    out[rel] = ("x", st.st_mode)
            except OSError as e:
                out[rel] = ("err", str(e))
    return out


def list_all(root):
    res = []
    for dp, dns, fns in os.walk(root, followlinks=False):
        for n in dns + fns:
            res.append(os.path.relpath(os.path.join(dp, n), root))
    return sorted(res)


def run_binary(binary, argv, cwd, env, timeout, as_bytes, stdout_path, stderr_path, on_hang=None, prefix=()):
    def pre():
        os.setsid()
        if as_bytes:
            resource.setrlimit(resource.RLIMIT_AS, (as_bytes, as_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_FSIZE, (4 * GiB, 4 * GiB))

    with open(stdout_path, "wb") as so, open(stderr_path, "wb") as se:
        t0 = time.monotonic()
        p = subprocess.Popen(list(prefix) + [binary] + argv, cwd=cwd, stdout=so, stderr=se, stdin=subprocess.DEVNULL,
                             env=env, preexec_fn=pre, close_fds=True)
        timed_out = False
        delay = 0.002
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - t0 > timeout:
                timed_out = True
                if on_hang:
                    try:
                        on_hang(p.pid)
                    except Exception:
                        pass
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                pid, status, ru = os.wait4(p.pid, 0)
                break
            time.sleep(delay)
            delay = min(delay * 1.5, 0.05)
        wall = time.monotonic() - t0
        p.returncode = 0  # reaped above; keep Popen from waiting again
    # kill anything the process group left behind (e.g. a crash reporter)
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    rc = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -sig
    return dict(rc=rc, signal=sig, timed_out=timed_out, wall=round(wall, 3), maxrss_kb=int(ru.ru_maxrss))


def gdb_frames(out):
    lines = out.decode("utf-8", "replace").splitlines()
    keep = [l for l in lines if re.match(r"^(#\d+|Thread \d|Program (received|terminated)|Fatal error)", l)
            or "Fatal error" in l or "received signal" in l]
    return "\n".join(keep[:80]).encode() + b"\n"


def gdb_backtrace(args, gdb, binary, argv, case_dir, env):
    scratch2 = os.path.join(case_dir, "scratch-gdb")
    os.makedirs(scratch2, exist_ok=True)
    env2 = dict(env)
    env2["SWIFT_BACKTRACE"] = "enable=no"
    out = os.path.join(case_dir, "..", f"{os.path.basename(case_dir)}.gdb")
    try:
        run_binary(binary, argv, scratch2, env2, args.timeout + 30, int(args.as_limit_gb * GiB), out, out + ".err",
                   prefix=[gdb, "-nx", "-batch", "-ex", "run", "-ex", "bt 40", "--args"])
        with open(out, "rb") as fh:
            text = gdb_frames(fh.read()).decode("utf-8", "replace")
    except Exception as e:
        text = f"(gdb failed: {e!r})\n"
    finally:
        for f in (out, out + ".err"):
            if os.path.exists(f):
                os.unlink(f)
        shutil.rmtree(scratch2, ignore_errors=True)
    return text


def normalize(line):
    line = re.sub(r"0x[0-9a-fA-F]+", "0xX", line)
    line = re.sub(r"(/[^\s:'\"]+)+", "PATH", line)
    line = re.sub(r"'[^']*'", "'S'", line)
    line = re.sub(r"\"[^\"]*\"", '"S"', line)
    line = re.sub(r"-?\d+(\.\d+)?([eE][-+]?\d+)?", "N", line)
    return line.strip()[:160]


def key_lines(stderr):
    lines = stderr.splitlines()
    fatal = next((l.strip() for l in lines if re.search(
        r"Fatal error|Assertion|precondition|Swift runtime failure|Segmentation|Illegal instruction|malloc|"
        r"double free|corrupted|Cannot allocate|Program crashed", l)), None)
    frame = None
    for l in lines:  # the first frame in the project's own sources (not a package checkout)
        m = re.search(r"(\S*?)(Sources/[^\s:]+\.swift:\d+)", l)
        if m and ".build/" not in m.group(1) and "checkouts/" not in m.group(1):
            frame = m.group(2)
            break
    return fatal, frame


def classify(res, stderr, scratch_entries, input_changed, tmp_entries, rss_limit_kb):
    """Returns (class, detail)."""
    # message lines only: backtrace frames name functions such as __deallocating_deinit
    low = "\n".join(l for l in stderr.splitlines() if not re.match(r"^\s*#?\d+\s", l)).lower()
    last = next((l for l in reversed(stderr.splitlines()) if l.strip()), "")
    if res["timed_out"]:
        return "hang", f"no exit after {res['wall']:.0f} s"
    mem = [m for m in MEMORY_MARKERS if m in low]
    if res["signal"] == signal.SIGKILL:
        return "memory", "killed by SIGKILL (out of memory?)"
    if res["signal"] == signal.SIGXFSZ:
        return "memory", "file size limit exceeded (SIGXFSZ): writes an enormous file"
    if res["maxrss_kb"] > rss_limit_kb:
        return "memory", f"peak RSS {res['maxrss_kb'] / 1e6:.2f} GB"
    if mem and res["rc"] != 0:
        fatal = key_lines(stderr)[0] or next((l for l in stderr.splitlines() if any(m in l.lower() for m in MEMORY_MARKERS)), last)
        sig = f"{signal.Signals(res['signal']).name}: " if res["signal"] else ""
        return "memory", f"{sig}allocation failure: {fatal.strip()[:200]}"
    crash = [m for m in CRASH_MARKERS if m in stderr]
    if res["signal"] is not None or crash:
        fatal, frame = key_lines(stderr)
        sig = signal.Signals(res["signal"]).name if res["signal"] else f"rc {res['rc']}"
        return "crash", f"{sig}: {fatal or last.strip()[:200]}" + (f" at {frame}" if frame else "")
    if input_changed:
        return "leftovers", "input changed: " + ", ".join(input_changed[:6])
    if tmp_entries:
        return "leftovers", "files left in $TMPDIR: " + ", ".join(tmp_entries[:6])
    if res["rc"] != 0:
        if scratch_entries:
            return "leftovers", f"failed (rc {res['rc']}) but left: " + ", ".join(scratch_entries[:6])
        if not last.strip() or not re.match(r"^(Error|error): \S", last.strip()):
            return "bad-message", f"rc {res['rc']}, last stderr line: {last.strip()[:200]!r}"
        if len(last) > 1000 or re.search(r"[\x00-\x08\x0b-\x1f\x7f\ufffd]", last):
            return "bad-message", (f"rc {res['rc']}, error line of {len(last)} characters with control/invalid "
                                   f"bytes: {last.strip()[:160]!r}")
        return "clean", last.strip()[:300]
    hidden = [e for e in scratch_entries if os.path.basename(e).startswith(".") or ".tmp" in e]
    if hidden:
        return "leftovers", "succeeded but left temp files: " + ", ".join(hidden[:6])
    return "ok", ""


def signature(cls, case, detail, stderr):
    cmd = case["argv"][0]
    if cls == "crash":
        fatal, frame = key_lines(stderr)
        if fatal:
            fatal = re.sub(r"0x[0-9a-fA-F]+", "0xX", fatal)
            fatal = re.sub(r"\b\d{4,}\b", "N", fatal)  # values in messages, not file:line
        key = f"{fatal or normalize(detail)} @ {frame or '?'}"
    elif cls == "leftovers":
        kind = detail.split(":")[0]
        names = re.findall(r"(?:left|changed|TMPDIR): (.*)", detail)
        pat = normalize(re.sub(r"[0-9a-fA-F]{6,}", "H", names[0])) if names else ""
        pat = re.sub(r"[A-Za-z0-9]{6,}(?=[,\s]|$)", "R", pat)
        last = next((l for l in reversed(stderr.splitlines()) if l.strip()), "")
        msg = re.sub(r"^Error: PATH: ", "", normalize(last))[:50]
        key = f"{kind} | {pat} | {msg}"
    elif cls == "hang":
        frame = key_lines(stderr)[1]
        key = f"{frame}" if frame else f"{case['family']}"
    elif cls == "memory":
        fatal, frame = key_lines(stderr)
        last = fatal or next((l for l in reversed(stderr.splitlines()) if l.strip()), "")
        key = f"{detail.split(':')[0]} | {normalize(last)[:80] or case['family']} @ {frame or '?'}"
    elif cls == "bad-message":
        lines = [l for l in stderr.splitlines() if l.strip()]
        first = re.sub(r"^(Error|error): \S+?: ", "", lines[0]) if lines else ""
        first = re.split(r"['\"\x00-\x08\x0e-\x1f]", first)[0]
        words = " ".join(re.findall(r"[A-Za-z]{3,}", first)[:6])
        shape = "multi-line" if len(lines) > 1 else ("long" if len(lines[0]) > 1000 else "one line") if lines else "empty"
        key = f"{words or normalize(detail)[:60]} ({shape})"
    else:
        key = normalize(detail)[:120]
    return f"{cls} | {cmd} | {key}"


def run_case_in(args, case, case_dir, binary):
    """Run a materialized case; returns the result dict (class, detail, etc.)."""
    scratch = os.path.join(case_dir, "scratch")
    tmpd = os.path.join(case_dir, "tmp")
    for d in (scratch, tmpd):
        if os.path.exists(d):
            shutil.rmtree(d)
        os.makedirs(d)
    argv = [a.replace("{IN}", os.path.join(case_dir, case["model"]))
             .replace("{TEXT}", os.path.join(case_dir, case["text"])) for a in case["argv"]]
    before = snapshot(case_dir, skip={"scratch", "tmp"})
    env = dict(os.environ)
    env["TMPDIR"] = tmpd
    env["SWIFT_BACKTRACE"] = SWIFT_BACKTRACE
    so = os.path.join(case_dir, "..", f"{os.path.basename(case_dir)}.stdout")
    se = os.path.join(case_dir, "..", f"{os.path.basename(case_dir)}.stderr")
    gdb = shutil.which("gdb") if not getattr(args, "no_gdb", False) else None
    hang_bt = os.path.join(case_dir, "..", f"{os.path.basename(case_dir)}.hangbt")

    def on_hang(pid):
        if gdb:
            with open(hang_bt, "wb") as fh:
                subprocess.run([gdb, "-nx", "-batch", "-p", str(pid), "-ex", "thread apply all bt 30"],
                               stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=25)

    res = run_binary(binary, argv, scratch, env, args.timeout, int(args.as_limit_gb * GiB), so, se, on_hang)
    with open(se, "rb") as fh:
        stderr = fh.read()
    if os.path.exists(hang_bt):
        with open(hang_bt, "rb") as fh:
            stderr += b"\n--- gdb backtrace of the hung process ---\n" + gdb_frames(fh.read())
        os.unlink(hang_bt)
    with open(so, "rb") as fh:
        stdout_tail = fh.read()[-2000:].decode("utf-8", "replace")
    stderr = stderr[-200_000:].decode("utf-8", "replace")
    os.unlink(so)
    os.unlink(se)
    after = snapshot(case_dir, skip={"scratch", "tmp"})
    changed = sorted(set(k for k in set(before) | set(after) if before.get(k) != after.get(k)))
    scratch_entries = list_all(scratch)
    tmp_entries = list_all(tmpd)
    cls, detail = classify(res, stderr, scratch_entries, changed, tmp_entries, args.rss_limit_gb * 1e6)
    if cls in ("crash", "memory") and gdb and key_lines(stderr)[1] is None and not res["timed_out"]:
        # the Swift backtracer cannot unwind through abort() (allocation failures): ask gdb where it was
        stderr += "\n--- gdb backtrace of a rerun ---\n" + gdb_backtrace(args, gdb, binary, argv, case_dir, env)
        if key_lines(stderr)[1]:
            detail += f" at {key_lines(stderr)[1]}"
    res.update(cls=cls, detail=detail, argv_real=argv, scratch=scratch_entries[:50], tmp=tmp_entries[:50],
               input_changed=changed[:50], stderr_tail="\n".join(stderr.splitlines()[-20:]),
               stdout_tail=stdout_tail[-600:])
    res["signature"] = signature(cls, case, detail, stderr) if cls not in ("ok", "clean") else None
    res["_stderr"] = stderr
    return res


# worker-process state
_W = {}


def _worker_init(args, seeds, workroot):
    _W.update(args=args, seeds=seeds, workroot=workroot)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:  # die with the parent (Linux prctl PR_SET_PDEATHSIG)
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except Exception:
        pass


def _worker_run(index):
    args, seeds, workroot = _W["args"], _W["seeds"], _W["workroot"]
    case_dir = os.path.join(workroot, f"case-{index}")
    try:
        case = make_case(args, seeds, index, case_dir)
    except Exception:
        shutil.rmtree(case_dir, ignore_errors=True)
        return dict(index=index, cls="harness-error", detail="mutation failed: " + traceback.format_exc()[-800:],
                    case=None, signature=None)
    try:
        res = run_case_in(args, case, case_dir, args.binary)
    except Exception:
        res = dict(cls="harness-error", detail="run failed: " + traceback.format_exc()[-800:], signature=None)
    res["case"] = case
    res["index"] = index
    res["case_dir"] = case_dir
    if res["cls"] in ("ok", "clean"):
        shutil.rmtree(case_dir, ignore_errors=True)
        res.pop("_stderr", None)
    elif res.get("input_changed"):
        # keep the input as it was before the run: rebuild it (deterministic) next to the changed one
        pristine = case_dir + ".pristine"
        try:
            make_case(args, seeds, index, pristine)
            res["pristine_dir"] = pristine
        except Exception:
            pass
    return res


# ---------------------------------------------------------------------------------------------
# Findings
# ---------------------------------------------------------------------------------------------


def seed_baseline(args, case):
    """Run the finding's command on the unmutated seed: does the seed alone already fail the same way?"""
    root = tempfile.mkdtemp(prefix="fuzz-cli-baseline-")
    try:
        cd = os.path.join(root, "case")
        inp = os.path.join(cd, "input")
        os.makedirs(inp)
        os.makedirs(os.path.join(cd, "aux"))
        seed = case["seed"]
        kind = case["kind"]
        if kind == "split":
            d = os.path.dirname(seed)
            for n in os.listdir(d):
                shutil.copyfile(os.path.join(d, n), os.path.join(inp, n))
        elif os.path.isdir(seed):
            shutil.copytree(seed, os.path.join(inp, os.path.basename(seed)))
        elif kind == "onnx":
            d = os.path.dirname(seed)
            for n in os.listdir(d):
                shutil.copyfile(os.path.join(d, n), os.path.join(inp, n))
        else:
            shutil.copyfile(seed, os.path.join(inp, os.path.basename(seed)))
        shutil.copyfile(args.text, os.path.join(cd, "aux", "text.txt"))
        base = dict(case, model="input/" + os.path.basename(seed))
        res = run_case_in(args, base, cd, args.binary)
        return dict(cls=res["cls"], detail=res["detail"], signature=res["signature"])
    except Exception as e:
        return dict(cls="harness-error", detail=repr(e), signature=None)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def existing_findings(out):
    sigs, counters = {}, {}
    if not os.path.isdir(out):
        return sigs, counters
    for n in sorted(os.listdir(out)):
        p = os.path.join(out, n, "case.json")
        m = re.match(r"(.+)-(\d+)$", n)
        if m and os.path.isfile(p):
            counters[m.group(1)] = max(counters.get(m.group(1), 0), int(m.group(2)))
            try:
                c = json.load(open(p))
                if c.get("signature"):
                    sigs[c["signature"]] = dict(dir=os.path.join(out, n), hits=c.get("hits", 1), cls=c["class"],
                                                command=" ".join(c["argv"]), line=c.get("detail", ""), old=True)
            except Exception:
                pass
    return sigs, counters


def save_finding(args, res, counters):
    cls = res["cls"]
    while True:
        counters[cls] = counters.get(cls, 0) + 1
        d = os.path.join(args.out, f"{cls}-{counters[cls]}")
        try:
            os.makedirs(d)
            break
        except FileExistsError:
            continue
    case = res["case"]
    src = res.get("pristine_dir") or res["case_dir"]
    for sub in ("input", "aux"):
        if os.path.exists(os.path.join(src, sub)):
            shutil.copytree(os.path.join(src, sub), os.path.join(d, sub), symlinks=True)
    if res.get("pristine_dir") and os.path.exists(os.path.join(res["case_dir"], "input")):
        shutil.copytree(os.path.join(res["case_dir"], "input"), os.path.join(d, "input-after-run"), symlinks=True)
    if cls == "leftovers" and os.path.exists(os.path.join(res["case_dir"], "scratch")):
        shutil.copytree(os.path.join(res["case_dir"], "scratch"), os.path.join(d, "scratch-after-run"), symlinks=True)
    info = dict(
        **{"class": cls}, detail=res["detail"], signature=res["signature"], hits=1,
        argv=case["argv"], model=case["model"], text=case["text"], kind=case["kind"], seed=case["seed"],
        fuzz_seed=args.seed, index=case["index"], mutations=case["mutations"], family=case["family"],
        rc=res.get("rc"), signal=res.get("signal"), timed_out=res.get("timed_out"), wall_s=res.get("wall"),
        peak_rss_mb=round(res.get("maxrss_kb", 0) / 1024, 1), scratch_after=res.get("scratch"),
        tmp_after=res.get("tmp"), input_changed=res.get("input_changed"), binary=os.path.abspath(args.binary),
        stderr_tail=res.get("stderr_tail", "").splitlines(), stdout_tail=res.get("stdout_tail", ""),
        command_line=" ".join(shquote(a) for a in res.get("argv_real", [])))
    bl = seed_baseline(args, case)
    info["unmutated_seed"] = dict(bl, same_failure=bl["signature"] == res["signature"])
    with open(os.path.join(d, "case.json"), "w") as fh:
        json.dump(info, fh, indent=1)
    with open(os.path.join(d, "stderr.txt"), "w") as fh:
        fh.write(res.get("_stderr", "")[-65536:])
    argv = [a.replace("{IN}", "$D/" + case["model"]).replace("{TEXT}", "$D/" + case["text"]) for a in case["argv"]]
    with open(os.path.join(d, "repro.sh"), "w") as fh:
        fh.write("#!/bin/sh\n# " + res["detail"].replace("\n", " ")[:300] + "\n"
                 f"# usage: repro.sh [binary]   (default {os.path.abspath(args.binary)})\n"
                 'D="$(cd "$(dirname "$0")" && pwd)"\n'
                 f'B="${{1:-{os.path.abspath(args.binary)}}}"\n'
                 'W="$(mktemp -d)"; cp -r "$D/input" "$W/"; cp -r "$D/aux" "$W/"; D="$W"; mkdir "$W/scratch"; cd "$W/scratch"\n'
                 f'ulimit -v {int(args.as_limit_gb * GiB) // 1024}\n'
                 f'export SWIFT_BACKTRACE="{SWIFT_BACKTRACE}"\n'
                 f'timeout {int(args.timeout)} "$B" ' + " ".join(shquote(a) if "$D" not in a else '"' + a + '"' for a in argv) +
                 '\necho "exit status $?; scratch: $(ls -A)"\n')
    os.chmod(os.path.join(d, "repro.sh"), 0o755)
    return d


def shquote(s):
    if re.match(r"^[\w@%+=:,./-]+$", s):
        return s
    return "'" + s.replace("'", "'\\''") + "'"


def bump_hits(path, hits):
    p = os.path.join(path, "case.json")
    try:
        c = json.load(open(p))
        c["hits"] = hits
        json.dump(c, open(p, "w"), indent=1)
    except Exception:
        pass


# ---------------------------------------------------------------------------------------------
# Main loops
# ---------------------------------------------------------------------------------------------


def preflight(args, seeds):
    """Every seed, unmutated, must run normally under the limits (else the limits are wrong)."""
    root = tempfile.mkdtemp(prefix="fuzz-cli-preflight-")
    bad = []
    n = 0
    checks = [("inspect", ["inspect", "{IN}"]), ("eval", ["eval", "{IN}", "--text", "{TEXT}", "--ctx", "32", "--chunks", "4"]),
              ("prune", ["prune", "{IN}", "out.gguf", "--count", "1", "--samples", "2", "--seq-len", "16", "--refine", "0"])]
    for s in seeds:
        if s["kind"] not in ("gguf", "hf") or "/bad/" in s["path"] or os.path.basename(s["path"]) == "quants.gguf":
            continue
        for name, argv in checks[:1] if s["kind"] == "gguf" and "/hf/" in s["path"] else checks:
            n += 1
            cd = os.path.join(root, f"{n}-{os.path.basename(s['path'])}-{name}")
            os.makedirs(os.path.join(cd, "input"))
            os.makedirs(os.path.join(cd, "aux"))
            base = os.path.basename(s["path"])
            if s["kind"] == "hf":
                shutil.copytree(s["path"], os.path.join(cd, "input", base))
                argv = [("out-folder" if a == "out.gguf" else a) for a in argv]
            else:
                shutil.copyfile(s["path"], os.path.join(cd, "input", base))
            shutil.copyfile(args.text, os.path.join(cd, "aux", "text.txt"))
            case = dict(argv=argv, model=f"input/{base}", text="aux/text.txt", family="none")
            res = run_case_in(args, case, cd, args.binary)
            if res["cls"] not in ("ok",) and not (res["cls"] == "clean" and name != "inspect"):
                bad.append((s["path"], name, res["cls"], res["detail"], res["maxrss_kb"]))
    shutil.rmtree(root, ignore_errors=True)
    return bad


def fmt_counts(d, order=None):
    keys = order or sorted(d)
    return " ".join(f"{k}={d[k]}" for k in keys if d.get(k))


def fuzz(args):
    seeds = discover_seeds()
    if not seeds:
        sys.exit("no seeds under " + TM)
    os.makedirs(args.out, exist_ok=True)
    print(f"binary {args.binary}; {len(seeds)} seeds ({fmt_counts(count_by(seeds, 'kind'))}); "
          f"limits: {args.timeout:.0f} s, address space {args.as_limit_gb} GiB, RSS {args.rss_limit_gb} GB; "
          f"jobs {args.jobs}; findings -> {args.out}", flush=True)
    if not args.no_preflight:
        bad = preflight(args, seeds)
        if bad:
            for b in bad:
                print("preflight: unmutated seed does not run normally:", b, flush=True)
            if not args.ignore_preflight:
                sys.exit("preflight failed (raise --as-limit-gb, or --ignore-preflight)")
        else:
            print("preflight: every unmutated seed runs normally under the limits", flush=True)
    sigs, counters = existing_findings(args.out)
    workroot = tempfile.mkdtemp(prefix="fuzz-cli-work-")
    per_class, per_cmd, per_kind = {}, {}, {}
    per_cmd_class = {}
    new_findings = []
    total = 0
    t0 = time.monotonic()
    last_print = t0
    deadline = t0 + args.seconds if args.seconds else None
    next_index = args.start
    limit = args.runs
    rate_hits = {}
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    ex = cf.ProcessPoolExecutor(max_workers=args.jobs, initializer=_worker_init, initargs=(args, seeds, workroot))
    inflight = set()
    stop = False
    try:
        while True:
            while not stop and len(inflight) < args.jobs * 2:
                if limit is not None and next_index - args.start >= limit:
                    break
                if deadline and time.monotonic() > deadline:
                    break
                inflight.add(ex.submit(_worker_run, next_index))
                next_index += 1
            if not inflight:
                break
            done, inflight = cf.wait(inflight, timeout=5, return_when=cf.FIRST_COMPLETED)
            for fut in done:
                try:
                    res = fut.result()
                except Exception as e:
                    res = dict(cls="harness-error", detail=f"worker died: {e!r}", case=None, signature=None)
                total += 1
                cls = res["cls"]
                per_class[cls] = per_class.get(cls, 0) + 1
                case = res.get("case")
                cmdname = " ".join(a for a in case["argv"] if a.startswith("-") or a in
                                   ("inspect", "prune", "convert", "eval", "score"))[:60] if case else "?"
                sub = case["argv"][0] if case else "?"
                per_cmd.setdefault(sub, {}).setdefault(cls, 0)
                per_cmd[sub][cls] += 1
                per_cmd_class.setdefault(cmdname, 0)
                per_cmd_class[cmdname] += 1
                if case:
                    per_kind.setdefault(case["kind"], {}).setdefault(cls, 0)
                    per_kind[case["kind"]][cls] += 1
                if cls == "harness-error":
                    print(f"harness error (run {res.get('index')}): {res['detail'][-500:]}", flush=True)
                if cls not in ("ok", "clean") and case is not None and res.get("signature"):
                    s = res["signature"]
                    cap_key = (cls, sub)
                    if s in sigs:
                        sigs[s]["hits"] += 1
                        if not sigs[s].get("old") and sigs[s]["hits"] in (2, 5, 10, 50, 100, 1000):
                            bump_hits(sigs[s]["dir"], sigs[s]["hits"])
                    elif rate_hits.get(cap_key, 0) >= args.max_per_kind:
                        sigs[s] = dict(dir=None, hits=1, cls=cls, command=" ".join(case["argv"]),
                                       line=res["detail"], capped=True)
                    else:
                        rate_hits[cap_key] = rate_hits.get(cap_key, 0) + 1
                        d = save_finding(args, res, counters)
                        sigs[s] = dict(dir=d, hits=1, cls=cls, command=" ".join(case["argv"]), line=res["detail"])
                        new_findings.append(s)
                        try:
                            bl = json.load(open(os.path.join(d, "case.json")))["unmutated_seed"]
                            note = " (the unmutated seed fails the same way)" if bl["same_failure"] else ""
                        except Exception:
                            note = ""
                        print(f"NEW {cls:11s} {d}{note}\n    {' '.join(case['argv'])}\n    {res['detail'][:300]}\n"
                              f"    mutations: {'; '.join(case['mutations'])[:300]}", flush=True)
                if res.get("case_dir"):
                    shutil.rmtree(res["case_dir"], ignore_errors=True)
                if res.get("pristine_dir"):
                    shutil.rmtree(res["pristine_dir"], ignore_errors=True)
            now = time.monotonic()
            if now - last_print >= args.print_every:
                last_print = now
                print(f"[{now - t0:6.0f} s] runs {total} ({total / (now - t0):.1f}/s) "
                      f"{fmt_counts(per_class, CLASSES)} distinct new {len(new_findings)}", flush=True)
    except KeyboardInterrupt:
        stop = True
        print("interrupted; finishing", flush=True)
        for f in inflight:
            f.cancel()
    finally:
        ex.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(workroot, ignore_errors=True)
    for s in new_findings:
        if sigs[s]["dir"]:
            bump_hits(sigs[s]["dir"], sigs[s]["hits"])
    elapsed = time.monotonic() - t0
    summary = dict(binary=os.path.abspath(args.binary), seed=args.seed, seconds=round(elapsed, 1), runs=total,
                   jobs=args.jobs, per_class=per_class, per_command={k: v for k, v in sorted(per_cmd.items())},
                   per_command_variant=per_cmd_class, per_seed_kind=per_kind,
                   findings=[dict(signature=s, dir=v["dir"], hits=v["hits"], cls=v["cls"], command=v["command"],
                                  line=v["line"], saved=not v.get("capped"), from_earlier_run=bool(v.get("old")))
                             for s, v in sigs.items()],
                   new_this_run=len(new_findings))
    jpath = args.json or os.path.join(args.out, "summary.json")
    with open(jpath, "w") as fh:
        json.dump(summary, fh, indent=1)
    print("\n==== summary ====")
    print(f"runs {total} in {elapsed:.0f} s ({total / max(elapsed, 1e-9):.1f}/s), binary {args.binary}")
    print("per class:   " + fmt_counts(per_class, CLASSES))
    for sub, d in sorted(per_cmd.items()):
        print(f"  {sub:8s} {sum(d.values()):6d} runs: {fmt_counts(d, CLASSES)}")
    for k, d in sorted(per_kind.items()):
        print(f"  seed {k:5s} {sum(d.values()):6d} runs: {fmt_counts(d, CLASSES)}")
    print(f"distinct findings: {len(new_findings)} new this run, {len(sigs)} known in {args.out}")
    for s in new_findings:
        v = sigs[s]
        print(f"  {v['cls']:11s} x{v['hits']:<5d} {v['dir']}\n      {v['command']}\n      {v['line'][:240]}")
    capped = [s for s, v in sigs.items() if v.get("capped")]
    if capped:
        print(f"  ({len(capped)} further distinct signatures not saved: --max-per-kind {args.max_per_kind} reached)")
    print(f"summary JSON: {jpath}")
    return 0


def count_by(items, key):
    d = {}
    for x in items:
        d[x[key]] = d.get(x[key], 0) + 1
    return d


def replay(args):
    root = args.replay
    dirs = []
    if os.path.isfile(os.path.join(root, "case.json")):
        dirs = [root]
    else:
        dirs = [os.path.join(root, n) for n in sorted(os.listdir(root), key=natural_key)
                if os.path.isfile(os.path.join(root, n, "case.json"))]
    work = tempfile.mkdtemp(prefix="fuzz-cli-replay-")
    still, fixed, rows = 0, 0, []
    for d in dirs:
        c = json.load(open(os.path.join(d, "case.json")))
        cd = os.path.join(work, os.path.basename(d))
        os.makedirs(cd)
        for sub in ("input", "aux"):
            if os.path.exists(os.path.join(d, sub)):
                shutil.copytree(os.path.join(d, sub), os.path.join(cd, sub), symlinks=True)
        case = dict(argv=c["argv"], model=c["model"], text=c["text"], family=c.get("family", "none"))
        res = run_case_in(args, case, cd, args.binary)
        now_bad = res["cls"] not in ("ok", "clean")
        if now_bad:
            still += 1
        else:
            fixed += 1
        status = ("STILL " + res["cls"]) if now_bad else ("fixed -> " + res["cls"])
        was_detail = c["detail"]
        if args.refresh and "unmutated_seed" not in c and c.get("seed"):
            bl = seed_baseline(args, dict(c, index=0))
            c["unmutated_seed"] = dict(bl, same_failure=bl["signature"] == (res["signature"] or c.get("signature")))
            with open(os.path.join(d, "case.json"), "w") as fh:
                json.dump(c, fh, indent=1)
        if args.refresh and now_bad and res["cls"] == c["class"]:
            # re-record with the current classifier (same binary): detail, signature, stderr
            c.update(detail=res["detail"], signature=res["signature"], rc=res["rc"], signal=res["signal"],
                     stderr_tail=res["stderr_tail"].splitlines(), wall_s=res["wall"],
                     peak_rss_mb=round(res["maxrss_kb"] / 1024, 1), binary=os.path.abspath(args.binary))
            c["class"] = res["cls"]
            with open(os.path.join(d, "case.json"), "w") as fh:
                json.dump(c, fh, indent=1)
            with open(os.path.join(d, "stderr.txt"), "w") as fh:
                fh.write(res["_stderr"][-65536:])
        rows.append(dict(dir=d, was=c["class"], now=res["cls"], detail=res["detail"], rc=res["rc"],
                         command=" ".join(c["argv"])))
        print(f"{status:22s} {os.path.basename(d):16s} {' '.join(c['argv'])[:70]}\n"
              f"{'':22s} was: {was_detail[:150]}\n{'':22s} now: {(res['detail'] or 'rc 0')[:150]}", flush=True)
        shutil.rmtree(cd, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)
    print(f"\nreplayed {len(dirs)} findings against {args.binary}: {still} still fail, {fixed} fixed")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(dict(binary=os.path.abspath(args.binary), still=still, fixed=fixed, rows=rows), fh, indent=1)
    return 1 if still else 0


def natural_key(s):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--binary", default=os.path.join(REPO, ".build", "debug", "modelsurgery"))
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--seconds", type=float, help="fuzz for this long")
    g.add_argument("--runs", type=int, help="fuzz this many runs (default 500 when neither is given)")
    ap.add_argument("--seed", type=int, default=1, help="mutations are a function of (seed, run index)")
    ap.add_argument("--start", type=int, default=0, help="first run index (to continue a seed)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default="/tmp/fuzz-cli-findings")
    ap.add_argument("--text", default=os.path.join(REPO, "data", "held-out.txt"))
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds before a run counts as a hang")
    ap.add_argument("--as-limit-gb", type=float, default=8.0, help="RLIMIT_AS of each run, GiB")
    ap.add_argument("--rss-limit-gb", type=float, default=4.0, help="peak RSS above this is a memory finding, GB")
    ap.add_argument("--max-per-kind", type=int, default=40,
                    help="save at most this many distinct findings per (class, command)")
    ap.add_argument("--print-every", type=float, default=30.0)
    ap.add_argument("--json", help="summary JSON path (default OUT/summary.json; with --replay, optional)")
    ap.add_argument("--replay", metavar="DIR", help="re-run saved findings (a findings folder or one finding)")
    ap.add_argument("--refresh", action="store_true",
                    help="with --replay: rewrite each still-failing finding's case.json/stderr.txt with this run")
    ap.add_argument("--no-preflight", action="store_true")
    ap.add_argument("--no-gdb", action="store_true", help="do not rerun frameless crashes / hangs under gdb")
    ap.add_argument("--ignore-preflight", action="store_true")
    args = ap.parse_args()
    args.binary = os.path.abspath(args.binary)
    args.text = os.path.abspath(args.text)
    if not os.access(args.binary, os.X_OK):
        sys.exit(f"no executable at {args.binary}")
    if args.replay:
        sys.exit(replay(args))
    if args.seconds is None and args.runs is None:
        args.runs = 500
    sys.exit(fuzz(args))


if __name__ == "__main__":
    main()
