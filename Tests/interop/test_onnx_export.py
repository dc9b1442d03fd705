"""`convert … out.onnx` / `--to onnx`: the exported decoder against llama.cpp, transformers and onnxruntime's own tools.

References, none of them our code:
- llama.cpp (llama-cpp-python) on an F32 GGUF that gguf-py writes from the source's tensors dequantized by
  gguf-py, with an F32 KV cache: llama.cpp's quantized products round the activations to Q8 and its default
  cache is F16, so a quantized source or F16 cache would put its own ~1e-2 / ~1e-3 error into the reference;
- transformers' golden logits of the Hugging Face fixtures (TestModels/hf/golden.json);
- onnxruntime's `quantize_matmul_4bits` (what MatMulNBitsQuantizer calls) and gguf-py's Q4_0 blocks;
- onnxruntime-genai's generator against llama.cpp's greedy tokens.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import onnx
import onnx.numpy_helper
import onnxruntime as ort
import pytest

import gguf
from gguf import GGMLQuantizationType as T

from support import MODELS, REPO, assert_clean_error, real_model, run, run_ok

# Logits agree to 1e-4 absolute (|logit| ≤ 2.5 in these models). gemma3 against llama.cpp gets 1e-3:
# ggml computes GELU through an f16 lookup table (GGML_GELU_FP16); against transformers' exact GELU the
# same graph agrees to 1e-5 (test_hf_folder_matches_transformers).
TOLERANCE = 1e-4
GELU_TABLE_TOLERANCE = 1e-3
GGUF_MODELS = ["tiny-llama.gguf", "tiny-qwen2-uniform.gguf", "tiny-qwen3.gguf", "tiny-gemma3.gguf"]
# 24 tokens: past gemma3's sliding window of 16.
PREFILL = 24


def tolerance(name: str) -> float:
    return GELU_TABLE_TOLERANCE if "gemma" in name else TOLERANCE


def rewrite_gguf(src: Path, dst: Path, matrix_type: T | None) -> None:
    """`src` rewritten by gguf-py with every tensor dequantized by gguf-py: F32, or matrices other than the
    embedding quantized again to `matrix_type`."""
    reader = gguf.GGUFReader(src)
    writer = gguf.GGUFWriter(dst, reader.fields["general.architecture"].contents())
    for field in reader.fields.values():
        if field.name == "general.architecture" or field.name.startswith("GGUF."):
            continue
        vtype = field.types[0]
        sub_type = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), vtype, sub_type=sub_type)
    for tensor in reader.tensors:
        values = gguf.quants.dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
        if matrix_type is not None and values.ndim == 2 and tensor.name != "token_embd.weight":
            writer.add_tensor(tensor.name, gguf.quants.quantize(values, matrix_type), raw_dtype=matrix_type)
        else:
            writer.add_tensor(tensor.name, values)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def llama_cpp_logits(path: Path, ids: list[int]) -> np.ndarray:
    import llama_cpp
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=128, logits_all=True, verbose=False,
                          type_k=llama_cpp.GGML_TYPE_F32, type_v=llama_cpp.GGML_TYPE_F32)
    llm.eval(ids)
    return np.asarray(llm.scores[:len(ids)], dtype=np.float32)


class Decoder:
    """An exported model in onnxruntime: prefill, and continuing from a returned cache."""

    def __init__(self, path: Path, float_activations: bool = False):
        """`float_activations`: every MatMulNBits with accuracy_level 0 (f32 products), edited in memory."""
        source = str(path)
        if float_activations:
            model = onnx.load(source)
            for node in model.graph.node:
                for attribute in node.attribute:
                    if node.op_type == "MatMulNBits" and attribute.name == "accuracy_level":
                        attribute.i = 0
            source = model.SerializeToString()
        self.session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
        self.inputs = {i.name: i for i in self.session.get_inputs()}
        self.outputs = [o.name for o in self.session.get_outputs()]

    def run(self, ids: list[int], past: dict | None = None, start: int = 0) -> dict:
        feed = {"input_ids": np.array([ids], np.int64),
                "attention_mask": np.ones((1, start + len(ids)), np.int64),
                "position_ids": np.arange(start, start + len(ids), dtype=np.int64)[None]}
        for name, info in self.inputs.items():
            if name.startswith("past_key_values."):
                feed[name] = (past or {}).get(name, np.zeros((1, info.shape[1], 0, info.shape[3]), np.float32))
        return dict(zip(self.outputs, self.session.run(None, feed)))

    @staticmethod
    def as_past(outputs: dict) -> dict:
        return {name.replace("present.", "past_key_values."): value for name, value in outputs.items()
                if name.startswith("present.")}


def token_ids(count: int, vocabulary: int, seed: int = 1) -> list[int]:
    return [int(t) for t in np.random.default_rng(seed).integers(1, vocabulary, count)]


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("onnx-export")


@pytest.mark.parametrize("name", GGUF_MODELS)
def test_f32_export_matches_llama_cpp(name, work):
    out = work / f"{name}.onnx"
    result = run_ok("convert", MODELS / name, out)
    assert result.stdout.strip() == f"wrote {out}, {out}.data"
    onnx.checker.check_model(str(out), full_check=True)
    reference_gguf = work / f"{name}.f32.gguf"
    rewrite_gguf(MODELS / name, reference_gguf, None)
    decoder = Decoder(out)
    ids = token_ids(PREFILL, decoder.session.get_outputs()[0].shape[2])
    reference = llama_cpp_logits(reference_gguf, ids)
    prefill = decoder.run(ids)["logits"][0]
    assert np.abs(prefill - reference).max() < tolerance(name)
    # A decode step through the cache: 4 tokens, then 2 more with the returned present.* as past.
    first = decoder.run(ids[:4])
    second = decoder.run(ids[4:6], Decoder.as_past(first), start=4)
    assert second["present.0.key"].shape[2] == 6
    assert np.abs(second["logits"][0] - reference[4:6]).max() < tolerance(name)

    plain = work / f"{name}.no-cache.onnx"
    run_ok("convert", MODELS / name, plain, "--no-kv-cache")
    uncached = Decoder(plain)
    assert not any(n.startswith("past") for n in uncached.inputs) and uncached.outputs == ["logits"]
    assert np.abs(uncached.run(ids)["logits"][0] - reference).max() < tolerance(name)


def test_graph_names_and_metadata(work):
    out = work / "names.onnx"
    run_ok("convert", MODELS / "tiny-llama.gguf", out)
    model = onnx.load(str(out), load_external_data=False)
    assert model.producer_name == "modelsurgery"
    nodes = {node.name: node for node in model.graph.node}
    for name in ["/model/embed_tokens/Gather", "/model/layers.0/input_layernorm/RMSNormalization",
                 "/model/layers.0/self_attn/q_proj/MatMul", "/model/layers.3/mlp/down_proj/MatMul",
                 "/model/norm/RMSNormalization", "/lm_head/MatMul"]:
        assert name in nodes, name
    rotary = [node for node in model.graph.node if node.op_type == "RotaryEmbedding"][0]
    assert onnx.helper.get_attribute_value(next(a for a in rotary.attribute if a.name == "interleaved")) == 1
    initializers = {t.name: t for t in model.graph.initializer}
    assert list(initializers["model.layers.0.self_attn.q_proj.weight"].dims) == [256, 64]
    assert list(initializers["lm_head.weight"].dims) == [256, 64]
    metadata = json.loads({p.key: p.value for p in model.metadata_props}["modelsurgery.metadata"])
    source = gguf.GGUFReader(MODELS / "tiny-llama.gguf")
    expected = {k: f.contents() for k, f in source.fields.items() if not k.startswith(("GGUF.", "tokenizer."))}
    assert metadata.keys() == expected.keys()
    for key, value in expected.items():
        assert metadata[key] == pytest.approx(value, rel=1e-7) if isinstance(value, float) else metadata[key] == value


def test_hf_folder_matches_llama_cpp_and_transformers(work):
    out = work / "tiny-llama-hf.onnx"
    run_ok("convert", MODELS / "hf" / "tiny-llama-hf", out)
    onnx.checker.check_model(str(out), full_check=True)
    decoder = Decoder(out)
    ids = token_ids(12, 300)
    reference = llama_cpp_logits(MODELS / "hf" / "tiny-llama-hf.f32.gguf", ids)
    assert np.abs(decoder.run(ids)["logits"][0] - reference).max() < TOLERANCE


@pytest.mark.parametrize("folder", ["tiny-llama-hf", "tiny-gemma3-hf"])
def test_hf_folder_matches_transformers(folder, work):
    """transformers' logits; tiny-gemma3-hf has a sliding window of 4 over sequences of up to 69 tokens."""
    out = work / f"{folder}.golden.onnx"
    run_ok("convert", MODELS / "hf" / folder, out)
    decoder = Decoder(out)
    golden = json.loads((MODELS / "hf" / "golden.json").read_text())["models"][folder]
    for sequence in golden["sequences"]:
        logits = decoder.run(sequence["ids"])["logits"][0]
        for row, position in zip(logits, sequence["whole"]["positions"]):
            assert np.abs(row[position["ids"]] - np.array(position["logits"])).max() < 2e-5


