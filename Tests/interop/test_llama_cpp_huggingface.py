"""Folders converted to GGUF by us load and run in llama.cpp (through llama-cpp-python), tokenizing as the
folder's own tokenizer does and giving transformers' logits (TestModels/hf/golden.json)."""

from __future__ import annotations

import json

import llama_cpp
import numpy as np
import pytest

from support import MODELS, run_ok

HF = MODELS / "hf"
GOLDEN = json.loads((HF / "golden.json").read_text())


@pytest.mark.parametrize("folder,dtype,tolerance", [("tiny-llama-hf", "f32", 1e-3), ("tiny-qwen2-hf", "f32", 1e-3),
                                                    ("tiny-gemma3-hf", "f32", 2e-2), ("tiny-llama-hf", "q8_0", 5e-2)])
def test_converted_folder_runs_in_llama_cpp(folder, dtype, tolerance, tmp_path):
    """Tolerances relative to each sequence's logit spread: float32 models agree to rounding with an F32 KV
    cache; Gemma's GELU and Q8_0's 8-bit activations are llama.cpp's own approximations (measured by
    TestModels/hf/check_gguf.py on the converter's files: 0.008 and 0.020)."""
    out = tmp_path / "model.gguf"
    run_ok("convert", HF / folder, out, "--dtype", dtype)
    llm = llama_cpp.Llama(model_path=str(out), n_ctx=128, logits_all=True, verbose=False,
                          type_k=llama_cpp.GGML_TYPE_F32, type_v=llama_cpp.GGML_TYPE_F32)
    model = GOLDEN["models"][folder]
    text = next(s for s in model["sequences"] if s["name"] == "text")
    assert llm.tokenize(GOLDEN["text"].encode(), add_bos=True, special=True) == text["ids"]
    for sequence in model["sequences"]:
        llm.reset()
        llm.eval(sequence["ids"])
        logits = np.asarray(llm.scores[:len(sequence["ids"])])
        for row, expected in zip(logits, sequence["whole"]["positions"]):
            error = np.abs(row[expected["ids"]] - np.asarray(expected["logits"])).max() / sequence["whole"]["spread"]
            assert error < tolerance
