#!/usr/bin/env bash
# The readers' libFuzzer targets (Fuzz/, built by `make fuzz-build`), run by `make fuzz`.
#
#   scripts/fuzz.sh run TARGET        seed .build-fuzz/corpus/TARGET from TestModels/, fuzz, record the result
#   scripts/fuzz.sh summary TARGET..  one line per target; fails when any run found a crash, leak, OOM or timeout
#
# Environment: FUZZ_RUNS (executions per target, default 1000000), FUZZ_SECONDS (time cap per target, default 600),
# FUZZ_FORK=1 (keep going after a crash: -fork=1 -ignore_crashes=1 ...; collects every crashing input),
# FUZZ_FLAGS (more libFuzzer flags), FUZZ_LEAK_SECONDS (the leak check of the corpus after fuzzing, default 120;
# 0 skips it), FUZZ_BUILD (default .build-fuzz).
# A crashing input lands in $FUZZ_BUILD/findings/TARGET/ (crash-*, leak-*, oom-*, timeout-*); once its cause is
# fixed, copy it to TestModels/fuzz-regressions/TARGET/ under a name that says what it was.
set -euo pipefail

cd "$(dirname "$0")/.."
# Two fuzzers share two cores: no BLAS threads of their own. Short allocation stacks (the crash's stack is whole).
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-malloc_context_size=5}
BUILD=${FUZZ_BUILD:-.build-fuzz}
RUNS=${FUZZ_RUNS:-1000000}
SECONDS_CAP=${FUZZ_SECONDS:-600}

# The seed files of each target: the fixtures a reader reads, plus its committed regression inputs.
seeds() {
    case "$1" in
        gguf|ggufForwardPass) find TestModels -maxdepth 1 -name '*.gguf'; find TestModels/bad TestModels/split TestModels/hf -maxdepth 1 -type f \( -name '*.gguf' -o -name '*.txt' \) ;;
        safetensors) find TestModels/safetensors TestModels/hf -name '*.safetensors' ;;
        huggingFaceConfig) find TestModels/hf TestModels/onnx -name config.json ;;
        huggingFaceTokenizer) find TestModels/hf TestModels/onnx -name tokenizer.json ;;
        huggingFaceTokenizerConfig) find TestModels/hf TestModels/onnx -name tokenizer_config.json ;;
        huggingFaceIndex) find TestModels/hf TestModels/safetensors -name model.safetensors.index.json ;;
        onnxModel) find TestModels/onnx -name model.onnx ;;
        *) echo "unknown fuzz target '$1'" >&2; exit 2 ;;
    esac
    local regressions=${1/%ForwardPass/}
    if [ -d "TestModels/fuzz-regressions/$regressions" ]; then find "TestModels/fuzz-regressions/$regressions" -type f; fi
}

run() {
    local target=$1
    local binary=$BUILD/release/fuzz-$target corpus=$BUILD/corpus/$target findings=$BUILD/findings/$target
    local log=$BUILD/logs/$target.log result=$BUILD/results/$target
    [ -x "$binary" ] || { echo "$binary is missing: run make fuzz-build" >&2; exit 2; }
    mkdir -p "$corpus" "$findings" "$BUILD/logs" "$BUILD/results"
    # Seeds keep their path in their name; the corpus keeps what earlier runs found.
    seeds "$target" | while read -r seed; do cp -n "$seed" "$corpus/${seed//\//_}"; done
    rm -f "$log.leaks"
    local stamp=$BUILD/results/$target.start
    touch "$stamp"
    local mode=()
    if [ "${FUZZ_FORK:-0}" = 1 ]; then mode=(-fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1); fi
    echo "fuzz-$target: up to $RUNS runs or $SECONDS_CAP s (log: $log)"
    local status=0 limits=(-rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 -artifact_prefix="$findings/")
    # Leak checks run on the corpus afterwards: during fuzzing they would rescan the heap after most executions
    # (Swift's runtime caches make malloc and free counts differ) and cost four times the executions.
    "$binary" -runs="$RUNS" -max_total_time="$SECONDS_CAP" -detect_leaks=0 -print_final_stats=1 "${limits[@]}" \
        "${mode[@]}" ${FUZZ_FLAGS:-} "$corpus" >"$log" 2>&1 || status=$?
    if [ "$status" = 0 ] && [ "${FUZZ_LEAK_SECONDS:-120}" != 0 ]; then
        "$binary" -runs=0 -max_total_time="${FUZZ_LEAK_SECONDS:-120}" -detect_leaks=1 "${limits[@]}" "$corpus" \
            >"$log.leaks" 2>&1 || status=$?
    fi

    # Executions and exec/s from the final stats (fork mode: its last status line), cov/ft from the last status line.
    local execs rate cov ft
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    local last
    last=$(grep -E '^#[0-9]+.*cov: [0-9]+ ft: [0-9]+' "$log" | tail -1 || true)
    cov=$(sed -nE 's/.*cov: ([0-9]+).*/\1/p' <<<"$last")
    ft=$(sed -nE 's/.*ft: ([0-9]+).*/\1/p' <<<"$last")
    [ -n "$execs" ] || execs=$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$last")
    [ -n "$rate" ] || rate=$(sed -nE 's/.*exec\/s:? ([0-9]+).*/\1/p' <<<"$last")
    local counters
    counters=$(sed -nE 's/^INFO: Loaded 1 modules +\(([0-9]+) inline 8-bit counters.*/\1/p' "$log" | head -1)
    if [ -n "$counters" ] && [ "$counters" -lt 10000 ]; then
        echo "fuzz-$target: only $counters coverage counters: the Swift code was built without -sanitize=fuzzer" >&2
        status=3
    fi
    local found
    found=$(find "$findings" -maxdepth 1 -type f -newer "$stamp" \( -name 'crash-*' -o -name 'leak-*' -o -name 'oom-*' -o -name 'timeout-*' \) | wc -l)
    printf '%-28s %10s %8s %8s %8s %7s %s\n' "$target" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${rate:-?}" "$found" "$status" >"$result"
    echo "fuzz-$target: ${execs:-?} executions, cov ${cov:-?}, ft ${ft:-?}, ${rate:-?} exec/s, $found crashing inputs in $findings"
    if [ "$found" -gt 0 ]; then
        cat "$log" "$log.leaks" 2>/dev/null | grep -E -m3 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|Fatal error|SUMMARY:' \
            | sed 's/^/    /' || true
    fi
}

summary() {
    local failed=0
    printf '%-28s %10s %8s %8s %8s %7s %s\n' target executions cov ft exec/s crashes exit
    for target in "$@"; do
        local result=$BUILD/results/$target
        if [ ! -f "$result" ]; then echo "$target: no result"; failed=1; continue; fi
        cat "$result"
        read -r _ _ _ _ _ found status <"$result"
        if [ "$found" != 0 ] || [ "$status" != 0 ]; then failed=1; fi
    done
    if [ $failed != 0 ]; then
        echo "fuzzing found crashing inputs (or a fuzzer failed): see $BUILD/findings/ and $BUILD/logs/" >&2
        exit 1
    fi
}

case "${1:-}" in
    run) run "$2" ;;
    summary) shift; summary "$@" ;;
    *) echo "usage: $0 run TARGET | summary TARGET..." >&2; exit 2 ;;
esac
