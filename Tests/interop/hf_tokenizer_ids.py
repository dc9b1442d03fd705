#!/usr/bin/env python3
"""Token ids that Hugging Face's `tokenizers` library gives for every string of TestModels/tokenizer-golden.json,
with the tokenizer.json of a folder: `hf_tokenizer_ids.py FOLDER GOLDEN.json` prints a JSON list of id lists.

Run by Tests/ScoringTests/HuggingFaceTokenizerTests.swift on the tokenizer.json files our GGUF → Hugging Face
conversion writes. encode_special_tokens = True leaves special tokens in the text as text, which is what the
golden ids' llama_tokenize(parse_special=False) does.
"""

import json
import sys
from pathlib import Path

from tokenizers import Tokenizer

folder, golden = Path(sys.argv[1]), Path(sys.argv[2])
tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
tokenizer.encode_special_tokens = True
strings = json.loads(golden.read_text(encoding="utf-8"))["strings"]
print(json.dumps([tokenizer.encode(text, add_special_tokens=True).ids for text in strings]))
