#!/usr/bin/env bash
# make demo: inspect SmolLM2, remove a list of blocks, and show llama.cpp loading and running both models.
set -euo pipefail
model=$1
out=demo-out
mkdir -p "$out"
pruned="$out/$(basename "$model" .gguf)-pruned.gguf"

echo "== modelsurgery inspect $model"
"$MODELSURGERY" inspect "$model" | head -11
echo
echo "== modelsurgery prune $model $pruned --layers 16-18"
"$MODELSURGERY" prune "$model" "$pruned" --layers 16-18
echo
echo "== modelsurgery inspect $pruned"
"$MODELSURGERY" inspect "$pruned" | head -3
echo
echo "== llama.cpp (llama-cpp-python) runs both; perplexity on data/held-out.txt"
"$PY" scripts/llama_run.py "$model" "$pruned" --text data/held-out.txt
