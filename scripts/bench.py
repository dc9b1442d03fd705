#!/usr/bin/env python3
"""`make bench`: `modelsurgery prune` (remove 8 blocks) against `cp` of the same output size and against
a peer doing the same surgery with the gguf Python package (scripts/peer_prune_gguf.py).

Cases: SmolLM2-135M, and a synthetic multi-GB llama-like GGUF (Q4_0) generated into bench-out/.
Wall time: time.perf_counter around each child, median of --runs timed rounds after one untimed warm-up
round (a round runs every tool once, so drift on a shared machine hits them alike).
Peak RSS: the child's own rusage from os.wait4. The page cache is warm; nothing is fsynced.

This process stays small on purpose (standard library only; numpy and gguf load only in the generator's
own process): Linux folds the parent's peak RSS into a vfork+exec child's ru_maxrss, which is why the
floor (`true` spawned the same way) is printed too.
"""
import argparse
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
PEER = [sys.executable, str(ROOT / "scripts/peer_prune_gguf.py")]
LAYERS = "20-27"
MB, MIB, GB = 1e6, 1 << 20, 1e9


def spawn(cmd: list[str]) -> tuple[float, float]:
    """Runs cmd to completion; returns (wall seconds, peak RSS MiB) of that child alone."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        child = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            err.seek(0)
            sys.exit(f"failed ({child.returncode}): {' '.join(cmd)}\n{err.read().decode(errors='replace')}")
    return wall, usage.ru_maxrss * 1024 / MIB


def run_case(label: str, source: Path, runs: int, tool: str, peer: bool) -> dict:
    """One untimed warm-up round, then `runs` timed rounds. A round runs ours, cp (of our output) and the
    peer, in reverse order every other round, so drift and whatever the previous tool leaves behind hit
    all alike. Each tool's old output is deleted just before its own run (on a VM with free page reporting,
    long-freed memory costs more to reuse), then `sync`, so no dirty pages are pending."""
    ours_out = OUT / "ours.gguf"
    commands = {"ours": ([tool, "prune", str(source), str(ours_out), "--layers", LAYERS], ours_out),
                "cp": (["cp", str(ours_out), str(OUT / "cp.gguf")], OUT / "cp.gguf")}
    if peer:
        commands["peer"] = ([*PEER, str(source), str(OUT / "peer.gguf"), "--layers", LAYERS], OUT / "peer.gguf")
    samples = {key: [] for key in commands}
    case = {"label": label, "input": source.stat().st_size}
    for index in range(1 + runs):
        order = list(commands) if index % 2 == 0 else list(reversed(commands))  # cp then copies last round's output
        for key in order:
            cmd, output = commands[key]
            output.unlink(missing_ok=True)
            os.sync()
            samples[key].append(spawn(cmd))
            case[key] = {"size": output.stat().st_size}
    for _, output in commands.values():
        output.unlink()
    for key, results in samples.items():
        walls = [wall for wall, _ in results[1:]]
        case[key] |= {"wall": statistics.median(walls), "best": min(walls), "worst": max(walls),
                      "rss": max(rss for _, rss in results)}
    print_case(case, runs)
    return case


def print_case(case: dict, runs: int) -> None:
    ours = case["ours"]
    print(f"\n{case['label']}: input {case['input'] / MB:,.1f} MB, output {ours['size'] / MB:,.1f} MB")
    print(f"  {'tool':<22}{'wall s':>9}{'min-max s':>15}{'MB/s':>9}{'peak RSS MiB':>14}  compared with ours")
    for key, name in (("ours", "modelsurgery prune"), ("cp", "cp (same size)"), ("peer", "peer (gguf-py)")):
        if key not in case:
            continue
        row = case[key]
        note = {"ours": "",
                "cp": f"ours/cp speed {row['wall'] / ours['wall']:.2f}",
                "peer": f"peer/ours time {row['wall'] / ours['wall']:.1f}x"}[key]
        spread = f"{row['best']:.3f}-{row['worst']:.3f}"
        print(f"  {name:<22}{row['wall']:>9.3f}{spread:>15}{row['size'] / MB / row['wall']:>9.0f}{row['rss']:>14.1f}  {note}")
    print(f"  (wall: median of {runs} rounds, order alternating, after 1 warm-up round; peak RSS: max over all runs)")


def synthetic_path(gb: float) -> Path:
    return OUT / f"synthetic-llama-{gb:g}gb.gguf"


def generate(path: Path, gb: float) -> None:
    """Writes a llama-like Q4_0 GGUF of about `gb` GB, tensor by tensor (runs in its own process)."""
    import numpy as np
    import gguf

    embed, vocab, blocks = 4096, 32000, 32
    q4_0, f32 = gguf.GGMLQuantizationType.Q4_0, gguf.GGMLQuantizationType.F32
    block_size, type_size = gguf.GGML_QUANT_SIZES[q4_0]

    def q4(rows: int, cols: int) -> tuple[str, tuple[int, int], int]:
        return "q4", (rows, cols // block_size * type_size), rows * cols // block_size * type_size

    # Scale the feed-forward width (multiple of 256) so 32 blocks plus embeddings come to about `gb` GB.
    per_block = (gb * GB - 2 * q4(vocab, embed)[2]) / blocks - 4 * q4(embed, embed)[2]
    ffn = max(256, round(per_block / (3 * embed * type_size / block_size) / 256) * 256)
    tensors = {"token_embd.weight": q4(vocab, embed)}
    for i in range(blocks):
        tensors |= {f"blk.{i}.attn_norm.weight": ("f32", (embed,), embed * 4),
                    **{f"blk.{i}.attn_{n}.weight": q4(embed, embed) for n in ("q", "k", "v", "output")},
                    f"blk.{i}.ffn_norm.weight": ("f32", (embed,), embed * 4),
                    f"blk.{i}.ffn_gate.weight": q4(ffn, embed),
                    f"blk.{i}.ffn_up.weight": q4(ffn, embed),
                    f"blk.{i}.ffn_down.weight": q4(embed, ffn)}
    tensors |= {"output_norm.weight": ("f32", (embed,), embed * 4), "output.weight": q4(vocab, embed)}

    if path.exists():  # reuse it when it is complete and laid out as this function would write it
        reader = gguf.GGUFReader(path)
        last = reader.tensors[-1]
        if ([t.name for t in reader.tensors] == list(tensors)
                and reader.get_field("llama.feed_forward_length").contents() == ffn
                and path.stat().st_size == last.data_offset + last.n_bytes):
            print(f"reusing {path.relative_to(ROOT)}")
            return

    print(f"generating {path.relative_to(ROOT)} (32 blocks, embedding {embed}, feed-forward {ffn}, Q4_0)")
    temporary = path.with_suffix(".tmp")
    writer = gguf.GGUFWriter(temporary, "llama")
    writer.add_name(f"synthetic llama {gb:g} GB")
    writer.add_context_length(4096)
    writer.add_embedding_length(embed)
    writer.add_block_count(blocks)
    writer.add_feed_forward_length(ffn)
    writer.add_head_count(32)
    writer.add_head_count_kv(32)
    writer.add_rope_dimension_count(128)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_0)
    writer.add_vocab_size(vocab)
    writer.add_tokenizer_model("llama")
    writer.add_token_list([f"<t{i}>" for i in range(vocab)])
    writer.add_token_scores([0.0] * vocab)
    writer.add_token_types([gguf.TokenType.NORMAL] * vocab)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    for name, (kind, shape, nbytes) in tensors.items():
        if kind == "q4":
            writer.add_tensor_info(name, shape, np.dtype(np.uint8), nbytes, q4_0)
        else:
            writer.add_tensor_info(name, shape, np.dtype(np.float32), nbytes, f32)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()

    # Tensor data: a cheap non-zero byte pattern, written in 16 MiB slices.
    pattern = memoryview((np.arange(16 * MIB, dtype=np.uint32) % 251 + 1).astype(np.uint8).tobytes())
    fout = writer.fout[0]
    writer.write_padding(fout, fout.tell())
    for _, _, nbytes in tensors.values():
        for start in range(0, nbytes, len(pattern)):
            fout.write(pattern[: min(len(pattern), nbytes - start)])
        writer.write_padding(fout, nbytes)
    writer.close()
    temporary.rename(path)


def free_bytes() -> int:
    return shutil.disk_usage(OUT).free


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timed rounds (default 3; median reported)")
    parser.add_argument("--synthetic-gb", type=float, default=3.0, help="size of the synthetic GGUF (default 3, at least 1.5)")
    parser.add_argument("--skip-synthetic", action="store_true", help="bench SmolLM2 only")
    parser.add_argument("--peer-synthetic", action="store_true", help="also run the gguf-py peer on the synthetic model")
    parser.add_argument("--generate", type=Path, help=argparse.SUPPRESS)  # internal: the generator's own process
    args = parser.parse_args()
    if args.synthetic_gb < 1.5:  # 32 blocks of 4096-wide attention plus embeddings already take 1.4 GB
        parser.error("--synthetic-gb must be at least 1.5")
    if args.generate:
        return generate(args.generate, args.synthetic_gb)

    tool = os.environ.get("MODELSURGERY", str(ROOT / ".build/release/modelsurgery"))
    OUT.mkdir(exist_ok=True)
    for leftover in ("ours.gguf", "cp.gguf", "peer.gguf"):
        (OUT / leftover).unlink(missing_ok=True)
    _, floor = spawn(["true"])
    print(f"modelsurgery prune --layers {LAYERS} (8 blocks) vs cp vs gguf-py peer; {os.cpu_count()} CPUs, "
          f"{free_bytes() / GB:.0f} GB free in {OUT.relative_to(ROOT)}/")
    print("page cache: warm (1 untimed warm-up round; inputs stay cached); outputs land in the page cache, "
          "no fsync; `sync` before every run")
    print(f"peak RSS floor: {floor:.1f} MiB (`true` spawned the same way: what this Python process lends its children)")
    load = os.getloadavg()[0]
    if load > 0.5 * os.cpu_count():
        print(f"warning: load average {load:.1f} on {os.cpu_count()} CPUs: something else is running, timings will be noisy")

    cases = []
    if free_bytes() < 3 * SMOLLM2.stat().st_size + GB:
        sys.exit(f"not enough free disk space in {OUT}")
    cases.append(run_case("SmolLM2-135M-Instruct Q4_1", SMOLLM2, args.runs, tool, peer=True))

    if not args.skip_synthetic:
        synthetic = synthetic_path(args.synthetic_gb)
        have = synthetic.stat().st_size if synthetic.exists() else 0
        need = args.synthetic_gb * GB - have + 3 * args.synthetic_gb * GB + GB  # input + ours + cp + peer + slack
        if free_bytes() < need:
            print(f"\nskipping the synthetic case: needs {need / GB:.1f} GB free, have {free_bytes() / GB:.1f} GB")
        else:
            print()
            subprocess.run([sys.executable, __file__, "--generate", str(synthetic),
                            "--synthetic-gb", str(args.synthetic_gb)], check=True)
            mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
            if synthetic.stat().st_size * 2 > mem / 2:
                print(f"warning: {synthetic.stat().st_size / GB:.1f} GB input + output may not stay in the page cache "
                      f"({mem / GB:.1f} GB of memory): these runs may not be warm")
            cases.append(run_case(f"synthetic llama {args.synthetic_gb:g} GB (Q4_0, 32 blocks)", synthetic,
                                  args.runs, tool, peer=args.peer_synthetic))

    print("\nsummary:")
    for case in cases:
        ratio = case["cp"]["wall"] / case["ours"]["wall"]
        best = case["cp"]["best"] / case["ours"]["best"]
        print(f"  {case['label']}: prune/cp speed ratio: {ratio:.2f} (fastest runs: {best:.2f}) (target >= 0.8) "
              f"{'ok' if ratio >= 0.8 else 'MISSED'}")
    worst = max(case["ours"]["rss"] for case in cases)
    each = ", ".join(f"{case['ours']['rss']:.0f} MiB on {case['label'].split(' (')[0]}" for case in cases)
    print(f"  peak RSS: {each} (target < 64 MiB) {'ok' if worst < 64 else 'MISSED'}; floor {floor:.0f} MiB")
    for case in cases:
        if "peer" in case:
            print(f"  {case['label']}: peer (gguf-py) / ours time: {case['peer']['wall'] / case['ours']['wall']:.1f}x")


if __name__ == "__main__":
    main()
