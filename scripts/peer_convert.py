#!/usr/bin/env python3
"""The peer for `make bench`'s conversion part: the same jobs as `modelsurgery convert`/`prune` on a
Hugging Face folder, done with the gguf and safetensors Python packages and numpy.

  gguf-to-folder IN.gguf OUT/      dequantize (gguf.quants), undo llama.cpp's Q/K permutation, save F32
  folder-to-gguf IN/ OUT.gguf      load F32, permute Q/K, write GGUF (the source GGUF's key/values copied)
  prune-folder IN/ OUT/ A-B        drop blocks A..B, renumber, save, update config.json

Every tensor passes through memory as numpy arrays, as a script written with these libraries would do it.
"""
import json
import re
import shutil
import sys
from pathlib import Path

import gguf
import numpy as np
from gguf import quants
from safetensors.numpy import load_file, save_file

NAMES = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
         "output.weight": "lm_head.weight"}
ROLES = {"attn_norm": "input_layernorm", "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
         "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj", "ffn_norm": "post_attention_layernorm",
         "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}
BLOCK = re.compile(r"^blk\.(\d+)\.(\w+)\.(weight|bias)$")


def permute(w: np.ndarray, heads: int, to_adjacent: bool) -> np.ndarray:
    half = w.shape[0] // heads // 2
    if to_adjacent:
        return w.reshape(heads, 2, half, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)
    return w.reshape(heads, half, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def gguf_to_folder(src: str, dst: str) -> None:
    reader = gguf.GGUFReader(src)
    field = lambda key: reader.get_field(key).contents()
    heads, kv_heads = field("llama.attention.head_count"), field("llama.attention.head_count_kv")
    tensors = {}
    for t in reader.tensors:
        values = quants.dequantize(t.data, t.tensor_type).astype(np.float32).reshape(tuple(reversed(t.shape.tolist())))
        match = BLOCK.match(t.name)
        if match:
            block, role, kind = match.groups()
            if role in ("attn_q", "attn_k"):
                values = permute(values, heads if role == "attn_q" else kv_heads, to_adjacent=False)
            name = f"model.layers.{block}.{ROLES[role]}.{kind}"
        else:
            name = NAMES[t.name]
        tensors[name] = np.ascontiguousarray(values)
    Path(dst).mkdir(exist_ok=True)
    save_file(tensors, f"{dst}/model.safetensors", metadata={"format": "pt"})
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama",
              "num_hidden_layers": field("llama.block_count"), "num_attention_heads": heads,
              "num_key_value_heads": kv_heads, "hidden_size": field("llama.embedding_length")}
    Path(f"{dst}/config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def folder_to_gguf(src: str, dst: str, template: str) -> None:
    config = json.loads(Path(f"{src}/config.json").read_text())
    heads, kv_heads = config["num_attention_heads"], config["num_key_value_heads"]
    reverse_roles = {v: k for k, v in ROLES.items()}
    reverse_names = {v: k for k, v in NAMES.items()}
    tensors = load_file(f"{src}/model.safetensors")
    source = gguf.GGUFReader(template)
    writer = gguf.GGUFWriter(dst, "llama")
    for field in source.fields.values():  # metadata as the original GGUF has it
        if field.name.startswith("GGUF.") or field.name == "general.architecture":
            continue
        value_type = field.types[0]
        sub_type = field.types[-1] if value_type == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), value_type, sub_type=sub_type)
    for name, values in tensors.items():
        match = re.match(r"^model\.layers\.(\d+)\.(.+)\.(weight|bias)$", name)
        if match:
            block, role, kind = match.groups()
            role = reverse_roles[role]
            if role in ("attn_q", "attn_k"):
                values = permute(values, heads if role == "attn_q" else kv_heads, to_adjacent=True)
            name = f"blk.{block}.{role}.{kind}"
        else:
            name = reverse_names[name]
        writer.add_tensor(name, np.ascontiguousarray(values))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def prune_folder(src: str, dst: str, layers: str) -> None:
    first, _, last = layers.partition("-")
    removed = set(range(int(first), int(last or first) + 1))
    config = json.loads(Path(f"{src}/config.json").read_text())
    kept = [i for i in range(config["num_hidden_layers"]) if i not in removed]
    new_index = {old: new for new, old in enumerate(kept)}
    tensors = {}
    for name, values in load_file(f"{src}/model.safetensors").items():
        match = re.match(r"^model\.layers\.(\d+)\.(.+)$", name)
        if match:
            block = int(match.group(1))
            if block in removed:
                continue
            name = f"model.layers.{new_index[block]}.{match.group(2)}"
        tensors[name] = values
    Path(dst).mkdir(exist_ok=True)
    save_file(tensors, f"{dst}/model.safetensors", metadata={"format": "pt"})
    config["num_hidden_layers"] = len(kept)
    Path(f"{dst}/config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    for other in Path(src).iterdir():
        if other.suffix == ".json" and other.name != "config.json":
            shutil.copy(other, dst)


if __name__ == "__main__":
    job, args = sys.argv[1], sys.argv[2:]
    {"gguf-to-folder": gguf_to_folder, "folder-to-gguf": folder_to_gguf, "prune-folder": prune_folder}[job](*args)
