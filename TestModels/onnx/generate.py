#!/usr/bin/env python3
"""ONNX decoder fixtures written by real exporters, and the golden logits of their pruned versions.

Two tiny random-weight decoders (transformers), exported to ONNX by torch.onnx (dynamo), optimum-onnx and the
onnxruntime-genai model builder; then, for each export and each set of removed decoder blocks, the logits
(and, for genai folders, the greedy tokens) that the export with those blocks pruned must reproduce.
Nothing here is written by modelsurgery. See README.md in this folder.

Writes (relative to this folder):
  hf/llama/, hf/qwen2/           transformers checkpoints (save_pretrained: config.json, model.safetensors,
                                 generation_config.json, tokenizer files). llama: 4 layers, hidden 64, 4 heads,
                                 2 KV heads, intermediate 128, vocab 320, untied lm_head; qwen2: same sizes,
                                 q/k/v bias, tied embeddings.
  torch-dynamo/llama/model.onnx + model.onnx.data
                                 torch.onnx.export(dynamo=True) with KV cache inputs/outputs, saved with external
                                 data in one file (onnx default size_threshold 1024: small constants stay inline)
  torch-dynamo/qwen2/model.onnx  same, all initializers inline
  torch-dynamo/qwen2-nokv/model.onnx
                                 qwen2 without KV cache: inputs input_ids and attention_mask only (no
                                 position_ids: a Range in the graph makes 0..S-1), output logits only; inline
                                 (all three: node metadata_props cut down to pkg.torch.onnx.name_scopes and
                                 namespace)
  optimum/llama/                 optimum-onnx main_export(task="text-generation-with-past"): model.onnx, config,
                                 tokenizer files
  genai/llama/fp32/, genai/llama/int4/, genai/qwen2/int4/
                                 onnxruntime-genai model builder (-e cpu -p fp32|int4): model.onnx,
                                 model.onnx.data, genai_config.json, tokenizer files
  golden.npz                     reference logits (float32), see step_golden; uncompressed (ZIP_STORED) .npz;
                                 prefill and decode keys per fixture, prefill only for dynamo-qwen2-nokv
  golden.json                    ids, removal sets, greedy tokens, versions, how each reference was made,
                                 sanity diffs of each fixture against its unpruned reference, and per
                                 fixture its "runs" (["prefill", "decode"], or ["prefill"] without KV cache)

Which interpreter runs which step (three venvs because the exporters' pins clash; see PINS):
  venv          (default <repo>/.venv-onnx,         env MODELSURGERY_ONNX_VENV,         --venv)
                steps: models, torch, golden, check
  venv-optimum  (default <repo>/.venv-onnx-optimum, env MODELSURGERY_ONNX_OPTIMUM_VENV, --venv-optimum)
                step: optimum   (accelerate is needed for optimum's tied-weight deduplication)
  venv-genai    (default <repo>/.venv-onnx-genai,   env MODELSURGERY_ONNX_GENAI_VENV,   --venv-genai)
                step: genai     (the builder of onnxruntime-genai 0.18 imports classes of transformers 5)
Scratch files (pruned checkpoints and the genai builds of them, needed by `golden`) go to the work folder
(default $TMPDIR/modelsurgery-onnx-fixtures, env MODELSURGERY_ONNX_WORK, --work); nothing there is committed.

Usage (any Python 3.11 may run the driver; each step re-runs itself under its venv's interpreter):
  python3.11 TestModels/onnx/generate.py setup   # create/update the three venvs (torch from /opt/wheels,
                                                 # env MODELSURGERY_TORCH_WHEELS; --python picks the base)
  python3.11 TestModels/onnx/generate.py all     # models torch optimum genai golden check
  python3.11 TestModels/onnx/generate.py STEP    # one of models|torch|optimum|genai|golden|check
`all` is deterministic: re-running it rewrites every committed file byte for byte. Offline (HF_HUB_OFFLINE=1).
`check` re-reads the committed files only: onnxruntime loads every fixture, the unpruned golden logits match
onnxruntime within 1e-4 (prefill, and decode where the fixture has a KV cache), and onnxruntime-genai's greedy
tokens match for the genai folders.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_NUM_THREADS", "1")

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
HF = HERE / "hf"
SEED = 1234
VOCAB = 320
N_LAYERS = 4
GOLDEN_IDS = [1, 17, 42, 99, 123, 250]
PREFIX = 4                      # decode check: GOLDEN_IDS[:4] with an empty cache, then GOLDEN_IDS[4:]
GREEDY_PROMPT = [1, 17, 42, 99]
GREEDY_MAX_LENGTH = 16          # prompt included
REMOVALS = [[0], [2], [1, 2], [3]]  # first, a middle, two consecutive, last of the 4 blocks
MODELS = ("llama", "qwen2")
TOL = 1e-4

# fixture name -> (folder relative to HERE, model, precision, runs); runs: the golden runs of the fixture,
# "decode" only where the graph has a KV cache
KV_RUNS = ("prefill", "decode")
FIXTURES = {
    "dynamo-llama": ("torch-dynamo/llama", "llama", "fp32", KV_RUNS),
    "dynamo-qwen2": ("torch-dynamo/qwen2", "qwen2", "fp32", KV_RUNS),
    "dynamo-qwen2-nokv": ("torch-dynamo/qwen2-nokv", "qwen2", "fp32", ("prefill",)),
    "optimum-llama": ("optimum/llama", "llama", "fp32", KV_RUNS),
    "genai-llama-fp32": ("genai/llama/fp32", "llama", "fp32", KV_RUNS),
    "genai-llama-int4": ("genai/llama/int4", "llama", "int4", KV_RUNS),
    "genai-qwen2-int4": ("genai/qwen2/int4", "qwen2", "int4", KV_RUNS),
}
DYNAMO_NOKV_MODELS = ("qwen2",)  # torch-dynamo/<model>-nokv
# genai builds made by the genai step: (model, precision); the committed folder plus one per removal set
GENAI_BUILDS = [("llama", "fp32"), ("llama", "int4"), ("qwen2", "int4")]
DYNAMO_KEEP_NODE_METADATA = ("pkg.torch.onnx.name_scopes", "namespace")

VENVS = {  # name -> (env var, default path)
    "venv": ("MODELSURGERY_ONNX_VENV", REPO / ".venv-onnx"),
    "venv-optimum": ("MODELSURGERY_ONNX_OPTIMUM_VENV", REPO / ".venv-onnx-optimum"),
    "venv-genai": ("MODELSURGERY_ONNX_GENAI_VENV", REPO / ".venv-onnx-genai"),
}
WORK_ENV = "MODELSURGERY_ONNX_WORK"
TORCH_WHEELS = os.environ.get("MODELSURGERY_TORCH_WHEELS", "/opt/wheels")
PINS = {
    "venv": ["torch==2.13.0+cpu", "transformers==4.57.6", "tokenizers==0.22.2", "onnx==1.23.2",
             "onnxscript==0.7.2", "onnx-ir==1.1.0", "onnxruntime==1.32.0", "onnxruntime-genai==0.18.0",
             "numpy==2.4.6"],
    "venv-optimum": ["torch==2.13.0+cpu", "transformers==4.57.6", "optimum-onnx==0.1.0", "optimum==2.1.0",
                     "accelerate==1.15.0", "onnx==1.23.2", "onnxruntime==1.32.0", "numpy==2.4.6"],
    "venv-genai": ["torch==2.13.0+cpu", "transformers==5.24.0", "onnxruntime-genai==0.18.0",
                   "onnxruntime==1.32.0", "onnx==1.23.2", "onnx-ir==1.1.0", "numpy==2.4.6"],
}
VERSION_PACKAGES = ["torch", "transformers", "tokenizers", "onnx", "onnxscript", "onnx-ir", "onnxruntime",
                    "onnxruntime-genai", "optimum", "optimum-onnx", "accelerate", "numpy", "protobuf"]
STEP_VENV = {"models": "venv", "torch": "venv", "optimum": "venv-optimum", "genai": "venv-genai",
             "golden": "venv", "check": "venv"}
ALL_STEPS = ["models", "torch", "optimum", "genai", "golden", "check"]

COMMON = dict(hidden_size=64, num_hidden_layers=N_LAYERS, num_attention_heads=4, num_key_value_heads=2,
              intermediate_size=128, vocab_size=VOCAB, max_position_embeddings=128,
              rms_norm_eps=1e-6, rope_theta=10000.0, bos_token_id=1, eos_token_id=2,
              pad_token_id=0, torch_dtype="float32")


def venv_path(name):
    var, default = VENVS[name]
    return Path(os.environ.get(var) or default).absolute()


def work_dir():
    return Path(os.environ.get(WORK_ENV) or Path(tempfile.gettempdir()) / "modelsurgery-onnx-fixtures").absolute()


def rkey(removed):
    """Golden key part of a removal set: 'unpruned' for [], else the removed indices, e.g. '1,2'."""
    return ",".join(map(str, removed)) if removed else "unpruned"


def scratch_name(removed):
    # not '1,2': transformers warns about folder names that are not Python identifiers
    return "without-" + "-".join(map(str, removed)) if removed else "unpruned"


def all_removals():
    return [[]] + REMOVALS


def pruned_checkpoint(model, removed):
    """The HF folder of `model` with `removed` blocks deleted (the committed hf/<model> when none)."""
    return HF / model if not removed else work_dir() / "pruned" / model / scratch_name(removed)


def genai_reference(model, prec, removed):
    """The genai builder's output for pruned_checkpoint(model, removed)."""
    return work_dir() / "genai" / model / prec / scratch_name(removed)


