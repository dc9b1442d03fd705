#!/usr/bin/env python3
"""`make bench`, ONNX part: `modelsurgery prune` (8 blocks) of SmolLM2-135M's ONNX exports vs onnx_ir, onnx and cp.

The exports are fp32 with external data (about 540 MB). Also onnxruntime's decode speed before and after.

Models (exported once into bench-out/onnx/, reused by later runs):
  genai   onnxruntime-genai's model builder (-p fp32 -e cpu): a folder with genai_config.json
  dynamo  torch.onnx.export(dynamo=True) with KV-cache inputs/outputs: model.onnx + model.onnx.data
both from the Hugging Face folder `modelsurgery convert` makes of models/SmolLM2-135M-Instruct.Q4_1.gguf.
Tools, each a fresh process (wall time: median of --runs rounds after a warm-up round, order alternating;
peak RSS: the child's own rusage, as in scripts/bench.py):
  ours      modelsurgery prune IN OUT --layers 12-17,25,26
  onnx_ir   onnx-ir: the graph read without weights, the same edit, ir.save with external data (weights stay
            memory-mapped; ir.load reads a model this way)
  onnx      the onnx package: onnx.load (every weight in memory), the same edit, onnx.save_model with external data
  cp        cp of the input model, and cp of our output (the same bytes as ours writes)
The peers' edit (prune_graph) has our semantics: consumers of a removed block's residual output read its input
(dynamo's Add chain), or the next SkipSimplifiedLayerNormalization adds the pair the block received (genai);
dead nodes, initializers and KV inputs/outputs go, the KV names are renumbered, genai_config.json follows.
It does not handle block 0, nor blocks whose KV input is read at graph level (dynamo reads block 1's).
Decode speed: onnxruntime InferenceSession (one thread), greedy, a 32-token prompt then 64 new tokens with the
KV cache, original vs our pruned model, each run a fresh process, median of --runs. Cross-check: prefill logits of
ours vs onnx_ir's (and onnx's) pruned model, and onnxruntime-genai generating from our pruned genai folder.

Venvs, as TestModels/onnx/generate.py (`python3 TestModels/onnx/generate.py setup` creates them):
  MODELSURGERY_ONNX_VENV        (default .venv-onnx)        torch export, onnx_ir and onnx peers, onnxruntime
  MODELSURGERY_ONNX_GENAI_VENV  (default .venv-onnx-genai)  onnxruntime-genai's model builder
This driver needs only the standard library (its own RSS leaks into children's ru_maxrss; see bench.py).
Internal: `--child NAME ARGS...` runs one child job (export, peer, decode, check) under the venv's python.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import MB, OUT, ROOT, SMOLLM2, spawn  # noqa: E402

WORK = OUT / "onnx"
LAYERS = "12-17,25,26"
REMOVED = [12, 13, 14, 15, 16, 17, 25, 26]
PROMPT = [1] + [(7 + 613 * i) % 49152 for i in range(31)]  # 32 fixed token ids (speed does not depend on them)
NEW_TOKENS = 64
VENVS = {"venv": ("MODELSURGERY_ONNX_VENV", ".venv-onnx"),  # as TestModels/onnx/generate.py
         "genai": ("MODELSURGERY_ONNX_GENAI_VENV", ".venv-onnx-genai")}
CACHE_NAME = re.compile(r"^(past_key_values|present)\.(\d+)\.(key|value)$")
for _key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY"):
    os.environ.setdefault(_key, "1")


def python_of(name: str) -> str:
    var, default = VENVS[name]
    python = Path(os.environ.get(var) or ROOT / default).absolute() / "bin" / "python"
    if not python.exists():
        sys.exit(f"{python} not found: create the venvs with `python3 TestModels/onnx/generate.py setup`, "
                 f"or point {var} at one")
    return str(python)


def child(name: str, *args) -> list[str]:
    return [python_of("venv"), __file__, "--child", name, *map(str, args)]


def run_json(cmd: list[str]) -> dict:
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"failed ({result.returncode}): {' '.join(cmd)}\n{result.stdout}{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def model_file(path: Path) -> Path:
    return path / "model.onnx" if path.is_dir() else path


def size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*"))
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))  # model.onnx + model.onnx.data


def remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    for p in path.parent.glob(path.name + "*"):  # model.onnx + model.onnx.data
        p.unlink()


# ----------------------------------------------------------------------------- exports (cached)
def ensure_exports(tool: str) -> dict[str, Path]:
    """The HF folder, the genai fp32 folder and the dynamo model in bench-out/onnx/, made when missing."""
    hf, genai, dynamo = WORK / "smollm2-hf", WORK / "genai-fp32", WORK / "dynamo" / "model.onnx"
    steps = [(hf / "model.safetensors", lambda tmp: [tool, "convert", str(SMOLLM2), str(tmp), "--dtype", "f32"]),
             (genai / "genai_config.json", lambda tmp: [python_of("genai"), "-m", "onnxruntime_genai.models.builder",
                                                        "-i", str(hf), "-o", str(tmp), "-p", "fp32", "-e", "cpu",
                                                        "-c", str(WORK / "genai-cache")]),
             (dynamo, lambda tmp: child("export-dynamo", hf, tmp))]
    for done, command in steps:
        folder = done.parent
        if done.exists():
            print(f"reusing {folder.relative_to(ROOT)}")
            continue
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        start = time.perf_counter()
        made = subprocess.run(command(tmp), cwd=ROOT, capture_output=True, text=True)
        if made.returncode:
            sys.exit(f"failed to make {folder}: {' '.join(command(tmp))}\n{made.stdout[-4000:]}{made.stderr[-4000:]}")
        tmp.rename(folder)
        shutil.rmtree(WORK / "genai-cache", ignore_errors=True)
        print(f"made {folder.relative_to(ROOT)} in {time.perf_counter() - start:.0f} s")
    return {"genai": genai, "dynamo": dynamo}


def export_dynamo(hf: str, out: str) -> None:
    """torch.onnx.export(dynamo=True) with flat KV inputs/outputs, as TestModels/onnx/generate.py's step_torch
    (node metadata kept as torch writes it), saved with external data in model.onnx.data."""
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.cache_utils import DynamicCache

    class WithKV(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.model, self.lm_head, self.n = m.model, m.lm_head, m.config.num_hidden_layers

        def forward(self, input_ids, attention_mask, position_ids, *past):
            cache = DynamicCache(ddp_cache_data=[(past[2 * i], past[2 * i + 1]) for i in range(self.n)],
                                 config=self.model.config)
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                             past_key_values=cache, use_cache=True)
            flat = [t for layer in out.past_key_values.layers[:self.n] for t in (layer.keys, layer.values)]
            return (self.lm_head(out.last_hidden_state), *flat)

    model = AutoModelForCausalLM.from_pretrained(hf, dtype=torch.float32).eval()
    cfg = model.config
    n, kv_heads, head_dim = cfg.num_hidden_layers, cfg.num_key_value_heads, cfg.hidden_size // cfg.num_attention_heads
    B, S = torch.export.Dim("batch_size", min=1, max=64), torch.export.Dim("sequence_length", min=1, max=2048)
    P = torch.export.Dim("past_sequence_length", min=0, max=4095)
    T = torch.export.Dim("total_sequence_length", min=1, max=6143)  # P+S is rejected, so its own Dim
    past = [torch.randn(2, kv_heads, 3, head_dim) for _ in range(2 * n)]
    names_in = ["input_ids", "attention_mask", "position_ids"] + \
        [f"past_key_values.{i}.{kv}" for i in range(n) for kv in ("key", "value")]
    names_out = ["logits"] + [f"present.{i}.{kv}" for i in range(n) for kv in ("key", "value")]
    dynamic = ({0: B, 1: S}, {0: B, 1: T}, {0: B, 1: S}, tuple({0: B, 2: P} for _ in range(2 * n)))
    example = (torch.tensor([[5, 6], [9, 10]]), torch.ones(2, 5, dtype=torch.int64), torch.tensor([[3, 4], [3, 4]]))
    program = torch.onnx.export(WithKV(model).eval(), (*example, *past), dynamo=True, opset_version=18,
                                input_names=names_in, output_names=names_out, dynamic_shapes=dynamic, verbose=False)
    Path(out).mkdir(parents=True)
    program.save(str(Path(out) / "model.onnx"), external_data=True)


# ----------------------------------------------------------------------------- the peers' edit (child side)
def block_of(node) -> int | None:
    """`layers.N` in the node name (genai; its final norm is named like block L), else in torch's name_scopes."""
    if "final_norm" in node.name:
        return None
    scope = node.name if "layers." in node.name else \
        next((p.value for p in node.metadata_props if p.key == "pkg.torch.onnx.name_scopes"), "")
    match = re.search(r"layers\.(\d+)", scope)
    return int(match[1]) if match else None


