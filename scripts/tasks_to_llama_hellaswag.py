#!/usr/bin/env python3
"""Write the project's multiple-choice JSONL as llama-perplexity's --hellaswag text.

    scripts/tasks_to_llama_hellaswag.py IN.jsonl OUT.txt

IN.jsonl: one object a line, {"ctx": str, "endings": [str, ...], "label": int, ...} (data/tasks.jsonl; other
keys such as "kind" are ignored). OUT.txt: 6 lines a task, as llama.cpp's hellaswag_score reads them: the
context, the gold index, then the 4 endings. llama-perplexity scores only 4-ending tasks, so items with another
number of endings are skipped and counted on stderr. A field holding a line break cannot be written in this
format and is an error, as is anything else malformed (the message names the input line).
Standard library only, so any python3 runs it.
"""
import json
import sys

LINE_BREAKS = ("\n", "\r", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")


def fail(msg):
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(1)


def check_text(value, what, where):
    if not isinstance(value, str):
        fail(f"{where}: {what} is not a string")
    if any(c in value for c in LINE_BREAKS):
        fail(f"{where}: {what} contains a line break, which the 6-line format cannot hold")
    if value.strip() == "":
        fail(f"{where}: {what} is empty")


def convert(in_path, out_path):
    tasks, skipped = [], 0
    with open(in_path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            where = f"{in_path}:{n}"
            if line.strip() == "":
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as e:
                fail(f"{where}: not JSON ({e.msg})")
            if not isinstance(item, dict):
                fail(f"{where}: not a JSON object")
            for key in ("ctx", "endings", "label"):
                if key not in item:
                    fail(f"{where}: missing \"{key}\"")
            ctx, endings, label = item["ctx"], item["endings"], item["label"]
            check_text(ctx, "ctx", where)
            if not isinstance(endings, list) or not endings:
                fail(f"{where}: \"endings\" must be a non-empty list")
            for i, ending in enumerate(endings):
                check_text(ending, f"ending {i}", where)
            if type(label) is not int or not 0 <= label < len(endings):
                fail(f"{where}: label {label!r} is not an index into {len(endings)} endings")
            if len(endings) != 4:
                skipped += 1
                continue
            tasks.append([ctx, str(label)] + endings)
    if not tasks:
        fail(f"{in_path}: no 4-ending items to write")
    with open(out_path, "w", encoding="utf-8", newline="\n") as f:
        for task in tasks:
            f.write("\n".join(task) + "\n")
    if skipped:
        print(f"skipped {skipped} item(s) without exactly 4 endings", file=sys.stderr)
    print(f"wrote {len(tasks)} tasks ({6 * len(tasks)} lines) to {out_path}", file=sys.stderr)


def main(argv):
    if len(argv) != 3:
        print(f"usage: {argv[0]} IN.jsonl OUT.txt", file=sys.stderr)
        return 2
    convert(argv[1], argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
