#!/usr/bin/env python3
"""Hugging Face folder fixtures written by transformers, their golden logits, and llama.cpp's own GGUF conversions.

Writes under TestModels/hf/ (see README.md there):
  tiny-llama-hf/    LlamaForCausalLM, float32, untied output, byte-level BPE tokenizer (Llama 3 pre-tokenizer)
  tiny-qwen2-hf/    Qwen2ForCausalLM, float32, tied embeddings, QKV bias, sharded (index + 3 shards),
                    byte-level BPE tokenizer (Qwen2 pre-tokenizer, NFC)
  tiny-gemma3-hf/   Gemma3ForCausalLM (Gemma3TextConfig), bfloat16, sliding window 4 on 5 of 6 layers,
                    SentencePiece BPE with byte fallback (tokenizer.model) and the tokenizer.json transformers
                    converts from it (BPE, byte_fallback, '▁' for spaces), as Gemma 3 repositories ship
  golden.json       logits of each model, whole and with blocks 1 and 2 removed, for fixed token ids
  expected.json     what the reference readers see in each folder: config fields, every tensor's name, dtype,
                    shape and sha256 (safetensors' own reader), tokenizer ids of test strings
  *.gguf            each folder converted by llama.cpp's convert_hf_to_gguf.py (--llama-cpp DIR: the
                    vendor/llama.cpp of the llama-cpp-python sdist; make hf-fixtures fetches it)

Deterministic: fixed seeds, one thread. Run: make hf-fixtures
(or .venv-hf/bin/python TestModels/hf/generate_hf.py --llama-cpp <llama.cpp source dir>)
"""
import argparse
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import numpy as np
import safetensors
import sentencepiece as spm
import tokenizers
import torch
import transformers
from tokenizers import Regex, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import (AutoModelForCausalLM, Gemma3ForCausalLM, Gemma3TextConfig, GemmaTokenizerFast,
                          LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM)

from compact_json import compact_json

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CORPUS = ROOT / "data/held-out.txt"
REMOVED = [1, 2]
WEIGHT_STD = 0.1          # larger than transformers' 0.02 so that every block changes the logits measurably
GOLDEN_TEXT = "The keeper wrote down the weather every 4 hours: 1868, café, 日本 🚀 — twice as much!"
TEST_STRINGS = [
    "Hello world",
    " leading space and  two   three spaces",
    "tabs\tand\nnew\n\nlines\r\n end",
    "digits 0 12 345 6789 3.14159 1,000,000",
    "unicode: café naïve Ünïcödé Ελληνικά кириллица 日本語 한국어 🚀🦙",
    "can't won't I'm they're we'll",
    "",
]
SAMPLED_IDS = 12
SEQUENCE_LEN = 12

# Pre-tokenizer regexes exactly as in Llama 3's and Qwen2's tokenizer.json, so that llama.cpp's `llama-bpe` and
# `qwen2` pre-tokenizers split text the same way.
LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")
CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
          "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
GEMMA_TEMPLATE = ("{{ bos_token }}{% for message in messages %}{% set role = 'model' if message['role'] == "
                  "'assistant' else message['role'] %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim "
                  "+ '<end_of_turn>\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}"
                  "{% endif %}")


# ---------------------------------------------------------------------------------------------- tokenizers

def corpus_lines() -> list[str]:
    return [line for line in CORPUS.read_text().splitlines() if line.strip()]


def byte_level_bpe(split_regex: str, specials: list[str], vocab_size: int, nfc: bool) -> tokenizers.Tokenizer:
    """A byte-level BPE trained on the corpus, with a GPT-2 style byte alphabet and the given split regex."""
    tok = tokenizers.Tokenizer(models.BPE(ignore_merges=False))
    if nfc:
        tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(split_regex), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), min_frequency=2)
    tok.train_from_iterator(corpus_lines(), trainer=trainer)
    return tok


def llama_tokenizer(out: Path) -> PreTrainedTokenizerFast:
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
    tok = byte_level_bpe(LLAMA3_SPLIT, [], 360, nfc=False)
    tok.add_special_tokens(specials)          # after the learned vocabulary, as in Llama 3
    bos = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|> $B:1",
                                      special_tokens=[("<|begin_of_text|>", bos)]),
    ])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|begin_of_text|>", eos_token="<|end_of_text|>",
                                   clean_up_tokenization_spaces=True, model_max_length=512)
    fast.save_pretrained(out)
    return fast