def handoff(graph, blocks: list, block: int, fused: bool) -> list[tuple[str, str]]:
    """[(tensor `block` hands on, the tensor in its place when the block goes)]."""
    made = {o for node, b in zip(graph.node, blocks) if b == block for o in node.output if o}
    if fused:  # genai: the next norm adds the pair (sum, last projection) the block's entry norm received
        entry = [n for n, b in zip(graph.node, blocks) if b == block and n.op_type == "SkipSimplifiedLayerNormalization"
                 and not made.intersection(n.input)]
        after = [n for n, b in zip(graph.node, blocks) if b != block and n.op_type == "SkipSimplifiedLayerNormalization"
                 and made.intersection(n.input[:2])]
        if len(entry) != 1 or len(after) != 1:
            sys.exit(f"block {block}: expected one entry and one next SkipSimplifiedLayerNormalization")
        return [(after[0].input[k], entry[0].input[k]) for k in (0, 1)]

    def residual_out(b: int) -> str:  # dynamo: the one Add output of block b read outside it
        read_outside = {i for node, nb in zip(graph.node, blocks) if nb != b for i in node.input}
        found = [o for node, nb in zip(graph.node, blocks) if nb == b and node.op_type == "Add"
                 for o in node.output if o in read_outside]
        if len(found) != 1:
            sys.exit(f"block {b}: expected one residual Add output, found {found}")
        return found[0]
    return [(residual_out(block), residual_out(block - 1))]


