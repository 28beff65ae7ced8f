"""``torchrun --standalone --nproc-per-node 2 -m recdenoise train``: the CLI joins the process group."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

dist = pytest.importorskip("torch.distributed")
if not dist.is_available() or not dist.is_gloo_available():
    pytest.skip("torch.distributed with the gloo backend is not available in this torch build", allow_module_level=True)

REPO = Path(__file__).resolve().parents[2]


def test_torchrun_two_ranks_train_and_write_one_run_folder(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "recdenoise", "train",
        "--data-option", "num_users=80", "--data-option", "num_items=120", "--model", "lightgcn", "--embedding-dim", "8",
        "--epochs", "2", "--batch-size", "128", "--device", "cpu", "--no-progress", "--output", str(out),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("test:") == 1  # rank 0 prints, rank 1 stays quiet
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "complete" and record["epochs_run"] == 2
    assert (out / "checkpoint.pt").is_file() and (out / "test_topk.csv").is_file()
