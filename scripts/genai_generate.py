#!/usr/bin/env python3
"""Greedy generation with onnxruntime-genai from a folder `modelsurgery convert ... --to onnx` wrote (make demo).

Usage: genai_generate.py FOLDER PROMPT [NEW_TOKENS]"""
import sys
import time

import onnxruntime_genai as og


def main(folder: str, prompt: str, new_tokens: int = 32) -> None:
    model = og.Model(folder)
    tokenizer = og.Tokenizer(model)
    ids = tokenizer.encode(prompt)
    params = og.GeneratorParams(model)
    params.set_search_options(max_length=len(ids) + new_tokens, do_sample=False)
    generator = og.Generator(model, params)
    start = time.perf_counter()
    generator.append_tokens(ids)
    while not generator.is_done():
        generator.generate_next_token()
    seconds = time.perf_counter() - start
    made = len(generator.get_sequence(0)) - len(ids)
    print(f"onnxruntime-genai, greedy: {tokenizer.decode(generator.get_sequence(0))!r}")
    print(f"({made} new tokens in {seconds:.2f} s, prompt included)")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], *(int(n) for n in sys.argv[3:4]))