def cache_block(name: str) -> int | None:
    return int(match[2]) if (match := CACHE_NAME.match(name)) else None


def prune_graph(graph, removed: list[int]) -> None:
    """Removes the blocks from an onnx GraphProto in place (nodes in topological order, no subgraphs)."""
    blocks = [block_of(node) for node in graph.node]
    fused = any(node.op_type == "SkipSimplifiedLayerNormalization" for node in graph.node)
    links = {b: handoff(graph, blocks, b, fused) for b in removed}  # found on the graph as exported
    replace = {}
    for b in sorted(removed):
        for old, new in links[b]:
            replace[old] = replace.get(new, new)
    for node in graph.node:
        if replace.keys() & set(node.input):
            node.input[:] = [replace.get(name, name) for name in node.input]
    for i in reversed(range(len(graph.output))):
        if cache_block(graph.output[i].name) in removed:
            del graph.output[i]
    drop_unread(graph, blocks, removed)
    renumber_cache(graph)


def drop_unread(graph, blocks: list, removed: list[int]) -> None:
    """Drops the removed blocks' nodes that nothing reads any more (torch's exporter computes rotary and mask
    tensors once, in block 0, for all blocks), then their KV inputs, unread initializers and value infos."""
    read = {o.name for o in graph.output}
    for i in reversed(range(len(graph.node))):
        if blocks[i] in removed and not read.intersection(graph.node[i].output):
            del graph.node[i]
        else:
            read.update(name for name in graph.node[i].input if name)  # '' is an omitted optional input
    for i in reversed(range(len(graph.input))):
        if cache_block(graph.input[i].name) in removed:
            if graph.input[i].name in read:
                sys.exit(f"{graph.input[i].name} is still read at graph level: choose other blocks")
            del graph.input[i]
    for i in reversed(range(len(graph.initializer))):
        if graph.initializer[i].name not in read:
            del graph.initializer[i]
    produced = {o for node in graph.node for o in node.output}
    for i in reversed(range(len(graph.value_info))):
        if graph.value_info[i].name not in produced:
            del graph.value_info[i]


