# modelsurgery: every install step the project needs lives here.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
DEBUG_BIN := .build/debug/modelsurgery
RELEASE_BIN := .build/release/modelsurgery
SMOLLM2 := models/SmolLM2-135M-Instruct.Q4_1.gguf
GEMMA3 := models/gemma-3-270m-q4_k_m.gguf
# llama.cpp's multimodal library is not needed to load text models; skipping it shortens the build.
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF

.PHONY: all build release install test test-swift test-interop test-transformers demo bench fixtures hf-fixtures onnx-fixtures onnx-proto models clean system-deps fuzz fuzz-build

all: build

# Debian packages: OpenBLAS for the engine's matrix products, pkg-config to find it, Python for the references.
system-deps:
	@pkg-config --exists openblas 2>/dev/null || { apt-get update && apt-get install -y pkg-config libopenblas-dev; }
	@python3 -c 'import venv, ensurepip' 2>/dev/null || { apt-get update && apt-get install -y python3 python3-venv; }

$(VENV)/.base: requirements.txt | system-deps
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

# The real GGUF client. The first install builds llama.cpp from source (about 5 minutes); pip caches the wheel.
$(VENV)/.interop: requirements-interop.txt $(VENV)/.base
	$(PY) -m pip install --quiet -r requirements-interop.txt
	touch $@

$(SMOLLM2): scripts/fetch_models.py | $(VENV)/.base
	$(PY) scripts/fetch_models.py smollm2

$(GEMMA3): scripts/fetch_models.py | $(VENV)/.base
	$(PY) scripts/fetch_models.py gemma3

models: $(SMOLLM2) $(GEMMA3)

build: system-deps
	swift build

release: system-deps
	swift build -c release

# `make install PREFIX=/usr/local` (the default): the release binary into PREFIX/bin.
PREFIX ?= /usr/local
install: release
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(RELEASE_BIN) $(DESTDIR)$(PREFIX)/bin/modelsurgery

# The Swift tests run reference libraries too (onnxruntime on ONNX models, tokenizers), through MODELSURGERY_PYTHON.
test-swift: system-deps models $(VENV)/.interop
	MODELSURGERY_PYTHON=$(abspath $(PY)) swift test

# Our outputs read back by the reference gguf reader, and real models loaded by llama.cpp.
test-interop: build $(VENV)/.interop models
	MODELSURGERY=$(DEBUG_BIN) $(PY) -m pytest -q Tests/interop

test: test-swift test-interop

# Rewrites TestModels/ with the reference gguf and safetensors writers (deterministic).
fixtures: $(VENV)/.base
	$(PY) TestModels/generate.py
	$(PY) TestModels/safetensors/generate.py

# Hugging Face folder fixtures (TestModels/hf): transformers and torch in their own venv, and llama.cpp's
# convert_hf_to_gguf.py from the llama-cpp-python sdist (the llama.cpp that .venv's llama-cpp-python builds).
# Not part of `make test`.
HF_VENV := .venv-hf
LLAMA_CPP_PYTHON := llama-cpp-python==0.3.36