def log(step, msg):
    print(f"[{step}] {msg}", flush=True)


# --------------------------------------------------------------------------- setup
def step_setup(python):
    for name, pins in PINS.items():
        venv = venv_path(name)
        py = venv / "bin" / "python"
        if not py.exists():
            subprocess.run([python, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "--find-links", TORCH_WHEELS, *pins], check=True)
        log("setup", f"{venv}: {' '.join(pins)}")


# --------------------------------------------------------------------------- models
def build_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    text = ["the quick brown fox jumps over the lazy dog",
            "a tiny decoder model prunes whole blocks",
            "onnx graphs have nodes, initializers, inputs and outputs",
            "hello world, hello swift, hello onnx runtime",
            "0123456789 +-*/=()[]{}<>.,;:!?'\" \n\t"] * 4
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, min_frequency=1, show_progress=False,
                                  special_tokens=["<|pad|>", "<|bos|>", "<|eos|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(text, trainer=trainer)
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|bos|>", eos_token="<|eos|>",
                                   pad_token="<|pad|>", model_max_length=128)


def randomize(model, seed):
    """Every parameter gets distinct, non-trivial values (norm weights ~1, biases nonzero)."""
    import torch
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            r = torch.randn(p.shape, generator=g, dtype=torch.float32)
            if "norm" in name:
                p.copy_(1.0 + 0.1 * r)
            elif name.endswith("bias"):
                p.copy_(0.1 * r)
            else:
                p.copy_(0.15 * r)