def qwen2_tokenizer(out: Path) -> PreTrainedTokenizerFast:
    tok = byte_level_bpe(QWEN2_SPLIT, [], 360, nfc=True)
    tok.add_special_tokens(["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   clean_up_tokenization_spaces=False, model_max_length=512,
                                   chat_template=CHATML)
    fast.save_pretrained(out)
    return fast


def gemma_tokenizer(out: Path) -> GemmaTokenizerFast:
    """SentencePiece BPE with byte fallback, Gemma's special ids (pad 0, eos 1, bos 2, unk 3), no dummy prefix."""
    model = io.BytesIO()    # trained from an iterator into memory: no file paths recorded in the trainer spec
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus_lines()), model_writer=model, model_type="bpe", vocab_size=400,
        byte_fallback=True, split_digits=True, add_dummy_prefix=False, remove_extra_whitespaces=False,
        normalization_rule_name="identity", allow_whitespace_only_pieces=True, character_coverage=1.0,
        pad_id=0, eos_id=1, bos_id=2, unk_id=3, pad_piece="<pad>", eos_piece="<eos>", bos_piece="<bos>",
        unk_piece="<unk>", control_symbols=["<start_of_turn>", "<end_of_turn>"], num_threads=1, minloglevel=2)
    (out / "tokenizer.model").write_bytes(model.getvalue())
    fast = GemmaTokenizerFast(vocab_file=str(out / "tokenizer.model"), add_bos_token=True, add_eos_token=False,
                              clean_up_tokenization_spaces=False, model_max_length=512, chat_template=GEMMA_TEMPLATE)
    fast.save_pretrained(out)
    return fast


# ---------------------------------------------------------------------------------------------- models

def randomize(model: torch.nn.Module, seed: int, norm_base: float) -> None:
    """Every parameter from N(0, WEIGHT_STD); norm weights around norm_base (1 for llama/qwen2, 0 for Gemma)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32) * WEIGHT_STD
            p.copy_((noise + norm_base if "norm" in name else noise).to(p.dtype))


def llama_model(tok) -> LlamaForCausalLM:
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=4,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, rms_norm_eps=1e-5,
                      rope_theta=500000.0, tie_word_embeddings=False, bos_token_id=tok.bos_token_id,
                      eos_token_id=tok.eos_token_id, torch_dtype="float32", attn_implementation="eager")
    model = LlamaForCausalLM(cfg)
    randomize(model, 1, 1.0)
    return model


def qwen2_model(tok) -> Qwen2ForCausalLM:
    cfg = Qwen2Config(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=4,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, rms_norm_eps=1e-6,
                      rope_theta=1000000.0, tie_word_embeddings=True, use_sliding_window=False, max_window_layers=4,
                      bos_token_id=tok.convert_tokens_to_ids("<|endoftext|>"), eos_token_id=tok.eos_token_id,
                      torch_dtype="float32", attn_implementation="eager")
    model = Qwen2ForCausalLM(cfg)
    randomize(model, 2, 1.0)
    return model


def gemma3_model(tok) -> Gemma3ForCausalLM:
    # Six layers with the default period of 6: five sliding, the last full (llama.cpp's converter does not write
    # the pattern for gemma3, and llama.cpp assumes this period). query_pre_attn_scalar = head_dim as in the
    # small Gemma 3 models (llama.cpp scales by 1/sqrt(head_dim)).
    cfg = Gemma3TextConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=6,
                           num_attention_heads=4, num_key_value_heads=2, head_dim=8, query_pre_attn_scalar=8,
                           max_position_embeddings=512, rms_norm_eps=1e-6, rope_theta=1000000.0,
                           rope_local_base_freq=10000.0, sliding_window=4, sliding_window_pattern=6,
                           final_logit_softcapping=None, attn_logit_softcapping=None, tie_word_embeddings=True,
                           pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                           eos_token_id=tok.eos_token_id, torch_dtype="bfloat16", attn_implementation="eager")
    assert set(cfg.layer_types) == {"sliding_attention", "full_attention"}
    model = Gemma3ForCausalLM(cfg)
    randomize(model, 3, 0.0)
    return model.to(torch.bfloat16)


def pruned(model, removed: list[int]):
    """The same model without the blocks in `removed`: layers renumbered, num_hidden_layers and layer_types cut."""
    cfg = model.config.__class__.from_dict(model.config.to_dict())
    kept = [i for i in range(cfg.num_hidden_layers) if i not in removed]
    cfg.num_hidden_layers = len(kept)
    if getattr(cfg, "layer_types", None) is not None:
        cfg.layer_types = [cfg.layer_types[i] for i in kept]
    if getattr(cfg, "max_window_layers", None) is not None:
        cfg.max_window_layers = sum(1 for i in kept if i < cfg.max_window_layers)   # the kept bottom layers
    cfg._attn_implementation = "eager"
    # from_config builds the model as from_pretrained does (buffers such as inv_freq and embed_scale included)
    out = AutoModelForCausalLM.from_config(cfg, dtype=model.dtype, attn_implementation="eager")
    state = {}
    for name, t in model.state_dict().items():
        parts = name.split(".")
        if len(parts) > 2 and parts[1] == "layers":
            old = int(parts[2])
            if old in removed:
                continue
            parts[2] = str(kept.index(old))
        state[".".join(parts)] = t
    out.load_state_dict(state, strict=True)
    return out.eval()


@torch.no_grad()
def logits(model, ids: list[int]) -> np.ndarray:
    out = model(input_ids=torch.tensor([ids]), use_cache=False).logits[0]
    return out.float().numpy().astype(np.float64)


def log_sum_exp(row: np.ndarray) -> float:
    top = row.max()
    return float(top + np.log(np.exp(row - top).sum()))


def logits_record(rows: np.ndarray, sample: list[int]) -> dict:
    positions = []
    for row in rows:
        top = np.argsort(-row, kind="stable")[:5].tolist()
        ids = sorted(set(sample) | set(top))
        positions.append({"ids": ids, "logits": [round(float(row[i]), 6) for i in ids],
                          "logSumExp": round(log_sum_exp(row), 6), "top": top})
    return {"positions": positions, "spread": round(float(rows.max() - rows.min()), 6)}


# ---------------------------------------------------------------------------------------------- records

def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tensor_view(folder: Path) -> dict:
    """Every safetensors file as safetensors' own reader sees it (numpy reader; bfloat16 through torch)."""
    files = {}
    for path in sorted(folder.glob("*.safetensors")):
        with safetensors.safe_open(str(path), framework="pt") as f:
            meta = f.metadata()
            tensors = {}
            for name in f.keys():          # file order is sorted by name; keep the reader's order
                t = f.get_tensor(name)
                raw = t.contiguous().view(torch.uint8).numpy().tobytes()
                tensors[name] = {"dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape),
                                 "sha256": sha256_hex(raw), "nbytes": len(raw)}
        header_len = int.from_bytes(path.read_bytes()[:8], "little")
        files[path.name] = {"metadata": meta, "headerLength": header_len, "fileSha256": sha256_hex(path.read_bytes()),
                            "tensors": tensors}
    index = folder / "model.safetensors.index.json"
    return {"files": files, "index": json.loads(index.read_text()) if index.exists() else None}


