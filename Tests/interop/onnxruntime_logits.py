"""Prints onnxruntime's prefill logits of an ONNX decoder as JSON (rows of floats), for the Swift tests.

Usage: onnxruntime_logits.py MODEL.onnx ID [ID ...]
Each MatMulNBits runs with accuracy_level 0 (float activations), the reference for an engine that multiplies
the decoded weights in float; the model is edited in memory only. The KV cache starts empty."""

import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort


def cache_sizes(path, shape):
    """(kv_heads, head_size) of a cache input: its shape, or genai_config.json where the graph leaves them symbolic."""
    if isinstance(shape[1], int) and isinstance(shape[3], int):
        return shape[1], shape[3]
    decoder = json.loads((Path(path).parent / "genai_config.json").read_text())["model"]["decoder"]
    return decoder["num_key_value_heads"], decoder["head_size"]


def main(path, ids):
    model = onnx.load(path)  # external data is loaded beside the file
    for node in model.graph.node:
        if node.op_type == "MatMulNBits":
            for attribute in node.attribute:
                if attribute.name == "accuracy_level":
                    attribute.i = 0
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    feeds = {}
    for spec in session.get_inputs():
        dtype = np.int32 if "int32" in spec.type else np.int64
        if spec.name == "input_ids":
            feeds[spec.name] = np.array([ids], dtype=dtype)
        elif spec.name == "attention_mask":
            feeds[spec.name] = np.ones((1, len(ids)), dtype=dtype)
        elif spec.name == "position_ids":
            feeds[spec.name] = np.arange(len(ids), dtype=dtype)[None]
        else:  # past_key_values.N.*: [batch, kv_heads, 0, head_size]
            kv_heads, head_size = cache_sizes(path, spec.shape)
            feeds[spec.name] = np.zeros((1, kv_heads, 0, head_size), dtype=np.float32)
    logits = session.run(["logits"], feeds)[0][0]
    print(json.dumps(logits.astype(float).tolist()))


if __name__ == "__main__":
    main(sys.argv[1], [int(x) for x in sys.argv[2:]])
