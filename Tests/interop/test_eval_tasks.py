"""`modelsurgery eval --tasks` and `--compare` against llama.cpp (llama-cpp-python scoring the same tokens)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from support import MODELS, assert_clean_error, real_model, run, run_ok

REPO = MODELS.parent
TASKS = REPO / "data" / "tasks.jsonl"
HELD_OUT = REPO / "data" / "held-out.txt"
SMOLLM2 = "SmolLM2-135M-Instruct.Q4_1.gguf"


def llama_cpp_scores(model: Path, items: list[dict]) -> list[dict]:
    """Per ending, as the evaluator defines it, from llama.cpp's logits: the summed log-probability of the
    tokens after the context's own tokens, and the mean after the prefix all endings share."""
    import llama_cpp
    llm = llama_cpp.Llama(str(model), n_ctx=512, n_batch=512, n_ubatch=512, logits_all=True, verbose=False, seed=0)
    add_bos = llm._model.add_bos_token()
    scores = []
    for item in items:
        tokenize = lambda text: llm.tokenize(text.encode(), add_bos=add_bos, special=False)  # noqa: E731
        sequences = [tokenize(item["ctx"] + " " + ending) for ending in item["endings"]]
        context = len(tokenize(item["ctx"]))
        shortest = min(map(len, sequences))
        shared = next((k for k in range(shortest) if len({s[k] for s in sequences}) > 1), shortest)
        sums, means = [], []
        for sequence in sequences:
            llm.reset()
            llm.eval(sequence)
            logits = np.array(llm.scores[:len(sequence)], dtype=np.float64)
            top = logits.max(axis=1, keepdims=True)
            log_probs = logits - (top + np.log(np.exp(logits - top).sum(axis=1, keepdims=True)))
            per_token = [log_probs[i - 1, sequence[i]] for i in range(1, len(sequence))]   # token i given < i
            after_context = per_token[max(1, min(context, len(sequence) - 1)) - 1:]
            after_shared = per_token[max(1, min(shared, len(sequence) - 1)) - 1:]
            sums.append(float(np.sum(after_context)))
            means.append(float(np.mean(after_shared)))
        scores.append({"sums": sums, "means": means, "tokens": [len(s) for s in sequences]})
    return scores


def first_items(count: int) -> list[dict]:
    return [json.loads(line) for line in TASKS.read_text().splitlines()[:count]]


def ours_and_llama_cpp(model: Path, count: int, tmp_path: Path) -> tuple[list[dict], dict, list[dict]]:
    items = first_items(count)
    subset = tmp_path / "tasks.jsonl"
    subset.write_text("".join(json.dumps(item) + "\n" for item in items))
    ours = json.loads(run_ok("eval", model, "--tasks", subset, "--json").stdout)["tasks"]
    assert ours["items"] == count and [s["label"] for s in ours["scores"]] == [i["label"] for i in items]
    return items, ours, llama_cpp_scores(model, items)


def per_token_differences(ours: dict, theirs: list[dict]) -> list[float]:
    differences = []
    for mine, reference in zip(ours["scores"], theirs):
        differences += [abs(a - b) / c for a, b, c in zip(mine["logLikelihoods"], reference["sums"], mine["tokenCounts"])]
        differences += [abs(a - b) for a, b in zip(mine["meanLogLikelihoods"], reference["means"])]
    return differences


def test_task_log_likelihoods_equal_llama_cpp_in_f32(tmp_path):
    """An F32 model (transformers' tiny llama, converted by llama.cpp): every ending's log-likelihood within
    1e-3 nats per token of llama.cpp's (measured: 8e-5 at most), so the three accuracies count the same."""
    items, ours, theirs = ours_and_llama_cpp(MODELS / "hf" / "tiny-llama-hf.f32.gguf", 16, tmp_path)
    assert max(per_token_differences(ours, theirs)) < 1e-3
    for mine, reference in zip(ours["scores"], theirs):
        for key, values in (("logLikelihoods", reference["sums"]), ("meanLogLikelihoods", reference["means"])):
            ordered = sorted(values, reverse=True)
            if ordered[0] - ordered[1] > 1e-2:
                assert np.argmax(mine[key]) == np.argmax(values), (mine["source"], key)


