"""``train`` into a folder that already holds a run: refused unless ``--resume`` or ``--overwrite``.

The default ``--output`` names dataset, model, method and seed only, so without this a second run
with another learning rate silently replaced the first one's record, model and checkpoint.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from .conftest import TINY, check_fault, run_cli

# what the folder's run.json holds -> the words the refusal uses
STATES = {
    "complete": "a finished run",
    "running": "a run that is running or was killed",
    "interrupted": "status 'interrupted'",
    "not-json": "unreadable",
}


def _plant(folder, state: str) -> None:
    folder.mkdir(parents=True)
    text = "{not json" if state == "not-json" else json.dumps({"status": state})
    (folder / "run.json").write_text(text)


@pytest.mark.parametrize("state", sorted(STATES))
def test_train_refuses_a_folder_that_holds_a_run(capsys, tmp_path, state):
    out = tmp_path / "run"
    _plant(out, state)
    before = (out / "run.json").read_bytes()
    line = check_fault(capsys, ["train", *TINY, "--model", "mf", "--output", str(out)], 2, [str(out)])
    assert STATES[state] in line and "--resume" in line and "--overwrite" in line
    assert (out / "run.json").read_bytes() == before and sorted(p.name for p in out.iterdir()) == ["run.json"]


def test_overwrite_replaces_and_resume_reevaluates(capsys, tmp_path, trained_run):
    out = tmp_path / "run"
    shutil.copytree(trained_run, out)
    assert run_cli(["train", *TINY, "--model", "mf", "--ks", "5,10", "--monitor", "recall@10", "--resume", "--output", str(out)]) == 0
    assert run_cli(["train", *TINY, "--model", "mf", "--lr", "0.01", "--overwrite", "--output", str(out)]) == 0
    assert json.loads((out / "run.json").read_text())["config"]["train"]["lr"] == 0.01
    capsys.readouterr()


@pytest.mark.parametrize("holder", ["alive", "dead"])
def test_a_run_in_progress_is_in_use_and_a_killed_one_is_taken(capsys, tmp_path, holder):
    """The lock file names a live process: exit 5 ("in use", as when the lock is held); a dead one
    (kill -9): exit 2, the folder holds a run that was killed."""
    out = tmp_path / "run"
    _plant(out, "running")
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        if holder == "dead":
            proc.kill()
            proc.wait()
        (out / ".lock").write_text(f"{proc.pid}\n")
        line = check_fault(capsys, ["train", *TINY, "--model", "mf", "--output", str(out)], 5 if holder == "alive" else 2, [str(out)])
        assert ("in use" in line) == (holder == "alive") and ("was killed" in line) == (holder == "dead")
    finally:
        proc.kill()
        proc.wait()