def load_hf(folder):
    import torch
    from transformers import AutoModelForCausalLM
    return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()


def prune(model, removed):
    """Delete decoder layers in place: keep the others in order, renumber their KV-cache index, cut the config."""
    import torch
    cfg = model.config
    keep = [i for i in range(cfg.num_hidden_layers) if i not in removed]
    model.model.layers = torch.nn.ModuleList([model.model.layers[i] for i in keep])
    for j, layer in enumerate(model.model.layers):
        layer.self_attn.layer_idx = j
    if getattr(cfg, "layer_types", None) is not None:
        cfg.layer_types = [cfg.layer_types[i] for i in keep]
    if getattr(cfg, "max_window_layers", None) is not None:
        cfg.max_window_layers = sum(1 for i in keep if i < cfg.max_window_layers)
    cfg.num_hidden_layers = len(keep)
    return model


def step_models():
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    torch.set_num_threads(1)
    tok = build_tokenizer()
    specs = {
        "llama": (LlamaConfig, LlamaForCausalLM, dict(tie_word_embeddings=False, attention_bias=False,
                                                       mlp_bias=False)),
        "qwen2": (Qwen2Config, Qwen2ForCausalLM, dict(tie_word_embeddings=True, use_sliding_window=False)),
    }
    for i, (name, (cfg_cls, model_cls, extra)) in enumerate(specs.items()):
        torch.manual_seed(SEED + i)
        model = model_cls(cfg_cls(**COMMON, **extra)).eval()
        randomize(model, SEED + i)
        out = HF / name
        shutil.rmtree(out, ignore_errors=True)
        model.save_pretrained(out, safe_serialization=True)
        GenerationConfig(bos_token_id=1, eos_token_id=2, pad_token_id=0, do_sample=False,
                         max_length=64).save_pretrained(out)
        tok.save_pretrained(out)
        log("models", f"{name}: {sum(p.numel() for p in model.parameters())} params -> {out.relative_to(HERE)}")

        # pruned checkpoints for the genai references (scratch)
        for removed in REMOVALS:
            dst = pruned_checkpoint(name, removed)
            shutil.rmtree(dst, ignore_errors=True)
            prune(load_hf(out), removed).save_pretrained(dst, safe_serialization=True)
            for f in out.iterdir():  # tokenizer and generation config as saved above
                if f.name not in ("config.json", "model.safetensors"):
                    shutil.copy2(f, dst / f.name)
        log("models", f"{name}: pruned checkpoints -> {pruned_checkpoint(name, [0]).parent}")


# --------------------------------------------------------------------------- torch dynamo export
def strip_node_metadata(model):
    """Keep only the node metadata a block recognizer needs; returns {key: bytes removed}."""
    from collections import Counter
    removed = Counter()

    def graphs(g):
        yield g
        for n in g.node:
            for a in n.attribute:
                if a.g.node:
                    yield from graphs(a.g)
                for sg in a.graphs:
                    yield from graphs(sg)

    nodes = [n for g in graphs(model.graph) for n in g.node] + [n for f in model.functions for n in f.node]
    for n in nodes:
        keep = [(p.key, p.value) for p in n.metadata_props if p.key in DYNAMO_KEEP_NODE_METADATA]
        for p in n.metadata_props:
            if p.key not in DYNAMO_KEEP_NODE_METADATA:
                removed[p.key] += len(p.key) + len(p.value)
        del n.metadata_props[:]
        for k, v in keep:
            n.metadata_props.add(key=k, value=v)
    return dict(removed)


