#!/usr/bin/env bash
# make demo: the main job end to end on SmolLM2-135M: inspect, score, prune a quarter of the blocks (and the
# same blocks with linear recovery), show llama.cpp loading and running the files, write a Hugging Face folder
# and an ONNX folder (onnxruntime-genai generates from it), and end with the side-by-side comparison a user
# decides on: perplexity, KL, task accuracy, speed.
set -euo pipefail
model=$1
out=demo-out
mkdir -p "$out"
pruned="$out/$(basename "$model" .gguf)-pruned.gguf"
text=data/held-out.txt

step() { printf '\n== %s\n' "$*"; }

step "modelsurgery inspect $model"
"$MODELSURGERY" inspect "$model" | head -11

step "modelsurgery score $model --count 8 --refine 0 --plot $out/scores.svg   (self-calibration: no data set needed; each criterion's own set)"
"$MODELSURGERY" score "$model" --count 8 --refine 0 --plot "$out/scores.svg"

step "modelsurgery prune $model $pruned --ratio 0.25   (simdiff's set, refined by calibration NLL)"
"$MODELSURGERY" prune "$model" "$pruned" --ratio 0.25 | tee "$out/prune.txt"
removed=$(sed -n 's/^removed [0-9]* of [0-9]* blocks: //p' "$out/prune.txt")

recovered="$out/$(basename "$model" .gguf)-pruned-linear.gguf"
step "modelsurgery prune $model $recovered --layers $removed --recover linear --calib data/calibration.txt   (the same blocks; each removed run replaced by one linear layer fitted in closed form, written as llama.cpp's deci architecture)"
"$MODELSURGERY" prune "$model" "$recovered" --layers "$removed" --recover linear \
    --calib data/calibration.txt --samples 56 --seq-len 256

step "llama.cpp (llama-cpp-python) loads and runs all three files: perplexity, prompt and generation speed"
"$PY" scripts/llama_run.py "$model" "$pruned" "$recovered" --text "$text" --ctx 128
folder="$out/$(basename "$pruned" .gguf)-hf"
step "modelsurgery convert $pruned $folder --dtype bf16   (a Hugging Face folder for transformers, vLLM, MLX)"
"$MODELSURGERY" convert "$pruned" "$folder" --dtype bf16 --force
ls -l "$folder"
"$MODELSURGERY" eval "$folder" --text "$text" --ctx 128
onnx="$out/$(basename "$pruned" .gguf)-onnx"
step "modelsurgery convert $pruned $onnx --to onnx   (an ONNX decoder folder: onnxruntime, onnxruntime-genai)"
"$MODELSURGERY" convert "$pruned" "$onnx" --to onnx --force
ls -l "$onnx"
"$MODELSURGERY" eval "$onnx" --text "$text" --ctx 128
"$PY" scripts/genai_generate.py "$onnx" "The capital of France is" 24
echo
echo "scores plot: $out/scores.svg"

step "modelsurgery eval $model $pruned $recovered --compare --text $text --tasks data/tasks.jsonl --speed   (is the smaller model worth it?)"
"$MODELSURGERY" eval "$model" "$pruned" "$recovered" --compare --text "$text" --ctx 128 --tasks data/tasks.jsonl --speed \
    | tee "$out/compare.txt"