def renumber_cache(graph) -> None:
    """past_key_values.N.* / present.N.* become 0, 1, ... in order (onnxruntime-genai needs them contiguous)."""
    kept = sorted({cache_block(v.name) for v in graph.input} - {None})
    number = {old: new for new, old in enumerate(kept)}

    def rename(name: str) -> str:
        match = CACHE_NAME.match(name)
        return f"{match[1]}.{number[int(match[2])]}.{match[3]}" if match else name
    for value in [*graph.input, *graph.output]:
        value.name = rename(value.name)
    for node in graph.node:
        node.input[:] = map(rename, node.input)
        node.output[:] = map(rename, node.output)


def peer_prune(library: str, src: str, dst: str) -> None:
    """The onnx_ir or onnx peer: src/dst a .onnx file, or a genai folder (its other files copied, config updated)."""
    import onnx
    src, dst = Path(src), Path(dst)
    src_model, dst_model = model_file(src), dst / "model.onnx" if src.is_dir() else dst
    dst_model.parent.mkdir(parents=True, exist_ok=True)
    data = dst_model.name + ".data"
    if library == "onnx":
        model = onnx.load(str(src_model))  # reads every weight into memory
        prune_graph(model.graph, REMOVED)
        onnx.save_model(model, str(dst_model), save_as_external_data=True, all_tensors_to_one_file=True, location=data)
    else:
        import onnx_ir as ir
        proto = onnx.load(str(src_model), load_external_data=False)  # as ir.load does
        prune_graph(proto.graph, REMOVED)
        model = ir.serde.deserialize_model(proto)
        ir.external_data.set_base_dir(model.graph, str(src_model.parent))
        ir.save(model, str(dst_model), external_data=data)
    if src.is_dir():
        for f in src.iterdir():
            if f.name not in ("model.onnx", "model.onnx.data"):
                shutil.copy2(f, dst / f.name)
        config = json.loads((dst / "genai_config.json").read_text())
        config["model"]["decoder"]["num_hidden_layers"] -= len(REMOVED)
        (dst / "genai_config.json").write_text(json.dumps(config, indent=4))


# ----------------------------------------------------------------------------- onnxruntime runs (child side)
def greedy(path: str, new_tokens: int) -> tuple:
    """Greedy decode after PROMPT with the KV cache: (new tokens, prefill logits, prefill s, decode s)."""
    import numpy as np
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = options.inter_op_num_threads = 1  # steadier on a small, shared machine
    session = ort.InferenceSession(str(model_file(Path(path))), options, providers=["CPUExecutionProvider"])
    inputs, outputs = session.get_inputs(), [o.name for o in session.get_outputs()]
    kv_heads, head_size = next((i.shape[1], i.shape[3]) for i in inputs if i.name.startswith("past_"))
    if not isinstance(head_size, int):  # genai declares it symbolic
        head_size = json.loads(Path(path, "genai_config.json").read_text())["model"]["decoder"]["head_size"]
    past = {i.name: np.zeros((1, kv_heads, 0, head_size), np.float32) for i in inputs if i.name.startswith("past_")}

    def step(ids: list[int], start: int):
        feed = {"input_ids": np.array([ids]), "attention_mask": np.ones((1, start + len(ids)), np.int64),
                "position_ids": np.arange(start, start + len(ids))[None], **past}
        feed = {i.name: np.asarray(feed[i.name], np.int32 if "int32" in i.type else None) for i in inputs}
        result = dict(zip(outputs, session.run(outputs, feed)))
        past.update({name.replace("present", "past_key_values", 1): value
                     for name, value in result.items() if name.startswith("present")})
        return result["logits"][0]

    start = time.perf_counter()
    prefill = step(PROMPT, 0)
    tokens, middle = [int(prefill[-1].argmax())], time.perf_counter()
    while len(tokens) < new_tokens:
        tokens.append(int(step(tokens[-1:], len(PROMPT) + len(tokens) - 1)[-1].argmax()))
    return tokens, prefill, middle - start, time.perf_counter() - middle


