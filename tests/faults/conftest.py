"""Helpers of the fault suite: run ``recdenoise.cli.main`` in-process and check the fault model
(docs/faults.md): the exit status, exactly one line on stderr naming the culprit, no traceback,
and no half-written run folder (absent, or its ``run.json`` says the run failed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Sequence

import pytest

TINY = ["--dataset", "synthetic", "--data-option", "num_users=30", "--data-option", "num_items=40", "--epochs", "1", "--no-progress"]
TINY_KS = TINY + ["--ks", "5,10", "--monitor", "recall@10"]
STOPPED = ("failed", "diverged", "interrupted")


def run_cli(argv: Sequence[str]) -> int:
    from recdenoise.cli import main

    try:
        return main(list(argv))
    except SystemExit as exc:  # argparse errors exit directly
        return int(exc.code or 0)


def check_fault(capsys, argv: Sequence[str], status: int | Iterable[int], culprits: Iterable[str], output: Path | None = None) -> str:
    """Run ``argv``; assert the fault model; return the error line."""
    rc = run_cli(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip() and ": warning:" not in line and not line.startswith("WARNING")]
    allowed = {status} if isinstance(status, int) else set(status)
    assert rc in allowed, f"exit status {rc}, expected {sorted(allowed)}; stderr: {err!r}"
    assert "Traceback" not in err, err
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}: {err!r}"
    culprits = list(culprits)
    assert any(c.lower() in lines[0].lower() for c in culprits), f"{lines[0]!r} names none of {culprits}"
    if output is not None:
        assert_not_half_written(output)
    return lines[0]


def assert_not_half_written(output: Path) -> None:
    if not output.exists():
        return
    record = output / "run.json"
    if not record.exists():
        leftovers = [p.name for p in output.rglob("*") if p.name != ".lock"]
        assert not leftovers, f"{output} holds {leftovers} without a run.json"
        return
    status = json.loads(record.read_text())["status"]
    assert status in STOPPED, f"{record} says {status!r}"


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """A finished tiny run (trained once for the session)."""
    out = tmp_path_factory.mktemp("trained") / "run"
    assert run_cli(["train", *TINY_KS, "--model", "mf", "--output", str(out)]) == 0
    return out