def step_torch():
    import onnx
    import torch
    from transformers.cache_utils import DynamicCache

    torch.set_num_threads(1)

    class WithKV(torch.nn.Module):
        """Holds the HF submodules under their HF attribute names ("model", "lm_head") so that parameter names
        and pkg.torch.onnx.name_scopes match the checkpoint (model.layers.N...). Flat tensors in and out:
        past_key_values.N.{key,value} -> present.N.{key,value}."""

        def __init__(self, m):
            super().__init__()
            self.model, self.lm_head = m.model, m.lm_head
            self.n = m.config.num_hidden_layers

        def forward(self, input_ids, attention_mask, position_ids, *past):
            cache = DynamicCache(ddp_cache_data=[(past[2 * i], past[2 * i + 1]) for i in range(self.n)],
                                 config=self.model.config)
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                             past_key_values=cache, use_cache=True)
            flat = []
            for i in range(self.n):
                layer = out.past_key_values.layers[i]
                flat += [layer.keys, layer.values]
            return (self.lm_head(out.last_hidden_state), *flat)

    WithKV.__qualname__ = "WithKV"  # appears in the `namespace` metadata

    class NoKV(torch.nn.Module):
        """Same attribute names as WithKV; no cache: (input_ids, attention_mask) -> logits."""

        def __init__(self, m):
            super().__init__()
            self.model, self.lm_head = m.model, m.lm_head

        def forward(self, input_ids, attention_mask):
            h = self.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state
            return self.lm_head(h)

    NoKV.__qualname__ = "NoKV"
    B = torch.export.Dim("batch_size", min=1, max=64)
    S = torch.export.Dim("sequence_length", min=1, max=128)
    P = torch.export.Dim("past_sequence_length", min=0, max=127)
    T = torch.export.Dim("total_sequence_length", min=1, max=255)  # P+S is rejected, so its own Dim
    tmp = work_dir() / "torch"
    tmp.mkdir(parents=True, exist_ok=True)
    for name in MODELS:
        model = load_hf(HF / name)
        cfg = model.config
        n, kvh, hd = cfg.num_hidden_layers, cfg.num_key_value_heads, cfg.hidden_size // cfg.num_attention_heads
        past_len, seq_len = 3, 2  # example shapes; all four are dynamic
        ids = torch.tensor([[5, 6], [9, 10]])
        mask = torch.ones(2, past_len + seq_len, dtype=torch.int64)
        pos = torch.arange(past_len, past_len + seq_len).unsqueeze(0).expand(2, -1).contiguous()
        g = torch.Generator().manual_seed(0)
        past = [torch.randn(2, kvh, past_len, hd, generator=g) for _ in range(2 * n)]
        names_in = ["input_ids", "attention_mask", "position_ids"] + \
            [f"past_key_values.{i}.{kv}" for i in range(n) for kv in ("key", "value")]
        names_out = ["logits"] + [f"present.{i}.{kv}" for i in range(n) for kv in ("key", "value")]
        dyn = ({0: B, 1: S}, {0: B, 1: T}, {0: B, 1: S}, tuple({0: B, 2: P} for _ in range(2 * n)))
        t = time.time()
        prog = torch.onnx.export(WithKV(model).eval(), (ids, mask, pos, *past), dynamo=True, opset_version=18,
                                 input_names=names_in, output_names=names_out, dynamic_shapes=dyn,
                                 external_data=False, verbose=False)
        raw = tmp / f"{name}.onnx"
        prog.save(str(raw), external_data=False)
        m = onnx.load(str(raw))
        stripped = strip_node_metadata(m)
        out = HERE / "torch-dynamo" / name
        shutil.rmtree(out, ignore_errors=True)  # onnx appends to an existing external-data file
        out.mkdir(parents=True)
        if name == "llama":
            # default size_threshold=1024 keeps small constants (axes, shapes) inline; with size_threshold=0
            # onnxruntime 1.32 fails to load (ReduceMean axes stored externally)
            onnx.save_model(m, str(out / "model.onnx"), save_as_external_data=True,
                            all_tensors_to_one_file=True, location="model.onnx.data")
        else:
            onnx.save_model(m, str(out / "model.onnx"))
        onnx.checker.check_model(str(out / "model.onnx"), full_check=True)
        log("torch", f"{name}: exported in {time.time() - t:.1f}s, {raw.stat().st_size} -> "
            f"{sum(f.stat().st_size for f in out.iterdir())} bytes; stripped node metadata "
            + ", ".join(f"{k} {v}" for k, v in sorted(stripped.items())))

    # without KV cache (after the exports above, so that they do not depend on it): the mask has the length of
    # input_ids, and the position ids are made in the graph
    for name in DYNAMO_NOKV_MODELS:
        model = load_hf(HF / name)
        ids = torch.tensor([[5, 6, 7, 8], [9, 10, 11, 12]])
        mask = torch.ones_like(ids)
        t = time.time()
        prog = torch.onnx.export(NoKV(model).eval(), (ids, mask), dynamo=True, opset_version=18,
                                 input_names=["input_ids", "attention_mask"], output_names=["logits"],
                                 dynamic_shapes=({0: B, 1: S}, {0: B, 1: S}), external_data=False, verbose=False)
        raw = tmp / f"{name}-nokv.onnx"
        prog.save(str(raw), external_data=False)
        m = onnx.load(str(raw))
        stripped = strip_node_metadata(m)
        out = HERE / "torch-dynamo" / f"{name}-nokv"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        onnx.save_model(m, str(out / "model.onnx"))
        onnx.checker.check_model(str(out / "model.onnx"), full_check=True)
        log("torch", f"{name}-nokv: exported in {time.time() - t:.1f}s, {raw.stat().st_size} -> "
            f"{(out / 'model.onnx').stat().st_size} bytes; stripped node metadata "
            + ", ".join(f"{k} {v}" for k, v in sorted(stripped.items())))


