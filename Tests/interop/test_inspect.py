"""`modelsurgery inspect --json` agrees with gguf-py's reading of each fixture."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from support import MODELS, SINGLE_FIXTURES, SPLIT_FIRST, SPLIT_WHOLE, block_of, read, run_ok


def inspect_json(path, *extra) -> dict:
    return json.loads(run_ok("inspect", path, "--json", *extra).stdout)


@pytest.mark.parametrize("name", SINGLE_FIXTURES)
def test_inspect_summary_matches_reader(name):
    view = read(MODELS / name)
    got = inspect_json(MODELS / name)

    assert got["architecture"] == view.arch
    assert got["blockCount"] == view.block_count
    assert got["parameters"] == sum(t.n_elements for t in view.tensors)
    assert got["bytes"] == sum(t.n_bytes for t in view.tensors)
    assert got["tensorTypes"] == dict(Counter(t.type for t in view.tensors))

    blocks = sorted(got["blocks"], key=lambda b: b["index"])
    assert [b["index"] for b in blocks] == list(range(view.block_count))
    for b in blocks:
        mine = [t for t in view.tensors if block_of(t.name) == b["index"]]
        assert b["parameters"] == sum(t.n_elements for t in mine), f"block {b['index']}"
        assert b["bytes"] == sum(t.n_bytes for t in mine), f"block {b['index']}"


@pytest.mark.parametrize("name", SINGLE_FIXTURES)
def test_inspect_tensors_match_reader(name):
    view = read(MODELS / name)
    got = inspect_json(MODELS / name, "--tensors")["tensors"]
    assert [t["name"] for t in got] == [t.name for t in view.tensors]
    for mine, ref in zip(got, view.tensors):
        assert mine["type"] == ref.type, ref.name
        assert tuple(mine["shape"]) == ref.shape, ref.name
        assert mine["bytes"] == ref.n_bytes, ref.name


def test_inspect_first_shard_describes_whole_model():
    """Given the first shard, inspect reports the whole split model."""
    whole = inspect_json(MODELS / SPLIT_WHOLE, "--tensors")
    split = inspect_json(MODELS / SPLIT_FIRST, "--tensors")
    for key in ("architecture", "blockCount", "parameters", "bytes", "blocks", "tensorTypes", "tensors"):
        assert split[key] == whole[key], key


def test_inspect_escapes_control_characters_from_the_file(tmp_path):
    """Names come from strangers' files: an escape sequence or a bidi override in them must not reach the terminal."""
    import gguf
    import numpy as np
    path = tmp_path / "hostile.gguf"
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_name("evil\x1b[31mred\x07\u202e")
    writer.add_block_count(1)
    writer.add_tensor("blk.0.attn_norm\x1b]0;title\x07.weight", np.ones(4, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    out = run_ok("inspect", path, "--tensors").stdout
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert "evil\\u{1b}[31mred\\u{7}\\u{202e}" in out


def test_inspect_shows_what_prune_recorded(tmp_path):
    out = tmp_path / "pruned.gguf"
    run_ok("prune", MODELS / "tiny-llama.gguf", out, "--layers", "1,3")
    report = json.loads(run_ok("inspect", out, "--json").stdout)
    assert report["provenance"] == {"original_block_count": "4", "removed_blocks": "1,3"}
    text = run_ok("inspect", out).stdout
    assert "made by modelsurgery:" in text and "removed_blocks        1,3" in text
    assert "made by" not in run_ok("inspect", MODELS / "tiny-llama.gguf").stdout
