#!/usr/bin/env python3
"""Record llama.cpp's token ids for a fixed list of strings (TestModels/tokenizer-golden.json).

The reference is llama-cpp-python (llama.cpp's own tokenizer), loaded with vocab_only=True and called as
Llama.tokenize(text.encode(), add_bos=True, special=False), i.e. llama_tokenize(add_special=True,
parse_special=False). Cases:

- smollm2: models/SmolLM2-135M-Instruct.Q4_1.gguf as is (BPE, tokenizer.ggml.pre = "smollm")
- gemma3:  models/gemma-3-270m-q4_k_m.gguf as is (SentencePiece, scores, byte fallback)
- smollm2-pre-<name>: SmolLM2 with only tokenizer.ggml.pre replaced by <name> (llama-bpe, qwen2, default,
  gpt-2). These variants are written to a temporary folder as GGUF files holding every key-value pair of
  SmolLM2 and no tensors, which llama.cpp loads with vocab_only=True; the Swift tests build the same
  variant in memory by setting metadata["tokenizer.ggml.pre"].

Usage (from the repository root, after `make models` and the interop venv):
    .venv/bin/python TestModels/generate_tokenizer_golden.py
The strings are the hand-written list below, 300 seeded random mixes of tricky pieces, and
data/held-out.txt. The output is deterministic.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
from pathlib import Path

import gguf
import llama_cpp

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SMOLLM2 = ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
GEMMA3 = ROOT / "models" / "gemma-3-270m-q4_k_m.gguf"
OUT = HERE / "tokenizer-golden.json"

PRE_VARIANTS = ["llama-bpe", "qwen2", "default", "gpt-2"]

# English strings (plain text that must also round-trip through decode(encode(s)) == s).
ENGLISH = [
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    "It was the best of times, it was the worst of times.",
    "Language models predict the next token from the previous ones.",
    "Hello, world! How are you doing today?",
    "She said: \"Don't worry, we'll be fine.\"",
]

STRINGS = ENGLISH + [
    # spaces
    " Hello",
    "  Hello",
    "Hello ",
    "Hello  ",
    "Hello   world",
    "   leading and trailing   ",
    "a b  c   d    e     f",
    # tabs and newlines
    "\tindented with a tab",
    "line one\nline two",
    "para one\n\npara two",
    "para one\n\n\npara two\n\n\n\n",
    "\n",
    "\n\n\n",
    "a\r\nb",
    "trailing newline\n",
    " \n \n",
    "tabs\t\tand\t spaces \t\n mixed",
    # digits
    "1",
    "12",
    "123",
    "1234",
    "12345678",
    "3.14159",
    "version 2.0.1 released in 2024",
    "x1y22z333",
    " 42 apples",
    "phone: +1 (555) 123-4567",
    # contractions
    "it's",
    "don't",
    "they're",
    "we've",
    "I'm",
    "you'll",
    "he'd",
    "IT'S",
    "DON'T WE'LL THEY'RE",
    "the dog's bone",
    "'s 't 're 've 'm 'll 'd",
    "rock 'n' roll",
    # punctuation runs
    "Wait... what?!",
    "!!!???...",
    "--- *** ###",
    "(a) [b] {c} <d>",
    "$100 + 50% = ~150 ^_^ | a&b @c #d",
    "a--b__c",
    # code
    "def add(a, b):\n    \"\"\"Add two numbers.\"\"\"\n    return a + b\n",
    "for i in range(10):\n\tif i % 2 == 0:\n\t\tprint(i)\n",
    "int main(void) {\n    int x = 42;\n    if (x > 0) { return x; }\n    return 0;\n}\n",
    "x = {'key': [1, 2, 3], \"other\": None}",
    # URLs and markup
    "https://example.com/path/to/page?query=1&lang=en#section",
    "Visit www.example.org or email info@example.org.",
    "<b>bold</b> and <s>struck</s> <td>cell</td>",
    # emoji, CJK, accents, other scripts
    "🤖🎉",
    "I love 🤖 robots 🎉!",
    "你好世界",
    "中文 and English 混合",
    "日本語のテキスト",
    "한국어 텍스트",
    "é ü ñ",
    "café naïve façade über señor",
    "Привет, мир! Как дела?",
    "مرحبا بالعالم",
    "שלום עולם",
    "Ελληνικά γράμματα",
    "e\u0301 combining acute, a\u0308 combining diaeresis",
    "n\u0303o\u0302",
    "\u00a0non-breaking\u00a0space",
    "em\u2003space and ideographic\u3000space",
    "zero\u200bwidth",
    "½ ⅓ ² ³ Ⅻ ①",
    "math: ∑ ∫ √ ≠ ≤ → ∞",
    "quotes “smart” ‘single’ «guillemets» — dash",
    "unassigned \U000e0080 and private \ue000 use",
    # edge cases
    "",
    " ",
    "  ",
    "a",
    ".",
    "'",
]


# Random mixes of the pieces pre-tokenizers and SentencePiece treat differently (deterministic).
FUZZ_PIECES = [
    "a", "Z", "word", "Word", "WORD", " ", " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", "\r", "0", "7", "42", "123",
    "98765", "'", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'LL", "!", "?", ".", ",", "...",
    "-", "_", "(", ")", "[", "]", "{", "}", "<", ">", "=", "+", "$", "%", "^", "~", "|", "`", "@", "#", "&", "*",
    "/", "\\", "\"", ":", ";", "é", "ß", "Ж", "ж", "中", "文", "あ", "한", "ع", "\u0301", "\u0308", "²", "½", "Ⅻ",
    "٣", "€", "©", "∑", "→", "🤖", "👍🏽", "\u00a0", "\u2003", "\u3000", "\u0085", "\u2028", "\u200b", "\u200d",
    "\ue000", "\u0378", "\u0007", "\ufeff", "<s>", "</s>", "<td>", "<b>", "<start_of_image>", "<eos>",
    "<|im_end|>", "<|endoftext|>",
]


def fuzz_strings(count: int, seed: int = 20240611) -> list[str]:
    rng = random.Random(seed)
    out: list[str] = []
    while len(out) < count:
        text = "".join(rng.choice(FUZZ_PIECES) for _ in range(rng.randint(1, 24)))
        if text not in out and text not in STRINGS:
            out.append(text)
    return out


def vocab_only(path: Path) -> llama_cpp.Llama:
    return llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)


def tokenize(llm: llama_cpp.Llama, texts: list[str]) -> list[list[int]]:
    return [llm.tokenize(t.encode("utf-8"), add_bos=True, special=False) for t in texts]


def write_pre_variant(source: Path, pre: str, target: Path) -> None:
    """Every key-value pair of `source` (tokenizer.ggml.pre replaced), no tensors."""
    reader = gguf.GGUFReader(str(source))
    arch = reader.fields["general.architecture"].contents()
    writer = gguf.GGUFWriter(str(target), arch)
    for name, field in reader.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture":
            continue
        vtype = field.types[0]
        sub_type = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        value = pre if name == "tokenizer.ggml.pre" else field.contents()
        writer.add_key_value(name, value, vtype, sub_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def compact_json(value, indent: str = "") -> str:
    """JSON with one line per string and per id list (readable diffs, small file)."""
    inner = indent + " "
    if isinstance(value, dict):
        items = [f"{inner}{json.dumps(k)}: {compact_json(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(value, list) and value and not all(isinstance(x, int) for x in value):
        return "[\n" + ",\n".join(inner + compact_json(x, inner) for x in value) + "\n" + indent + "]"
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"))


def main() -> int:
    for model in (SMOLLM2, GEMMA3):
        if not model.exists():
            print(f"missing {model}: run `make models` first", file=sys.stderr)
            return 1
    assert len(set(STRINGS)) == len(STRINGS), "duplicate strings"
    held_out = (ROOT / "data" / "held-out.txt").read_text(encoding="utf-8")
    strings = STRINGS + fuzz_strings(300) + [held_out]

    cases = {}
    cases["smollm2"] = {"model": f"models/{SMOLLM2.name}", "pre": None, "ids": tokenize(vocab_only(SMOLLM2), strings)}
    cases["gemma3"] = {"model": f"models/{GEMMA3.name}", "pre": None, "ids": tokenize(vocab_only(GEMMA3), strings)}
    with tempfile.TemporaryDirectory() as tmp:
        for pre in PRE_VARIANTS:
            path = Path(tmp) / f"smollm2-pre-{pre}.gguf"
            write_pre_variant(SMOLLM2, pre, path)
            cases[f"smollm2-pre-{pre}"] = {
                "model": f"models/{SMOLLM2.name}", "pre": pre, "ids": tokenize(vocab_only(path), strings),
            }

    golden = {
        "reference": f"llama-cpp-python {llama_cpp.__version__}: Llama(vocab_only=True).tokenize(add_bos=True, special=False)",
        "english": ENGLISH,
        "strings": strings,
        "cases": cases,
    }
    OUT.write_text(compact_json(golden) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)}: {len(strings)} strings x {len(cases)} cases")
    return 0


if __name__ == "__main__":
    sys.exit(main())
