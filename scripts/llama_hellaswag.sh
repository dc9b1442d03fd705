#!/usr/bin/env bash
# Reference multiple-choice score from llama.cpp itself:
#
#   scripts/llama_hellaswag.sh MODEL.gguf TASKS.txt
#
# TASKS.txt is llama-perplexity's --hellaswag text format (6 lines a task: context, gold index, 4 endings);
# scripts/tasks_to_llama_hellaswag.py writes it from the project's JSONL (data/tasks.jsonl).
#
# The first run builds llama.cpp's llama-perplexity into .build-llama/ (ignored by git through `.build*/`)
# from the very llama.cpp source that the project's llama-cpp-python is built from: the sdist of the version
# installed in .venv, whose llama.cpp lies under vendor/llama.cpp. Later runs reuse the binary.
# Needs a C/C++ compiler and make; CMake is taken from PATH, or else installed from PyPI into
# .build-llama/cmake-venv.
#
# Every task in the file is scored (--hellaswag-tasks = number of tasks). The tool visits them in a
# shuffled order, so only the last row (all tasks) is the result: printed at the end as "acc_norm".
# Environment: THREADS (default 2), JOBS (build jobs, default 2), CTX (per-sequence context, default 512;
# llama-perplexity allocates 4*CTX for its four sequences), LLAMA_BUILD_DIR (default .build-llama).
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 MODEL.gguf TASKS.txt" >&2
    exit 2
fi
MODEL=$1
TASKS=$2
[ -f "$MODEL" ] || { echo "error: no model file $MODEL" >&2; exit 1; }
[ -f "$TASKS" ] || { echo "error: no tasks file $TASKS" >&2; exit 1; }

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${LLAMA_BUILD_DIR:-$ROOT/.build-llama}
PY=$ROOT/.venv/bin/python
THREADS=${THREADS:-2}
JOBS=${JOBS:-2}
CTX=${CTX:-512}
BIN=$BUILD/bin/llama-perplexity

[ -x "$PY" ] || { echo "error: $PY missing (run make first)" >&2; exit 1; }
VERSION=$("$PY" -c 'import importlib.metadata as m; print(m.version("llama_cpp_python"))' 2>/dev/null) || {
    echo "error: llama-cpp-python is not installed in .venv (make test-interop installs it)" >&2; exit 1; }

