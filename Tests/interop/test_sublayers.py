"""Sub-layer removal and recovery, written as llama.cpp's deci architecture: the files load and run in
llama.cpp, our engine's perplexity on them matches llama.cpp's, and bad requests fail cleanly."""

from __future__ import annotations

import json
import re
import sys

import gguf
import llama_cpp
import pytest

from support import MODELS, REPO, assert_clean_error, real_model, run, run_ok

sys.path.insert(0, str(REPO / "scripts"))
from llama_measure import perplexity  # noqa: E402  (this repo's llama-perplexity protocol)

SMOLLM2 = "SmolLM2-135M-Instruct.Q4_1.gguf"
CALIBRATION = ["--calib", REPO / "data/calibration.txt", "--samples", "12", "--seq-len", "256"]


def llama_cpp_perplexity(path, text: str, ctx: int = 128) -> float:
    model = llama_cpp.Llama(str(path), n_ctx=ctx, n_batch=ctx, logits_all=True, verbose=False, seed=0)
    add_bos = model._model.add_bos_token()
    tokens = model.tokenize(text.encode(), add_bos=add_bos, special=False)
    return perplexity(model, tokens, ctx, add_bos)[0]


def our_perplexity(path, ctx: int = 128) -> float:
    out = run_ok("eval", path, "--text", REPO / "data/held-out.txt", "--ctx", ctx).stdout
    return float(re.search(r"perplexity ([0-9.]+)", out).group(1))


def per_layer(path, key: str) -> list[int]:
    field = gguf.GGUFReader(path).fields[key]
    return [int(field.parts[i][0]) for i in field.data]


SUBLAYER_CASES = [
    ["--drop", "attn:5,9 ffn:12", "--layers", "20,21", "--recover", "linear", *CALIBRATION],
    ["--drop", "block:28 attn:1", "--recover", "lowrank:16", *CALIBRATION],
    ["--drop", "attn:0,7 ffn:14"],     # layer 0 keeps heads: a zero linear attention
]


@pytest.mark.parametrize("args", SUBLAYER_CASES)
def test_llama_cpp_runs_what_we_write_and_agrees_with_our_engine(args, tmp_path):
    out = tmp_path / "pruned.gguf"
    run_ok("prune", real_model(SMOLLM2), out, *args, timeout=600)
    reader = gguf.GGUFReader(out)
    assert bytes(reader.fields["general.architecture"].parts[-1]).decode() == "deci"
    heads, kv_heads = per_layer(out, "deci.attention.head_count"), per_layer(out, "deci.attention.head_count_kv")
    widths = per_layer(out, "deci.feed_forward_length")
    assert heads[0] > 0 and min(widths) >= 1
    # Every layer holds exactly the tensors its counts imply (llama.cpp refuses anything else).
    names = {t.name for t in reader.tensors}
    for layer, (h, kv) in enumerate(zip(heads, kv_heads)):
        has = {role for role in ("attn_norm", "attn_q", "attn_k", "attn_v", "attn_output")
               if f"blk.{layer}.{role}.weight" in names}
        assert has == ({"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output"} if kv else
                       {"attn_norm", "attn_output"} if h else set()), layer
    text = (REPO / "data/held-out.txt").read_text()
    theirs, ours = llama_cpp_perplexity(out, text), our_perplexity(out)
    assert abs(ours - theirs) / theirs < 0.01, f"ours {ours}, llama.cpp {theirs}"


@pytest.fixture(scope="module")
def tiny_f32(tmp_path_factory):
    """tiny-llama with F32 weights: llama.cpp then multiplies in F32 as we do (with quantized weights it first
    quantizes the activations to 8 bits, which moves perplexity by up to about 1% on damaged models)."""
    folder = tmp_path_factory.mktemp("f32")
    run_ok("convert", MODELS / "tiny-llama.gguf", folder / "hf", "--dtype", "f32")
    run_ok("convert", folder / "hf", folder / "tiny-f32.gguf", "--dtype", "f32")
    return folder / "tiny-f32.gguf"


@pytest.mark.parametrize("args", [
    ["--drop", "ffn:1,2", "--recover", "bias"],
    ["--drop", "attn:2", "--layers", "1", "--recover", "linear"],
    ["--drop", "attn:1 ffn:3", "--recover", "lowrank:8"],
    ["--drop", "attn:0,3 ffn:1"],
])
def test_in_f32_llama_cpp_computes_what_our_engine_does(tiny_f32, args, tmp_path):
    out = tmp_path / "pruned.gguf"
    run_ok("prune", tiny_f32, out, *args, "--calib", REPO / "data/calibration.txt", "--samples", "12", "--seq-len", "128")
    text = (REPO / "data/held-out.txt").read_text()
    theirs, ours = llama_cpp_perplexity(out, text), our_perplexity(out)
    # Linear stand-ins are F16, whose products llama.cpp takes with F16 activations.
    assert abs(ours - theirs) / theirs < 1e-4, f"ours {ours}, llama.cpp {theirs}"


def test_score_sublayer_json(tmp_path):
    report = json.loads(run_ok("score", real_model(SMOLLM2), "--granularity", "sublayer", "--count", "3",
                               "--refine", "0", "--criterion", "simdiff,cosine", "--samples", "4", *CALIBRATION[:2],
                               "--json", "--plot", tmp_path / "plot.svg").stdout)
    assert len(report["attention"]) == len(report["feedForward"]) == 30
    for selection in report["selections"]:
        assert len(selection["attention"]) == len(selection["feedForward"]) == 3
        assert 0 not in selection["attention"]           # llama.cpp needs heads in layer 0
    assert (tmp_path / "plot.svg").read_text().startswith("<svg")


@pytest.mark.parametrize("model, args, says", [
    ("tiny-llama.gguf", ["--attention-count", "4", "--calib", REPO / "data/held-out.txt"], "can be removed"),
    ("tiny-llama.gguf", ["--drop", "attn:0-3"], "attention of all 4 blocks"),
    ("tiny-llama.gguf", ["--drop", "attn:1", "--recover", "linear", "--layers", "2"], "--calib"),
    ("tiny-llama.gguf", ["--drop", "mlp:1"], "attn:3,7"),
    ("tiny-llama.gguf", ["--drop", "attn:9"], "does not exist"),
    ("tiny-gemma3.gguf", ["--drop", "attn:1"], "covers llama and deci"),
    ("tiny-qwen2.gguf", ["--layers", "1", "--recover", "bias", "--calib", REPO / "data/held-out.txt"], "covers llama and deci"),
    ("hf/tiny-llama-hf", ["--drop", "attn:1"], "convert"),
    ("onnx/genai/llama/fp32", ["--drop", "attn:1"], "deci"),
])
def test_bad_sublayer_requests_fail_cleanly(model, args, says, tmp_path):
    path = MODELS / model
    if not path.exists():
        pytest.fail(f"fixture {path} is missing")
    result = run("prune", path, tmp_path / "out", *args)
    assert_clean_error(result, path.name)
    assert says in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", [["--recover", "affine", "--drop", "attn:1"], ["--attention-ratio", "1.5"],
                                  ["--ffn-ratio", "0.2", "--ffn-count", "2"]])
def test_bad_sublayer_options_are_usage_errors(args, tmp_path):
    result = run("prune", MODELS / "tiny-llama.gguf", tmp_path / "out.gguf", *args)
    assert result.returncode != 0 and "Error" in result.stderr
    assert list(tmp_path.iterdir()) == []
