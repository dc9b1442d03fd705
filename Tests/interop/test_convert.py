"""Rewriting without surgery: `modelsurgery convert IN OUT` reproduces files byte for byte.

(The brief called this `rewrite IN OUT`; the CLI names it `convert`.)
"""

from __future__ import annotations

import pytest

from support import (BAD, MODELS, SINGLE_FIXTURES, SPLIT_FIRST, SPLIT_SHARDS, SPLIT_WHOLE,
                     assert_clean_error, read, run, run_ok, sha256_file)

REWRITE = "convert"


@pytest.mark.parametrize("name", SINGLE_FIXTURES)
def test_rewrite_is_byte_identical(name, tmp_path):
    out = tmp_path / "out.gguf"
    run_ok(REWRITE, MODELS / name, out)
    assert sha256_file(out) == sha256_file(MODELS / name)
    assert [p.name for p in tmp_path.iterdir()] == ["out.gguf"]


def test_rewrite_of_split_model_joins_it(tmp_path):
    """The split fixture is tiny-split-whole.gguf cut in three by gguf-py; joining gives it back."""
    out = tmp_path / "joined.gguf"
    run_ok(REWRITE, MODELS / SPLIT_FIRST, out)
    assert sha256_file(out) == sha256_file(MODELS / SPLIT_WHOLE)


@pytest.mark.parametrize("name", SPLIT_SHARDS[1:])
def test_rewrite_refuses_later_shard(name, tmp_path):
    assert_clean_error(run(REWRITE, MODELS / name, tmp_path / "out.gguf"), name.split("/")[-1])
    assert list(tmp_path.iterdir()) == []


def test_split_then_join_round_trip(tmp_path):
    source = MODELS / "tiny-llama.gguf"
    run_ok(REWRITE, source, tmp_path / "parts.gguf", "--split-max-size", "100K")
    shards = sorted(tmp_path.iterdir())
    assert len(shards) > 1
    assert [t for p in shards for t in read(p).tensors] == read(source).tensors
    joined = tmp_path / "joined" / "model.gguf"
    joined.parent.mkdir()
    run_ok(REWRITE, shards[0], joined)
    assert sha256_file(joined) == sha256_file(source)


@pytest.mark.parametrize("name", sorted(p.name for p in BAD.iterdir()))
def test_rewrite_rejects_bad_file(name, tmp_path):
    assert_clean_error(run(REWRITE, BAD / name, tmp_path / "out.gguf"), name)
    assert list(tmp_path.iterdir()) == []
