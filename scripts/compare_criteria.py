#!/usr/bin/env python3
"""Compare block-importance criteria by what matters: the held-out perplexity of the pruned model.

Scores MODEL once (`modelsurgery score --criterion all,loo[,greedy] --refine 0 --json`), derives SimDiff variants
from the same measurements for every count asked for, prunes the blocks each one picks, and evaluates every pruned
model on a held-out text that calibration never saw. Prints a markdown table per count. With --refined, it also
runs `score --count K` with the default set refinement for the criteria named and adds their sets.

  .venv/bin/python scripts/compare_criteria.py models/SmolLM2-135M-Instruct.Q4_1.gguf --count 4,6,8,10,12

With --search, it also bounds what any criterion could reach: the held-out text is split into its sections
(separated by lines "---"), alternately into a search half and an evaluation half; a local search (start from
every criterion's set, then swap one removed block for one kept block while that lowers the search half's
perplexity) finds the best set it can on the search half, and the table reports every set on the other half.

  .venv/bin/python scripts/compare_criteria.py MODEL --count 8 --search --budget 80 [--start 3,5,7,...]

Every run of the model is a subprocess, so `nice` on this script reaches them.
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


def ranks(values) -> np.ndarray:
    """0 for the smallest … n−1 for the largest; ties share their mean rank (as `SimDiff.ranks` in Swift)."""
    values = np.asarray(values, dtype=float)
    order = np.argsort(values, kind="stable")
    result = np.empty(len(values))
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        result[order[start:end + 1]] = (start + end) / 2
        start = end + 1
    return result


def lowest(importance, count: int) -> list[int]:
    return sorted(np.argsort(np.asarray(importance, dtype=float), kind="stable")[:count].tolist())


def variants(report: dict, count: int) -> dict[str, list[int]]:
    """SimDiff variants, all from the one streaming pass: the shipped `simdiff` is rank(BI) + λ·(rank(MSSD) +
    0.1·rank(MASD)), λ = 1. Each keeps the paper's idea (similarity and transformation difference) and changes
    one thing: the weights, the scaling (ranks, relative to the median, logs), or how difference enters."""
    blocks = report["blocks"]
    bi = np.array([1 - b["cosine"] for b in blocks])
    angular = np.array([b["angular"] for b in blocks])
    mssd = np.array([b["mssd"] for b in blocks])
    masd = np.array([b["masd"] for b in blocks])
    rb, rs, ra = ranks(bi), ranks(mssd), ranks(masd)
    minmax = lambda v: (v - v.min()) / (v.max() - v.min() + 1e-30)
    zlog = lambda v: (np.log(v) - np.log(v).mean()) / (np.log(v).std() + 1e-30)
    rel = lambda v: np.log(v / np.median(v))  # relative to the typical block, in log units
    out = {}
    for lam in (0.5, 2.0):
        out[f"λ={lam}"] = lowest(rb + lam * (rs + 0.1 * ra), count)
    out["MASD weight 0"] = lowest(rb + rs, count)
    out["MASD weight 0.5"] = lowest(rb + rs + 0.5 * ra, count)
    out["(MSSD+MASD)/2, λ=1"] = lowest(rb + (rs + ra) / 2, count)
    out["rank(angular) for rank(BI)"] = lowest(ranks(angular) + rs + 0.1 * ra, count)
    out["relative: log(v/median) sum"] = lowest(rel(bi) + rel(mssd) + 0.1 * rel(masd), count)
    out["product BI·MSSD (log sum)"] = lowest(np.log(bi.clip(1e-12)) + np.log(mssd), count)
    out["z-scores of logs"] = lowest(zlog(bi.clip(1e-12)) + (zlog(mssd) + zlog(masd)) / 2, count)
    out["naive min-max blend (raw)"] = lowest(minmax(bi) + (minmax(mssd) + minmax(masd)) / 2, count)
    veto = bi.copy()
    veto[mssd > 10 * np.median(mssd)] = np.inf  # outlier corrections are never removed
    out["cosine, MSSD veto (>10×median)"] = lowest(veto, count)
    veto = rb + 0.1 * ra
    veto[rs >= len(blocks) - max(2, len(blocks) // 10)] = np.inf  # the top tenth by MSSD is never removed
    out["rank(BI)+0.1·rank(MASD), top-MSSD veto"] = lowest(veto, count)
    return out


class Evaluator:
    """Held-out perplexity of MODEL with a set of blocks removed, cached in a JSON file across runs."""

    def __init__(self, model: str, ctx: str, cache: str | None):
        self.model, self.ctx, self.cache_path = model, ctx, cache
        self.cache = json.load(open(cache)) if cache and os.path.exists(cache) else {}
        self.tmp = tempfile.TemporaryDirectory()

    def __call__(self, removed, text: str) -> float:
        key = f"{os.path.basename(self.model)}|{os.path.basename(text)}|{self.ctx}|{','.join(map(str, sorted(removed)))}"
        if key not in self.cache:
            model = self.model
            if removed:
                model = os.path.join(self.tmp.name, "pruned.gguf")
                subprocess.run([BIN, "prune", self.model, model, "--layers", ",".join(map(str, sorted(removed)))],
                               check=True, capture_output=True)
            self.cache[key] = run_json("eval", model, "--text", text, "--ctx", self.ctx)["perplexity"]["perplexity"]
            if self.cache_path:
                json.dump(self.cache, open(self.cache_path, "w"), indent=0, sort_keys=True)
        return self.cache[key]


def split_halves(path: str) -> tuple[str, str]:
    """The text's sections (separated by lines '---'), alternately into a search half and an evaluation half,
    written next to each other in the temporary folder (their names key the cache)."""
    directory = os.path.join(tempfile.gettempdir(), "compare_criteria")
    os.makedirs(directory, exist_ok=True)
    sections = open(path, encoding="utf-8").read().split("\n---\n")
    halves = []
    for name, part in (("search", sections[0::2]), ("evaluation", sections[1::2])):
        halves.append(os.path.join(directory, f"{os.path.basename(path)}.{name}"))
        open(halves[-1], "w", encoding="utf-8").write("\n---\n".join(part))
    return halves[0], halves[1]


def local_search(evaluate, starts: list[list[int]], order: list[int], budget: int) -> tuple[list[int], int]:
    """Best removal set reachable from the starts by swapping one removed and one kept block at a time
    (first improvement, trying blocks to remove in `order`, the likeliest first), judged by `evaluate`; stops at
    a local optimum or after `budget` evaluations."""
    used = 0
    best = min(starts, key=evaluate)
    used += len(starts)
    improved = True
    while improved and used < budget:
        improved = False
        current = evaluate(best)
        for out in sorted(best, key=order.index, reverse=True):
            for back in order:
                if back in best or used >= budget:
                    continue
                trial = sorted(set(best) - {out} | {back})
                used += 1
                if evaluate(trial) < current:
                    best, improved = trial, True
                    print(f"  search: {','.join(map(str, best))} -> {evaluate(best):.2f}", flush=True)
                    break
            if improved:
                break
    return best, used


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--count", required=True, help="blocks to remove; a comma-separated list for several")
    parser.add_argument("--heldout", default="data/held-out-long.txt")
    parser.add_argument("--ctx", default="256")
    parser.add_argument("--calib", action="append", default=[])
    parser.add_argument("--score-args", default="", help="more arguments for `score`, e.g. '--samples 8 --shapley-permutations 8'")
    parser.add_argument("--greedy", action="store_true", help="also run SLEB-style greedy removal (slow)")
    parser.add_argument("--shapley", action="store_true", help="also estimate Shapley values (Monte-Carlo; slow)")
    parser.add_argument("--refined", help="criteria to also run with the default set refinement, e.g. simdiff,cosine")
    parser.add_argument("--scores", help="reuse (or, if missing, save) the score report in this JSON file")
    parser.add_argument("--cache", help="reuse (and extend) held-out perplexities in this JSON file")
    parser.add_argument("--search", action="store_true", help="also search for the best set on half of the text")
    parser.add_argument("--start", action="append", default=[], help="another starting set for --search (e.g. 3,5,7)")
    parser.add_argument("--budget", type=int, default=400, help="evaluations the search may spend per count (cached ones count too, so a rerun retraces it)")
    args = parser.parse_args()
    counts = [int(c) for c in args.count.split(",")]

    calib = [flag for path in args.calib for flag in ("--calib", path)] + args.score_args.split()
    criteria = "all,loo" + (",greedy" if args.greedy else "") + (",shapley" if args.shapley else "")
    if args.scores and os.path.exists(args.scores):
        report = json.load(open(args.scores))
    else:
        report = run_json("score", args.model, "--count", str(counts[0]), "--criterion", criteria, "--refine", "0", *calib)
        if args.scores:
            json.dump(report, open(args.scores, "w"))
    blocks = len(report["blocks"])
    evaluate = Evaluator(args.model, args.ctx, args.cache)
    print(f"{os.path.basename(args.model)}: {blocks} blocks; calibration {report['calibration']}; "
          f"held-out {args.heldout} (ctx {args.ctx}); unpruned {evaluate([], args.heldout):.2f}\n")

    for count in counts:
        # Criteria whose order does not depend on the count are re-ranked here; angular and greedy choose sets.
        shipped = {s["criterion"]: s["removed"] for s in report["selections"] if s["criterion"] in ("angular", "greedy", "shapley")}
        importance = {"simdiff": report["simdiff"], "cosine": [1 - b["cosine"] for b in report["blocks"]],
                      "mssd": [b["mssd"] for b in report["blocks"]], "masd": [b["masd"] for b in report["blocks"]]}
        if report.get("leaveOneOutNLL"):
            importance["loo"] = report["leaveOneOutNLL"]
        sets = {name: lowest(values, count) for name, values in importance.items()}
        sets.update({name: removed for name, removed in shipped.items() if len(removed) == count})
        sets.update({f"simdiff {name}": removed for name, removed in variants(report, count).items()})
        if args.refined:
            key = f"refined {count} {args.refined}"
            if key not in report:
                refined = run_json("score", args.model, "--count", str(count), "--criterion", args.refined, *calib)
                report[key] = {s["criterion"]: s["removed"] for s in refined["selections"]}
                if args.scores:
                    json.dump(report, open(args.scores, "w"))
            sets.update({f"{name}, refined": removed for name, removed in report[key].items()})
        print(f"### remove {count} of {blocks}\n\n| criterion | removed blocks | held-out perplexity |\n|---|---|---|")
        for name, removed in sets.items():
            print(f"| {name} | {','.join(map(str, removed))} | {evaluate(removed, args.heldout):.2f} |", flush=True)

        if args.search:
            search, held = split_halves(args.heldout)
            starts = [list(s) for s in {tuple(s) for s in sets.values()}]
            starts += [sorted(map(int, s.split(","))) for s in args.start if len(s.split(",")) == count]
            on_search = lambda removed: evaluate(removed, search)
            order = np.argsort(importance.get("loo", importance["simdiff"]), kind="stable").tolist()
            best, used = local_search(on_search, starts, order, args.budget)
            print(f"\nsearch ({used} evaluations on the search half): {','.join(map(str, best))}\n")
            print("| set | removed blocks | search half | evaluation half |\n|---|---|---|---|")
            named = {**{n: s for n, s in sets.items() if not n.startswith("simdiff ")}, "searched": best}
            for name, removed in named.items():
                print(f"| {name} | {','.join(map(str, removed))} | {on_search(removed):.2f} | "
                      f"{evaluate(removed, held):.2f} |", flush=True)
        print()


if __name__ == "__main__":
    main()
