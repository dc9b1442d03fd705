"""`score` and `prune --ratio/--count`: scoring picks blocks, the output records how, bad requests fail cleanly."""
import json

import pytest

from support import MODELS, assert_clean_error, read, run, run_ok

MODEL = MODELS / "tiny-llama.gguf"   # 4 blocks, llama.cpp-loadable
TEXT = ("The river that runs through the valley rises in the hills to the east, where snow lies until late "
        "spring. Farmers plant late in the low fields and keep their animals on higher ground. ") * 20


@pytest.fixture
def calib(tmp_path):
    path = tmp_path / "calib.txt"
    path.write_text(TEXT)
    return path


def test_score_reports_every_metric_and_removal_sets(calib):
    report = json.loads(run_ok("score", MODEL, "--calib", calib, "--samples", "4", "--seq-len", "32",
                               "--count", "2", "--criterion", "all,loo,greedy", "--json").stdout)
    assert len(report["blocks"]) == 4 and len(report["simdiff"]) == 4
    assert {s["criterion"] for s in report["selections"]} == {"simdiff", "cosine", "angular", "mssd", "masd", "loo", "greedy"}
    assert all(len(s["removed"]) == 2 for s in report["selections"])
    assert report["calibrationTokens"] == 4 * 32


def test_prune_by_ratio_records_provenance(calib, tmp_path):
    out = tmp_path / "out.gguf"
    run_ok("prune", MODEL, out, "--ratio", "0.5", "--calib", calib, "--samples", "2", "--seq-len", "32")
    kv = read(out).kv
    assert kv["llama.block_count"] == 2
    assert kv["modelsurgery.criterion"] == "simdiff"
    assert kv["modelsurgery.calibration"] == "calib.txt"
    assert kv["modelsurgery.calibration_tokens"] == 64
    assert len(kv["modelsurgery.removed_blocks"]) == 2


def test_self_calibration_needs_no_text(tmp_path):
    out = tmp_path / "out.gguf"
    result = run_ok("prune", MODEL, out, "--count", "1", "--samples", "2", "--seq-len", "16")
    assert "self-generated" in result.stdout
    assert read(out).kv["llama.block_count"] == 3


def test_plot_is_written(calib, tmp_path):
    plot = tmp_path / "scores.svg"
    run_ok("score", MODEL, "--calib", calib, "--samples", "2", "--seq-len", "32", "--count", "1", "--plot", plot)
    assert plot.read_text().startswith("<svg") and "SimDiff" in plot.read_text()


@pytest.mark.parametrize("args, problem", [
    (["--ratio", "0.1"], "rounds to 0"),
    (["--count", "4"], "would leave none"),
    (["--count", "2", "--protect", "first,last,1"], "not protected"),
])
def test_bad_amounts_fail_cleanly(calib, tmp_path, args, problem):
    out = tmp_path / "out.gguf"
    result = run("prune", MODEL, out, "--calib", calib, "--samples", "2", "--seq-len", "32", *args)
    assert_clean_error(result, MODEL.name)
    assert problem in result.stderr
    assert not out.exists()


@pytest.mark.parametrize("ratio", ["0", "1", "1.5", "-0.2"])
def test_ratio_outside_zero_one_is_refused(tmp_path, ratio):
    result = run("prune", MODEL, tmp_path / "out.gguf", "--ratio", ratio)
    assert result.returncode != 0 and "--ratio" in result.stderr


def test_calibration_text_shorter_than_a_sequence(tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("Too short.")
    result = run("score", MODEL, "--calib", short, "--seq-len", "64")
    assert_clean_error(result, "short.txt")


def test_lambda_search_picks_and_records_lambda(calib, tmp_path):
    """The recorded λ is the one whose SimDiff set the search chose: scoring with it gives that set."""
    out = tmp_path / "out.gguf"
    args = ("--count", "1", "--calib", calib, "--samples", "2", "--seq-len", "32", "--refine", "0")
    result = run_ok("prune", MODEL, out, "--lambda", "search", *args)
    assert "λ search" in result.stderr
    kv = read(out).kv
    lam = kv["modelsurgery.simdiff_lambda"]
    score = json.loads(run_ok("score", MODEL, "--lambda", repr(lam), "--criterion", "simdiff", "--json", *args).stdout)
    assert score["selections"][0]["removed"] == sorted(kv["modelsurgery.removed_blocks"])


def test_bad_lambda_is_refused(tmp_path):
    result = run("prune", MODEL, tmp_path / "out.gguf", "--count", "1", "--lambda", "lots")
    assert result.returncode != 0 and "--lambda" in result.stderr


def test_prune_refines_by_default_and_records_it(calib, tmp_path):
    out = tmp_path / "out.gguf"
    result = run_ok("prune", MODEL, out, "--count", "2", "--calib", calib, "--samples", "2", "--seq-len", "32", "--json")
    refinement = json.loads(result.stdout)["refinement"]
    plain = json.loads(run_ok("score", MODEL, "--count", "2", "--calib", calib, "--samples", "2", "--seq-len", "32",
                              "--criterion", "simdiff", "--refine", "0", "--json").stdout)["selections"][0]
    assert refinement["start"] == plain["removed"]
    assert 1 <= refinement["evaluations"] <= 16      # 8 per block removed by default
    kv = read(out).kv
    assert kv["modelsurgery.refine_evaluations"] == refinement["evaluations"]
    assert sorted(kv["modelsurgery.removed_blocks"]) == refinement["removed"]


def test_refine_zero_keeps_the_criterions_own_set(calib):
    args = ("score", MODEL, "--calib", calib, "--samples", "2", "--seq-len", "32", "--count", "2", "--json")
    plain = json.loads(run_ok(*args, "--criterion", "cosine", "--refine", "0").stdout)["selections"][0]
    refined = json.loads(run_ok(*args, "--criterion", "cosine", "--refine", "6").stdout)["selections"][0]
    assert "refinement" not in plain or plain["refinement"] is None
    assert refined["refinement"]["start"] == plain["removed"]
    assert refined["refinement"]["evaluations"] <= 6


def test_negative_refine_is_refused(tmp_path):
    result = run("prune", MODEL, tmp_path / "out.gguf", "--count", "1", "--refine", "-1")
    assert result.returncode != 0 and "--refine" in result.stderr


@pytest.mark.parametrize("budget", ["-1", "x", "nan", "inf"])
def test_bad_refine_budget_is_refused(tmp_path, budget):
    result = run("prune", MODEL, tmp_path / "out.gguf", "--count", "1", "--refine-budget", budget)
    assert result.returncode != 0 and "--refine-budget" in result.stderr
    assert not (tmp_path / "out.gguf").exists()


def test_refinement_reports_the_passes_it_spent(calib):
    """A tiny model's whole search is far below the 10^13 multiply-add floor: --refine-budget 0 changes nothing,
    and the passes reported are positive and bounded by the evaluations (each at most one pass)."""
    args = ("score", MODEL, "--calib", calib, "--samples", "2", "--seq-len", "32", "--count", "2", "--criterion",
            "simdiff", "--json")
    default = json.loads(run_ok(*args).stdout)["selections"][0]["refinement"]
    zero = json.loads(run_ok(*args, "--refine-budget", "0").stdout)["selections"][0]["refinement"]
    assert default == zero
    assert 0 < default["passes"] <= default["evaluations"]