# --- build llama-perplexity once -------------------------------------------------------------------------
if [ ! -x "$BIN" ] || [ "$(cat "$BUILD/llama-cpp-python.version" 2>/dev/null)" != "$VERSION" ]; then
    mkdir -p "$BUILD"
    SRC=$BUILD/src/llama-cpp-python-$VERSION
    if [ ! -f "$SRC/vendor/llama.cpp/CMakeLists.txt" ]; then
        rm -rf "$SRC"
        mkdir -p "$SRC/vendor"
        # An unpacked sdist left by an earlier `pip download` (pip-download-*) saves the download.
        REUSE=
        for d in /tmp/pip-download-*/llama-cpp-python*/ /tmp/pip-download-*/llama_cpp_python*/; do
            if [ -f "$d/PKG-INFO" ] && [ -f "$d/vendor/llama.cpp/CMakeLists.txt" ] &&
               grep -qx "Version: $VERSION" "$d/PKG-INFO"; then
                REUSE=$d
                break
            fi
        done
        if [ -n "$REUSE" ]; then
            echo "llama_hellaswag: reusing llama.cpp from $REUSE" >&2
            cp -a "$REUSE/vendor/llama.cpp" "$SRC/vendor/llama.cpp"
        else
            echo "llama_hellaswag: downloading the llama-cpp-python $VERSION sdist" >&2
            DL=$BUILD/sdist
            mkdir -p "$DL"
            # --no-binary for this package only: with ":all:", pip would also build the sdist's build
            # requirements (CMake itself, ninja) from source just to read its metadata.
            "$PY" -m pip download --quiet --no-deps --no-binary llama-cpp-python -d "$DL" "llama-cpp-python==$VERSION"
            TARBALL=
            for t in "$DL/llama_cpp_python-$VERSION.tar.gz" "$DL/llama-cpp-python-$VERSION.tar.gz"; do
                [ -f "$t" ] && TARBALL=$t && break
            done
            [ -n "$TARBALL" ] || { echo "error: sdist not found in $DL" >&2; exit 1; }
            rm -rf "$DL/unpacked"
            mkdir -p "$DL/unpacked"
            tar -xzf "$TARBALL" -C "$DL/unpacked" --wildcards '*/vendor/llama.cpp/*'
            mv "$DL"/unpacked/*/vendor/llama.cpp "$SRC/vendor/llama.cpp"
            rm -rf "$DL/unpacked"
        fi
    fi

    CMAKE=$(command -v cmake || true)
    if [ -z "$CMAKE" ]; then
        if [ ! -x "$BUILD/cmake-venv/bin/cmake" ]; then
            echo "llama_hellaswag: no cmake on PATH; installing it from PyPI into $BUILD/cmake-venv" >&2
            python3 -m venv "$BUILD/cmake-venv"
            "$BUILD/cmake-venv/bin/python" -m pip install --quiet cmake
        fi
        CMAKE=$BUILD/cmake-venv/bin/cmake
    fi

    # LLAMA_CURL is deprecated (ignored) in this llama.cpp; LLAMA_OPENSSL=OFF drops the HTTPS download code.
    # Tools must stay ON: llama-perplexity is one of them. Static libraries keep the binary self-contained.
    "$CMAKE" -S "$SRC/vendor/llama.cpp" -B "$BUILD" \
        -DCMAKE_BUILD_TYPE=Release \
        -DBUILD_SHARED_LIBS=OFF \
        -DGGML_NATIVE=ON \
        -DLLAMA_BUILD_COMMON=ON \
        -DLLAMA_BUILD_TOOLS=ON \
        -DLLAMA_BUILD_TESTS=OFF \
        -DLLAMA_BUILD_EXAMPLES=OFF \
        -DLLAMA_BUILD_SERVER=OFF \
        -DLLAMA_BUILD_APP=OFF \
        -DLLAMA_OPENSSL=OFF >&2
    "$CMAKE" --build "$BUILD" --target llama-perplexity -j "$JOBS" >&2
    [ -x "$BIN" ] || { echo "error: build finished but $BIN is missing" >&2; exit 1; }
    echo "$VERSION" > "$BUILD/llama-cpp-python.version"
fi

# --- run --------------------------------------------------------------------------------------------------
LINES=$(wc -l < "$TASKS")
# A last line without its newline still counts.
if [ -s "$TASKS" ] && [ "$(tail -c 1 "$TASKS" | od -An -c | tr -d ' ')" != '\n' ]; then
    LINES=$((LINES + 1))
fi
if [ "$LINES" -eq 0 ] || [ $((LINES % 6)) -ne 0 ]; then
    echo "error: $TASKS has $LINES lines, not a positive multiple of 6" >&2
    exit 1
fi
N=$((LINES / 6))
# llama-perplexity reads the gold index with std::stoi and aborts on anything else; say which line instead.
BAD=$(awk 'NR % 6 == 2 && $0 !~ /^[0-3]$/ { print NR ": " substr($0, 1, 20); exit }' "$TASKS")
if [ -n "$BAD" ]; then
    echo "error: $TASKS line $BAD: the gold index must be 0 to 3" >&2
    exit 1
fi

LOG=$BUILD/hellaswag-last.log
CMD=("$BIN" -m "$MODEL" -f "$TASKS" --hellaswag --hellaswag-tasks "$N" -c "$CTX" -b 2048 -t "$THREADS")
echo "llama_hellaswag: ${CMD[*]}" >&2
"${CMD[@]}" > "$LOG" 2>&1 || { tail -n 30 "$LOG" >&2; echo "error: llama-perplexity failed (log: $LOG)" >&2; exit 1; }

# Rows are "<tasks so far>\t<acc_norm>%\t[<low>%, <high>%]"; the row for all N tasks is the result.
FINAL=$(grep -E "^$N[[:space:]]+[0-9.]+%" "$LOG" | tail -n 1 || true)
[ -n "$FINAL" ] || { tail -n 30 "$LOG" >&2; echo "error: no result row for $N tasks (log: $LOG)" >&2; exit 1; }
read -r _ ACC LOW HIGH <<< "$(echo "$FINAL" | tr -d '[],')"
echo "tasks: $N"
echo "acc_norm: $ACC  95% interval: [$LOW, $HIGH]  (llama-perplexity --hellaswag, log: $LOG)"