# --------------------------------------------------------------------------- optimum
def step_optimum():
    from optimum.exporters.onnx import main_export
    out = HERE / "optimum" / "llama"
    shutil.rmtree(out, ignore_errors=True)
    t = time.time()
    main_export(str(HF / "llama"), output=str(out), task="text-generation-with-past", device="cpu",
                do_validation=True, local_files_only=True)
    log("optimum", f"llama exported in {time.time() - t:.1f}s")


# --------------------------------------------------------------------------- onnxruntime-genai builder
def genai_build(src, out, prec):
    cache = work_dir() / "genai-cache"
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(cache, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    # the CLI: `python -m onnxruntime_genai.models.builder --help` crashes (stray % in a help string), but
    # the options work
    cmd = [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(src), "-o", str(out),
           "-p", prec, "-e", "cpu", "-c", str(cache)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        sys.stderr.write(r.stdout + r.stderr)
        raise SystemExit(f"genai builder failed: {' '.join(cmd)}")
    shutil.rmtree(cache, ignore_errors=True)


def step_genai():
    for model, prec in GENAI_BUILDS:
        t = time.time()
        genai_build(HF / model, HERE / "genai" / model / prec, prec)
        log("genai", f"{model} {prec} built in {time.time() - t:.1f}s")
        for removed in all_removals():  # references: the builder on each pruned checkpoint
            t = time.time()
            genai_build(pruned_checkpoint(model, removed), genai_reference(model, prec, removed), prec)
            log("genai", f"{model} {prec} reference without {removed or 'none'} built in {time.time() - t:.1f}s")


# --------------------------------------------------------------------------- golden logits
def ort_session(path):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def ort_run(sess, ids, past_len=0, past=None):
    """Feed `ids` (batch 1) after `past_len` cached positions (`past`: input name -> array; None = empty cache).
    Returns (logits [len(ids), vocab], {past input name: present array})."""
    import numpy as np
    s = len(ids)
    feed = {}
    for i in sess.get_inputs():
        if i.name == "input_ids":
            feed[i.name] = np.array([ids], dtype=np.int64)
        elif i.name == "attention_mask":
            feed[i.name] = np.ones((1, past_len + s), dtype=np.int64)
        elif i.name == "position_ids":
            feed[i.name] = np.arange(past_len, past_len + s, dtype=np.int64)[None]
        elif i.name.startswith("past_key_values."):
            if past is None:  # genai declares the head dim symbolic ('kv_cache_dim'), so take the config's
                hd = COMMON["hidden_size"] // COMMON["num_attention_heads"]
                feed[i.name] = np.zeros((1, COMMON["num_key_value_heads"], 0, hd), dtype=np.float32)
            else:
                feed[i.name] = past[i.name]
        else:
            raise ValueError(f"unexpected input {i.name} {i.shape}")
    names = [o.name for o in sess.get_outputs()]
    outs = dict(zip(names, sess.run(names, feed)))
    presents = {k.replace("present.", "past_key_values.", 1): v for k, v in outs.items() if k.startswith("present.")}
    return outs["logits"][0].astype(np.float32), presents


def ort_prefill_decode(path):
    """(prefill logits [6, V] of GOLDEN_IDS, decode logits [2, V] of GOLDEN_IDS[4:] after a 4-token prefill)."""
    sess = ort_session(path)
    prefill = ort_run(sess, GOLDEN_IDS)[0]
    _, presents = ort_run(sess, GOLDEN_IDS[:PREFIX])
    decode = ort_run(sess, GOLDEN_IDS[PREFIX:], past_len=PREFIX, past=presents)[0]
    return prefill, decode


def ort_runs(path, runs):
    """{run: logits} for the fixture's runs: prefill only for a graph without KV cache."""
    if "decode" in runs:
        return dict(zip(("prefill", "decode"), ort_prefill_decode(path)))
    return {"prefill": ort_run(ort_session(path), GOLDEN_IDS)[0]}


def hf_prefill_decode(model):
    """Same two runs with transformers; the decode run goes through its DynamicCache."""
    import torch
    from transformers.cache_utils import DynamicCache
    with torch.no_grad():
        ids = torch.tensor([GOLDEN_IDS])
        prefill = model(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=False).logits[0]
        cache = DynamicCache()
        out = model(input_ids=ids[:, :PREFIX], attention_mask=torch.ones(1, PREFIX, dtype=torch.int64),
                    past_key_values=cache, use_cache=True)
        decode = model(input_ids=ids[:, PREFIX:], attention_mask=torch.ones(1, len(GOLDEN_IDS), dtype=torch.int64),
                       past_key_values=out.past_key_values, use_cache=True).logits[0]
    return prefill.numpy().astype("float32"), decode.numpy().astype("float32")


def hf_greedy(model):
    import torch
    with torch.no_grad():
        ids = torch.tensor([GREEDY_PROMPT])
        seq = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_length=GREEDY_MAX_LENGTH,
                             do_sample=False, eos_token_id=2, pad_token_id=0)
    return seq[0].tolist()


def genai_greedy(folder):
    import numpy as np
    import onnxruntime_genai as og
    model = og.Model(str(folder))
    params = og.GeneratorParams(model)
    params.set_search_options(max_length=GREEDY_MAX_LENGTH, do_sample=False)
    gen = og.Generator(model, params)
    gen.append_tokens(np.array([GREEDY_PROMPT], dtype=np.int32))
    while not gen.is_done():
        gen.generate_next_token()
    return [int(x) for x in gen.get_sequence(0)]


def int4_weights_match(fixture_dir, build_dir, removed):
    """True when every initializer of the pruned build equals the fixture's initializer of the same block
    (block j of the build is block keep[j] of the fixture; the final norm is named after the layer count)."""
    import re

    import onnx
    from onnx import numpy_helper
    keep = [i for i in range(N_LAYERS) if i not in removed]
    full = {t.name: numpy_helper.to_array(t, base_dir=str(fixture_dir))
            for t in onnx.load(str(fixture_dir / "model.onnx"), load_external_data=False).graph.initializer}
    bad = []
    for t in onnx.load(str(build_dir / "model.onnx"), load_external_data=False).graph.initializer:
        def rename(mm):
            j = int(mm.group(1))
            return f"model.layers.{keep[j] if j < len(keep) else N_LAYERS}."
        name = re.sub(r"^model\.layers\.(\d+)\.", rename, t.name)
        a = numpy_helper.to_array(t, base_dir=str(build_dir))
        if name not in full or full[name].shape != a.shape or full[name].dtype != a.dtype \
                or not (full[name] == a).all():
            bad.append(t.name)
    return bad


def maxdiff(a, b):
    import numpy as np
    return float(f"{float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max()):.3g}")


def venv_versions():
    code = ("import importlib.metadata as m, json, sys\n"
            f"v = {{'python': sys.version.split()[0]}}\n"
            f"for p in {VERSION_PACKAGES!r}:\n"
            "    try: v[p] = m.version(p)\n"
            "    except m.PackageNotFoundError: pass\n"
            "print(json.dumps(v))")
    out = {}
    for name in VENVS:
        py = venv_path(name) / "bin" / "python"
        try:
            out[name] = json.loads(subprocess.run([str(py), "-c", code], capture_output=True, text=True,
                                                  check=True).stdout)
        except Exception as e:  # recorded, not fatal
            out[name] = {"error": f"{type(e).__name__}: {e}"[:200]}
    return out


def save_npz(path, arrays):
    """np.savez without timestamps (ZIP_STORED, fixed date): byte-identical on every run, easy to parse."""
    import numpy as np
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        for key in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arrays[key], dtype="<f4"), allow_pickle=False)
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            z.writestr(info, buf.getvalue())


