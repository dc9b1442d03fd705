"""ONNX models pruned by us, run by onnxruntime and onnxruntime-genai, against references made without us:
transformers with the same decoder layers deleted (fp32), or the genai builder run on that pruned checkpoint
(int4). Fixtures and goldens: TestModels/onnx (generate.py, README.md)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import onnxruntime as ort
import onnxruntime_genai as og
import pytest

from support import MODELS, assert_clean_error, run, run_ok

ONNX_DIR = MODELS / "onnx"
GOLDEN = json.loads((ONNX_DIR / "golden.json").read_text())
LOGITS = np.load(ONNX_DIR / "golden.npz")
IDS = GOLDEN["input_ids"]
REMOVALS = [",".join(map(str, r)) for r in GOLDEN["removals"]]
# A fixture is a .onnx file or a folder; the pruned model is written in the same form.
FIXTURES = {name: ONNX_DIR / (info["path"] if "genai" not in name and "optimum" not in name
                              else info["path"].rsplit("/model.onnx", 1)[0])
            for name, info in GOLDEN["fixtures"].items()}
ort.set_default_logger_severity(3)


def model_file(path):
    return path / "model.onnx" if path.is_dir() else path


def prune(name, layers, tmp_path):
    src = FIXTURES[name]
    out = tmp_path / ("pruned" if src.is_dir() else "pruned.onnx")
    run_ok("prune", src, out, "--layers", layers)
    return out


def session(path):
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(model_file(path)), options, providers=["CPUExecutionProvider"])


def feeds(sess, ids, past_length, past):
    """Inputs for `ids` following `past_length` cached tokens (`past`: name -> array, or None for an empty cache)."""
    total = past_length + len(ids)
    values = {}
    for spec in sess.get_inputs():
        if spec.name == "input_ids":
            values[spec.name] = np.array([ids], dtype=np.int64)
        elif spec.name == "attention_mask":
            values[spec.name] = np.ones((1, total), dtype=np.int64)
        elif spec.name == "position_ids":
            values[spec.name] = np.arange(past_length, total, dtype=np.int64)[None]
        elif spec.name.startswith("past_key_values."):
            values[spec.name] = past[spec.name] if past else np.zeros((1, 2, 0, 16), dtype=np.float32)
        else:
            raise AssertionError(f"unexpected input {spec.name}")
    return values


def run_logits(sess, ids, past_length=0, past=None):
    names = [o.name for o in sess.get_outputs()]
    outputs = dict(zip(names, sess.run(names, feeds(sess, ids, past_length, past))))
    presents = {n.replace("present.", "past_key_values.", 1): v for n, v in outputs.items() if n.startswith("present.")}
    return outputs["logits"][0], presents


def has_cache(name):
    return "decode" in GOLDEN["fixtures"][name].get("runs", ["prefill", "decode"])


def check_against_golden(path, name, removal, tolerance):
    sess = session(path)
    prefill, _ = run_logits(sess, IDS)
    expected = LOGITS[f"{name}/prefill/{removal}"]
    assert np.abs(prefill - expected).max() < tolerance, f"{name} {removal}: prefill differs"
    if not has_cache(name):
        assert not any(i.name.startswith("past_key_values.") for i in sess.get_inputs())
        return
    _, cache = run_logits(sess, IDS[:4])
    decode, _ = run_logits(sess, IDS[4:], past_length=4, past=cache)
    expected = LOGITS[f"{name}/decode/{removal}"]
    assert np.abs(decode - expected).max() < tolerance, f"{name} {removal}: decode through the KV cache differs"


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_unpruned_fixture_matches_its_golden(name):
    check_against_golden(FIXTURES[name], name, "unpruned", 1e-4)


@pytest.mark.parametrize("removal", REMOVALS)
@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_pruned_model_gives_the_reference_logits(name, removal, tmp_path):
    out = prune(name, removal, tmp_path)
    check_against_golden(out, name, removal, 1e-4)
    kept = 4 - len(removal.split(",")) if has_cache(name) else 0
    sess = session(out)
    cache = sorted(i.name for i in sess.get_inputs() if i.name.startswith("past_key_values."))
    assert cache == sorted(f"past_key_values.{b}.{kind}" for b in range(kept) for kind in ("key", "value"))
    assert sorted(o.name for o in sess.get_outputs() if o.name != "logits") == \
        sorted(f"present.{b}.{kind}" for b in range(kept) for kind in ("key", "value"))


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_checker_accepts_what_we_write_where_it_accepts_the_source(name, tmp_path):
    out = prune(name, "1,2", tmp_path)
    try:
        onnx.checker.check_model(str(model_file(FIXTURES[name])), full_check=True)
    except onnx.checker.ValidationError as error:
        # onnxruntime-genai writes its SimplifiedLayerNormalization in the standard domain, which the checker
        # does not know; ours fails for that reason only.
        assert "SimplifiedLayerNormalization" in str(error)
        with pytest.raises(onnx.checker.ValidationError, match="SimplifiedLayerNormalization"):
            onnx.checker.check_model(str(model_file(out)), full_check=True)
        return
    onnx.checker.check_model(str(model_file(out)), full_check=True)


@pytest.mark.parametrize("removal", REMOVALS)
@pytest.mark.parametrize("name", [n for n in sorted(FIXTURES) if n.startswith("genai")])
def test_onnxruntime_genai_generates_from_a_pruned_folder(name, removal, tmp_path):
    out = prune(name, removal, tmp_path)
    config = json.loads((out / "genai_config.json").read_text())
    assert config["model"]["decoder"]["num_hidden_layers"] == 4 - len(removal.split(","))
    model = og.Model(str(out))
    params = og.GeneratorParams(model)
    params.set_search_options(do_sample=False, max_length=16)
    generator = og.Generator(model, params)
    generator.append_tokens(GOLDEN["genai_greedy_prompt"])
    while not generator.is_done():
        generator.generate_next_token()
    assert list(generator.get_sequence(0)) == GOLDEN["genai_greedy_tokens"][name][removal]


def test_folder_companions_are_copied_and_config_follows(tmp_path):
    out = prune("optimum-llama", "1,2", tmp_path)
    source = FIXTURES["optimum-llama"]
    for companion in ("tokenizer.json", "tokenizer_config.json", "generation_config.json"):
        assert (out / companion).read_bytes() == (source / companion).read_bytes()
    assert json.loads((out / "config.json").read_text())["num_hidden_layers"] == 2


def test_weights_go_external_and_aligned(tmp_path):
    out = prune("dynamo-qwen2", "2", tmp_path)     # an inline source
    model = onnx.load(str(out), load_external_data=False)
    external = [t for t in model.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    inline = [t for t in model.graph.initializer if t.data_location != onnx.TensorProto.EXTERNAL]
    assert external and all(len(t.raw_data) < 1024 for t in inline)
    for tensor in external:
        info = {e.key: e.value for e in tensor.external_data}
        assert info["location"] == "pruned.onnx.data" and int(info["offset"]) % 4096 == 0


def test_provenance_composes_across_repeated_pruning(tmp_path):
    once = prune("dynamo-llama", "1", tmp_path)
    twice = tmp_path / "twice.onnx"
    run_ok("prune", once, twice, "--layers", "1")
    props = {p.key: p.value for p in onnx.load(str(twice), load_external_data=False).metadata_props}
    assert props["modelsurgery.original_block_count"] == "4"
    assert json.loads(props["modelsurgery.removed_blocks"]) == [1, 2]
    check_against_golden(twice, "dynamo-llama", "1,2", 1e-4)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_inspect_counts_what_onnx_reads(name):
    report = json.loads(run_ok("inspect", FIXTURES[name], "--json").stdout)
    model = onnx.load(str(model_file(FIXTURES[name])))
    elements = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
    assert report["blockCount"] == 4 and report["parameters"] == elements
    assert len(report["blocks"]) == 4 and all(b["nodes"] > 0 for b in report["blocks"])
    assert sum(b["nodes"] for b in report["blocks"]) + report["globals"]["nodes"] == len(model.graph.node)
    assert report["residual"] == ("fusedNorms" if name.startswith("genai") else "addChain")
    projections = ["attn_qkv"] if name.startswith("genai") else ["attn_q", "attn_k", "attn_v"]
    expected = {f"{p}.weight" for p in projections + ["attn_output", "ffn_gate", "ffn_up", "ffn_down"]}
    expected |= {"attn_norm.weight", "ffn_norm.weight"}
    if name.endswith("int4"):
        expected |= {r.replace(".weight", ".scales") for r in expected if "norm" not in r}
    if "qwen2" in name:
        expected |= {f"{p}.bias" for p in projections}
    for block in report["blocks"]:
        assert {t["role"] for t in block["tensors"]} == expected, f"block {block['index']}"


# ------------------------------------------------------------- bad input: one line, nothing written

def corrupt_copy(tmp_path, name, edit):
    folder = tmp_path / "bad"
    source = FIXTURES[name]
    if source.is_dir():
        shutil.copytree(source, folder)
        path = folder / "model.onnx"
    else:
        folder.mkdir()
        for file in source.parent.iterdir():
            shutil.copy(file, folder / file.name)
        path = folder / source.name
    edit(path)
    return folder if source.is_dir() else path


def external(path):
    return path.parent / "model.onnx.data"


BAD = {
    "not a protobuf": ("dynamo-qwen2", lambda p: p.write_text("hello, I am not a model\n"), "not an ONNX model"),
    "truncated": ("dynamo-qwen2", lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]), "not an ONNX model"),
    "external data missing": ("dynamo-llama", lambda p: external(p).unlink(), "is missing"),
    "external data short": ("dynamo-llama", lambda p: external(p).write_bytes(external(p).read_bytes()[:1000]),
                            "run past the end"),
    "initializer bytes do not fit its shape": ("dynamo-qwen2", lambda p: shrink_first_raw_tensor(p), "needs"),
    "external data out of bounds": ("dynamo-llama", lambda p: edit_external(p, "offset", "99999999"), "run past the end"),
    "external data outside the folder": ("dynamo-llama", lambda p: edit_external(p, "location", "../model.onnx.data"),
                                         "not a file beside the model"),
    "broken residual": ("optimum-llama", lambda p: cut_residual(p), "block 1: expected one Add"),
    "no recognisable blocks": ("dynamo-qwen2", lambda p: rename_every_node(p), "not a decoder graph"),
}


def shrink_first_raw_tensor(path):
    model = onnx.load(str(path))
    tensor = next(t for t in model.graph.initializer if len(t.raw_data) >= 1024)
    tensor.raw_data = tensor.raw_data[:-4]
    onnx.save(model, str(path))


def edit_external(path, key, value):
    model = onnx.load(str(path), load_external_data=False)
    tensor = next(t for t in model.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL)
    next(e for e in tensor.external_data if e.key == key).value = value
    onnx.save(model, str(path))


def cut_residual(path):
    """Block 1's output residual Add becomes a Sub: the Add-chain pattern fails there."""
    model = onnx.load(str(path))
    next(n for n in model.graph.node if n.name == "/model/layers.1/Add_1").op_type = "Sub"
    onnx.save(model, str(path))


