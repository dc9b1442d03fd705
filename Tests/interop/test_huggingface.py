"""Hugging Face folders: convert and prune against the references in TestModels/hf (folders written by
transformers, GGUFs written by llama.cpp's convert_hf_to_gguf.py, logits by transformers; see its README).

safetensors files are read here with a few lines of header parsing (the format's whole spec), so bfloat16
tensors compare as bytes without torch; the reference `safetensors` library must load every output too.
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open

from support import MODELS, REPO, assert_clean_error, read, real_model, run, run_ok

HF = MODELS / "hf"
GOLDEN = json.loads((HF / "golden.json").read_text())
FOLDERS = ["tiny-llama-hf", "tiny-qwen2-hf", "tiny-gemma3-hf"]
# (folder, llama.cpp converter output, --dtype)
CONVERSIONS = [("tiny-llama-hf", "tiny-llama-hf.f32.gguf", "f32"), ("tiny-llama-hf", "tiny-llama-hf.q8_0.gguf", "q8_0"),
               ("tiny-qwen2-hf", "tiny-qwen2-hf.f32.gguf", "f32"), ("tiny-gemma3-hf", "tiny-gemma3-hf.bf16.gguf", "bf16")]
# Where we knowingly differ from the converter: the tiny llama's tokenizer.json has ignore_merges false, which is
# smaug-bpe's behaviour, while generate_hf.py forced the converter to say llama-bpe; and for a tokenizer.json-only
# SentencePiece model the converter writes -1000 for every score, which llama.cpp cannot tokenize with, where we
# score each token by the rank of the merge that makes it (HuggingFaceTokenizerTests checks the ids).
KNOWN_DIFFERENCES = {"tiny-llama-hf": {"tokenizer.ggml.pre"}, "tiny-gemma3-hf": {"tokenizer.ggml.scores"}}


def safetensors_tensors(folder: Path) -> dict[str, tuple[str, list[int], bytes]]:
    """name -> (dtype, shape, bytes) over every .safetensors file of a folder."""
    tensors = {}
    for path in sorted(folder.glob("*.safetensors")):
        raw = path.read_bytes()
        (length,) = struct.unpack("<Q", raw[:8])
        header = json.loads(raw[8:8 + length])
        header.pop("__metadata__", None)
        for name, info in header.items():
            start, end = info["data_offsets"]
            tensors[name] = (info["dtype"], info["shape"], raw[8 + length + start:8 + length + end])
        with safe_open(path, "np") as reference:  # the reference library accepts the file
            assert set(reference.keys()) == set(header)
    return tensors


def config(folder: Path) -> dict:
    return json.loads((folder / "config.json").read_text())


@pytest.mark.parametrize("folder,reference,dtype", CONVERSIONS, ids=[c[1] for c in CONVERSIONS])
def test_folder_to_gguf_matches_llama_cpp_converter(folder, reference, dtype, tmp_path):
    out = tmp_path / "out.gguf"
    run_ok("convert", HF / folder, out, "--dtype", dtype)
    ours, theirs = read(out), read(HF / reference)
    assert ours.tensors == theirs.tensors  # names, order, types, shapes and the sha256 of every tensor's bytes
    keys = set(theirs.kv) - KNOWN_DIFFERENCES.get(folder, set())
    assert set(ours.kv) == set(theirs.kv)
    assert {k: ours.kv[k] for k in keys} == {k: theirs.kv[k] for k in keys}
    assert {k: ours.kv_types[k] for k in keys} == {k: theirs.kv_types[k] for k in keys}


@pytest.mark.parametrize("folder,reference", [(c[0], c[1]) for c in CONVERSIONS if c[2] != "q8_0"])
def test_gguf_to_folder_gives_back_the_source_folder(folder, reference, tmp_path):
    out = tmp_path / "folder"
    run_ok("convert", HF / reference, out)
    assert safetensors_tensors(out) == safetensors_tensors(HF / folder)  # values, dtypes and shapes exactly
    ours, source = config(out), config(HF / folder)
    for key in ("architectures", "model_type", "num_hidden_layers", "hidden_size", "intermediate_size",
                "num_attention_heads", "num_key_value_heads", "head_dim", "rms_norm_eps", "rope_theta",
                "max_position_embeddings", "vocab_size", "bos_token_id", "eos_token_id", "sliding_window",
                "rope_local_base_freq", "query_pre_attn_scalar", "dtype"):
        if key in source and source[key] is not None:
            assert ours.get(key) == source[key], key
    if source.get("layer_types") and "sliding_attention" in source["layer_types"]:
        assert ours["layer_types"] == source["layer_types"]
    assert ours.get("tie_word_embeddings", True) == source.get("tie_word_embeddings", True)
    assert (out / "tokenizer.json").exists() and (out / "tokenizer_config.json").exists()


@pytest.mark.parametrize("folder", FOLDERS)
def test_prune_folder(folder, tmp_path):
    source, out = HF / folder, tmp_path / "pruned"
    removed = GOLDEN["removed"]
    run_ok("prune", source, out, "--layers", ",".join(map(str, removed)))
    expected = GOLDEN["models"][folder]["pruned"]
    ours = safetensors_tensors(out)
    assert sorted(ours) == sorted(expected["tensorNames"])
    kept = [i for i in range(config(source)["num_hidden_layers"]) if i not in removed]
    renamed = {}
    for name, tensor in safetensors_tensors(source).items():
        parts = name.split(".")
        if name.startswith("model.layers."):
            if int(parts[2]) in removed:
                continue
            name = ".".join(parts[:2] + [str(kept.index(int(parts[2])))] + parts[3:])
        renamed[name] = tensor
    assert ours == renamed  # kept tensors byte for byte

    pruned_config, source_config = config(out), config(source)
    assert pruned_config["num_hidden_layers"] == expected["num_hidden_layers"]
    if expected["layer_types"] is not None:
        assert pruned_config["layer_types"] == expected["layer_types"]
    if expected["max_window_layers"] is not None:
        assert pruned_config["max_window_layers"] == expected["max_window_layers"]
    assert pruned_config["modelsurgery"] == {"original_block_count": len(kept) + len(removed), "removed_blocks": removed}
    untouched = {k: v for k, v in source_config.items() if k not in ("num_hidden_layers", "layer_types", "max_window_layers")}
    assert {k: pruned_config[k] for k in untouched} == untouched

    for companion in source.iterdir():
        if companion.suffix != ".safetensors" and companion.name not in ("config.json", "model.safetensors.index.json"):
            assert (out / companion.name).read_bytes() == companion.read_bytes(), companion.name
    index = source / "model.safetensors.index.json"
    if index.exists():  # sharded stays sharded, with an index transformers can follow
        ours_index = json.loads((out / index.name).read_text())
        assert set(ours_index["weight_map"]) == set(ours)
        assert ours_index["metadata"]["total_size"] == sum(len(t[2]) for t in ours.values())
        assert len(set(ours_index["weight_map"].values())) > 1


def test_prune_twice_composes_provenance(tmp_path):
    once, twice = tmp_path / "once", tmp_path / "twice"
    run_ok("prune", HF / "tiny-gemma3-hf", once, "--layers", "1")
    run_ok("prune", once, twice, "--layers", "2")
    assert config(twice)["modelsurgery"] == {"original_block_count": 6, "removed_blocks": [1, 3]}
    source_types = config(HF / "tiny-gemma3-hf")["layer_types"]
    assert config(twice)["layer_types"] == [t for i, t in enumerate(source_types) if i not in (1, 3)]


def test_smollm2_round_trip_keeps_perplexity(tmp_path):
    smollm2 = real_model("SmolLM2-135M-Instruct.Q4_1.gguf")
    folder, back = tmp_path / "smollm2", tmp_path / "back.gguf"
    run_ok("convert", smollm2, folder, "--dtype", "f32")
    run_ok("convert", folder, back, "--dtype", "f32")
    text = REPO / "data" / "held-out.txt"

    def perplexity(model) -> float:
        return json.loads(run_ok("eval", model, "--text", text, "--ctx", "128", "--chunks", "4", "--json").stdout)["perplexity"]["perplexity"]

    original, as_folder, as_gguf = perplexity(smollm2), perplexity(folder), perplexity(back)
    assert abs(as_folder / original - 1) < 1e-3, (original, as_folder)
    assert abs(as_gguf / original - 1) < 1e-3, (original, as_gguf)
    assert config(folder)["num_hidden_layers"] == 30


def copy_folder(name: str, tmp_path: Path) -> Path:
    target = tmp_path / name
    shutil.copytree(HF / name, target)
    return target


@pytest.mark.parametrize("damage,problem", [
    (lambda f: (f / "config.json").unlink(), "config.json"),
    (lambda f: (f / "config.json").write_text("{\"architectures\": [\"LlamaForCausalLM\"],"), "malformed JSON"),
    (lambda f: (f / "config.json").write_text("{\"architectures\": [\"LlamaForCausalLM\"]}"), "num_hidden_layers"),
    (lambda f: (f / "model-00002-of-00002.safetensors").unlink(), "model-00002-of-00002.safetensors"),
] + [(lambda f, bad=bad: shutil.copy(MODELS / "safetensors" / "bad" / bad, f / "model-00001-of-00002.safetensors"),
       "model-00001-of-00002.safetensors")
      for bad in ("header-past-end.safetensors", "malformed-json.safetensors", "overlapping-offsets.safetensors",
                  "offsets-past-end.safetensors", "unknown-dtype.safetensors", "size-mismatch.safetensors")],
   ids=["no-config", "malformed-config", "no-layer-count", "missing-shard", "header-past-end", "malformed-json",
        "overlapping-offsets", "offsets-past-end", "unknown-dtype", "size-mismatch"])
def test_bad_folder_is_one_line_error_and_writes_nothing(damage, problem, tmp_path):
    folder = copy_folder("tiny-qwen2-hf", tmp_path)
    damage(folder)
    out = tmp_path / "out"
    for args in (("prune", folder, out, "--layers", "1"), ("convert", folder, tmp_path / "out.gguf")):
        result = run(*args)
        assert_clean_error(result, str(folder.name))
        assert problem in result.stderr
    assert not out.exists() and not (tmp_path / "out.gguf").exists()
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]


def test_prune_folder_to_gguf_path_is_refused(tmp_path):
    result = run("prune", HF / "tiny-llama-hf", tmp_path / "x.gguf", "--layers", "1")
    assert_clean_error(result, "x.gguf")
    assert not (tmp_path / "x.gguf").exists()


def test_prune_refuses_to_replace_its_input_folder(tmp_path):
    folder = copy_folder("tiny-llama-hf", tmp_path)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    result = run("prune", folder, folder, "--layers", "1")
    assert_clean_error(result, str(folder))
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


@pytest.mark.parametrize("reference", ["tiny-llama-hf.f32.gguf", "tiny-qwen2-hf.f32.gguf", "tiny-gemma3-hf.bf16.gguf"])
def test_gguf_folder_gguf_round_trip_is_exact(reference, tmp_path):
    folder, back = tmp_path / "folder", tmp_path / "back.gguf"
    run_ok("convert", HF / reference, folder)
    run_ok("convert", folder, back)
    assert read(back).tensors == read(HF / reference).tensors


def test_gguf_with_per_block_sizes_cannot_become_a_folder(tmp_path):
    """tiny-qwen2.gguf has a different feed-forward width per block; config.json has one for all."""
    result = run("convert", MODELS / "tiny-qwen2.gguf", tmp_path / "out")
    assert_clean_error(result, "tiny-qwen2.gguf")
    assert "feed_forward_length differs between blocks" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_provenance_crosses_formats(tmp_path):
    """A GGUF pruned by us keeps its provenance keys as config.json's "modelsurgery" object and back."""
    pruned, folder, back = tmp_path / "pruned.gguf", tmp_path / "folder", tmp_path / "back.gguf"
    run_ok("prune", HF / "tiny-llama-hf.f32.gguf", pruned, "--layers", "2")
    run_ok("convert", pruned, folder)
    assert config(folder)["modelsurgery"] == {"original_block_count": 4, "removed_blocks": [2]}
    assert config(folder)["num_hidden_layers"] == 3
    run_ok("convert", folder, back)
    assert read(back).kv["modelsurgery.removed_blocks"] == [2]
    assert read(back).kv["modelsurgery.original_block_count"] == 4


