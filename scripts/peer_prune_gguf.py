#!/usr/bin/env python3
"""The peer for `make bench`: `modelsurgery prune IN OUT --layers A-B` done with the gguf Python package.

GGUFReader maps the input; GGUFWriter writes the output the way llama.cpp's gguf_new_metadata.py does:
every key/value copied in order with its type (block_count updated, per-layer arrays sliced), the two
modelsurgery provenance keys added, kept tensors renamed to their new block index and their bytes
written straight from the reader's memmap.

Usage: peer_prune_gguf.py IN OUT --layers 20-27[,30,...]
"""
import argparse
import re

import gguf

BLOCK = re.compile(r"^blk\.(\d+)\.(.*)$")


def parse_layers(text: str) -> set[int]:
    layers = set()
    for part in text.split(","):
        first, _, last = part.partition("-")
        layers.update(range(int(first), int(last or first) + 1))
    return layers


def prune(src: str, dst: str, removed: set[int]) -> None:
    reader = gguf.GGUFReader(src)
    arch = reader.get_field(gguf.Keys.General.ARCHITECTURE).contents()
    count_key = f"{arch}.block_count"
    blocks = reader.get_field(count_key).contents()
    if not removed or max(removed) >= blocks or len(removed) >= blocks:
        raise SystemExit(f"cannot remove {sorted(removed)} of {blocks} blocks")
    kept = [i for i in range(blocks) if i not in removed]
    new_index = {old: new for new, old in enumerate(kept)}

    writer = gguf.GGUFWriter(dst, arch)  # writes general.architecture first
    writer.data_alignment = reader.alignment
    for field in reader.fields.values():
        if field.name.startswith("GGUF.") or field.name == gguf.Keys.General.ARCHITECTURE:
            continue
        vtype = field.types[0]
        sub_type = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        value = field.contents()
        if field.name == count_key:
            value = len(kept)
        elif sub_type is not None and field.name.startswith(f"{arch}.") and len(value) == blocks:
            value = [value[i] for i in kept]
        writer.add_key_value(field.name, value, vtype, sub_type=sub_type)
    writer.add_uint32("modelsurgery.original_block_count", blocks)
    writer.add_key_value("modelsurgery.removed_blocks", sorted(removed),
                         gguf.GGUFValueType.ARRAY, sub_type=gguf.GGUFValueType.UINT32)

    tensors = []
    for tensor in reader.tensors:
        name, match = tensor.name, BLOCK.match(tensor.name)
        if match:
            if int(match[1]) in removed:
                continue
            name = f"blk.{new_index[int(match[1])]}.{match[2]}"
        writer.add_tensor_info(name, tensor.data.shape, tensor.data.dtype, tensor.data.nbytes, tensor.tensor_type)
        tensors.append(tensor)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for tensor in tensors:
        writer.write_tensor_data(tensor.data, tensor_endianess=reader.endianess)
    writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--layers", required=True, help="blocks to remove, e.g. 20-27 or 3,5,20-23")
    args = parser.parse_args()
    prune(args.input, args.output, parse_layers(args.layers))


if __name__ == "__main__":
    main()