def rename_every_node(path):
    model = onnx.load(str(path))
    for node in model.graph.node:
        node.name = "n"
        del node.metadata_props[:]
    onnx.save(model, str(path))


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_and_writes_nothing(case, tmp_path):
    name, edit, message = BAD[case]
    bad = corrupt_copy(tmp_path, name, edit)
    out = tmp_path / "out"
    out.mkdir()
    result = run("prune", bad, out / "pruned.onnx", "--layers", "1")
    assert_clean_error(result, str(bad if bad.suffix == ".onnx" else bad / "model.onnx"))
    assert message in result.stderr
    assert list(out.iterdir()) == []
    assert_clean_error(run("inspect", bad), message)


def test_block_out_of_range_is_refused(tmp_path):
    result = run("prune", FIXTURES["genai-llama-fp32"], tmp_path / "out", "--layers", "4")
    assert_clean_error(result, "block 4")
    assert not (tmp_path / "out").exists()


def test_convert_writes_onnx_from_a_hugging_face_folder(tmp_path):
    """convert exports .onnx outputs (test_onnx_export.py checks what they compute)."""
    run_ok("convert", FIXTURES["genai-llama-fp32"].parent.parent.parent / "hf" / "llama", tmp_path / "x.onnx")
    onnx.checker.check_model(str(tmp_path / "x.onnx"), full_check=True)
