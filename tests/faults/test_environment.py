"""Environment faults (exit 5), divergence (exit 4), failed runs marked in run.json, resume after
the cause is fixed, the run-folder lock (stale takeover, orphaned temp files), SIGTERM (143)."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from recdenoise.reporting.lock import RunLock

from .conftest import TINY_KS, check_fault, run_cli

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.mark.parametrize("make", ["file", "under-file", "dev-null"])
def test_output_is_not_a_folder(capsys, tmp_path, make):
    target = {"file": tmp_path / "f", "under-file": tmp_path / "f" / "run", "dev-null": Path("/dev/null/x")}[make]
    (tmp_path / "f").write_text("keep me")
    check_fault(capsys, ["train", *TINY_KS, "--output", str(target)], 5, [str(target.parent if make != "file" else target)])
    assert (tmp_path / "f").read_text() == "keep me"


@pytest.fixture
def tmpfs(tmp_path):
    """A 1 MiB tmpfs (root only): yields its folder, unmounted after the test."""
    if not IS_ROOT:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("mount -t tmpfs failed (no CAP_SYS_ADMIN in this container)")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_read_only_output(capsys, tmpfs):
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    out = tmpfs / "run"
    line = check_fault(capsys, ["train", *TINY_KS, "--output", str(out)], 5, [str(tmpfs)])
    assert os.strerror(errno.EROFS) in line and not out.exists()


def test_disk_full_then_resume(capsys, tmpfs):
    out = tmpfs / "run"
    argv = ["train", *TINY_KS, "--model", "mf", "--embedding-dim", "1024", "--output", str(out)]
    line = check_fault(capsys, argv, 5, [str(out)])
    assert os.strerror(errno.ENOSPC) in line
    assert not list(out.rglob("*.tmp")), "a temporary file was left behind"
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "failed" and "No space left" in record["error"]
    subprocess.run(["mount", "-o", "remount,size=64m", str(tmpfs)], check=True)
    assert run_cli(argv + ["--resume"]) == 0
    assert json.loads((out / "run.json").read_text())["status"] == "complete"


def test_locked_folder_refused(capsys, tmp_path):
    out = tmp_path / "run"
    with RunLock(out, "test"):
        line = check_fault(capsys, ["train", *TINY_KS, "--output", str(out)], 5, [str(out)])
    assert "in use" in line and not (out / "run.json").exists()


def test_stale_lock_taken_over_and_temp_files_removed(capsys, caplog, tmp_path):
    out = tmp_path / "run"
    (out / "split").mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (out / ".lock").write_text(f"{dead.pid}\n")
    orphans = [out / ".run.json.abc123.tmp", out / ".checkpoint.pt.x.tmp", out / "split" / ".train.csv.y.tmp"]
    for p in orphans:
        p.write_text("half")
    assert run_cli(["train", *TINY_KS, "--model", "mf", "--output", str(out)]) == 0
    assert "stale lock" in caplog.text and str(dead.pid) in caplog.text
    assert not any(p.exists() for p in orphans)
    assert json.loads((out / "run.json").read_text())["status"] == "complete"


def test_lock_between_two_processes(tmp_path):
    """End to end: a second `train` into a folder a live run holds exits 5; SIGTERM ends the first
    with 143, its run marked interrupted and the lock released."""
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "recdenoise", "train", *TINY_KS, "--model", "mf", "--epochs", "100000", "--patience", "0", "--output", str(out)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    # both start at once (the imports overlap); whichever takes the lock trains, the other is refused
    procs = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    try:
        deadline = time.time() + 240
        while all(p.poll() is None for p in procs) and time.time() < deadline:
            time.sleep(0.2)
        refused = next(p for p in procs if p.poll() is not None)
        winner = next(p for p in procs if p is not refused)
        err = refused.stderr.read()
        assert refused.returncode == 5, err
        assert len(err.strip().splitlines()) == 1 and "in use" in err and "Traceback" not in err, err
        assert winner.poll() is None, winner.stderr.read()
        while not (out / "checkpoint.pt").exists() and time.time() < deadline:  # training, not still importing
            time.sleep(0.2)
        winner.send_signal(signal.SIGTERM)
        assert winner.wait(timeout=60) == 143, winner.stderr.read()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert json.loads((out / "run.json").read_text())["status"] == "interrupted"
    with RunLock(out):  # released
        pass


def test_divergence_exits_4(capsys, tmp_path, monkeypatch):
    from recdenoise.training.trainer import Trainer

    monkeypatch.setattr(Trainer, "_train_epoch", lambda self, epoch: {"epoch": epoch + 1, "loss": float("nan"), "time": 0.0})
    out = tmp_path / "run"
    line = check_fault(capsys, ["train", *TINY_KS, "--model", "mf", "--output", str(out)], 4, ["diverged"], out)
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "diverged" and record["failed_at_epoch"] == 1 and "nan" in line


def test_non_finite_validation_exits_4(capsys, tmp_path, monkeypatch):
    from recdenoise.training.trainer import Trainer

    monkeypatch.setattr(Trainer, "validate", lambda self: {"recall@5": float("nan"), "recall@10": float("nan")})
    out = tmp_path / "run"
    check_fault(capsys, ["train", *TINY_KS, "--model", "mf", "--output", str(out)], 4, ["recall@10"], out)


def test_failed_run_marked_then_resumed(capsys, caplog, tmp_path, monkeypatch):
    from recdenoise.reporting import records

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "test_topk.csv")

    monkeypatch.setattr(records, "write_results", full)
    out = tmp_path / "run"
    argv = ["train", *TINY_KS, "--model", "mf", "--output", str(out)]
    check_fault(capsys, argv, 5, ["test_topk.csv"], out)
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "failed" and "No space left" in record["error"]
    monkeypatch.undo()
    assert run_cli(argv + ["--resume"]) == 0
    assert "stopped before: failed" in caplog.text
    assert json.loads((out / "run.json").read_text())["status"] == "complete"


@pytest.mark.parametrize("result", ["garbage", "list", "missing", "wrong-keys"])
def test_resume_malformed_checkpoint(capsys, tmp_path, trained_run, result):
    import shutil

    import torch

    out = tmp_path / "run"
    shutil.copytree(trained_run, out)
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    if result == "missing":
        del state["result"]
    else:
        state["result"] = {"garbage": "x", "list": [1, 2], "wrong-keys": {"nosuch": 1}}[result]
    torch.save(state, out / "checkpoint.pt")
    argv = ["train", *TINY_KS, "--model", "mf", "--output", str(out), "--resume"]
    before = (out / "run.json").read_text()
    check_fault(capsys, argv, 2, ["checkpoint.pt"])
    assert (out / "run.json").read_text() == before  # refused before anything was written


@pytest.mark.parametrize("content", ["tensor", "list", "bytes", "empty"])
def test_resume_checkpoint_not_a_checkpoint(capsys, tmp_path, trained_run, content):
    import shutil

    import torch

    out = tmp_path / "run"
    shutil.copytree(trained_run, out)
    path = out / "checkpoint.pt"
    if content in ("tensor", "list"):
        torch.save(torch.zeros(3) if content == "tensor" else [1, 2], path)
    else:
        path.write_bytes(b"\x00garbage" if content == "bytes" else b"")
    before = (out / "run.json").read_text()
    check_fault(capsys, ["train", *TINY_KS, "--model", "mf", "--output", str(out), "--resume"], 2, ["checkpoint.pt"])
    assert (out / "run.json").read_text() == before


class _SigTerm(KeyboardInterrupt):
    """Stands for the CLI's SIGTERM exception (a KeyboardInterrupt subclass)."""


