"""`modelsurgery eval`: perplexity against llama.cpp's llama-perplexity protocol, and its failures."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import gguf
from gguf import GGMLQuantizationType as T

from support import MODELS, assert_clean_error, read, run, run_ok

TINY = MODELS / "tiny-llama.gguf"
SUPPORTED = ["llama", "qwen2", "qwen3", "gemma3"]

TEXT = (
    "The lighthouse on the northern cape was built in 1868, after a winter in which three ships were lost. "
    "Its keeper wrote in the log every night: the wind, the sea, the ships that passed, and the weather to come. "
    "In the spring the ice went out of the bay, the fishing boats came back, and the town sang at the harbour. "
    "Then the war came, the light was put out, and for four years the cape was dark.\n"
)


def eval_json(model: Path, text: Path, *extra) -> dict:
    return json.loads(run_ok("eval", model, "--text", text, "--json", *extra).stdout)


def llama_cpp_perplexity(model: Path, text: bytes, ctx: int, chunks: int | None = None) -> dict:
    """llama-perplexity's protocol through llama-cpp-python: non-overlapping windows of ctx tokens, BOS
    replacing the first token of each when the model adds BOS, positions ctx/2 .. ctx-2 predicting the next."""
    import llama_cpp
    llm = llama_cpp.Llama(str(model), n_ctx=ctx, n_batch=ctx, n_ubatch=ctx, logits_all=True, verbose=False, seed=0)
    add_bos = llm._model.add_bos_token()
    tokens = llm.tokenize(text, add_bos=add_bos, special=False)
    windows = len(tokens) // ctx if chunks is None else min(chunks, len(tokens) // ctx)
    nll, scored = 0.0, 0
    for w in range(windows):
        window = tokens[w * ctx:(w + 1) * ctx]
        if add_bos:
            window = [llm.token_bos()] + window[1:]
        llm.reset()
        llm.eval(window)
        logits = np.array(llm.scores[:ctx], dtype=np.float64)
        for i in range(ctx // 2, ctx - 1):
            row = logits[i]
            top = row.max()
            nll += top + math.log(np.exp(row - top).sum()) - row[window[i + 1]]
            scored += 1
    return {"tokens": len(tokens), "windows": windows, "scored": scored, "perplexity": math.exp(nll / scored)}


def copy_model(src: Path, dst: Path, *, arch: str | None = None, tensor_types: dict[str, T] | None = None) -> None:
    """Rewrites `src` with gguf-py: optionally under another architecture name (its `{arch}.*` keys renamed
    with it), optionally with some tensors' bytes replaced by seeded random blocks of another ggml type."""
    reader = gguf.GGUFReader(src)
    old_arch = reader.fields["general.architecture"].contents()
    new_arch = arch or old_arch
    writer = gguf.GGUFWriter(dst, new_arch)
    for field in reader.fields.values():
        if field.name == "general.architecture" or field.name.startswith("GGUF."):
            continue
        key = field.name
        if key.startswith(old_arch + "."):
            key = new_arch + key[len(old_arch):]
        vtype = field.types[0]
        sub_type = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(key, field.contents(), vtype, sub_type=sub_type)
    rng = np.random.default_rng(5)
    for tensor in reader.tensors:
        qtype = (tensor_types or {}).get(tensor.name)
        if qtype is None:
            writer.add_tensor(tensor.name, tensor.data, raw_dtype=tensor.tensor_type)
            continue
        block, size = gguf.GGML_QUANT_SIZES[qtype]
        rows, columns = int(np.prod(tensor.shape[1:])), int(tensor.shape[0])
        assert columns % block == 0, f"{tensor.name}: rows of {columns} are not whole {qtype.name} blocks"
        data = rng.integers(0, 256, size=(rows, columns // block * size), dtype=np.uint8)
        writer.add_tensor(tensor.name, data, raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


# ------------------------------------------------------------- (a) perplexity parity

@pytest.mark.parametrize("chunks", [None, 3])
def test_eval_matches_llama_cpp_perplexity(chunks, tmp_path):
    text = tmp_path / "text.txt"
    text.write_text(TEXT)
    ctx = 16
    extra = ["--ctx", ctx] + ([] if chunks is None else ["--chunks", chunks])
    got = eval_json(TINY, text, *extra)
    want = llama_cpp_perplexity(TINY, text.read_bytes(), ctx, chunks)

    result = got["perplexity"]
    assert got["tokens"] == want["tokens"]
    assert result["context"] == ctx
    assert result["windows"] == want["windows"] >= (2 if chunks is None else chunks)
    assert result["scoredTokens"] == want["scored"] == want["windows"] * (ctx - 1 - ctx // 2)
    assert math.isclose(result["perplexity"], math.exp(result["meanNegativeLogLikelihood"]), rel_tol=1e-9)
    assert abs(result["perplexity"] - want["perplexity"]) / want["perplexity"] < 0.01, (result, want)


def test_eval_threads_change_how_the_work_splits_not_the_result(tmp_path):
    """--threads (llama.cpp's -t): one thread and two give the same perplexity within float rounding."""
    text = tmp_path / "text.txt"
    text.write_text(TEXT * 4)
    one = eval_json(TINY, text, "--ctx", 16, "--threads", 1)["perplexity"]
    two = eval_json(TINY, text, "--ctx", 16, "--threads", 2)["perplexity"]
    assert one["scoredTokens"] == two["scoredTokens"] > 0
    assert math.isclose(one["perplexity"], two["perplexity"], rel_tol=1e-6), (one, two)


@pytest.mark.parametrize("threads", ["0", "-2", "5000"])
def test_eval_rejects_thread_counts_out_of_range(threads, tmp_path):
    text = tmp_path / "text.txt"
    text.write_text(TEXT)
    result = run("eval", TINY, "--text", text, "--ctx", 16, f"--threads={threads}")
    assert result.returncode > 0 and result.stdout == ""
    assert result.stderr.startswith("Error: --threads must be between 1 and 4096"), result.stderr


# ------------------------------------------------------------- (b) unknown architecture

@pytest.fixture(scope="module")
def unknown_arch(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("arch") / "renamed.gguf"
    copy_model(TINY, path, arch="unknownarch")
    view = read(path)
    assert view.arch == "unknownarch" and view.block_count == 4
    return path


def test_eval_rejects_unknown_architecture(unknown_arch, tmp_path):
    text = tmp_path / "text.txt"
    text.write_text(TEXT)
    result = run("eval", unknown_arch, "--text", text, "--ctx", 16)
    assert_clean_error(result, unknown_arch.name)
    line = result.stderr.strip()
    assert "unknownarch" in line
    for name in SUPPORTED:
        assert name in line, f"supported architectures should be listed: {line!r}"
    assert result.stdout == ""


def test_unknown_architecture_still_inspects_and_prunes(unknown_arch, tmp_path):
    got = json.loads(run_ok("inspect", unknown_arch, "--json").stdout)
    assert got["architecture"] == "unknownarch"
    assert got["blockCount"] == 4
    out = tmp_path / "pruned.gguf"
    run_ok("prune", unknown_arch, out, "--layers", "1")
    view = read(out)
    assert view.arch == "unknownarch"
    assert view.block_count == 3
    assert view.kv["modelsurgery.removed_blocks"] == [1]
    assert not any(t.name.startswith("blk.3.") for t in view.tensors)


# ------------------------------------------------------------- (c) text too short

@pytest.mark.parametrize("content", ["", "the cat"], ids=["empty", "shorter-than-window"])
def test_eval_rejects_short_text(content, tmp_path):
    text = tmp_path / "short.txt"
    text.write_text(content)
    result = run("eval", TINY, "--text", text, "--ctx", 16)
    assert_clean_error(result, "short.txt")
    assert result.stdout == ""


def test_eval_rejects_missing_text(tmp_path):
    result = run("eval", TINY, "--text", tmp_path / "absent.txt", "--ctx", 16)
    assert_clean_error(result, "absent.txt")


# ------------------------------------------------------------- (d) a tensor type the engine cannot decode

def test_eval_rejects_undecodable_tensor_type(tmp_path):
    model = tmp_path / "tiny-iq2.gguf"
    name = "blk.1.attn_q.weight"
    copy_model(TINY, model, tensor_types={name: T.IQ2_XXS})
    assert {t.name: t.type for t in read(model).tensors}[name] == "IQ2_XXS"
    # The file itself is valid: inspect reads it.
    run_ok("inspect", model, "--json")
    text = tmp_path / "text.txt"
    text.write_text(TEXT)
    result = run("eval", model, "--text", text, "--ctx", 16)
    assert_clean_error(result, name)
    line = result.stderr.strip()
    assert "IQ2_XXS" in line
    assert model.name in line
    assert result.stdout == ""


# ------------------------------------------------------------- (e) no model file

def test_eval_rejects_missing_model(tmp_path):
    text = tmp_path / "text.txt"
    text.write_text(TEXT)
    result = run("eval", tmp_path / "missing.gguf", "--text", text, "--ctx", 16)
    assert_clean_error(result, "missing.gguf")
    assert result.stdout == ""
