"""Round trips through our ONNX export, checked with the reference readers (gguf-py, safetensors):
GGUF -> ONNX -> GGUF keeps every tensor's values (exactly: float tensors come back bit for bit, quantized ones as
gguf-py dequantizes them), and a Hugging Face folder -> ONNX -> folder keeps every tensor bit for bit."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

import gguf

from support import MODELS, block_of, expected_prune, read, run_ok

GGUFS = ["tiny-llama.gguf", "tiny-qwen2.gguf", "tiny-qwen3.gguf", "tiny-gemma3.gguf"]
# qwen2 ties its embeddings; gemma3's bf16 weights travel as f32 and come back as bf16 with --dtype bf16.
FOLDERS = [("hf/tiny-llama-hf", "f32"), ("onnx/hf/qwen2", "f32"), ("hf/tiny-gemma3-hf", "bf16")]
FLOAT_TYPES = {"F32", "F16", "BF16"}


def tensors(path):
    """name -> (type name, values as float32 in gguf-py's array shape)."""
    reader = gguf.GGUFReader(path)
    return {t.name: (t.tensor_type.name,
                     np.asarray(gguf.quants.dequantize(t.data, t.tensor_type), dtype=np.float32).reshape(-1))
            for t in reader.tensors}


def safetensors_tensors(path):
    """name -> (dtype, shape, raw bytes), read as the safetensors format states (any dtype, bf16 included)."""
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + length])
    header.pop("__metadata__", None)
    return {name: (entry["dtype"], entry["shape"],
                   raw[8 + length + entry["data_offsets"][0]:8 + length + entry["data_offsets"][1]])
            for name, entry in header.items()}


def keys(path):
    reader = gguf.GGUFReader(path)
    return {f.name: f.contents() for f in reader.fields.values() if not f.name.startswith("GGUF.")}


@pytest.mark.parametrize("name", GGUFS)
def test_gguf_onnx_gguf_keeps_every_value(name, tmp_path):
    source = MODELS / name
    run_ok("convert", source, tmp_path / "onnx", "--to", "onnx", "--dtype", "f32")
    run_ok("convert", tmp_path / "onnx", tmp_path / "back.gguf")
    before, after = tensors(source), tensors(tmp_path / "back.gguf")
    assert sorted(after) == sorted(before)
    for tensor, (kind, values) in before.items():
        back_kind, back = after[tensor]
        assert back.shape == values.shape, tensor
        assert np.array_equal(back.view(np.uint32), values.view(np.uint32)), f"{tensor} ({kind} -> {back_kind})"
    source_keys, back_keys = keys(source), keys(tmp_path / "back.gguf")
    arch = source_keys["general.architecture"]
    for key, value in source_keys.items():
        if key.startswith(arch + ".") or key.startswith("tokenizer.ggml.tokens"):
            assert back_keys.get(key) == value, key


@pytest.mark.parametrize("name", ["tiny-llama.gguf", "tiny-qwen3.gguf"])
def test_f16_export_keeps_f16_tensors_bit_for_bit(name, tmp_path):
    source = MODELS / name
    run_ok("convert", source, tmp_path / "model.onnx", "--dtype", "f16")
    run_ok("convert", tmp_path / "model.onnx", tmp_path / "back.gguf")
    before, after = gguf.GGUFReader(source), gguf.GGUFReader(tmp_path / "back.gguf")
    back = {t.name: t for t in after.tensors}
    f16 = [t for t in before.tensors if t.tensor_type.name == "F16"]
    assert f16, f"{name} has no F16 tensor"
    for tensor in f16:
        assert back[tensor.name].tensor_type.name == "F16", tensor.name
        assert bytes(back[tensor.name].data) == bytes(tensor.data), tensor.name


@pytest.mark.parametrize("name, dtype", FOLDERS)
def test_folder_onnx_folder_keeps_every_tensor(name, dtype, tmp_path):
    source = MODELS / name
    run_ok("convert", source, tmp_path / "model.onnx")
    run_ok("convert", tmp_path / "model.onnx", tmp_path / "back", "--to", "safetensors", "--dtype", dtype)
    before = safetensors_tensors(source / "model.safetensors")
    after = safetensors_tensors(tmp_path / "back" / "model.safetensors")
    assert sorted(after) == sorted(before)
    for tensor, (dtype, shape, data) in before.items():
        assert after[tensor][:2] == (dtype, shape), tensor
        assert after[tensor][2] == data, tensor
    config = json.loads((source / "config.json").read_text())
    back_config = json.loads((tmp_path / "back" / "config.json").read_text())
    # Tying shows in the tensor set (no lm_head.weight); the field itself may be left to its default.
    for field in ("model_type", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "hidden_size",
                  "intermediate_size", "rms_norm_eps", "rope_theta", "vocab_size"):
        assert back_config.get(field) == config.get(field), field


@pytest.mark.parametrize("name", ["tiny-qwen2.gguf", "tiny-gemma3.gguf"])
def test_pruned_export_reads_as_the_pruned_model(name, tmp_path):
    """Pruning our export by block list keeps modelsurgery.metadata in line (block count, per-block arrays: tiny
    qwen2 has per-layer head counts), so the pruned ONNX converts to the GGUF a GGUF prune would have given."""
    source = MODELS / name
    run_ok("convert", source, tmp_path / "onnx", "--to", "onnx")
    run_ok("prune", tmp_path / "onnx", tmp_path / "pruned", "--layers", "1")
    run_ok("convert", tmp_path / "pruned", tmp_path / "back.gguf")
    keys_expected, tensors_expected = expected_prune(read(source), {1})
    back_keys = keys(tmp_path / "back.gguf")
    arch = back_keys["general.architecture"]
    for key, _, value in keys_expected:
        if key.startswith(arch + "."):
            assert back_keys.get(key) == value, key
    before, after = tensors(source), tensors(tmp_path / "back.gguf")
    assert sorted(after) == sorted(t.name for t in tensors_expected)
    renamed = {t.name: old.name for t, old in zip(tensors_expected, [t for t in read(source).tensors
                                                                     if block_of(t.name) != 1])}
    for tensor, (_, values) in after.items():
        assert np.array_equal(values.view(np.uint32), before[renamed[tensor]][1].view(np.uint32)), tensor