$(HF_VENV)/.base: requirements-hf.txt | system-deps
	python3 -m venv $(HF_VENV)
	$(HF_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(HF_VENV)/bin/python -m pip install --quiet -r requirements-hf.txt
	touch $@

$(HF_VENV)/llama.cpp/convert_hf_to_gguf.py: | $(HF_VENV)/.base
	rm -rf $(HF_VENV)/sdist $(HF_VENV)/llama.cpp
	mkdir -p $(HF_VENV)/sdist $(HF_VENV)/llama.cpp
	$(HF_VENV)/bin/python -m pip download --quiet --no-deps --no-binary llama-cpp-python $(LLAMA_CPP_PYTHON) -d $(HF_VENV)/sdist
	tar xzf $(HF_VENV)/sdist/llama_cpp_python-*.tar.gz -C $(HF_VENV)/llama.cpp --strip-components=3 \
		--wildcards 'llama_cpp_python-*/vendor/llama.cpp'
	touch $@

# transformers loads the folders we write (needs torch, so not part of `make test`).
test-transformers: build $(HF_VENV)/.base
	MODELSURGERY=$(DEBUG_BIN) $(HF_VENV)/bin/python -m pytest -q Tests/transformers

hf-fixtures: $(HF_VENV)/.base $(HF_VENV)/llama.cpp/convert_hf_to_gguf.py $(VENV)/.interop
	$(HF_VENV)/bin/python TestModels/hf/generate_hf.py --llama-cpp $(HF_VENV)/llama.cpp
	$(PY) TestModels/hf/check_gguf.py

# ONNX fixtures (TestModels/onnx): tiny transformers models exported by torch's dynamo exporter, optimum and
# onnxruntime-genai's model builder, with golden logits of the pruned models. Three venvs of their own, outside
# the tree (.venv-onnx*), because the exporters' transformers pins clash. Not part of `make test`.
onnx-fixtures:
	python3 TestModels/onnx/generate.py setup
	python3 TestModels/onnx/generate.py all

# Sources/Formats/ONNX/onnx.pb.swift from the onnx.proto of the onnx package that make test installs, with protoc
# (Debian's protobuf-compiler) and protoc-gen-swift built from the swift-protobuf package the build resolves
# (about 10 minutes on 2 cores, so never part of `make test`).
PROTOC_GEN_SWIFT := .build-protoc/release/protoc-gen-swift
onnx-proto: $(VENV)/.interop
	command -v protoc >/dev/null || { apt-get update && apt-get install -y protobuf-compiler; }
	swift package resolve
	swift build -c release --package-path .build/checkouts/swift-protobuf --scratch-path .build-protoc \
		--product protoc-gen-swift
	protoc --plugin=protoc-gen-swift=$(PROTOC_GEN_SWIFT) --swift_out=Sources/Formats/ONNX \
		--swift_opt=Visibility=Internal -I "$$($(PY) -c 'import onnx, os; print(os.path.dirname(onnx.__file__))')" onnx.proto

demo: release $(VENV)/.interop $(SMOLLM2)
	MODELSURGERY=$(RELEASE_BIN) PY=$(PY) bash scripts/demo.sh $(SMOLLM2)

# Each part prints ratios against peers measured in the same run: prune against cp and gguf-py; ONNX prune against
# cp, onnx_ir and the onnx package, with onnxruntime's decode speed before and after; scoring's
# time and peak memory (SmolLM2 and a synthetic 7B); GGUF <-> folder conversion and folder pruning against cp
# and a gguf/safetensors peer; the engine against llama.cpp, PyTorch and onnxruntime.
BENCH_PEERS := torch==2.13.0+cpu onnx onnxruntime
# The ONNX parts export SmolLM2 with torch and onnxruntime-genai's builder, in the venvs of TestModels/onnx, and
# time our GGUF -> ONNX conversion beside them.
ONNX_VENVS := .venv-onnx/bin/python .venv-onnx-genai/bin/python
$(ONNX_VENVS):
	python3 TestModels/onnx/generate.py setup

bench: release $(VENV)/.interop $(SMOLLM2) $(ONNX_VENVS)
	MODELSURGERY=$(RELEASE_BIN) $(PY) scripts/bench.py
	MODELSURGERY=$(RELEASE_BIN) $(PY) scripts/bench_scoring.py --binary $(RELEASE_BIN)
	MODELSURGERY=$(RELEASE_BIN) $(PY) scripts/bench_convert.py
	$(PY) -m pip install --quiet $(BENCH_PEERS)
	MODELSURGERY=$(RELEASE_BIN) $(PY) scripts/bench_engine.py
	MODELSURGERY=$(RELEASE_BIN) $(PY) scripts/bench_onnx.py
	MODELSURGERY=$(RELEASE_BIN) $(PY) scripts/bench_onnx_export.py

# Coverage-guided fuzzing of the readers (Fuzz/, scripts/fuzz.sh): libFuzzer with AddressSanitizer, each target
# until FUZZ_RUNS executions or FUZZ_SECONDS, seeded from TestModels/ into $(FUZZ_BUILD)/corpus/<target>; crashing
# inputs land in $(FUZZ_BUILD)/findings/<target>/ and fail the run. `make -j2 fuzz` runs two targets at a time,
# `make fuzz-gguf` one; FUZZ_FORK=1 keeps going after a crash. Not part of `make test`, whose FuzzRegressionTests
# rerun the committed inputs of TestModels/fuzz-regressions/<target>/.
FUZZ_BUILD := .build-fuzz
FUZZ_TARGETS := gguf ggufForwardPass safetensors huggingFaceConfig huggingFaceTokenizer huggingFaceTokenizerConfig huggingFaceIndex onnxModel
export FUZZ_BUILD
export FUZZ_RUNS ?= 1000000
export FUZZ_SECONDS ?= 600

# --sanitize gives C targets and the link libFuzzer and ASan (and keeps libFuzzer's main); swiftc keeps only its
# last -sanitize= flag, and SwiftPM writes one per sanitizer in no fixed order, so Swift code would get coverage or
# ASan but not both: the combined flag, passed after them, gives both.
fuzz-build: system-deps
	swift build -c release --package-path Fuzz --scratch-path $(FUZZ_BUILD) --sanitize fuzzer --sanitize address \
		-Xswiftc -sanitize=fuzzer,address

.PHONY: $(addprefix fuzz-,$(FUZZ_TARGETS))
$(addprefix fuzz-,$(FUZZ_TARGETS)): fuzz-%: fuzz-build
	bash scripts/fuzz.sh run $*

fuzz: $(addprefix fuzz-,$(FUZZ_TARGETS))
	bash scripts/fuzz.sh summary $(FUZZ_TARGETS)

clean:
	rm -rf .build .build-fuzz bench-out