@pytest.mark.parametrize("dtype,numpy_type", [("f16", "float16"), ("bf16", "bfloat16")])
def test_float_encodings_round_as_numpy_does(dtype, numpy_type, tmp_path):
    """F32 weights written as F16 (numpy's astype) or BF16 (ml_dtypes, round to nearest even), bit for bit."""
    import ml_dtypes

    target = np.dtype(ml_dtypes.bfloat16) if numpy_type == "bfloat16" else np.dtype(np.float16)
    out = tmp_path / "folder"
    run_ok("convert", HF / "tiny-llama-hf.f32.gguf", out, "--dtype", dtype)
    ours, source = safetensors_tensors(out), safetensors_tensors(HF / "tiny-llama-hf")
    assert set(ours) == set(source)
    for name, (source_dtype, shape, data) in source.items():
        assert source_dtype == "F32"
        expected = np.frombuffer(data, dtype=np.float32).astype(target).tobytes()
        assert ours[name] == (dtype.upper(), shape, expected), name
    assert config(out)["dtype"] == {"f16": "float16", "bf16": "bfloat16"}[dtype]


def test_existing_output_folder_needs_force_and_nothing_is_lost(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    result = run("convert", HF / "tiny-llama-hf.f32.gguf", target)
    assert_clean_error(result, str(target))
    assert "--force" in result.stderr and (target / "notes.txt").read_text() == "mine"
    run_ok("convert", HF / "tiny-llama-hf.f32.gguf", target, "--force")
    assert (target / "config.json").exists() and not (target / "notes.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_prune_refuses_an_output_inside_its_input_folder(tmp_path):
    folder = copy_folder("tiny-llama-hf", tmp_path)
    before = sorted(p.name for p in folder.iterdir())
    result = run("prune", folder, folder / "pruned", "--layers", "1")
    assert_clean_error(result, "pruned")
    assert "inside the input folder" in result.stderr
    assert sorted(p.name for p in folder.iterdir()) == before


def test_output_folders_follow_the_umask(tmp_path):
    import os
    run_ok("convert", HF / "tiny-llama-hf.f32.gguf", tmp_path / "out")
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o777 & ~current_umask()


def current_umask() -> int:
    import os
    mask = os.umask(0)
    os.umask(mask)
    return mask