def decode_speed(path: str) -> None:
    tokens, _, prefill_s, decode_s = greedy(path, NEW_TOKENS)
    print(json.dumps({"prefill_s": prefill_s, "decode_s": decode_s, "tokens": tokens}))


def check(reference: str, *others: str) -> None:
    """Prefill logits of each model against the reference's; for a genai folder, onnxruntime-genai's greedy
    tokens against ours (onnxruntime's)."""
    import numpy as np
    tokens, logits, _, _ = greedy(reference, 8)
    result = {"vs " + Path(o).parent.name: float(np.abs(greedy(o, 1)[1] - logits).max()) for o in others}
    if Path(reference, "genai_config.json").exists():
        import onnxruntime_genai as og
        model = og.Model(reference)
        params = og.GeneratorParams(model)
        params.set_search_options(max_length=len(PROMPT) + 8, do_sample=False)
        generator = og.Generator(model, params)
        generator.append_tokens(np.array([PROMPT], dtype=np.int32))
        while not generator.is_done():
            generator.generate_next_token()
        result["genai_greedy_equal"] = [int(t) for t in generator.get_sequence(0)][len(PROMPT):] == tokens
    print(json.dumps(result))


CHILDREN = {"export-dynamo": export_dynamo, "onnx_ir": lambda s, d: peer_prune("onnx_ir", s, d),
            "onnx": lambda s, d: peer_prune("onnx", s, d), "decode": decode_speed, "check": check}


# ----------------------------------------------------------------------------- driver side
def time_model(label: str, source: Path, tool: str, runs: int) -> dict:
    """Prune `source` with every tool: one untimed warm-up round, then `runs` rounds, order reversed every other
    round; each tool's old output deleted just before its run, then `sync`."""
    name = source.name if source.is_dir() else "model.onnx"
    out = {key: WORK / f"{key}-{label}" / name for key in ("ours", "onnx_ir", "onnx", "cp-in", "cp-out")}
    if source.is_dir():
        inputs, ours_files = [source], [out["ours"]]
    else:  # model.onnx + model.onnx.data
        inputs, ours_files = [source, Path(f"{source}.data")], [out["ours"], Path(f"{out['ours']}.data")]
    commands = {"ours": [tool, "prune", str(source), str(out["ours"]), "--layers", LAYERS],
                "onnx_ir": child("onnx_ir", source, out["onnx_ir"]), "onnx": child("onnx", source, out["onnx"]),
                "cp-in": ["cp", "-r", *map(str, inputs), str(out["cp-in"].parent)],
                "cp-out": ["cp", "-r", *map(str, ours_files), str(out["cp-out"].parent)]}
    samples = {key: [] for key in commands}
    for index in range(1 + runs):
        for key in list(commands) if index % 2 == 0 else reversed(commands):
            remove(out[key])
            out[key].parent.mkdir(parents=True, exist_ok=True)
            os.sync()
            samples[key].append(spawn(commands[key]))
    case = {"label": label, "input": size(source), "outputs": out}
    for key, values in samples.items():
        walls = [wall for wall, _ in values[1:]]
        case[key] = {"wall": statistics.median(walls), "min": min(walls), "max": max(walls),
                     "rss": max(rss for _, rss in values), "size": size(out[key])}
    return case


def print_case(case: dict, runs: int) -> None:
    ours = case["ours"]
    print(f"\n{case['label']}: input {case['input'] / MB:,.1f} MB, our output {ours['size'] / MB:,.1f} MB "
          f"(blocks {LAYERS} removed)")
    print(f"  {'tool':<24}{'wall s':>9}{'min-max s':>15}{'peak RSS MiB':>14}{'out MB':>9}  ours/tool time")
    names = {"ours": "modelsurgery prune", "onnx_ir": "onnx_ir", "onnx": "onnx (onnx.load/save)",
             "cp-in": "cp (input)", "cp-out": "cp (our output)"}
    for key, name in names.items():
        row = case[key]
        spread = f"{row['min']:.2f}-{row['max']:.2f}"
        print(f"  {name:<24}{row['wall']:>9.3f}{spread:>15}{row['rss']:>14.1f}{row['size'] / MB:>9.1f}  "
              f"{ours['wall'] / row['wall']:.3f}")
    print(f"  (wall: median of {runs} rounds after a warm-up round, order alternating; peak RSS: max over all runs)")


