"""The safetensors fixtures against the reference `safetensors` package.

The Swift tests compare our reader with expected.json and our writer's output byte for byte with files the
reference wrote (TestModels/safetensors/{dtypes,packed}.safetensors, single/, sharded/). These tests keep
those premises honest: the committed fixtures are what the generator makes today, every file under bad/ is
refused by the reference reader too, and the reference reads the sharded folder as the single file.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import safetensors
from safetensors import safe_open

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "TestModels" / "safetensors"
BAD_FILES = sorted(p.name for p in (FIXTURES / "bad").iterdir() if p.is_file())


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_committed_fixtures_are_what_the_generator_writes(tmp_path: Path) -> None:
    copy = tmp_path / "safetensors"
    copy.mkdir()
    shutil.copy(FIXTURES / "generate.py", copy / "generate.py")
    subprocess.run([sys.executable, str(copy / "generate.py")], check=True)
    generated, committed = tree(copy), tree(FIXTURES)
    assert generated.keys() == committed.keys()
    for name in committed:
        assert generated[name] == committed[name], name


@pytest.mark.parametrize("name", BAD_FILES)
def test_reference_refuses_bad_file(name: str) -> None:
    with pytest.raises(Exception):
        with safe_open(FIXTURES / "bad" / name, "numpy") as f:
            for key in f.offset_keys():
                f.get_slice(key)


def test_reference_reads_sharded_as_single() -> None:
    def read(path: Path) -> dict[str, tuple]:
        return {name: (t["dtype"], list(t["shape"]), bytes(t["data"]))
                for name, t in safetensors.deserialize(path.read_bytes())}

    single = read(FIXTURES / "single" / "model.safetensors")
    index = json.loads((FIXTURES / "sharded" / "model.safetensors.index.json").read_text())
    sharded = {}
    for shard in sorted(set(index["weight_map"].values())):
        tensors = read(FIXTURES / "sharded" / shard)
        assert all(index["weight_map"][name] == shard for name in tensors)
        sharded.update(tensors)
    assert sharded == single
    assert index["metadata"]["total_size"] == sum(len(t[2]) for t in single.values())