CONFIG_FIELDS = ["architectures", "model_type", "num_hidden_layers", "hidden_size", "intermediate_size",
                 "num_attention_heads", "num_key_value_heads", "head_dim", "vocab_size", "tie_word_embeddings",
                 "layer_types", "sliding_window", "max_window_layers", "use_sliding_window", "rope_theta",
                 "rope_local_base_freq", "query_pre_attn_scalar", "rms_norm_eps", "torch_dtype", "dtype",
                 "bos_token_id", "eos_token_id", "pad_token_id", "attention_bias"]


def config_view(folder: Path) -> dict:
    cfg = json.loads((folder / "config.json").read_text())
    return {k: cfg[k] for k in CONFIG_FIELDS if k in cfg}


def tokenizer_view(tok, model_name: str) -> dict:
    strings = []
    for s in TEST_STRINGS:
        ids = tok(s)["input_ids"]
        strings.append({"text": s, "ids": ids, "idsNoSpecial": tok(s, add_special_tokens=False)["input_ids"],
                        "tokens": tok.convert_ids_to_tokens(ids), "decoded": tok.decode(ids, skip_special_tokens=True)})
    specials = {k: {"token": getattr(tok, k), "id": getattr(tok, k + "_id")}
                for k in ["bos_token", "eos_token", "pad_token", "unk_token"] if getattr(tok, k) is not None}
    return {"size": len(tok), "special": specials, "strings": strings}


# ---------------------------------------------------------------------------------------------- GGUF

CONVERT_WRAPPER = """
import sys
from pathlib import Path
src, pre = Path(sys.argv[1]), sys.argv[2]
sys.path.insert(0, str(src / "gguf-py"))
sys.path.insert(0, str(src))
import conversion.base
if pre != "-":
    # Our trained vocabularies are new to llama.cpp's table of pre-tokenizer hashes; the split regexes are exactly
    # Llama 3's / Qwen2's, so name llama.cpp's pre-tokenizer for them instead of the hash lookup.
    conversion.base.TextModel.get_vocab_base_pre = lambda self, tokenizer: pre
sys.argv = ["convert_hf_to_gguf.py"] + sys.argv[3:]
import convert_hf_to_gguf
convert_hf_to_gguf.main()
"""


def convert(src: Path, folder: Path, out: Path, outtype: str, pre: str) -> None:
    subprocess.run([sys.executable, "-c", CONVERT_WRAPPER, str(src), pre, str(folder), "--outfile", str(out),
                    "--outtype", outtype], check=True, stdout=subprocess.DEVNULL)


# ---------------------------------------------------------------------------------------------- main

