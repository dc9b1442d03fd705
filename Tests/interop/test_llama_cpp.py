"""Pruned models load and run in llama.cpp (through llama-cpp-python).

`make test` installs llama-cpp-python and fetches the real models; a missing one fails.
"""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

import llama_cpp
from support import MODELS, SPLIT_FIRST, read, real_model, run_ok

PROMPT = "The capital of France is"
TEXT = "The quick brown fox jumps over the lazy dog. It was a sunny day in the park."


def load(path, **kw):
    return llama_cpp.Llama(model_path=str(path), n_ctx=256, verbose=False, **kw)


def n_layer(llm) -> int:
    if hasattr(llama_cpp, "llama_model_n_layer"):
        return llama_cpp.llama_model_n_layer(llm.model)
    arch = llm.metadata["general.architecture"]
    return int(llm.metadata[f"{arch}.block_count"])


def greedy(llm, prompt: str, n: int) -> str:
    """n greedy tokens (EOS is not a stop: the point is that decoding runs)."""
    llm.reset()
    llm.eval(llm.tokenize(prompt.encode(), add_bos=True))
    out = []
    for _ in range(n):
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),))
        assert np.isfinite(logits).all()
        out.append(int(np.argmax(logits)))
        llm.eval([out[-1]])
    return llm.detokenize(out).decode("utf-8", errors="replace")


def mean_nll(path, text: str) -> float:
    llm = load(path, logits_all=True)
    tokens = llm.tokenize(text.encode(), add_bos=True)
    llm.reset()
    llm.eval(tokens)
    logits = np.asarray(llm.scores[:len(tokens)], dtype=np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-np.mean([logp[i, tokens[i + 1]] for i in range(len(tokens) - 1)]))


def swa_roles(path) -> list[bool]:
    """Per-layer is_swa as llama.cpp reports it while loading (verbose log, in a child
    process because the log goes to the C library's stderr)."""
    code = ("import sys, llama_cpp\n"
            "m = llama_cpp.Llama(model_path=sys.argv[1], n_ctx=256, verbose=True)\n"
            "print(llama_cpp.llama_model_n_layer(m.model))\n")
    result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    n = int(result.stdout.strip().splitlines()[-1])
    found = dict((int(i), flag == "1") for i, flag in
                 re.findall(r"load_tensors: layer\s+(\d+) assigned to device \S+, is_swa = (\d)", result.stderr))
    if not found:
        pytest.fail("llama.cpp's load log has no 'layer N assigned to device ..., is_swa = F' lines any more: "
                    "update the pattern in swa_roles")
    return [found[i] for i in range(n)]


def prune(src, tmp_path, *args):
    out = tmp_path / "pruned.gguf"
    run_ok("prune", src, out, *args)
    return out


# ------------------------------------------------------------------ tiny fixtures

TINY = [
    ("tiny-llama.gguf", ["--layers", "1,3"]),
    ("tiny-llama-align64.gguf", ["--layers", "0"]),
    ("tiny-gemma3.gguf", ["--layers", "5"]),
    ("tiny-gemma3.gguf", ["--layers", "0-1"]),
    (SPLIT_FIRST, ["--layers", "1"]),
]


@pytest.mark.parametrize("name,args", TINY, ids=[f"{n}:{' '.join(a)}" for n, a in TINY])
def test_tiny_pruned_model_runs(name, args, tmp_path):
    out = prune(MODELS / name, tmp_path, *args)
    llm = load(out)
    assert n_layer(llm) == read(out).block_count
    greedy(llm, "the rest", 4)


def test_tiny_split_output_loads(tmp_path):
    run_ok("prune", MODELS / "tiny-llama.gguf", tmp_path / "out.gguf", "--layers", "2",
           "--split-max-size", "100K")
    shards = sorted(tmp_path.iterdir())
    assert len(shards) > 1
    llm = load(shards[0])
    assert n_layer(llm) == 3
    greedy(llm, "the rest", 4)


def test_tiny_gemma3_roles_as_fixture_intends():
    assert swa_roles(MODELS / "tiny-gemma3.gguf") == [i % 6 < 5 for i in range(8)]


@pytest.mark.parametrize("removed", [{5}, {0, 1}, {2, 6}])
def test_tiny_gemma3_keeps_layer_roles(removed, tmp_path):
    """Each kept layer keeps its original sliding-window/global role."""
    layers = ",".join(map(str, sorted(removed)))
    out = prune(MODELS / "tiny-gemma3.gguf", tmp_path, "--layers", layers)
    assert swa_roles(out) == [i % 6 < 5 for i in range(8) if i not in removed]


# ------------------------------------------------------------------ real models

def check_real_model(src, tmp_path, layers: str, n_removed: int):
    out = prune(src, tmp_path, "--layers", layers)
    original = load(src)
    n_original = n_layer(original)
    del original
    llm = load(out)
    assert n_layer(llm) == n_original - n_removed
    text = greedy(llm, PROMPT, 16)
    assert text.strip(), "pruned model generated nothing"
    del llm
    before, after = mean_nll(src, TEXT), mean_nll(out, TEXT)
    print(f"\n{src.name}: mean NLL {before:.3f} -> {after:.3f} after removing {layers}; "
          f"greedy continuation: {text!r}")
    assert np.isfinite(before) and np.isfinite(after)
    return out


def test_smollm2_pruned(tmp_path):
    check_real_model(real_model("SmolLM2-135M-Instruct.Q4_1.gguf"), tmp_path, "20-27", 8)


def test_gemma3_270m_pruned(tmp_path):
    src = real_model("gemma-3-270m-q4_k_m.gguf")
    out = check_real_model(src, tmp_path, "6-7", 2)
    roles = swa_roles(src)
    assert swa_roles(out) == roles[:6] + roles[8:]
