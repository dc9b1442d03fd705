#!/usr/bin/env bash
# The figures of README's "Sub-layers and recovery" table: SmolLM2 with a quarter of its blocks removed (no
# recovery, bias, linear, lowrank:64; one block set for all four), a third and a half of its attention
# sub-layers, a quarter of its feed-forward sub-layers; then llama.cpp and our engine on each file.
# Usage: MODELSURGERY=.build/release/modelsurgery PY=.venv/bin/python scripts/sublayer_figures.sh [out-dir]
set -euo pipefail
model=${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
out=${1:-bench-out/sublayers}
# Scoring and refinement use the default calibration size (16 x 128 tokens); recovery fits on more (56 x 256).
score=(--calib data/calibration.txt)
fit=(--calib data/calibration.txt --samples 56 --seq-len 256)
text=data/held-out-long.txt
mkdir -p "$out"
prune() { local name=$1; shift; "$MODELSURGERY" prune "$model" "$out/$name.gguf" "$@" --json > "$out/$name.json"; }

prune blocks-25 --ratio 0.25 "${score[@]}"
set_=$("$PY" -c "import json,sys; print(','.join(map(str, json.load(open(sys.argv[1]))['removed'])))" "$out/blocks-25.json")
for kind in bias linear lowrank:64; do prune "blocks-25-${kind/:/}" --layers "$set_" --recover "$kind" "${fit[@]}"; done
prune attention-33 --attention-ratio 0.33 "${score[@]}"
prune attention-50 --attention-ratio 0.5 "${score[@]}"
prune ffn-25 --ffn-ratio 0.25 "${score[@]}"

files=("$model" "$out"/blocks-25.gguf "$out"/blocks-25-bias.gguf "$out"/blocks-25-linear.gguf "$out"/blocks-25-lowrank64.gguf
       "$out"/attention-33.gguf "$out"/attention-50.gguf "$out"/ffn-25.gguf)
for f in "${files[@]}"; do
    printf '%-28s %s\n' "$(basename "$f")" "$("$MODELSURGERY" eval "$f" --text "$text" --ctx 256)"
done | tee "$out/ours.txt"
"$PY" scripts/llama_measure.py "${files[@]}" --text "$text" --ctx 256 | tee "$out/llama.txt"