def matmul_nbits(model: onnx.ModelProto, folder: Path) -> dict[str, tuple[np.ndarray, np.ndarray, int, int]]:
    """MatMulNBits nodes by node name: packed weight, scales, K, N."""
    initializers = {t.name: t for t in model.graph.initializer}
    found = {}
    for node in model.graph.node:
        if node.op_type != "MatMulNBits":
            continue
        attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        assert attributes["bits"] == 4 and attributes["block_size"] == 32 and len(node.input) == 3
        packed, scales = (onnx.numpy_helper.to_array(initializers[n], base_dir=str(folder)) for n in node.input[1:3])
        found[node.name] = (packed, scales, attributes["K"], attributes["N"])
    return found


ROLES = {"q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output",
         "gate_proj": "ffn_gate", "up_proj": "ffn_up", "down_proj": "ffn_down"}


def source_tensor(reader: gguf.GGUFReader, node: str):
    parts = node.split("/")
    if parts[1] == "lm_head":
        names = {t.name: t for t in reader.tensors}
        return names.get("output.weight", names["token_embd.weight"])
    block = parts[2].split(".")[1]
    return next(t for t in reader.tensors if t.name == f"blk.{block}.{ROLES[parts[4]]}.weight")


def test_int4_bytes_are_q4_0_blocks_or_onnxruntime_quantizer(work):
    from onnxruntime.capi._pybind_state import quantize_matmul_4bits
    out = work / "int4.onnx"
    run_ok("convert", MODELS / "tiny-llama.gguf", out, "--dtype", "int4")
    onnx.checker.check_model(str(out), full_check=True)
    reader = gguf.GGUFReader(MODELS / "tiny-llama.gguf")
    nodes = matmul_nbits(onnx.load(str(out), load_external_data=False), work)
    kinds = set()
    for name, (packed, scales, k, n) in nodes.items():
        tensor = source_tensor(reader, name)
        if tensor.tensor_type == T.Q4_0:
            blocks = np.asarray(tensor.data).reshape(n * k // 32, 18)
            d = blocks[:, :2].copy().view(np.float16).astype(np.float32)[:, 0]
            qs = blocks[:, 2:]
            elements = np.concatenate([qs & 0x0F, qs >> 4], axis=1)       # Q4_0: j low, j + 16 high
            expected = elements[:, 0::2] | (elements[:, 1::2] << 4)     # MatMulNBits: 2j low, 2j + 1 high
            assert np.array_equal(packed.reshape(-1, 16), expected), name
            assert np.array_equal(scales.reshape(-1), d), name
            values = ((elements.astype(np.float32) - 8) * scales.reshape(-1, 1)).reshape(n, k)
            assert np.array_equal(values, gguf.quants.dequantize(tensor.data, T.Q4_0)), name
            kinds.add("q4_0")
        else:
            weight = np.ascontiguousarray(gguf.quants.dequantize(tensor.data, tensor.tensor_type).astype(np.float32).T)
            want = np.zeros((n, k // 32, 16), np.uint8)
            want_scales = np.zeros((n, k // 32), np.float32)
            quantize_matmul_4bits(want, weight, want_scales, np.zeros((n, (k // 32 + 1) // 2), np.uint8), 32, n, k, True)
            assert np.array_equal(packed, want), name
            assert np.array_equal(scales.reshape(n, -1), want_scales), name
            kinds.add("quantized")
    assert kinds == {"q4_0", "quantized"}


def test_int4_from_q4_0_matches_llama_cpp(work):
    """All matrices Q4_0 (gguf-py's quantizer): the export repacks them, so onnxruntime (accuracy_level set to 0,
    f32 products) computes what llama.cpp computes on the same values dequantized to F32."""
    source, reference_gguf, out = work / "all-q4_0.gguf", work / "all-q4_0.f32.gguf", work / "all-q4_0.onnx"
    rewrite_gguf(MODELS / "tiny-llama.gguf", source, T.Q4_0)
    rewrite_gguf(source, reference_gguf, None)
    run_ok("convert", source, out, "--dtype", "int4")
    decoder = Decoder(out, float_activations=True)
    model = onnx.load(str(out), load_external_data=False)
    assert len(matmul_nbits(model, work)) == 4 * 7 + 1
    # Written for int8 activations on the CPU, as onnxruntime-genai's builder writes it.
    assert all(onnx.helper.get_attribute_value(a) == 4 for node in model.graph.node if node.op_type == "MatMulNBits"
               for a in node.attribute if a.name == "accuracy_level")
    ids = token_ids(PREFILL, 64)
    assert np.abs(decoder.run(ids)["logits"][0] - llama_cpp_logits(reference_gguf, ids)).max() < TOLERANCE


def test_f16_close_to_f32(work):
    f32, f16 = work / "tl.f32.onnx", work / "tl.f16.onnx"
    run_ok("convert", MODELS / "tiny-llama.gguf", f32)
    run_ok("convert", MODELS / "tiny-llama.gguf", f16, "--dtype", "f16")
    onnx.checker.check_model(str(f16), full_check=True)
    model = onnx.load(str(f16), load_external_data=False)
    weight = next(t for t in model.graph.initializer if t.name == "model.layers.0.self_attn.q_proj.weight")
    assert weight.data_type == onnx.TensorProto.FLOAT16
    ids = token_ids(PREFILL, 64)
    assert np.abs(Decoder(f16).run(ids)["logits"] - Decoder(f32).run(ids)["logits"]).max() < 3e-3


@pytest.mark.parametrize("name", GGUF_MODELS)
def test_genai_folder_generates_llama_cpp_greedy_tokens(name, work):
    import llama_cpp
    import onnxruntime_genai as og
    folder = work / f"genai-{Path(name).stem}"
    result = run_ok("convert", MODELS / name, folder, "--to", "onnx")
    assert result.stdout.strip() == f"wrote {folder}"
    assert sorted(p.name for p in folder.iterdir()) == ["genai_config.json", "model.onnx", "model.onnx.data",
                                                        "tokenizer.json", "tokenizer_config.json"]
    prompt = [0, 5, 17, 33, 2, 41]
    reference_gguf = work / f"genai-{name}.f32.gguf"
    rewrite_gguf(MODELS / name, reference_gguf, None)
    llm = llama_cpp.Llama(model_path=str(reference_gguf), n_ctx=128, verbose=False,
                          type_k=llama_cpp.GGML_TYPE_F32, type_v=llama_cpp.GGML_TYPE_F32)
    llm.eval(prompt)
    expected = []
    for _ in range(16):
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),))
        expected.append(int(np.argmax(logits)))
        llm.eval([expected[-1]])

    model = og.Model(str(folder))
    params = og.GeneratorParams(model)
    params.set_search_options(do_sample=False, max_length=len(prompt) + 16, min_length=len(prompt) + 16)
    generator = og.Generator(model, params)
    generator.append_tokens(np.array([prompt], np.int32))
    produced = []
    while not generator.is_done():
        generator.generate_next_token()
        produced.append(int(generator.get_next_tokens()[0]))
    assert produced == expected


def test_smollm2_perplexity_matches_engine(work):
    """SmolLM2-135M (Q4_1) → ONNX f32: onnxruntime's perplexity over eval's windows equals the engine's."""
    import llama_cpp
    gguf_path = real_model("SmolLM2-135M-Instruct.Q4_1.gguf")
    text = REPO / "data" / "held-out.txt"
    ctx, chunks = 512, 2
    engine = json.loads(run_ok("eval", gguf_path, "--text", text, "--json", "--ctx", ctx, "--chunks", chunks).stdout)
    out = work / "smollm2.onnx"
    run_ok("convert", gguf_path, out, "--no-kv-cache", timeout=600)
    llm = llama_cpp.Llama(model_path=str(gguf_path), vocab_only=True, verbose=False)
    add_bos = llm._model.add_bos_token()
    tokens = llm.tokenize(text.read_bytes(), add_bos=add_bos, special=False)
    assert len(tokens) == engine["tokens"]
    decoder = Decoder(out)
    nll, scored = 0.0, 0
    for w in range(min(chunks, len(tokens) // ctx)):
        window = tokens[w * ctx:(w + 1) * ctx]
        if add_bos:
            window = [llm.token_bos()] + window[1:]
        logits = decoder.run(window)["logits"][0].astype(np.float64)
        for i in range(ctx // 2, ctx - 1):
            row = logits[i]
            top = row.max()
            nll += top + math.log(np.exp(row - top).sum()) - row[window[i + 1]]
            scored += 1
    assert scored == engine["perplexity"]["scoredTokens"]
    perplexity = math.exp(nll / scored)
    assert perplexity == pytest.approx(engine["perplexity"]["perplexity"], rel=1e-4)


@pytest.mark.parametrize("args, named", [
    (["tiny-deci.gguf", "out.onnx"], "deci"),
    (["tiny-llama.gguf", "out.onnx", "--dtype", "q8_0"], "--dtype"),
    (["tiny-llama.gguf", "out.gguf", "--to", "onnx"], "out.gguf"),
    (["tiny-llama.gguf", "out.onnx", "--dtype", "int4", "--split-max-size", "1M"], "--split-max-size"),
])
def test_refusals_write_nothing(args, named, tmp_path):
    source = MODELS / args[0]
    result = run("convert", source, tmp_path / args[1], *args[2:])
    assert_clean_error(result, named)
    assert list(tmp_path.iterdir()) == []


def test_refuses_to_overwrite_its_input(tmp_path):
    source = tmp_path / "model.onnx.data"
    source.write_bytes((MODELS / "tiny-llama.gguf").read_bytes())
    before = source.read_bytes()
    result = run("convert", source, tmp_path / "model.onnx")
    assert_clean_error(result, "model.onnx")
    assert source.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx.data"]
