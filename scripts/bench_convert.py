#!/usr/bin/env python3
"""`make bench`: conversion and folder surgery on SmolLM2-135M against `cp` of the same output and against
peers doing the same jobs with the gguf and safetensors Python packages (scripts/peer_convert.py).

Jobs: GGUF (Q4_1) -> Hugging Face folder (F32); that folder -> GGUF (F32); prune the folder (blocks 20-27).
Timing and peak RSS as in scripts/bench.py: median of --runs rounds after a warm-up round, order alternating,
each child's own rusage.
"""
import argparse
import os
import shutil
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import MB, OUT, ROOT, SMOLLM2, spawn  # noqa: E402

PEER = [sys.executable, str(ROOT / "scripts/peer_convert.py")]
LAYERS = "20-27"


def size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*")) if path.is_dir() else path.stat().st_size


def remove(path: Path) -> None:
    shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)


def run_job(label: str, ours: list[str], peer: list[str], ours_out: Path, peer_out: Path, runs: int) -> dict:
    cp_out = OUT / f"cp-{ours_out.name}"
    commands = {"ours": (ours, ours_out), "cp": (["cp", "-r", str(ours_out), str(cp_out)], cp_out), "peer": (peer, peer_out)}
    samples = {key: [] for key in commands}
    for index in range(1 + runs):
        for key in (list(commands) if index % 2 == 0 else list(reversed(commands))):
            command, output = commands[key]
            if key != "ours" or index > 0:
                remove(output)
            os.sync()
            samples[key].append(spawn(command))
    result = {"label": label, "size": size(ours_out)}
    for key, values in samples.items():
        walls = [wall for wall, _ in values[1:]]
        result[key] = {"wall": statistics.median(walls), "rss": max(rss for _, rss in values)}
    remove(cp_out)
    remove(peer_out)
    ours_row, cp_row, peer_row = result["ours"], result["cp"], result["peer"]
    print(f"\n{label}: output {result['size'] / MB:,.1f} MB")
    print(f"  {'tool':<26}{'wall s':>9}{'peak RSS MiB':>14}")
    for key, name in (("ours", "modelsurgery"), ("cp", "cp -r (our output)"), ("peer", "peer (gguf/safetensors)")):
        print(f"  {name:<26}{result[key]['wall']:>9.3f}{result[key]['rss']:>14.1f}")
    print(f"  ours/cp speed {cp_row['wall'] / ours_row['wall']:.2f}; peer/ours time {peer_row['wall'] / ours_row['wall']:.1f}x; "
          f"peer/ours peak RSS {peer_row['rss'] / ours_row['rss']:.1f}x")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    tool = os.environ.get("MODELSURGERY", str(ROOT / ".build/release/modelsurgery"))
    OUT.mkdir(exist_ok=True)
    folder, gguf_out, pruned = OUT / "smollm2-hf", OUT / "smollm2-f32.gguf", OUT / "smollm2-hf-pruned"
    for path in (folder, gguf_out, pruned):
        remove(path)
    print(f"conversion and folder surgery on {SMOLLM2.name}; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    jobs = [
        run_job("GGUF Q4_1 -> folder F32", [tool, "convert", str(SMOLLM2), str(folder), "--dtype", "f32"],
                [*PEER, "gguf-to-folder", str(SMOLLM2), str(OUT / "peer-hf")], folder, OUT / "peer-hf", args.runs),
        run_job("folder F32 -> GGUF F32", [tool, "convert", str(folder), str(gguf_out), "--dtype", "f32"],
                [*PEER, "folder-to-gguf", str(folder), str(OUT / "peer.gguf"), str(SMOLLM2)], gguf_out,
                OUT / "peer.gguf", args.runs),
        run_job(f"prune folder (blocks {LAYERS})", [tool, "prune", str(folder), str(pruned), "--layers", LAYERS],
                [*PEER, "prune-folder", str(folder), str(OUT / "peer-pruned"), LAYERS], pruned, OUT / "peer-pruned",
                args.runs),
    ]
    for path in (folder, gguf_out, pruned):
        remove(path)
    print("\nsummary:")
    for job in jobs:
        print(f"  {job['label']}: ours/cp speed {job['cp']['wall'] / job['ours']['wall']:.2f}, "
              f"peer/ours time {job['peer']['wall'] / job['ours']['wall']:.1f}x, "
              f"peak RSS ours {job['ours']['rss']:.0f} MiB vs peer {job['peer']['rss']:.0f} MiB")


if __name__ == "__main__":
    main()