def speeds(original: Path, pruned: Path, runs: int) -> dict:
    """Decode speed of the original and the pruned model, a fresh process per run, alternating."""
    samples = {"original": [], "pruned": []}
    for index in range(runs):
        for key in ("original", "pruned") if index % 2 == 0 else ("pruned", "original"):
            samples[key].append(run_json(child("decode", original if key == "original" else pruned)))
    result = {}
    for key, values in samples.items():
        rates = [(NEW_TOKENS - 1) / v["decode_s"] for v in values]
        result[key] = {"tok_s": statistics.median(rates), "spread": f"{min(rates):.1f}-{max(rates):.1f}",
                       "prefill_ms": statistics.median(v["prefill_s"] * 1000 for v in values)}
    print(f"  onnxruntime (1 thread) greedy, {len(PROMPT)}-token prompt + {NEW_TOKENS} new tokens "
          f"(median of {runs} processes):")
    for key in samples:
        row = result[key]
        print(f"    {key:<9} prefill {row['prefill_ms']:7.1f} ms   "
              f"decode {row['tok_s']:6.1f} tokens/s ({row['spread']})")
    result["speedup"] = result["pruned"]["tok_s"] / result["original"]["tok_s"]
    print(f"    pruned/original decode speed {result['speedup']:.2f}x")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timed rounds and decode runs (default 3; median reported)")
    parser.add_argument("--child", choices=CHILDREN, help=argparse.SUPPRESS)
    parser.add_argument("rest", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return CHILDREN[args.child](*args.rest)
    tool = os.environ.get("MODELSURGERY", str(ROOT / ".build/release/modelsurgery"))
    if not Path(tool).exists():
        sys.exit(f"{tool} not found: `make release`, or set MODELSURGERY")
    for venv in VENVS:
        python_of(venv)  # fail early
    started = time.perf_counter()
    WORK.mkdir(parents=True, exist_ok=True)
    _, floor = spawn(["true"])
    print(f"ONNX prune of SmolLM2-135M fp32, blocks {LAYERS}; {tool}; {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"peak RSS floor: {floor:.1f} MiB (`true` spawned the same way)")
    if os.getloadavg()[0] > 0.5 * os.cpu_count():
        print("warning: something else is running, timings will be noisy")
    models = ensure_exports(tool)
    cases = []
    for label, source in models.items():
        case = time_model(label, source, tool, args.runs)
        print_case(case, args.runs)
        outputs = case["outputs"]
        print(f"  check (onnxruntime prefill, max abs diff of logits against ours): "
              f"{run_json(child('check', outputs['ours'], outputs['onnx_ir'], outputs['onnx']))}")
        case["speed"] = speeds(source, outputs["ours"], args.runs)
        for path in outputs.values():
            shutil.rmtree(path.parent)
        cases.append(case)
    print(f"\nsummary (load average now {', '.join(f'{x:.2f}' for x in os.getloadavg())}):")
    for case in cases:
        ours = case["ours"]
        ratio = ours["wall"] / case["cp-out"]["wall"]
        print(f"  {case['label']}: ours/cp time {ratio:.2f}x (cp of our output; of the input "
              f"{ours['wall'] / case['cp-in']['wall']:.2f}x; target <= 2) {'ok' if ratio <= 2 else 'MISSED'}; "
              f"ours/onnx_ir time {ours['wall'] / case['onnx_ir']['wall']:.3f}, "
              f"ours/onnx {ours['wall'] / case['onnx']['wall']:.3f}; "
              f"peak RSS {ours['rss']:.0f} MiB (target < 64) {'ok' if ours['rss'] < 64 else 'MISSED'}, "
              f"onnx_ir {case['onnx_ir']['rss']:.0f}, onnx {case['onnx']['rss']:.0f}; "
              f"decode speed pruned/original {case['speed']['speedup']:.2f}x")
    print(f"  (floor {floor:.0f} MiB; whole run {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