MODELS = {
    # name: (tokenizer builder, model builder, safetensors shard size, GGUF outtypes, llama.cpp pre-tokenizer)
    "tiny-llama-hf": (llama_tokenizer, llama_model, None, ["f32", "q8_0"], "llama-bpe"),
    "tiny-qwen2-hf": (qwen2_tokenizer, qwen2_model, "100KB", ["f32"], "qwen2"),
    "tiny-gemma3-hf": (gemma_tokenizer, gemma3_model, None, ["bf16"], "-"),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--llama-cpp", type=Path, help="llama.cpp source (convert_hf_to_gguf.py, gguf-py); "
                    "without it the GGUF files are left as they are")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)

    golden = {"_about": "Logits of transformers (eager attention, float32 compute) for "
                        "fixed token ids: whole models and with blocks 1 and 2 removed. See README.md.",
              "transformers": transformers.__version__, "torch": torch.__version__, "removed": REMOVED,
              "text": GOLDEN_TEXT, "models": {}}
    expected = {"_about": "What the reference readers see in each Hugging Face folder. See README.md.",
                "transformers": transformers.__version__, "safetensors": safetensors.__version__,
                "tokenizers": tokenizers.__version__, "folders": {}}

    for name, (make_tok, make_model, shard, outtypes, pre) in MODELS.items():
        folder = HERE / name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        tok = make_tok(folder)
        model = make_model(tok).eval()
        model.generation_config.do_sample = False
        kwargs = {"max_shard_size": shard} if shard else {}
        model.save_pretrained(folder, safe_serialization=True, **kwargs)

        # The saved folder reloaded is the reference (AutoModel + AutoTokenizer, as a user would load it).
        tok = transformers.AutoTokenizer.from_pretrained(folder)
        # Computed in float32 whatever the stored dtype (bfloat16 weights widen exactly), as llama.cpp and our
        # engine compute.
        stored = str(model.dtype).replace("torch.", "")
        model = AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager",
                                                     dtype=torch.float32).eval()
        rng = np.random.default_rng(len(name))
        n_special = len(tok.all_special_ids)
        sequences = [{"name": f"random-{k}", "ids": rng.integers(n_special + 4, len(tok) - 8, SEQUENCE_LEN).tolist()}
                     for k in range(2)]
        sequences.append({"name": "text", "text": GOLDEN_TEXT, "ids": tok(GOLDEN_TEXT)["input_ids"]})
        sample = sorted(rng.choice(len(tok), size=SAMPLED_IDS, replace=False).tolist())

        small = pruned(model, REMOVED)
        with tempfile.TemporaryDirectory() as tmp:
            small.save_pretrained(tmp, safe_serialization=True)
            reloaded = AutoModelForCausalLM.from_pretrained(tmp, attn_implementation="eager",
                                                            dtype=model.dtype).eval()
            pruned_cfg = json.loads((Path(tmp) / "config.json").read_text())
            pruned_names = sorted(safetensors.safe_open(str(Path(tmp) / "model.safetensors"), "pt").keys())

        record = {"storedDtype": stored, "computeDtype": "float32", "sample": sample, "sequences": []}
        for seq in sequences:
            whole, cut = logits(model, seq["ids"]), logits(small, seq["ids"])
            again = logits(reloaded, seq["ids"])
            assert np.array_equal(cut, again), f"{name}: pruned model reloaded gives different logits"
            assert np.abs(whole - cut).max() > 0.05, f"{name}: removing blocks barely changes the logits"
            record["sequences"].append({**seq, "whole": logits_record(whole, sample),
                                        "pruned": logits_record(cut, sample)})
        record["pruned"] = {"num_hidden_layers": pruned_cfg["num_hidden_layers"],
                            "layer_types": pruned_cfg.get("layer_types"),
                            "max_window_layers": pruned_cfg.get("max_window_layers"),
                            "tensorNames": pruned_names,
                            "reloadedLogitsIdentical": True}
        golden["models"][name] = record

        expected["folders"][name] = {"config": config_view(folder), "files": sorted(p.name for p in folder.iterdir()),
                                     "safetensors": tensor_view(folder), "tokenizer": tokenizer_view(tok, name),
                                     "gguf": [f"{name}.{t}.gguf" for t in outtypes],
                                     "llamaCppPreTokenizer": None if pre == "-" else pre}
        if args.llama_cpp:
            for t in outtypes:
                convert(args.llama_cpp, folder, HERE / f"{name}.{t}.gguf", t, pre)
        print(f"{name}: {sum(p.stat().st_size for p in folder.iterdir())} bytes in the folder", flush=True)

    (HERE / "golden.json").write_text(compact_json(golden) + "\n")
    (HERE / "expected.json").write_text(compact_json(expected) + "\n")


if __name__ == "__main__":
    main()
