#!/usr/bin/env python3
"""`make bench` (scoring part): wall time, tokens/s and peak RSS of `modelsurgery score`.

Targets:
  1. SmolLM2-135M (models/SmolLM2-135M-Instruct.Q4_1.gguf), 32×128 calibration tokens, default criteria,
     `--refine 0` (the streaming pass alone): wall time (median of --runs), tokens/s = 4096 / wall, peak RSS.
     Then once with `--criterion all,loo` (leave-one-out reruns n(n+1)/2 block passes), and once with
     `--criterion simdiff` and the default set refinement (up to 64 calibration-NLL evaluations, each rerunning
     the blocks from the first one a swap changes): its cost per evaluation against the streaming pass.
  2. A synthetic 7B-shaped llama GGUF (random Q4_0 weights; 32 blocks, embedding 4096, 32 heads, 8 KV heads
     of 128, feed-forward 11008, SmolLM2's tokenizer so --calib text tokenizes, vocab 49152), scored with
     16×128 tokens, `--criterion simdiff --refine 0`: wall time and peak RSS, which must stay under 20 GB.
     Refinement adds up to 2 × (blocks + 1) copies of the hidden states (the accepted and the candidate set's
     block inputs); the script prints that bound next to the measured peak.

Calibration text: data/held-out.txt (about 1k tokens) is concatenated --calib-repeat times (default 8) into a
temporary file, so there are at least 32×127 body tokens; the script checks calibrationTokens in the JSON.
tokens/s counts the calibration tokens over the whole command's wall time, so it includes loading the model,
tokenizing, the final norm and output head (NLL over each sequence's second half) and the JSON.
Peak RSS: the child's own ru_maxrss from os.wait4 (this process stays small: the standard library only; the
generator runs in its own process, since Linux folds a vfork parent's peak RSS into the child's). The
machine may be shared: the 1-minute load average is printed before and after each target.

Reproduce:
  swift build -c release --scratch-path .build-sbench
  .venv/bin/python scripts/bench_scoring.py                          # both targets
  .venv/bin/python scripts/bench_scoring.py --skip-synthetic         # SmolLM2 only
  .venv/bin/python scripts/bench_scoring.py --synthetic-samples 8    # cheaper synthetic run (half the tokens)
  .venv/bin/python scripts/bench_scoring.py --generate bench-out/synthetic-7b-q4_0.gguf   # generator only
  # by hand:
  .build-sbench/release/modelsurgery score models/SmolLM2-135M-Instruct.Q4_1.gguf --calib CALIB \\
      --samples 32 --seq-len 128 --count 8 --refine 0 --json
  .build-sbench/release/modelsurgery score bench-out/synthetic-7b-q4_0.gguf --calib CALIB \\
      --samples 16 --seq-len 128 --count 8 --criterion simdiff --refine 0 --json
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench-out"
SMOLLM2 = ROOT / "models/SmolLM2-135M-Instruct.Q4_1.gguf"
HELD_OUT = ROOT / "data/held-out.txt"
SYNTHETIC = OUT / "synthetic-7b-q4_0.gguf"  # the 7B shape's file (use_shape)
MB, MIB, GB = 1e6, 1 << 20, 1e9
RSS_LIMIT_GB = 20.0

# The synthetic models' shapes (Llama-2-7B-like with grouped-query attention, Llama-2-13B), SmolLM2's vocabulary.
SHAPES = {"7b": (4096, 32, 32, 8, 11008), "13b": (5120, 40, 40, 40, 13824)}
VOCAB = 49152
EMBED, BLOCKS, HEADS, KV_HEADS, FFN = SHAPES["7b"]
HEAD_DIM = EMBED // HEADS


def use_shape(name: str) -> Path:
    """Makes `name` the shape the generator writes; returns its file."""
    global EMBED, BLOCKS, HEADS, KV_HEADS, FFN, HEAD_DIM
    EMBED, BLOCKS, HEADS, KV_HEADS, FFN = SHAPES[name]
    HEAD_DIM = EMBED // HEADS
    return OUT / f"synthetic-{name}-q4_0.gguf"


def synthetic_tensors() -> dict[str, tuple[str, tuple[int, ...]]]:
    """name → (kind, numpy-order shape in elements: (rows, columns))."""
    kv = KV_HEADS * HEAD_DIM
    tensors = {"token_embd.weight": ("q4", (VOCAB, EMBED))}
    for i in range(BLOCKS):
        tensors |= {f"blk.{i}.attn_norm.weight": ("f32", (EMBED,)),
                    f"blk.{i}.attn_q.weight": ("q4", (EMBED, EMBED)),
                    f"blk.{i}.attn_k.weight": ("q4", (kv, EMBED)),
                    f"blk.{i}.attn_v.weight": ("q4", (kv, EMBED)),
                    f"blk.{i}.attn_output.weight": ("q4", (EMBED, EMBED)),
                    f"blk.{i}.ffn_norm.weight": ("f32", (EMBED,)),
                    f"blk.{i}.ffn_gate.weight": ("q4", (FFN, EMBED)),
                    f"blk.{i}.ffn_up.weight": ("q4", (FFN, EMBED)),
                    f"blk.{i}.ffn_down.weight": ("q4", (EMBED, FFN))}
    tensors |= {"output_norm.weight": ("f32", (EMBED,)), "output.weight": ("q4", (VOCAB, EMBED))}
    return tensors


def synthetic_bytes() -> int:
    total = 0
    for kind, shape in synthetic_tensors().values():
        elements = 1
        for n in shape:
            elements *= n
        total += elements * 4 if kind == "f32" else elements // 32 * 18
    return total


def generate(path: Path) -> None:
    """Writes the synthetic 7B-shaped Q4_0 GGUF tensor by tensor (runs in its own process).

    Q4_0 blocks are valid: an f16 scale 0.01 ± 0.002 (clipped to [0.005, 0.015], never NaN/Inf) and 16
    random bytes of 4-bit quants. A few MB of such blocks are made once and tiled to fill every tensor;
    the tile is a whole number of 18-byte blocks, so every tensor starts and ends on a block boundary."""
    import numpy as np
    import gguf

    q4_0, f32 = gguf.GGMLQuantizationType.Q4_0, gguf.GGMLQuantizationType.F32
    block_size, type_size = gguf.GGML_QUANT_SIZES[q4_0]
    tensors = synthetic_tensors()

    if path.exists():  # reuse it when it is complete and laid out as this function writes it
        try:
            reader = gguf.GGUFReader(path)
            last = reader.tensors[-1]
            if ([t.name for t in reader.tensors] == list(tensors)
                    and reader.get_field("llama.feed_forward_length").contents() == FFN
                    and reader.get_field("llama.attention.head_count_kv").contents() == KV_HEADS
                    and path.stat().st_size == last.data_offset + last.n_bytes):
                print(f"reusing {path.relative_to(ROOT)} ({path.stat().st_size / GB:.2f} GB)", flush=True)
                return
        except Exception as error:  # an unreadable leftover: write it again
            print(f"rewriting {path.relative_to(ROOT)}: {error}", flush=True)

    source = gguf.GGUFReader(SMOLLM2)
    tokenizer = {name: field for name, field in source.fields.items() if name.startswith("tokenizer.")}
    print(f"generating {path.relative_to(ROOT)}: llama, {BLOCKS} blocks, embedding {EMBED}, heads {HEADS}/{KV_HEADS}, "
          f"feed-forward {FFN}, vocab {VOCAB}, Q4_0, {synthetic_bytes() / GB:.2f} GB of tensors; "
          f"{len(tokenizer)} tokenizer.* keys copied from {SMOLLM2.name}", flush=True)
    temporary = path.with_suffix(".tmp")
    writer = gguf.GGUFWriter(temporary, "llama")
    writer.add_name(f"synthetic {path.stem.split('-')[1].upper()}-shaped llama (random Q4_0 weights)")
    writer.add_context_length(4096)
    writer.add_embedding_length(EMBED)
    writer.add_block_count(BLOCKS)
    writer.add_feed_forward_length(FFN)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_rope_dimension_count(HEAD_DIM)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_0)
    writer.add_vocab_size(VOCAB)
    for name, field in tokenizer.items():
        value_type = field.types[0]
        sub_type = field.types[-1] if value_type == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(name, field.contents(), value_type, sub_type)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    sizes = {}
    for name, (kind, shape) in tensors.items():
        if kind == "q4":
            rows, cols = shape
            sizes[name] = rows * cols // block_size * type_size
            writer.add_tensor_info(name, (rows, cols // block_size * type_size), np.dtype(np.uint8), sizes[name], q4_0)
        else:
            sizes[name] = shape[0] * 4
            writer.add_tensor_info(name, shape, np.dtype(np.float32), sizes[name], f32)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()

    rng = np.random.default_rng(0x5EED)
    count = 4 * MIB // type_size  # about 4 MiB of blocks, a whole number of them
    scales = np.clip(0.01 + 0.002 * rng.standard_normal(count), 0.005, 0.015).astype(np.float16)
    assert np.isfinite(scales).all()
    quants = rng.integers(0, 256, size=(count, type_size - 2), dtype=np.uint8)
    tile = memoryview(np.concatenate([scales.view(np.uint8).reshape(count, 2), quants], axis=1).tobytes())
    ones = np.ones(EMBED, dtype=np.float32).tobytes()

    fout = writer.fout[0]
    writer.write_padding(fout, fout.tell())
    started, written = time.perf_counter(), 0
    for name, (kind, _) in tensors.items():
        nbytes = sizes[name]
        if kind == "f32":
            fout.write(ones)
        else:
            for start in range(0, nbytes, len(tile)):
                fout.write(tile[: min(len(tile), nbytes - start)])
        written += nbytes
        writer.write_padding(fout, nbytes)
    writer.close()
    temporary.rename(path)
    print(f"wrote {written / GB:.2f} GB of tensors in {time.perf_counter() - started:.0f} s", flush=True)


def load() -> str:
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def run_score(binary: Path, model: Path, calib: Path, samples: int, extra: list[str], log: Path) -> dict:
    """One `score --json` run: wall time, peak RSS (ru_maxrss, KiB on Linux) and the parsed report."""
    command = [str(binary), "score", str(model), "--calib", str(calib), "--samples", str(samples),
               "--seq-len", "128", "--count", "8", "--json", *(extra if "--refine" in extra else [*extra, "--refine", "0"])]
    with open(log, "w") as stderr, tempfile.TemporaryFile() as stdout:
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=stdout, stderr=stderr)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        text = stdout.read().decode()
    if child.returncode != 0:
        sys.exit(f"failed ({child.returncode}): {' '.join(command)}\n{log.read_text()[-2000:]}")
    report = json.loads(text)
    tokens = report["calibrationTokens"]
    if tokens != samples * 128:
        sys.exit(f"calibration has {tokens} tokens, expected {samples * 128}: raise --calib-repeat")
    return {"wall": wall, "rss": usage.ru_maxrss * 1024, "tokens": tokens, "report": report,
            "command": " ".join(command)}


def phase_times(log: Path) -> list[tuple[str, float]]:
    """The phases a progress log reports done ("LABEL: done in 3m05s"), with their seconds."""
    phases = []
    for line in log.read_text().splitlines():
        label, _, duration = line.rpartition(": done in ")
        if not label:
            continue
        seconds, number = 0.0, ""
        for char in duration:
            if char.isdigit():
                number += char
            else:
                seconds += int(number or 0) * {"h": 3600, "m": 60, "s": 1}[char]
                number = ""
        phases.append((label, seconds))
    return phases


def default_prune(binary: Path, model: Path, pass_seconds: float) -> dict:
    """The headline command as a user types it, `prune MODEL OUT --ratio 0.25` (self-calibration, the default
    refinement), on the 7B-shaped model: each phase in seconds and in streaming passes (the `score --calib` pass
    just measured on the same tokens), the whole wall time and peak RSS."""
    output = OUT / "synthetic-7b-pruned.gguf"
    output.unlink(missing_ok=True)
    log = OUT / "prune-synthetic.log"
    command = [str(binary), "prune", str(model), str(output), "--ratio", "0.25"]
    before = load()
    with open(log, "w") as stderr:
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(command)}\n{log.read_text()[-2000:]}")
    output.unlink(missing_ok=True)
    print(f"\ndefault prune of the 7B-shaped model ({' '.join(command[1:2] + ['MODEL', 'OUT'] + command[4:])}), "
          f"load {before} → {load()}; one streaming pass (score --calib, 2048 tokens) took {pass_seconds:.0f} s:")
    phases = phase_times(log)
    for label, seconds in phases:
        print(f"  {label:<62} {seconds:7.0f} s  {seconds / pass_seconds:5.2f} passes")
    rest = wall - sum(seconds for _, seconds in phases)
    print(f"  {'everything else (reading, tokenizer, choosing, phases under 1 s)':<62} {rest:7.0f} s  {rest / pass_seconds:5.2f} passes")
    print(f"  {'whole command':<62} {wall:7.0f} s  {wall / pass_seconds:5.2f} passes, peak RSS {usage.ru_maxrss * 1024 / GB:.2f} GB")
    return {"target": "synthetic 7B Q4_0, default prune", "tokens": 2048, "wall": wall, "spread": "1 run",
            "rss": usage.ru_maxrss * 1024, "load": f"{before} → {load()}", "runs": 1}


def streaming_pass_13b(binary: Path, calib: Path, samples: int) -> dict:
    """A 13B-shaped model's streaming pass (`score --calib --refine 0`) and peak RSS."""
    path = use_shape("13b")
    need = synthetic_bytes() + GB
    use_shape("7b")
    if not path.exists() and shutil.disk_usage(OUT).free < need:
        sys.exit(f"the 13B-shaped model needs {need / GB:.1f} GB free, have {shutil.disk_usage(OUT).free / GB:.1f} GB (--skip-13b)")
    subprocess.run([sys.executable, __file__, "--generate", str(path), "--shape", "13b"], check=True)
    before = load()
    run = run_score(binary, path, calib, samples, ["--criterion", "simdiff"], OUT / "score-synthetic-13b.log")
    print(f"synthetic 13B-shaped ({path.stat().st_size / GB:.2f} GB file, {samples}×128 tokens): {run['wall']:.0f} s, "
          f"peak RSS {run['rss'] / GB:.2f} GB, load {before} → {load()}")
    return {"target": "synthetic 13B Q4_0, simdiff", "tokens": run["tokens"], "wall": run["wall"], "spread": "1 run",
            "rss": run["rss"], "load": f"{before} → {load()}", "runs": 1}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--binary", type=Path, default=ROOT / ".build-sbench/release/modelsurgery")
    parser.add_argument("--runs", type=int, default=3, help="timed SmolLM2 runs (median; default 3)")
    parser.add_argument("--calib-repeat", type=int, default=8, help="copies of data/held-out.txt in the calibration file")
    parser.add_argument("--skip-smollm2", action="store_true")
    parser.add_argument("--skip-loo", action="store_true")
    parser.add_argument("--skip-synthetic", action="store_true")
    parser.add_argument("--synthetic-samples", type=int, default=16, help="sequences of 128 tokens (default 16)")
    parser.add_argument("--skip-default-prune", action="store_true", help="skip the 7B default prune")
    parser.add_argument("--skip-13b", action="store_true", help="skip the 13B-shaped streaming pass")
    parser.add_argument("--generate", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="7b", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        use_shape(args.shape)
        generate(args.generate.resolve())
        return 0
    if not args.binary.exists():
        sys.exit(f"{args.binary} is missing: swift build -c release --scratch-path .build-sbench")
    OUT.mkdir(exist_ok=True)
    nproc = os.cpu_count()
    print(f"modelsurgery score benchmark: {args.binary.relative_to(ROOT) if args.binary.is_relative_to(ROOT) else args.binary}; "
          f"{nproc} CPUs; load average {load()}")

    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        calib = Path(scratch) / "calibration.txt"
        text = HELD_OUT.read_text()
        calib.write_text("\n\n".join([text] * args.calib_repeat))
        print(f"calibration: {HELD_OUT.relative_to(ROOT)} concatenated {args.calib_repeat}× into a temporary file "
              f"({calib.stat().st_size} bytes)")

        if not args.skip_smollm2:
            before = load()
            runs = [run_score(args.binary, SMOLLM2, calib, 32, [], OUT / "score-smollm2.log") for _ in range(args.runs)]
            wall = statistics.median(r["wall"] for r in runs)
            rss = max(r["rss"] for r in runs)
            report = runs[0]["report"]
            rows.append({"target": "SmolLM2-135M Q4_1, all", "tokens": runs[0]["tokens"], "wall": wall,
                         "spread": f"{min(r['wall'] for r in runs):.2f}-{max(r['wall'] for r in runs):.2f}",
                         "rss": rss, "load": f"{before} → {load()}", "runs": len(runs)})
            removed = {s["criterion"]: s["removed"] for s in report.get("selections", [])}
            print(f"\nSmolLM2 (all criteria): median {wall:.2f} s of {len(runs)} "
                  f"({', '.join('%.2f' % r['wall'] for r in runs)}), {runs[0]['tokens'] / wall:.0f} tokens/s, "
                  f"peak RSS {rss / MB:.0f} MB; baseline NLL {report['baselineNLL']:.4f}; "
                  f"simdiff removes {removed.get('simdiff')}")

            if not args.skip_loo:
                before = load()
                loo = run_score(args.binary, SMOLLM2, calib, 32, ["--criterion", "all,loo"], OUT / "score-smollm2-loo.log")
                blocks = len(loo["report"]["blocks"])
                rows.append({"target": "SmolLM2-135M Q4_1, all,loo", "tokens": loo["tokens"], "wall": loo["wall"],
                             "spread": "1 run", "rss": loo["rss"], "load": f"{before} → {load()}", "runs": 1})
                print(f"SmolLM2 (all,loo): {loo['wall']:.2f} s once ({blocks} + {blocks * (blocks + 1) // 2} block passes, "
                      f"{loo['wall'] / wall:.1f}× the streaming pass), peak RSS {loo['rss'] / MB:.0f} MB")

            before = load()
            refined = run_score(args.binary, SMOLLM2, calib, 32, ["--criterion", "simdiff", "--refine", "64"],
                                OUT / "score-smollm2-refine.log")
            refinement = refined["report"]["selections"][0]["refinement"]
            per_evaluation = (refined["wall"] - wall) / refinement["evaluations"]
            rows.append({"target": "SmolLM2-135M Q4_1, refined", "tokens": refined["tokens"], "wall": refined["wall"],
                         "spread": "1 run", "rss": refined["rss"], "load": f"{before} → {load()}", "runs": 1})
            print(f"SmolLM2 (simdiff, refined): {refined['wall']:.2f} s once, {refinement['evaluations']} evaluations, "
                  f"{per_evaluation:.2f} s each ({per_evaluation / wall:.2f}× the streaming pass), peak RSS "
                  f"{refined['rss'] / MB:.0f} MB; calibration NLL {refinement['startNLL']:.4f} → {refinement['calibrationNLL']:.4f}, "
                  f"removes {refinement['removed']} (unrefined {refinement['start']})")

        if not args.skip_synthetic:
            need = synthetic_bytes() + GB
            if not SYNTHETIC.exists() and shutil.disk_usage(OUT).free < need:
                print(f"\nskipping the synthetic model: needs {need / GB:.1f} GB free, have {shutil.disk_usage(OUT).free / GB:.1f} GB")
            else:
                print()
                subprocess.run([sys.executable, __file__, "--generate", str(SYNTHETIC)], check=True)
                samples = args.synthetic_samples
                before = load()
                synth = run_score(args.binary, SYNTHETIC, calib, samples, ["--criterion", "simdiff"], OUT / "score-synthetic.log")
                rows.append({"target": f"synthetic 7B Q4_0, simdiff", "tokens": synth["tokens"], "wall": synth["wall"],
                             "spread": "1 run", "rss": synth["rss"], "load": f"{before} → {load()}", "runs": 1})
                states = synth["tokens"] * EMBED * 4
                verdict = "under" if synth["rss"] / GB < RSS_LIMIT_GB else "OVER"
                print(f"synthetic 7B-shaped ({SYNTHETIC.stat().st_size / GB:.2f} GB file, {samples}×128 tokens): "
                      f"{synth['wall']:.0f} s, {synth['tokens'] / synth['wall']:.1f} tokens/s, "
                      f"peak RSS {synth['rss'] / GB:.2f} GB — {verdict} the {RSS_LIMIT_GB:.0f} GB limit "
                      f"(one copy of the hidden states is {states / MB:.0f} MB)")
                if samples != 16:
                    # Hidden states (and their per-block copies) scale with tokens; one block's weights do not.
                    extra = (16 - samples) * 128 * EMBED * 4
                    print(f"  {samples} samples, not 16: 16×128 would add {extra / MB:.0f} MB per copy of the hidden "
                          f"states; even at 6 copies that is {(synth['rss'] + 6 * extra) / GB:.2f} GB")
                passes = phase_times(OUT / "score-synthetic.log")
                pass_seconds = next((t for label, t in passes if label.startswith("scoring ")), synth["wall"])
                if not args.skip_default_prune:
                    rows.append(default_prune(args.binary, SYNTHETIC, pass_seconds))
                if not args.skip_13b:
                    rows.append(streaming_pass_13b(args.binary, calib, samples))

    print(f"\n{'target':<30}{'tokens':>7}{'wall s':>9}{'range s':>13}{'tokens/s':>10}{'peak RSS MB':>13}  load avg (1/5/15 min) before → after")
    for row in rows:
        print(f"{row['target']:<30}{row['tokens']:>7}{row['wall']:>9.2f}{row['spread']:>13}{row['tokens'] / row['wall']:>10.1f}"
              f"{row['rss'] / MB:>13.0f}  {row['load']}")
    print("(wall: whole command incl. model load, tokenizing and the output head; tokens/s = calibration tokens / wall; "
          "peak RSS: ru_maxrss of the child from os.wait4)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
