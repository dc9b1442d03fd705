"""ONNX models read into the common model (TestModels/onnx): block-quantized weights decode as onnxruntime
decodes them, our engine on the int4 genai folders gives onnxruntime's perplexity with float activations,
conversions give the weights transformers saved and llama.cpp runs them, scoring chooses blocks that prune
removes from the graph, and malformed files get a one-line error."""

from __future__ import annotations

import json
import shutil

import llama_cpp
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file
from tokenizers import Tokenizer

from support import MODELS, assert_clean_error, run, run_ok
from test_onnx import FIXTURES, GOLDEN, IDS, LOGITS, run_logits, session

INT4 = ["genai-llama-int4", "genai-qwen2-int4"]
TEXT = " ".join(["the quick brown fox jumps over a lazy dog while small models learn to predict tokens from text"] * 12)


def edited_copy(folder, out, edit):
    """A copy of a fixture folder whose model.onnx `edit` changed (its weights saved inline)."""
    shutil.copytree(folder, out)
    model = onnx.load(str(folder / "model.onnx"))
    edit(model)
    (out / "model.onnx.data").unlink()
    onnx.save(model, str(out / "model.onnx"))
    return out


def set_attribute(op, name, value, every=False):
    """An edit that sets attribute `name` of the first (or every) `op` node."""
    def edit(model):
        for node in [n for n in model.graph.node if n.op_type == op][: None if every else 1]:
            next(a for a in node.attribute if a.name == name).i = value
    return edit


def float_activations(folder, tmp_path):
    """A copy of an int4 genai folder whose MatMulNBits take float activations (accuracy_level 0), not int8."""
    return edited_copy(folder, tmp_path / "float-activations", set_attribute("MatMulNBits", "accuracy_level", 0, every=True))