def _interrupted_inside_writer(kind):
    """A writer whose own cleanup fails while an interrupt of ``kind`` is propagating (what
    torch's zip writer does when the signal lands mid-record: 'unexpected pos')."""
    try:
        raise kind()
    except KeyboardInterrupt:
        raise RuntimeError("[enforce fail at inline_container.cc] . unexpected pos 58752 vs 58644")


@pytest.mark.parametrize("kind", [KeyboardInterrupt, _SigTerm])
@pytest.mark.parametrize("writer", ["atomic_write", "atomic_torch_save"])
def test_interrupt_mid_write_is_not_masked(tmp_path, monkeypatch, kind, writer):
    """Ctrl-C or SIGTERM during a checkpoint write surfaces as the interrupt (exit 130 / 143 in
    the CLI), not as the writer's RuntimeError, and leaves neither the file nor a temp file."""
    import torch

    from recdenoise import utils

    target = tmp_path / "checkpoint.pt"
    with pytest.raises(kind):
        if writer == "atomic_write":
            with utils.atomic_write(target, "wb") as fh:
                fh.write(b"partial")
                _interrupted_inside_writer(kind)
        else:
            monkeypatch.setattr(torch, "save", lambda obj, fh: _interrupted_inside_writer(kind))
            utils.atomic_torch_save({"x": 1}, target)
    assert list(tmp_path.iterdir()) == []
