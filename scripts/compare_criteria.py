#!/usr/bin/env python3
"""Compare block-importance criteria by what matters: the held-out perplexity of the pruned model.

Scores MODEL once (`modelsurgery score --criterion all,loo[,greedy] --json`), derives SimDiff variants from the
same measurements, prunes the blocks each one picks, and evaluates every pruned model on a held-out text that
calibration never saw. Prints a markdown table.

  .venv/bin/python scripts/compare_criteria.py models/SmolLM2-135M-Instruct.Q4_1.gguf --count 8
"""
import argparse
import json
import os
import subprocess
import tempfile

import numpy as np

BIN = os.environ.get("MODELSURGERY", ".build/release/modelsurgery")


def run_json(*args: str) -> dict:
    return json.loads(subprocess.run([BIN, *args, "--json"], check=True, capture_output=True, text=True).stdout)


def ranks(values: list[float]) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    result = np.empty(len(values))
    result[order] = np.arange(len(values))
    return result


def lowest(importance, count: int) -> list[int]:
    return sorted(np.argsort(importance, kind="stable")[:count].tolist())


def variants(report: dict, count: int) -> dict[str, list[int]]:
    """Other combinations to compare against the shipped SimDiff (computed in Swift as `simdiff`)."""
    blocks = report["blocks"]
    bi = np.array([1 - b["cosine"] for b in blocks])
    mssd = np.array([b["mssd"] for b in blocks])
    masd = np.array([b["masd"] for b in blocks])
    minmax = lambda v: (v - v.min()) / (v.max() - v.min() + 1e-30)
    zlog = lambda v: (np.log(v) - np.log(v).mean()) / (np.log(v).std() + 1e-30)
    out = {}
    for lam in (0.5, 2.0):
        out[f"simdiff λ={lam}"] = lowest(ranks(bi) + lam * (ranks(mssd) + 0.1 * ranks(masd)), count)
    for lam in (1.0, 2.0):
        out[f"rank(BI) + {lam}·(rank(MSSD)+rank(MASD))/2"] = lowest(ranks(bi) + lam * (ranks(mssd) + ranks(masd)) / 2, count)
    out["naive min-max blend (raw)"] = lowest(minmax(bi) + (minmax(mssd) + minmax(masd)) / 2, count)
    out["z-scores of logs"] = lowest(zlog(bi) + (zlog(mssd) + zlog(masd)) / 2, count)
    veto = bi.copy()
    veto[mssd > 10 * np.median(mssd)] = np.inf  # outlier corrections are never removed
    out["cosine with MSSD veto"] = lowest(veto, count)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--heldout", default="data/held-out.txt")
    parser.add_argument("--ctx", default="128")
    parser.add_argument("--calib", action="append", default=[])
    parser.add_argument("--greedy", action="store_true", help="also run SLEB-style greedy removal (slow)")
    parser.add_argument("--scores", help="reuse (or, if missing, save) the score report in this JSON file")
    args = parser.parse_args()

    calib = [flag for path in args.calib for flag in ("--calib", path)]
    criteria = "all,loo" + (",greedy" if args.greedy else "")
    if args.scores and os.path.exists(args.scores):
        report = json.load(open(args.scores))
    else:
        report = run_json("score", args.model, "--count", str(args.count), "--criterion", criteria, *calib)
        if args.scores:
            json.dump(report, open(args.scores, "w"))
    sets = {s["criterion"]: s["removed"] for s in report["selections"]}
    sets.update(variants(report, args.count))

    base = run_json("eval", args.model, "--text", args.heldout, "--ctx", args.ctx)["result"]["perplexity"]
    print(f"{os.path.basename(args.model)}: remove {args.count} of {len(report['blocks'])} blocks; "
          f"calibration {report['calibration']}; held-out {args.heldout} (ctx {args.ctx})\n")
    print(f"| criterion | removed blocks | held-out perplexity |\n|---|---|---|\n| (unpruned) | - | {base:.2f} |")
    seen: dict[tuple, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, removed in sets.items():
            key = tuple(removed)
            if key not in seen:
                out = os.path.join(tmp, "pruned.gguf")
                subprocess.run([BIN, "prune", args.model, out, "--layers", ",".join(map(str, removed))],
                               check=True, capture_output=True)
                seen[key] = run_json("eval", out, "--text", args.heldout, "--ctx", args.ctx)["result"]["perplexity"]
            print(f"| {name} | {','.join(map(str, removed))} | {seen[key]:.2f} |", flush=True)


if __name__ == "__main__":
    main()
