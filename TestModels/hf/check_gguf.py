#!/usr/bin/env python3
"""llama.cpp (llama-cpp-python) on the reference GGUF conversions, against transformers' golden logits and ids.

For each TestModels/hf/*.gguf: loads it, runs every golden sequence of the whole model, and compares the logits
of the recorded ids at every position with transformers'; tokenizes the test strings and the golden text and
compares the ids with the Hugging Face tokenizer's. Writes TestModels/hf/llama-cpp-check.json and fails when a
difference exceeds TOLERANCE (relative to the spread of the logits) or an id differs.

Run: .venv/bin/python TestModels/hf/check_gguf.py   (the project's light venv, with llama-cpp-python)
"""
import json
import sys
from pathlib import Path

import llama_cpp
import numpy as np

from compact_json import compact_json

HERE = Path(__file__).resolve().parent
# max |llama.cpp - transformers| / (max - min of transformers' logits over the sequence), per file type.
TOLERANCE = {"f32": 1e-3, "bf16": 2e-2, "q8_0": 5e-2}


def main() -> int:
    golden = json.loads((HERE / "golden.json").read_text())
    expected = json.loads((HERE / "expected.json").read_text())
    report, failures = {"llama_cpp_python": llama_cpp.__version__, "tolerance": TOLERANCE, "files": {}}, []
    for name, folder in expected["folders"].items():
        for file in folder["gguf"]:
            outtype = file.split(".")[-2]
            model = llama_cpp.Llama(str(HERE / file), n_ctx=128, n_batch=128, n_ubatch=128, logits_all=True, type_k=llama_cpp.GGML_TYPE_F32, type_v=llama_cpp.GGML_TYPE_F32,
                                    verbose=False, seed=0)
            add_bos = model._model.add_bos_token()
            seqs = []
            for seq in golden["models"][name]["sequences"]:
                model.reset()
                model.eval(seq["ids"])
                scores = np.array(model.scores[: len(seq["ids"])], dtype=np.float64)
                ref = seq["whole"]
                diff = max(float(np.abs(scores[p][pos["ids"]] - np.array(pos["logits"])).max())
                           for p, pos in enumerate(ref["positions"]))
                top_agree = sum(int(np.argmax(scores[p])) == pos["top"][0] for p, pos in enumerate(ref["positions"]))
                rel = diff / ref["spread"]
                seqs.append({"name": seq["name"], "maxAbsDiff": round(diff, 6), "spread": ref["spread"],
                             "relative": round(rel, 6), "argmaxAgree": f"{top_agree}/{len(ref['positions'])}"})
                if rel > TOLERANCE[outtype]:
                    failures.append(f"{file} {seq['name']}: relative difference {rel:.2e}")
            texts = [(s["text"], s["ids"]) for s in folder["tokenizer"]["strings"]]
            texts.append((golden["text"], golden["models"][name]["sequences"][-1]["ids"]))
            mismatched = []
            for text, ids in texts:
                ours = model.tokenize(text.encode(), add_bos=add_bos, special=False)
                if ours != ids:
                    mismatched.append({"text": text, "transformers": ids, "llama.cpp": ours})
                    failures.append(f"{file}: token ids differ for {text!r}")
            report["files"][file] = {"sequences": seqs, "tokenizerStrings": len(texts),
                                     "tokenizerMismatches": mismatched}
            del model
    (HERE / "llama-cpp-check.json").write_text(compact_json(report) + "\n")
    print(compact_json(report["files"]))
    for f in failures:
        print("FAIL", f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
