"""`prune --split-max-size` writes gguf-split style shards that gguf-py reads back."""

from __future__ import annotations

import pytest

from support import MODELS, SPLIT_SHARDS, read, run_ok

SOURCE = MODELS / "tiny-llama.gguf"
REMOVE = ["--layers", "1"]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    single = tmp_path_factory.mktemp("single") / "pruned.gguf"
    run_ok("prune", SOURCE, single, *REMOVE)
    single_view = read(single)
    total = sum(t.n_bytes for t in single_view.tensors)
    limit_k = -(-total // 3 // 1000)              # about a third of the data per shard
    split_dir = tmp_path_factory.mktemp("split")
    run_ok("prune", SOURCE, split_dir / "pruned.gguf", *REMOVE, "--split-max-size", f"{limit_k}K")
    return single_view, split_dir, limit_k


def shards_of(split_dir):
    return sorted(split_dir.iterdir())


def test_shard_names(outputs):
    _, split_dir, _ = outputs
    names = [p.name for p in shards_of(split_dir)]
    count = len(names)
    assert count >= 2, names
    assert names == [f"pruned-{i:05d}-of-{count:05d}.gguf" for i in range(1, count + 1)]


def test_split_keys(outputs):
    _, split_dir, _ = outputs
    reference = read(MODELS / SPLIT_SHARDS[0]).kv_types     # types as gguf-py writes them
    shards = [read(p) for p in shards_of(split_dir)]
    total = sum(len(s.tensors) for s in shards)
    for i, shard in enumerate(shards):
        assert shard.kv["split.no"] == i
        assert shard.kv["split.count"] == len(shards)
        assert shard.kv["split.tensors.count"] == total
        for key in ("split.no", "split.count", "split.tensors.count"):
            assert shard.kv_types[key] == reference[key], key
        assert shard.tensors, f"shard {i} has no tensors"


def test_first_shard_keys_match_single_file(outputs):
    single, split_dir, _ = outputs
    first = read(shards_of(split_dir)[0])
    assert [kv for kv in first.kvs if not kv[0].startswith("split.")] == single.kvs


def test_union_of_tensors_matches_single_file(outputs):
    single, split_dir, _ = outputs
    union = [t for p in shards_of(split_dir) for t in read(p).tensors]
    assert union == single.tensors


def test_shards_respect_size_limit(outputs):
    _, split_dir, limit_k = outputs
    limit = limit_k * 1024          # lenient: accepts K = 1000 or 1024
    for p in shards_of(split_dir):
        shard = read(p)
        size = sum(t.n_bytes for t in shard.tensors)
        assert size <= limit or len(shard.tensors) == 1, f"{p.name}: {size} bytes of tensors"


def test_split_output_reads_back_as_input(outputs, tmp_path):
    """A split output is itself a valid input: pruning it again matches pruning the single file."""
    single, split_dir, _ = outputs
    a, b = tmp_path / "a.gguf", tmp_path / "b.gguf"
    run_ok("prune", shards_of(split_dir)[0], a, "--layers", "0")
    run_ok("prune", single.path, b, "--layers", "0")
    assert read(a).tensors == read(b).tensors