def step_golden():
    import numpy as np
    import torch
    torch.set_num_threads(1)
    arrays, t0 = {}, time.time()

    # transformers references: the HF model with the blocks deleted in memory
    hf_ref, hf_tokens, reload_ok = {}, {}, {}
    for model in MODELS:
        for removed in all_removals():
            m = prune(load_hf(HF / model), removed)
            hf_ref[model, rkey(removed)] = hf_prefill_decode(m)
            hf_tokens[model, rkey(removed)] = hf_greedy(m)
            if removed:  # the saved pruned checkpoint (input of the genai references) gives the same logits
                again = hf_prefill_decode(load_hf(pruned_checkpoint(model, removed)))
                reload_ok[model, rkey(removed)] = all((a == b).all() for a, b in zip(again, hf_ref[model, rkey(removed)]))
    log("golden", f"transformers references in {time.time() - t0:.1f}s")

    fixtures, genai_tokens = {}, {}
    for fx, (folder, model, prec, runs) in FIXTURES.items():
        t = time.time()
        path = HERE / folder / "model.onnx"
        entry = {"path": folder + "/model.onnx", "model": model, "precision": prec, "runs": list(runs),
                 "references": {}}
        for removed in all_removals():
            rk = rkey(removed)
            if prec == "fp32":
                prefill, decode = hf_ref[model, rk]
                how = "transformers"
            else:
                ref_dir = genai_reference(model, prec, removed)
                prefill, decode = ort_prefill_decode(ref_dir / "model.onnx")
                how = "onnxruntime on the genai int4 build of the pruned checkpoint"
                bad = int4_weights_match(HERE / folder, ref_dir, removed)
                entry["references"][rk] = {"int4_weights_equal_fixture_blocks": not bad}
                if bad:
                    entry["references"][rk]["int4_weights_differ"] = bad[:10]
            arrays[f"{fx}/prefill/{rk}"] = prefill
            if "decode" in runs:
                arrays[f"{fx}/decode/{rk}"] = decode
            entry["references"].setdefault(rk, {})["made_by"] = how
            entry["references"][rk]["argmax_prefill"] = prefill.argmax(-1).tolist()
            if "decode" in runs:
                entry["references"][rk]["decode_vs_prefill_max_abs_diff"] = maxdiff(decode, prefill[PREFIX:])
        # sanity: the committed (unpruned) fixture under onnxruntime vs its unpruned reference
        got = ort_runs(path, runs)
        entry["sanity_unpruned_max_abs_diff"] = {
            run: maxdiff(got[run], arrays[f"{fx}/{run}/unpruned"]) for run in runs}
        if prec == "int4":  # information only: 4-bit round-to-nearest of N(0, 0.15) weights
            entry["int4_vs_transformers_unpruned_max_abs_diff"] = maxdiff(got["prefill"],
                                                                         hf_ref[model, "unpruned"][0])
        if fx.startswith("genai-"):
            toks = {}
            for removed in all_removals():
                toks[rkey(removed)] = genai_greedy(genai_reference(model, prec, removed))
            genai_tokens[fx] = toks
            entry["sanity_unpruned_greedy_equal"] = genai_greedy(HERE / folder) == toks["unpruned"]
            if prec == "fp32":
                # genai stops at EOS without appending it; transformers appends it
                entry["greedy_equal_transformers"] = {
                    rk: toks[rk] == [x for x in hf_tokens[model, rk] if x != COMMON["eos_token_id"]] for rk in toks}
        fixtures[fx] = entry
        log("golden", f"{fx}: sanity {entry['sanity_unpruned_max_abs_diff']} ({time.time() - t:.1f}s)")

    save_npz(HERE / "golden.npz", arrays)
    result = {
        "input_ids": GOLDEN_IDS,
        "removals": REMOVALS,
        "kept_layers": {rkey(r): [i for i in range(N_LAYERS) if i not in r] for r in all_removals()},
        "npz": {
            "file": "golden.npz (uncompressed zip of .npy, little-endian float32, C order)",
            "runs": "fixtures[<fixture>].runs lists the runs that have keys: ['prefill', 'decode'], or ['prefill'] "
                    "for a graph without KV cache (dynamo-qwen2-nokv: no decode keys)",
            "keys": "<fixture>/prefill/<R> [6, 320]: logits of input_ids (attention_mask all ones, position_ids "
                    "0..5, empty KV cache); <fixture>/decode/<R> [2, 320]: logits of input_ids[4:6] fed after a "
                    "prefill of input_ids[:4] from an empty cache, with the 4-position KV it returned "
                    "(attention_mask ones of length 6, position_ids 4..5); <R> = removed blocks joined by ',' "
                    "(e.g. '1,2') or 'unpruned'",
        },
        "references": {
            "fp32": "transformers (venv) float32, one thread: the HF model of hf/<model> with the removed entries "
                    "deleted from model.model.layers, each kept layer's self_attn.layer_idx renumbered, "
                    "config.num_hidden_layers (and layer_types) cut; the decode run feeds its DynamicCache",
            "int4": "the onnxruntime-genai builder (venv-genai, -p int4 -e cpu) run on that pruned model saved with "
                    "save_pretrained; logits from onnxruntime (CPU, one thread) on the build. Quantization is "
                    "per tensor, so each kept block's int4 weights equal the fixture's "
                    "(int4_weights_equal_fixture_blocks)",
            "genai_greedy_tokens": "onnxruntime-genai's og.Model/og.Generator, greedy (do_sample false), "
                                   f"max_length {GREEDY_MAX_LENGTH}, prompt {GREEDY_PROMPT}, on the genai builder's "
                                   "output (same precision as the fixture) for the pruned checkpoint; the "
                                   "sequence includes the prompt and ends before EOS (2) when EOS is generated "
                                   "(transformers_greedy_tokens include it)",
        },
        "genai_greedy_prompt": GREEDY_PROMPT,
        "genai_greedy_tokens": genai_tokens,
        "transformers_greedy_tokens": {f"{m}/{rk}": v for (m, rk), v in hf_tokens.items()},
        "pruned_checkpoint_reload_identical": {f"{m}/{rk}": v for (m, rk), v in reload_ok.items()},
        "fixtures": fixtures,
        "versions": venv_versions(),
    }
    (HERE / "golden.json").write_text(json.dumps(result, indent=1) + "\n")
    log("golden", f"wrote golden.npz ({len(arrays)} arrays) and golden.json in {time.time() - t0:.1f}s")


