"""Shared helpers for the interop suite: run the CLI, read GGUF files with gguf-py."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import gguf

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "TestModels"
BAD = MODELS / "bad"
EXPECTED = json.loads((MODELS / "expected.json").read_text())

# Valid single-file fixtures (split shards are handled separately).
SINGLE_FIXTURES = sorted(name for name in EXPECTED["files"] if "/" not in name)
SPLIT_SHARDS = sorted(name for name in EXPECTED["files"] if name.startswith("split/"))
SPLIT_FIRST = SPLIT_SHARDS[0]
SPLIT_WHOLE = "tiny-split-whole.gguf"    # the same model as the split fixture, in one file
BAD_FILES = sorted(p.name for p in BAD.iterdir())

PROVENANCE_COUNT = "modelsurgery.original_block_count"
PROVENANCE_REMOVED = "modelsurgery.removed_blocks"
SHARD_NAME = re.compile(r"^(?P<stem>.+)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$")


def real_model(name: str) -> Path:
    """A model fetched by `make models`; `make test` fetches them, so a missing one fails the test."""
    path = REPO / "models" / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make models`")
    return path


def binary() -> Path:
    path = Path(os.environ.get("MODELSURGERY", ".build/debug/modelsurgery"))
    return path if path.is_absolute() else REPO / path


def run(*args, timeout: int = 300) -> subprocess.CompletedProcess:
    exe = binary()
    if not exe.exists():
        pytest.fail(f"modelsurgery binary not found at {exe} (build it, or set MODELSURGERY)")
    return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, timeout=timeout)


def run_ok(*args, **kw) -> subprocess.CompletedProcess:
    result = run(*args, **kw)
    assert result.returncode == 0, f"modelsurgery {' '.join(map(str, args))} failed:\n{result.stderr}"
    return result


def assert_clean_error(result: subprocess.CompletedProcess, name: str) -> None:
    """Non-zero exit (not a crash), and stderr is one line that names `name`."""
    assert result.returncode > 0, f"expected a failure exit, got {result.returncode}\n{result.stderr}"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"stderr should be exactly one line, got:\n{result.stderr}"
    assert name in lines[0], f"stderr should name {name!r}: {lines[0]!r}"


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------- reading GGUF with gguf-py

@dataclass(frozen=True)
class Tensor:
    name: str
    type: str
    shape: tuple[int, ...]      # GGUF ne order
    n_elements: int
    n_bytes: int
    sha256: str

    def renamed(self, name: str) -> "Tensor":
        return Tensor(name, self.type, self.shape, self.n_elements, self.n_bytes, self.sha256)


@dataclass
class View:
    """What gguf.GGUFReader sees in one file (or in all shards of a split model)."""
    path: Path
    alignment: int
    data_offset: int
    kvs: list[tuple[str, tuple[str, ...], object]]   # (key, type names, value) in file order
    tensors: list[Tensor]
    relative_offsets: list[int] = field(default_factory=list)

    @property
    def kv(self) -> dict[str, object]:
        return {key: value for key, _, value in self.kvs}

    @property
    def kv_types(self) -> dict[str, tuple[str, ...]]:
        return {key: types for key, types, _ in self.kvs}

    @property
    def arch(self) -> str:
        return self.kv["general.architecture"]

    @property
    def block_count(self) -> int:
        return self.kv[f"{self.arch}.block_count"]


def read(path: Path) -> View:
    reader = gguf.GGUFReader(path)
    raw = path.read_bytes()
    kvs = [(f.name, tuple(t.name for t in f.types), f.contents())
           for f in reader.fields.values() if not f.name.startswith("GGUF.")]
    tensors = [Tensor(t.name, t.tensor_type.name, tuple(int(d) for d in t.shape), int(t.n_elements),
                      int(t.n_bytes),
                      hashlib.sha256(raw[t.data_offset:t.data_offset + t.n_bytes]).hexdigest())
               for t in reader.tensors]
    return View(path, int(reader.alignment), int(reader.data_offset), kvs, tensors,
                [int(t.data_offset) - int(reader.data_offset) for t in reader.tensors])


def shard_paths(first: Path) -> list[Path]:
    """All shards of a split model, given any shard's path, in order."""
    m = SHARD_NAME.match(first.name)
    assert m, f"{first.name} is not a shard name"
    count = int(m["count"])
    return [first.with_name(f"{m['stem']}-{i:05d}-of-{count:05d}.gguf") for i in range(1, count + 1)]


def read_model(path: Path) -> View:
    """Like read(), but a split model (any shard given) is read as one: keys of the
    first shard without split.*, tensors of all shards in order."""
    view = read(path)
    if "split.count" not in view.kv:
        return view
    shards = [read(p) for p in shard_paths(path)]
    return View(path, shards[0].alignment, shards[0].data_offset,
                [kv for kv in shards[0].kvs if not kv[0].startswith("split.")],
                [t for s in shards for t in s.tensors])


BLOCK_NAME = re.compile(r"^blk\.(\d+)\.(.+)$")


def block_of(name: str) -> int | None:
    m = BLOCK_NAME.match(name)
    return int(m[1]) if m else None


def expected_prune(src: View, removed: set[int]) -> tuple[list, list[Tensor]]:
    """The keys (without provenance / added pattern keys) and tensors a prune must produce,
    derived only from the input as gguf-py reads it."""
    arch, n = src.arch, src.block_count
    kept = [i for i in range(n) if i not in removed]
    new_index = {old: new for new, old in enumerate(kept)}
    kvs = []
    for key, types, value in src.kvs:
        if key.startswith("split."):
            continue
        if key == f"{arch}.block_count":
            value = len(kept)
        elif key.startswith(arch + ".") and types[0] == "ARRAY" and len(value) == n:
            value = [value[i] for i in kept]
        kvs.append((key, types, value))
    tensors = []
    for t in src.tensors:
        m = BLOCK_NAME.match(t.name)
        if m is None:
            tensors.append(t)
        elif int(m[1]) not in removed:
            tensors.append(t.renamed(f"blk.{new_index[int(m[1])]}.{m[2]}"))
    return kvs, tensors


def added_keys(arch: str) -> set[str]:
    return {PROVENANCE_COUNT, PROVENANCE_REMOVED, f"{arch}.attention.sliding_window_pattern"}
