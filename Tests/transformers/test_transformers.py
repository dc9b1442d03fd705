"""The real client for folders: transformers loads what modelsurgery writes and gives the reference logits
(TestModels/hf/golden.json). Needs torch, so it runs in .venv-hf through `make test-transformers`, not in
`make test`."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers

REPO = Path(__file__).resolve().parents[2]
HF = REPO / "TestModels" / "hf"
GOLDEN = json.loads((HF / "golden.json").read_text())
FOLDERS = ["tiny-llama-hf", "tiny-qwen2-hf", "tiny-gemma3-hf"]


def modelsurgery(*args) -> None:
    binary = os.environ.get("MODELSURGERY", str(REPO / ".build/debug/modelsurgery"))
    result = subprocess.run([binary, *map(str, args)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def expect_golden_logits(folder: Path, name: str, variant: str) -> None:
    """float32 on both sides from the same weights: within 1e-4 of each sequence's logit spread."""
    model = transformers.AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager", dtype=torch.float32)
    for sequence in GOLDEN["models"][name]["sequences"]:
        with torch.no_grad():
            logits = model(torch.tensor([sequence["ids"]])).logits[0].numpy()
        expected = sequence[variant]
        for row, position in zip(logits, expected["positions"]):
            assert np.abs(row[position["ids"]] - np.asarray(position["logits"])).max() <= 1e-4 * expected["spread"]


@pytest.mark.parametrize("name", FOLDERS)
def test_pruned_folder_loads_in_transformers(name, tmp_path):
    out = tmp_path / "pruned"
    modelsurgery("prune", HF / name, out, "--layers", ",".join(map(str, GOLDEN["removed"])))
    config = transformers.AutoConfig.from_pretrained(out)
    assert config.num_hidden_layers == GOLDEN["models"][name]["pruned"]["num_hidden_layers"]
    expect_golden_logits(out, name, "pruned")


@pytest.mark.parametrize("name,gguf", [("tiny-llama-hf", "tiny-llama-hf.f32.gguf"), ("tiny-qwen2-hf", "tiny-qwen2-hf.f32.gguf"),
                                       ("tiny-gemma3-hf", "tiny-gemma3-hf.bf16.gguf")])
def test_converted_folder_loads_in_transformers(name, gguf, tmp_path):
    """llama.cpp's converter wrote the GGUF; we convert it back and transformers runs it as the original."""
    out = tmp_path / "converted"
    modelsurgery("convert", HF / gguf, out)
    expect_golden_logits(out, name, "whole")
    tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    text = next(s for s in GOLDEN["models"][name]["sequences"] if s["name"] == "text")
    assert tokenizer(GOLDEN["text"])["input_ids"] == text["ids"]
