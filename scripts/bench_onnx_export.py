#!/usr/bin/env python3
"""`make bench`, ONNX export part: `modelsurgery convert` of SmolLM2-135M's GGUF to ONNX (f32 and int4) against
cp and the exporters people use today, then onnxruntime's decode speed on our export and on the builder's.

Exports, each a fresh process (wall time and the child's own peak RSS, as scripts/bench.py measures them):
  ours f32 / int4   modelsurgery convert models/SmolLM2-135M-Instruct.Q4_1.gguf OUT --to onnx --dtype f32|int4
                    (a folder onnxruntime-genai loads: model.onnx, model.onnx.data, genai_config.json, tokenizer)
  cp                cp -r of our f32 folder (the floor for writing that many bytes)
  builder fp32/int4 onnxruntime-genai's model builder (-e cpu -p fp32|int4) on the Hugging Face folder that
                    `modelsurgery convert` makes of the same GGUF (the builder needs a transformers checkpoint)
  torch dynamo      torch.onnx.export(dynamo=True) with the KV cache, as scripts/bench_onnx.py exports it
                    (about 9 minutes here; --skip-torch leaves it out)
Ours runs --runs times (median); the peers, which take minutes, run once. Decode speed: onnxruntime, one thread,
greedy, a 32-token prompt then 64 new tokens with the KV cache (bench_onnx.py's `decode` child), ours against the
builder's at the same precision, each a fresh process, median of --runs. Cross-check: prefill logits of our f32
export against the builder's fp32 one.

Venvs as scripts/bench_onnx.py (`python3 TestModels/onnx/generate.py setup` creates them).
"""
import argparse
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import MB, ROOT, SMOLLM2, spawn  # noqa: E402
from bench_onnx import NEW_TOKENS, WORK, child, python_of, run_json, size  # noqa: E402

EXPORTS = WORK / "export"


def fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.sync()
    return path


def hf_folder(tool: str) -> Path:
    hf = WORK / "smollm2-hf"
    if not (hf / "model.safetensors").exists():
        fresh(hf)
        spawn([tool, "convert", str(SMOLLM2), str(hf), "--dtype", "f32"])
    return hf


def time_exports(tool: str, runs: int, with_torch: bool) -> dict:
    hf = hf_folder(tool)
    out = {key: EXPORTS / key for key in ("ours-f32", "ours-int4", "cp", "builder-fp32", "builder-int4", "dynamo")}
    ours = {precision: [tool, "convert", str(SMOLLM2), str(out[f"ours-{precision}"]), "--to", "onnx",
                        "--dtype", precision] for precision in ("f32", "int4")}
    samples: dict[str, list] = {key: [] for key in ("ours-f32", "ours-int4", "cp")}
    for _ in range(runs):
        for precision in ("f32", "int4"):
            fresh(out[f"ours-{precision}"])
            samples[f"ours-{precision}"].append(spawn(ours[precision]))
        samples["cp"].append(spawn(["cp", "-r", str(out["ours-f32"]), str(fresh(out["cp"]))]))
    cache = WORK / "genai-cache"
    for precision in ("fp32", "int4"):
        shutil.rmtree(cache, ignore_errors=True)
        samples[f"builder-{precision}"] = [spawn([python_of("genai"), "-m", "onnxruntime_genai.models.builder",
                                                  "-i", str(hf), "-o", str(fresh(out[f"builder-{precision}"])),
                                                  "-p", precision, "-e", "cpu", "-c", str(cache)])]
    shutil.rmtree(cache, ignore_errors=True)
    if with_torch:
        samples["dynamo"] = [spawn(child("export-dynamo", hf, fresh(out["dynamo"])))]
    result = {}
    for key, values in samples.items():
        walls = [wall for wall, _ in values]
        result[key] = {"wall": statistics.median(walls), "rss": max(rss for _, rss in values),
                       "size": size(out[key]), "path": out[key]}
    return result


def print_exports(result: dict, runs: int) -> None:
    names = {"ours-f32": "modelsurgery convert f32", "ours-int4": "modelsurgery convert int4",
             "cp": "cp (our f32 folder)", "builder-fp32": "genai builder fp32", "builder-int4": "genai builder int4",
             "dynamo": "torch dynamo export"}
    print(f"\nSmolLM2-135M Q4_1 GGUF ({SMOLLM2.stat().st_size / MB:,.1f} MB) -> ONNX")
    print(f"  {'exporter':<28}{'wall s':>9}{'peak RSS MiB':>14}{'out MB':>9}")
    for key, name in names.items():
        if key in result:
            row = result[key]
            print(f"  {name:<28}{row['wall']:>9.2f}{row['rss']:>14.1f}{row['size'] / MB:>9.1f}")
    print(f"  (ours: median of {runs} runs; the peers: one run each)")
    ours32, ours4 = result["ours-f32"]["wall"], result["ours-int4"]["wall"]
    print(f"  ours f32 / cp time {ours32 / result['cp']['wall']:.2f}x; builder fp32 / ours f32 "
          f"{result['builder-fp32']['wall'] / ours32:.1f}x; builder int4 / ours int4 "
          f"{result['builder-int4']['wall'] / ours4:.1f}x"
          + (f"; torch dynamo / ours f32 {result['dynamo']['wall'] / ours32:.0f}x" if "dynamo" in result else ""))


def decode_speeds(result: dict, runs: int) -> None:
    print(f"  onnxruntime (1 thread) greedy, 32-token prompt + {NEW_TOKENS} new tokens (median of {runs} processes):")
    for ours_key, builder_key in (("ours-f32", "builder-fp32"), ("ours-int4", "builder-int4")):
        rates = {}
        for key in (ours_key, builder_key):
            values = [run_json(child("decode", result[key]["path"])) for _ in range(runs)]
            rates[key] = statistics.median((NEW_TOKENS - 1) / v["decode_s"] for v in values)
        print(f"    {ours_key:<10} {rates[ours_key]:6.1f} tokens/s   {builder_key:<13} {rates[builder_key]:6.1f} "
              f"tokens/s   ours/builder {rates[ours_key] / rates[builder_key]:.2f}x")
    check = run_json(child("check", result["builder-fp32"]["path"], result["ours-f32"]["path"] / "model.onnx"))
    print(f"  check: prefill logits of our f32 export against the builder's fp32, max abs diff {check}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of ours and decode runs (default 3; median)")
    parser.add_argument("--skip-torch", action="store_true", help="leave out the torch dynamo export (~9 min)")
    args = parser.parse_args()
    tool = os.environ.get("MODELSURGERY", str(ROOT / ".build/release/modelsurgery"))
    if not Path(tool).exists():
        sys.exit(f"{tool} not found: `make release`, or set MODELSURGERY")
    for venv in ("venv", "genai"):
        python_of(venv)  # fail early
    started = time.perf_counter()
    print(f"ONNX export of SmolLM2-135M; {tool}; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    result = time_exports(tool, args.runs, not args.skip_torch)
    print_exports(result, args.runs)
    decode_speeds(result, args.runs)
    shutil.rmtree(EXPORTS, ignore_errors=True)
    print(f"  (load average now {', '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"whole run {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