# --------------------------------------------------------------------------- check (committed files only)
def step_check():
    import numpy as np
    import onnx
    golden = json.loads((HERE / "golden.json").read_text())
    arrays = np.load(HERE / "golden.npz")
    failures = []
    for fx, (folder, model, prec, runs) in FIXTURES.items():
        t = time.time()
        path = HERE / folder / "model.onnx"
        try:
            got = ort_runs(path, runs)
            d = {run: maxdiff(got[run], arrays[f"{fx}/{run}/unpruned"]) for run in runs}
            ok = max(d.values()) <= TOL
            msg = f"onnxruntime vs golden unpruned: {d}"
            if golden["fixtures"][fx]["runs"] != list(runs):
                ok, msg = False, msg + f"; golden.json runs {golden['fixtures'][fx]['runs']}"
            for r in all_removals():
                for kind, rows in (("prefill", len(GOLDEN_IDS)), ("decode", len(GOLDEN_IDS) - PREFIX)):
                    key = f"{fx}/{kind}/{rkey(r)}"
                    if kind not in runs:
                        if key in arrays.files:
                            ok, msg = False, msg + f"; unexpected {key}"
                    elif arrays[key].shape != (rows, VOCAB):
                        ok, msg = False, msg + f"; bad shape {key}"
            if "decode" not in runs:  # really a graph without KV cache
                m = onnx.load(str(path), load_external_data=False)
                names = ([i.name for i in m.graph.input], [o.name for o in m.graph.output])
                if names != (["input_ids", "attention_mask"], ["logits"]):
                    ok, msg = False, msg + f"; inputs/outputs {names}"
            if fx.startswith("dynamo-"):
                m = onnx.load(str(path), load_external_data=False)
                keys = {p.key for n in m.graph.node for p in n.metadata_props}
                if keys != set(DYNAMO_KEEP_NODE_METADATA):
                    ok, msg = False, msg + f"; node metadata keys {sorted(keys)}"
            if fx.startswith("genai-"):
                toks = genai_greedy(HERE / folder)
                same = toks == golden["genai_greedy_tokens"][fx]["unpruned"]
                ok, msg = ok and same, msg + f"; genai greedy {'matches' if same else 'DIFFERS: ' + str(toks)}"
        except Exception as e:
            ok, msg = False, f"{type(e).__name__}: {e}"
        log("check", f"{fx}: {'ok' if ok else 'FAIL'} {msg} ({time.time() - t:.1f}s)")
        if not ok:
            failures.append(fx)
    if failures:
        raise SystemExit(f"check failed: {failures}")