def test_task_scores_track_llama_cpp_on_smollm2(tmp_path):
    """SmolLM2 Q4_1: llama.cpp rounds activations to Q8_1 in its Q4_1 products, so single tokens differ by up
    to ~0.5 nats (the same weights in F32 agree within 0.007); the mean difference stays under 0.1 nats per
    token (measured 0.05) and accuracies on the same 24 items agree within two items."""
    items, ours, theirs = ours_and_llama_cpp(real_model(SMOLLM2), 24, tmp_path)
    assert np.mean(per_token_differences(ours, theirs)) < 0.1
    def hits(choose) -> int:
        return sum(choose(r) == item["label"] for r, item in zip(theirs, items))
    assert abs(ours["acc"]["value"] * 24 - hits(lambda r: int(np.argmax(r["sums"])))) <= 2
    assert abs(ours["accPerToken"]["value"] * 24 - hits(lambda r: int(np.argmax(r["means"])))) <= 2


def test_accuracies_are_counted_from_the_scores():
    """acc, acc_norm and acc_per_token recomputed from the per-item scores the JSON reports."""
    model = real_model(SMOLLM2)
    result = json.loads(run_ok("eval", model, "--tasks", TASKS, "--limit", "40", "--json").stdout)["tasks"]
    items = first_items(40)
    assert result["items"] == 40
    def accuracy(choose) -> float:
        return sum(choose(score) == score["label"] for score in result["scores"]) / 40
    first_max = lambda values: int(np.argmax(values))  # noqa: E731  (numpy's argmax also takes the first maximum)
    assert result["acc"]["value"] == pytest.approx(accuracy(lambda s: first_max(s["logLikelihoods"])))
    assert result["accNorm"]["value"] == pytest.approx(accuracy(
        lambda s: first_max([ll / len(e.encode()) for ll, e in zip(s["logLikelihoods"], items[result["scores"].index(s)]["endings"])])))
    assert result["accPerToken"]["value"] == pytest.approx(accuracy(lambda s: first_max(s["meanLogLikelihoods"])))
    p = result["acc"]["value"]
    assert result["acc"]["standardError"] == pytest.approx(math.sqrt(p * (1 - p) / 39))


def test_compare_a_model_with_itself(tmp_path):
    model = real_model(SMOLLM2)
    report = json.loads(run_ok("eval", model, model, "--compare", "--text", HELD_OUT, "--ctx", "128", "--chunks", "2",
                               "--tasks", TASKS, "--limit", "8", "--speed", "--json").stdout)
    first, second = report["rows"]
    for row in (first, second):
        assert row["text"]["meanKLDivergence"] == pytest.approx(0, abs=1e-9)
        assert row["text"]["topTokenAgreement"] == 1.0
    assert first["text"]["perplexity"] == pytest.approx(second["text"]["perplexity"], rel=1e-12)
    assert first["tasks"] == second["tasks"]
    alone = json.loads(run_ok("eval", model, "--text", HELD_OUT, "--ctx", "128", "--chunks", "2", "--json").stdout)
    assert first["text"]["perplexity"] == pytest.approx(alone["perplexity"]["perplexity"], rel=1e-4)
    assert first["blocks"] == 30 and first["speed"]["generationTokensPerSecond"] > 0


def test_compare_measures_the_pruned_model_against_the_original(tmp_path):
    """KL grows and top-1 agreement falls once blocks go; KL ≥ 0 always."""
    model = real_model(SMOLLM2)
    pruned = tmp_path / "pruned.gguf"
    run_ok("prune", model, pruned, "--layers", "13-18")
    report = json.loads(run_ok("eval", model, pruned, "--compare", "--text", HELD_OUT, "--ctx", "128", "--chunks", "2",
                               "--json").stdout)
    original, smaller = report["rows"]
    assert smaller["blocks"] == 24 and smaller["parameters"] < original["parameters"]
    assert smaller["text"]["meanKLDivergence"] > 0.05
    assert 0.2 < smaller["text"]["topTokenAgreement"] < 1
    assert smaller["text"]["perplexity"] > original["text"]["perplexity"]


@pytest.mark.parametrize("args, problem", [
    (["--compare", "--speed"], "--compare needs at least two models"),
    (["--tasks", "missing.jsonl"], "missing.jsonl"),
])
def test_eval_argument_errors(args, problem):
    result = run("eval", MODELS / "tiny-llama.gguf", *args)
    assert result.returncode != 0 and problem in result.stderr


def test_compare_refuses_models_with_different_vocabularies(tmp_path):
    result = run("eval", MODELS / "tiny-llama.gguf", MODELS / "hf" / "tiny-llama-hf.f32.gguf", "--compare", "--speed")
    assert_clean_error(result, "tiny-llama-hf.f32.gguf")