def onnxruntime_nll(folder, ids, ctx):
    """Mean NLL with llama-perplexity's protocol (see Engine/Perplexity.swift): windows of ctx, second half scored."""
    sess = session(folder)
    total, count = 0.0, 0
    for start in range(0, len(ids) - ctx + 1, ctx):
        window = ids[start:start + ctx]
        logits, _ = run_logits(sess, window)
        for position in range(ctx // 2, ctx - 1):
            row = logits[position].astype(np.float64)
            total += np.log(np.exp(row - row.max()).sum()) + row.max() - row[window[position + 1]]
            count += 1
    return total / count


@pytest.mark.parametrize("name", INT4)
def test_int4_engine_gives_onnxruntimes_perplexity_with_float_activations(name, tmp_path):
    text = tmp_path / "text.txt"
    text.write_text(TEXT)
    report = json.loads(run_ok("eval", FIXTURES[name], "--text", text, "--ctx", "64", "--json").stdout)
    ids = Tokenizer.from_file(str(FIXTURES[name] / "tokenizer.json")).encode(TEXT).ids
    assert report["tokens"] == len(ids)
    expected = onnxruntime_nll(float_activations(FIXTURES[name], tmp_path), ids, 64)
    ours = report["perplexity"]["meanNegativeLogLikelihood"]
    assert abs(ours - expected) <= 1e-4 * expected, f"{name}: NLL {ours} vs onnxruntime {expected}"


@pytest.mark.parametrize("name", INT4)
def test_int4_folder_converted_to_gguf_gives_onnxruntimes_logits_in_llama_cpp(name, tmp_path):
    out = tmp_path / "model.gguf"
    run_ok("convert", FIXTURES[name], out)
    expected, _ = run_logits(session(float_activations(FIXTURES[name], tmp_path)), IDS)
    llm = llama_cpp.Llama(model_path=str(out), n_ctx=64, logits_all=True, verbose=False,
                          type_k=llama_cpp.GGML_TYPE_F32, type_v=llama_cpp.GGML_TYPE_F32)
    llm.eval(IDS)
    logits = np.asarray(llm.scores[:len(IDS)])
    assert np.abs(logits - expected).max() < 1e-4


# ------------------------------------------------------------- MatMulNBits decoding, bit for bit

VARIANTS = [(bits, block, zero_points, scale_type) for bits in (4, 8) for block in (16, 32, 128)
            for zero_points in (False, True) for scale_type in (TensorProto.FLOAT, TensorProto.FLOAT16)]


def quantized_weight(bits, block, zero_points, scale_type, n, k, rng):
    """MatMulNBits inputs B, scales and (optionally) packed zero points for an N×K weight, random."""
    blocks = -(-k // block)
    blob = block * bits // 8
    data = rng.integers(0, 256, size=(n, blocks, blob), dtype=np.uint8)
    scales = (rng.standard_normal((n, blocks)) * 0.05).astype(np.float16 if scale_type == TensorProto.FLOAT16 else np.float32)
    zeros = rng.integers(0, 256, size=(n, -(-blocks * bits // 8)), dtype=np.uint8) if zero_points else None
    return data, scales, zeros


def matmulnbits_node(name, inputs, bits, block, n, k):
    return helper.make_node("MatMulNBits", inputs, [f"{name}_out"], name=name, domain="com.microsoft",
                            K=k, N=n, bits=bits, block_size=block, accuracy_level=0)


def onnxruntime_weight(data, scales, zeros, bits, block, n, k, scale_type):
    """onnxruntime's dequantized N×K weight: the MatMulNBits of an identity matrix (one product per output)."""
    names = ["B", "scales"] + (["zp"] if zeros is not None else [])
    arrays = [data, scales] + ([zeros] if zeros is not None else [])
    graph = helper.make_graph(
        [matmulnbits_node("q", ["A"] + names, bits, block, n, k)], "decode",
        [helper.make_tensor_value_info("A", scale_type, [k, k])], [helper.make_tensor_value_info("q_out", scale_type, [k, n])],
        [numpy_helper.from_array(a, name) for a, name in zip(arrays, names)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("com.microsoft", 1)])
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    identity = np.eye(k, dtype=np.float16 if scale_type == TensorProto.FLOAT16 else np.float32)
    return sess.run(None, {"A": identity})[0].T


def replace_o_proj(data, scales, zeros, bits, block):
    """An edit: block 0's o_proj of a genai int4 model holds the given weight instead (our reader decodes it; the
    graph is not run, so f16 scales may sit in this float graph)."""
    return lambda model: o_proj_holding(model, data, scales, zeros, bits, block)


def o_proj_holding(model, data, scales, zeros, bits, block):
    node = next(n for n in model.graph.node if n.name == "/model/layers.0/attn/o_proj/MatMul_Q4")
    for attribute in node.attribute:
        if attribute.name in ("bits", "block_size"):
            attribute.i = {"bits": bits, "block_size": block}[attribute.name]
    replaced = {node.input[1]: data, node.input[2]: scales}
    for index, tensor in enumerate(model.graph.initializer):
        if tensor.name in replaced:
            model.graph.initializer[index].CopyFrom(numpy_helper.from_array(replaced[tensor.name], tensor.name))
    del node.input[3:]
    if zeros is not None:
        model.graph.initializer.append(numpy_helper.from_array(zeros, "o_proj_zero_points"))
        node.input.append("o_proj_zero_points")


@pytest.mark.parametrize("bits,block,zero_points,scale_type", VARIANTS)
def test_matmulnbits_decodes_as_onnxruntime_does(bits, block, zero_points, scale_type, tmp_path):
    n = k = 64
    rng = np.random.default_rng(bits * 1000 + block * 10 + zero_points)
    data, scales, zeros = quantized_weight(bits, block, zero_points, scale_type, n, k, rng)
    expected = onnxruntime_weight(data, scales, zeros, bits, block, n, k, scale_type)
    folder = edited_copy(FIXTURES["genai-llama-int4"], tmp_path / "model", replace_o_proj(data, scales, zeros, bits, block))
    run_ok("convert", folder, tmp_path / "out", "--dtype", "f32")
    ours = load_file(str(tmp_path / "out" / "model.safetensors"))["model.layers.0.self_attn.o_proj.weight"]
    assert ours.dtype == np.float32
    if scale_type == TensorProto.FLOAT16:
        # onnxruntime's product is float16; ours, exact in float32, rounds to it.
        assert np.array_equal(ours.astype(np.float16), expected)
    else:
        assert np.array_equal(ours, expected)


# ------------------------------------------------------------- conversions

@pytest.mark.parametrize("name", ["dynamo-llama", "optimum-llama", "genai-llama-fp32"])
def test_converted_to_a_folder_gives_the_weights_transformers_saved(name, tmp_path):
    run_ok("convert", FIXTURES[name], tmp_path / "out")
    ours = load_file(str(tmp_path / "out" / "model.safetensors"))
    reference = load_file(str(MODELS / "onnx" / "hf" / "llama" / "model.safetensors"))
    assert sorted(ours) == sorted(reference)
    for tensor, values in reference.items():
        assert ours[tensor].dtype == np.float32 and np.array_equal(ours[tensor], values), tensor


def test_genai_fp32_converted_to_gguf_gives_the_golden_logits_in_llama_cpp(tmp_path):
    out = tmp_path / "model.gguf"
    run_ok("convert", FIXTURES["genai-llama-fp32"], out)
    llm = llama_cpp.Llama(model_path=str(out), n_ctx=64, logits_all=True, verbose=False,
                          type_k=llama_cpp.GGML_TYPE_F32, type_v=llama_cpp.GGML_TYPE_F32)
    llm.eval(IDS)
    logits = np.asarray(llm.scores[:len(IDS)])
    assert np.abs(logits - LOGITS["genai-llama-fp32/prefill/unpruned"]).max() < 1e-4


# ------------------------------------------------------------- scoring chooses, the graph loses the blocks

def with_tokenizer(tmp_path):
    """The dynamo llama file with the tokenizer of the model it was exported from beside it."""
    folder = tmp_path / "dynamo"
    folder.mkdir()
    for file in FIXTURES["dynamo-llama"].parent.iterdir():
        shutil.copy(file, folder / file.name)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(MODELS / "onnx" / "hf" / "llama" / name, folder / name)
    return folder / "model.onnx"


@pytest.mark.parametrize("name", ["genai-qwen2-int4", "dynamo-llama"])
def test_score_and_prune_by_count(name, tmp_path):
    source = with_tokenizer(tmp_path) if name == "dynamo-llama" else FIXTURES[name]
    assert "simdiff" in run_ok("score", source).stdout
    out = tmp_path / ("pruned" if source.is_dir() else "pruned.onnx")
    report = json.loads(run_ok("prune", source, out, "--count", "1", "--json").stdout)
    assert len(report["removed"]) == 1 and report["criterion"] == "simdiff"
    properties = {p.key: p.value for p in onnx.load(str(out / "model.onnx" if out.is_dir() else out),
                                                    load_external_data=False).metadata_props}
    assert properties["modelsurgery.criterion"] == "simdiff" and properties["modelsurgery.removed_blocks"] == str(report["removed"])
    sess = session(out)
    assert len([i for i in sess.get_inputs() if i.name.startswith("past_key_values.")]) == 2 * 3
    logits, _ = run_logits(sess, IDS)
    removal = str(report["removed"][0])
    if "int4" not in name:
        assert np.abs(logits - LOGITS[f"{name}/prefill/{removal}"]).max() < 1e-4


def test_a_bare_graph_has_no_tokenizer_for_scoring(tmp_path):
    for command in (["score"], ["prune", tmp_path / "out.onnx", "--count", "1"]):
        result = run(command[0], FIXTURES["dynamo-llama"], *command[1:])
        assert_clean_error(result, str(FIXTURES["dynamo-llama"]))
        assert "tokenizer" in result.stderr
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------- malformed: one line naming the file

def wrong_transposed_shape(model):
    node = next(n for n in model.graph.node if n.name == "/model/layers.0/attn/o_proj/MatMul")
    tensor = next(t for t in model.graph.initializer if t.name == node.input[1])
    tensor.CopyFrom(numpy_helper.from_array(np.zeros((63, 64), dtype=np.float32), tensor.name))


HOSTILE = {
    "MatMulNBits K disagrees with B": ("genai-llama-int4", set_attribute("MatMulNBits", "K", 128), "K 128"),
    "MatMulNBits N disagrees with B": ("genai-llama-int4", set_attribute("MatMulNBits", "N", 7), "N 7"),
    "block_size 0": ("genai-llama-int4", set_attribute("MatMulNBits", "block_size", 0), "block_size 0"),
    "block_size 3": ("genai-llama-int4", set_attribute("MatMulNBits", "block_size", 3), "block_size 3"),
    "bits 5": ("genai-llama-int4", set_attribute("MatMulNBits", "bits", 5), "bits 5"),
    "transposed weight of the wrong shape": ("genai-llama-fp32", wrong_transposed_shape, "attn_output"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_malformed_graph_is_one_line_naming_the_file(case, tmp_path):
    name, edit, message = HOSTILE[case]
    folder = edited_copy(FIXTURES[name], tmp_path / "bad", edit)
    for command in (["score"], ["convert", tmp_path / "out.gguf"]):
        result = run(command[0], folder, *command[1:])
        assert_clean_error(result, str(folder))
        assert message in result.stderr
    assert not (tmp_path / "out.gguf").exists()


@pytest.mark.parametrize("field,value", [("num_attention_heads", 1 << 30), ("num_key_value_heads", 1 << 31),
                                         ("head_size", 4_000_000_000), ("num_attention_heads", -3)])
def test_absurd_genai_config_is_one_line_naming_the_file(field, value, tmp_path):
    folder = tmp_path / "bad"
    shutil.copytree(FIXTURES["genai-llama-fp32"], folder)
    config = json.loads((folder / "genai_config.json").read_text())
    config["model"]["decoder"][field] = value
    (folder / "genai_config.json").write_text(json.dumps(config))
    result = run("score", folder)
    assert_clean_error(result, str(folder))


# ------------------------------------------------------------- GatherBlockQuantized decoding, bit for bit

def packed(values):
    """4-bit values, two a byte, the even element in the low nibble."""
    nibbles = (np.asarray(values).ravel() & 0x0F).astype(np.uint8)
    return (nibbles[0::2] | (nibbles[1::2] << 4)).astype(np.uint8)


def four_bit_tensor(name, values, data_type):
    return helper.make_tensor(name, data_type, list(values.shape), packed(values).tobytes(), raw=True)


def gather_inputs(data_type, zero_points, vocab, width, block, rng):
    """Data, scales and zero points of a GatherBlockQuantized table, as initializers."""
    blocks = width // block
    signed = data_type == TensorProto.INT4
    values = rng.integers(-8 if signed else 0, 8 if signed else 16, size=(vocab, width))
    data = (numpy_helper.from_array(packed(values).reshape(vocab, width // 2), "data") if data_type == TensorProto.UINT8
            else four_bit_tensor("data", values, data_type))
    scales = numpy_helper.from_array((rng.standard_normal((vocab, blocks)) * 0.05).astype(np.float32), "scales")
    zeros = None
    if zero_points:
        points = rng.integers(-8 if signed else 0, 8 if signed else 16, size=(vocab, blocks))
        zeros = (numpy_helper.from_array(packed(points).reshape(vocab, blocks // 2), "zeros") if data_type == TensorProto.UINT8
                 else four_bit_tensor("zeros", points, data_type))
    return data, scales, zeros


def gather_node(inputs, block):
    return helper.make_node("GatherBlockQuantized", inputs, ["table"], name="/model/embed_tokens/GatherBlockQuantized",
                            domain="com.microsoft", bits=4, block_size=block, gather_axis=0, quantize_axis=1)


@pytest.mark.parametrize("block", [16, 32])
@pytest.mark.parametrize("zero_points", [False, True])
@pytest.mark.parametrize("data_type", [TensorProto.UINT8, TensorProto.INT4, TensorProto.UINT4])
def test_gatherblockquantized_decodes_as_onnxruntime_does(data_type, zero_points, block, tmp_path):
    vocab, width = 320, 64
    data, scales, zeros = gather_inputs(data_type, zero_points, vocab, width, block, np.random.default_rng(block + zero_points))
    initializers = [data, scales] + ([zeros] if zeros else [])
    names = ["data", "ids", "scales"] + (["zeros"] if zeros else [])
    graph = helper.make_graph([gather_node(names, block)], "gather", [helper.make_tensor_value_info("ids", TensorProto.INT64, [vocab])],
                              [helper.make_tensor_value_info("table", TensorProto.FLOAT, [vocab, width])], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("com.microsoft", 1)])
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    expected = sess.run(None, {"ids": np.arange(vocab, dtype=np.int64)})[0]

    def replace_table(fixture):
        node = next(n for n in fixture.graph.node if n.op_type == "GatherBlockQuantized")
        output = node.output[0]
        node.CopyFrom(gather_node([n if n != "ids" else node.input[1] for n in names], block))
        node.output[0] = output
        fixture.graph.initializer.extend(initializers)
    folder = edited_copy(FIXTURES["genai-qwen2-int4"], tmp_path / "model", replace_table)
    run_ok("convert", folder, tmp_path / "out", "--dtype", "f32")
    ours = load_file(str(tmp_path / "out" / "model.safetensors"))["model.embed_tokens.weight"]
    assert np.array_equal(ours, expected)


# ------------------------------------------------------------- what the model states about itself

def test_modelsurgery_metadata_property_comes_first(tmp_path):
    """The exporter's JSON of GGUF keys wins over what the graph states; missing keys come from the graph."""
    import gguf
    path = tmp_path / "model.onnx"
    model = onnx.load(str(FIXTURES["dynamo-llama"]))
    stated = {"general.architecture": "llama", "general.name": "Stated", "llama.context_length": 77,
              "llama.rope.freq_base": 10000.0, "llama.attention.head_count": 4, "llama.attention.head_count_kv": 2}
    model.metadata_props.append(onnx.StringStringEntryProto(key="modelsurgery.metadata", value=json.dumps(stated)))
    onnx.save(model, str(path))
    run_ok("convert", path, tmp_path / "out.gguf")
    fields = gguf.GGUFReader(str(tmp_path / "out.gguf")).fields
    value = lambda key: fields[key].contents()
    assert value("general.name") == "Stated" and value("llama.context_length") == 77
    assert value("llama.block_count") == 4 and value("llama.feed_forward_length") == 128
    assert abs(value("llama.attention.layer_norm_rms_epsilon") - 1e-6) < 1e-12
    # A number written with a point is a float32, as llama.cpp reads rope.freq_base; without, an integer.
    assert fields["llama.rope.freq_base"].types == [gguf.GGUFValueType.FLOAT32] and value("llama.rope.freq_base") == 10000
    assert fields["llama.context_length"].types == [gguf.GGUFValueType.UINT32]


def test_interleaved_rope_is_read_in_llama_cpps_layout(tmp_path):
    """RoPE on adjacent pairs (rotary_interleaved=1) is llama.cpp's convention: the same weights then give
    onnxruntime's perplexity in our engine, which permutes nothing."""
    folder = edited_copy(FIXTURES["genai-llama-fp32"], tmp_path / "interleaved",
                         set_attribute("GroupQueryAttention", "rotary_interleaved", 1, every=True))
    text = tmp_path / "text.txt"
    text.write_text(TEXT)
    report = json.loads(run_ok("eval", folder, "--text", text, "--ctx", "64", "--json").stdout)
    ids = Tokenizer.from_file(str(folder / "tokenizer.json")).encode(TEXT).ids
    expected = onnxruntime_nll(folder, ids, 64)
    assert abs(report["perplexity"]["meanNegativeLogLikelihood"] - expected) <= 1e-4 * expected


def test_float16_weights_stay_float16(tmp_path):
    """MatMul weights stored f16 and widened by a Cast (as modelsurgery's exporter writes them) keep their element
    type through the transposition: the folder holds the same f16 values."""
    path = tmp_path / "model.onnx"
    model = onnx.load(str(FIXTURES["dynamo-llama"]))
    weights = {t.name: i for i, t in enumerate(model.graph.initializer)}
    for node in [n for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in weights]:
        index, tensor = weights[node.input[1]], model.graph.initializer[weights[node.input[1]]]
        values = numpy_helper.to_array(tensor).astype(np.float16)
        model.graph.initializer[index].CopyFrom(numpy_helper.from_array(values, tensor.name))
        model.graph.node.append(helper.make_node("Cast", [tensor.name], [tensor.name + "_f32"], to=TensorProto.FLOAT))
        node.input[1] = tensor.name + "_f32"
    onnx.save(model, str(path))
    run_ok("convert", path, tmp_path / "out")
    ours = load_file(str(tmp_path / "out" / "model.safetensors"))
    reference = load_file(str(MODELS / "onnx" / "hf" / "llama" / "model.safetensors"))
    for tensor, values in reference.items():
        if values.ndim == 2 and tensor != "model.embed_tokens.weight":
            assert ours[tensor].dtype == np.float16 and np.array_equal(ours[tensor], values.astype(np.float16)), tensor


@pytest.mark.parametrize("text,message", [("{not json", "is not JSON"), ("[1, 2]", "is not a JSON object"),
                                          ('{"general.architecture": {"nested": 1}}', "'general.architecture'")])
def test_malformed_modelsurgery_metadata_is_one_line_naming_the_file(text, message, tmp_path):
    path = tmp_path / "model.onnx"
    model = onnx.load(str(FIXTURES["dynamo-qwen2"]))
    model.metadata_props.append(onnx.StringStringEntryProto(key="modelsurgery.metadata", value=text))
    onnx.save(model, str(path))
    result = run("convert", path, tmp_path / "out.gguf")
    assert_clean_error(result, str(path))
    assert message in result.stderr and not (tmp_path / "out.gguf").exists()


def test_a_head_equal_to_the_embeddings_is_tied(tmp_path):
    """An exporter may write a tied head apart (MatMul B = the embedding table transposed): read, it is tied."""
    path = tmp_path / "model.onnx"
    model = onnx.load(str(FIXTURES["dynamo-llama"]))
    weights = {t.name: t for t in model.graph.initializer}
    head = next(n for n in model.graph.node if n.output[0] == "logits")
    table = numpy_helper.to_array(weights["model.embed_tokens.weight"])
    weights[head.input[1]].CopyFrom(numpy_helper.from_array(np.ascontiguousarray(table.T), head.input[1]))
    onnx.save(model, str(path))
    run_ok("convert", path, tmp_path / "out")
    tensors = load_file(str(tmp_path / "out" / "model.safetensors"))
    assert "lm_head.weight" not in tensors and np.array_equal(tensors["model.embed_tokens.weight"], table)
    assert json.loads((tmp_path / "out" / "config.json").read_text()).get("tie_word_embeddings") is True
