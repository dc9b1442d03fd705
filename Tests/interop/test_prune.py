"""`modelsurgery prune` outputs, read back with gguf-py and checked against the input."""

from __future__ import annotations

import pytest

from support import (MODELS, PROVENANCE_COUNT, PROVENANCE_REMOVED, SPLIT_FIRST, SPLIT_WHOLE,
                     expected_prune, read, read_model, run_ok)

# (fixture, CLI selection, blocks that must be gone)
CASES = [
    ("tiny-llama.gguf", ["--layers", "1,3"], {1, 3}),
    ("tiny-llama.gguf", ["--layers", "0"], {0}),
    ("tiny-llama.gguf", ["--layers", "1-2"], {1, 2}),
    ("tiny-llama.gguf", ["--layers", "3,1"], {1, 3}),
    ("tiny-llama.gguf", ["--keep", "0,3"], {1, 2}),
    ("tiny-llama.gguf", ["--keep", "1-3"], {0}),
    ("tiny-qwen2.gguf", ["--layers", "1-2"], {1, 2}),
    ("tiny-qwen2.gguf", ["--layers", "0,3"], {0, 3}),
    ("tiny-gemma3.gguf", ["--layers", "5"], {5}),
    ("tiny-gemma3.gguf", ["--layers", "0-1,6"], {0, 1, 6}),
    ("tiny-gemma3.gguf", ["--keep", "4-7"], {0, 1, 2, 3}),
    ("tiny-llama-align64.gguf", ["--layers", "0"], {0}),
    ("tiny-base.gguf", ["--layers", "1"], {1}),
    (SPLIT_WHOLE, ["--layers", "1"], {1}),
    (SPLIT_FIRST, ["--layers", "1"], {1}),
]
IDS = [f"{name}:{' '.join(args)}" for name, args, _ in CASES]


def case(name, *args):
    return next(c for c in CASES if c[0] == name and c[1] == list(args))


@pytest.fixture(scope="module")
def pruned(tmp_path_factory):
    """Run each case once; tests share the outputs."""
    cache = {}

    def get(c):
        key = IDS[CASES.index(c)]
        if key not in cache:
            name, args, _ = c
            out = tmp_path_factory.mktemp("prune") / "out.gguf"
            run_ok("prune", MODELS / name, out, *args)
            cache[key] = (read_model(MODELS / name), read(out))
        return cache[key]
    return get


def pattern_key(view):
    return f"{view.arch}.attention.sliding_window_pattern"


def adds_pattern(src) -> bool:
    return src.arch == "gemma3" and pattern_key(src) not in src.kv


@pytest.mark.parametrize("c", CASES, ids=IDS)
def test_keys(pruned, c):
    src, out = pruned(c)
    want_kvs, _ = expected_prune(src, c[2])
    added = {PROVENANCE_COUNT, PROVENANCE_REMOVED} | ({pattern_key(src)} if adds_pattern(src) else set())
    assert added <= set(out.kv), "missing added keys"
    # Everything else: same keys, same order, same types, values updated/sliced as expected.
    assert [kv for kv in out.kvs if kv[0] not in added] == want_kvs


@pytest.mark.parametrize("c", CASES, ids=IDS)
def test_provenance(pruned, c):
    src, out = pruned(c)
    assert out.kv_types[PROVENANCE_COUNT] == ("UINT32",)
    assert out.kv[PROVENANCE_COUNT] == src.block_count
    assert out.kv_types[PROVENANCE_REMOVED] == ("ARRAY", "UINT32")
    assert out.kv[PROVENANCE_REMOVED] == sorted(c[2])
    assert out.block_count == src.block_count - len(c[2])


@pytest.mark.parametrize("c", CASES, ids=IDS)
def test_tensors_kept_byte_for_byte(pruned, c):
    src, out = pruned(c)
    _, want = expected_prune(src, c[2])
    assert sorted(t.name for t in out.tensors) == sorted(t.name for t in want)
    got = {t.name: t for t in out.tensors}
    for t in want:   # renamed blk.N.* compared with the input tensor it came from
        assert got[t.name] == t, t.name


@pytest.mark.parametrize("c", CASES, ids=IDS)
def test_tensor_order_preserved(pruned, c):
    src, out = pruned(c)
    _, want = expected_prune(src, c[2])
    assert [t.name for t in out.tensors] == [t.name for t in want]


@pytest.mark.parametrize("c", CASES, ids=IDS)
def test_layout_llama_cpp_accepts(pruned, c):
    """llama.cpp's gguf loader wants each offset aligned and equal to the padded sum of the
    sizes before it; the alignment of the input is kept."""
    src, out = pruned(c)
    assert out.alignment == src.alignment
    assert out.data_offset % out.alignment == 0
    expected, position = [], 0
    for t in out.tensors:
        expected.append(position)
        position += -(-t.n_bytes // out.alignment) * out.alignment
    assert out.relative_offsets == expected
    last = out.tensors[-1]
    assert out.path.stat().st_size >= out.data_offset + expected[-1] + last.n_bytes


def test_qwen2_per_layer_arrays_sliced(pruned):
    src, out = pruned(case("tiny-qwen2.gguf", "--layers", "1-2"))
    for key in ("qwen2.feed_forward_length", "qwen2.attention.head_count_kv"):
        assert src.kv_types[key][0] == "ARRAY"
        assert out.kv[key] == [src.kv[key][0], src.kv[key][3]]
        assert out.kv_types[key] == src.kv_types[key]
    # ...and the shapes of the renumbered blocks still agree with them.
    shapes = {t.name: t.shape for t in out.tensors}
    for i, width in enumerate(out.kv["qwen2.feed_forward_length"]):
        assert shapes[f"blk.{i}.ffn_up.weight"][1] == width


@pytest.mark.parametrize("c", [c for c in CASES if c[0] == "tiny-gemma3.gguf"],
                         ids=[i for c, i in zip(CASES, IDS) if c[0] == "tiny-gemma3.gguf"])
def test_gemma3_sliding_window_pattern(pruned, c):
    src, out = pruned(c)
    assert pattern_key(src) not in src.kv
    kept = [i for i in range(src.block_count) if i not in c[2]]
    assert out.kv_types[pattern_key(out)] == ("ARRAY", "BOOL")
    assert out.kv[pattern_key(out)] == [i % 6 < 5 for i in kept]


def test_split_input_prunes_like_unsplit(pruned):
    whole = pruned(case(SPLIT_WHOLE, "--layers", "1"))[1]
    split = pruned(case(SPLIT_FIRST, "--layers", "1"))[1]
    assert not any(k.startswith("split.") for k in split.kv), "single-file output keeps split.* keys"
    assert split.kvs == whole.kvs
    assert split.tensors == whole.tensors


def test_split_input_prunes_byte_identical_to_unsplit(pruned):
    whole = pruned(case(SPLIT_WHOLE, "--layers", "1"))[1]
    split = pruned(case(SPLIT_FIRST, "--layers", "1"))[1]
    assert split.path.read_bytes() == whole.path.read_bytes()