# --------------------------------------------------------------------------- driver
STEPS = {"models": step_models, "torch": step_torch, "optimum": step_optimum, "genai": step_genai,
         "golden": step_golden, "check": step_check}


def run_step(step):
    """Run `step` here if this interpreter is its venv's, else under that venv's python."""
    venv = venv_path(STEP_VENV[step])
    if Path(sys.prefix).resolve() == venv.resolve():
        STEPS[step]()
        return
    py = venv / "bin" / "python"
    if not py.exists():
        raise SystemExit(f"{py} not found: run `generate.py setup` or point {VENVS[STEP_VENV[step]][0]} at the venv")
    subprocess.run([str(py), str(Path(__file__).resolve()), step], check=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("step", choices=["setup", "all", *STEPS])
    ap.add_argument("--venv", help=f"venv for models/torch/golden/check (env {VENVS['venv'][0]})")
    ap.add_argument("--venv-optimum", help=f"venv for optimum (env {VENVS['venv-optimum'][0]})")
    ap.add_argument("--venv-genai", help=f"venv for genai (env {VENVS['venv-genai'][0]})")
    ap.add_argument("--work", help=f"scratch folder (env {WORK_ENV})")
    ap.add_argument("--python", default=sys.executable, help="base interpreter for `setup` (Python 3.11)")
    a = ap.parse_args()
    # arguments become environment variables, which the steps' subprocesses inherit
    for opt, name in (("venv", "venv"), ("venv_optimum", "venv-optimum"), ("venv_genai", "venv-genai")):
        if getattr(a, opt):
            os.environ[VENVS[name][0]] = str(Path(getattr(a, opt)).absolute())
    if a.work:
        os.environ[WORK_ENV] = str(Path(a.work).absolute())
    if a.step == "setup":
        step_setup(a.python)
    elif a.step == "all":
        total = time.time()
        for sub in ("pruned", "torch", "genai", "genai-cache"):  # only what the steps write there
            shutil.rmtree(work_dir() / sub, ignore_errors=True)
        for s in ALL_STEPS:
            t = time.time()
            run_step(s)
            print(f"== step {s} ({STEP_VENV[s]}) took {time.time() - t:.1f}s", flush=True)
        print(f"== all took {time.time() - total:.1f}s")
    else:
        run_step(a.step)


if __name__ == "__main__":
    main()
