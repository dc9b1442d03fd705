"""Failures: non-zero exit, one line on stderr naming the file, nothing left behind."""

from __future__ import annotations

import shutil

import pytest

from support import BAD, BAD_FILES, MODELS, assert_clean_error, run, sha256_file


@pytest.mark.parametrize("name", BAD_FILES)
def test_inspect_rejects_bad_file(name):
    assert_clean_error(run("inspect", BAD / name, "--json"), name)


@pytest.mark.parametrize("name", BAD_FILES)
def test_prune_rejects_bad_file(name, tmp_path):
    # --layers 1 would be a valid request on the uncorrupted tiny-base.gguf (2 blocks).
    result = run("prune", BAD / name, tmp_path / "out.gguf", "--layers", "1")
    assert_clean_error(result, name)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("selection", [
    ["--layers", "4"], ["--layers", "2-9"], ["--keep", "7"],     # out of range (4 blocks)
    ["--layers", "0-3"], ["--layers", "0,1,2,3"],                 # removes every block
])
def test_prune_rejects_bad_selection(selection, tmp_path):
    name = "tiny-llama.gguf"
    result = run("prune", MODELS / name, tmp_path / "out.gguf", *selection)
    assert_clean_error(result, name)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("spelling", ["same", "dotdot"])
def test_prune_refuses_to_overwrite_input(spelling, tmp_path):
    source = tmp_path / "model.gguf"
    shutil.copyfile(MODELS / "tiny-llama.gguf", source)
    (tmp_path / "sub").mkdir()
    out = source if spelling == "same" else tmp_path / "sub" / ".." / "model.gguf"
    before = sha256_file(source)
    result = run("prune", source, out, "--layers", "1")
    assert_clean_error(result, "model.gguf")
    assert sha256_file(source) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.gguf", "sub"]
    assert list((tmp_path / "sub").iterdir()) == []


def test_missing_input(tmp_path):
    assert_clean_error(run("inspect", tmp_path / "missing.gguf"), "missing.gguf")
    result = run("prune", tmp_path / "missing.gguf", tmp_path / "out.gguf", "--layers", "1")
    assert_clean_error(result, "missing.gguf")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("target", ["same", "missing-folder"])
def test_prune_refuses_a_bad_output_before_scoring(target, tmp_path):
    """Scoring SmolLM2 takes minutes; a bad output path is refused before any of it."""
    import time
    from support import real_model
    model = real_model("SmolLM2-135M-Instruct.Q4_1.gguf")
    output = model if target == "same" else tmp_path / "missing" / "out.gguf"
    started = time.monotonic()
    result = run("prune", model, output, "--ratio", "0.25", "--attention-ratio", "0.2")
    assert_clean_error(result, str(output))
    assert time.monotonic() - started < 20
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [["inspect"], ["prune", "--layers", "1"]])
def test_a_fifo_as_the_model_is_refused_not_waited_on(command, tmp_path):
    import os
    fifo = tmp_path / "model.gguf"
    os.mkfifo(fifo)
    args = [command[0], fifo] + ([tmp_path / "out.gguf"] + command[1:] if command[0] == "prune" else [])
    result = run(*args, timeout=20)
    assert_clean_error(result, "model.gguf")
    assert "not a regular file" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.gguf"]


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
def test_an_interrupted_write_leaves_nothing(signal_name, tmp_path):
    """Ctrl-C or a kill while the output is being written removes the temporary files; nothing else changes."""
    import os
    import signal
    import subprocess
    import time
    from support import binary, real_model
    model = real_model("SmolLM2-135M-Instruct.Q4_1.gguf")
    before = sha256_file(model)
    process = subprocess.Popen([str(binary()), "convert", str(model), str(tmp_path / "out"), "--dtype", "f32"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not any(p.name.startswith(".out") for p in tmp_path.iterdir()):
        assert process.poll() is None, "finished before it could be interrupted"
        assert time.monotonic() < deadline, "no temporary output appeared"
        time.sleep(0.02)
    time.sleep(0.3)
    process.send_signal(getattr(signal, signal_name))
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + getattr(signal, signal_name), stderr
    assert "interrupted: no output written" in stderr
    assert list(tmp_path.iterdir()) == []
    assert sha256_file(model) == before


def test_an_error_quoting_the_file_is_one_escaped_line(tmp_path):
    """Names in error messages come from the file: control characters are escaped, newlines included."""
    import gguf
    import numpy as np
    path = tmp_path / "evil.gguf"
    writer = gguf.GGUFWriter(str(path), "\x1b[31mevil\narch")
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    result = run("eval", path, "--text", MODELS.parent / "data" / "held-out.txt")
    assert_clean_error(result, "evil.gguf")
    assert "\x1b" not in result.stderr and "\\u{1b}[31mevil\\u{a}arch" in result.stderr


def test_a_folder_s_fifo_is_skipped_and_links_are_copied_as_files(tmp_path):
    """A Hugging Face cache links each file to a blob; a FIFO among the files must not block the copy."""
    import os
    source = tmp_path / "model"
    shutil.copytree(MODELS / "hf" / "tiny-llama-hf", source)
    os.mkfifo(source / "notes.txt")
    (source / "tokenizer.json").rename(tmp_path / "blob")
    (source / "tokenizer.json").symlink_to(tmp_path / "blob")
    result = run("prune", source, tmp_path / "out", "--layers", "1", timeout=60)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    assert not (out / "notes.txt").exists()
    assert not (out / "tokenizer.json").is_symlink()
    assert (out / "tokenizer.json").read_bytes() == (tmp_path / "blob").read_bytes()
