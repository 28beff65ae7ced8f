"""``evaluate``, ``bench denoise`` and ``datasets`` faults: one line, documented exit status."""

from __future__ import annotations

import json
import shutil

import pytest

from .conftest import check_fault

# ----------------------------------------------------------------------------- evaluate
MODEL_CONTENT = ["tensor", "list", "int", "bytes", "empty", "wrong-shapes"]


@pytest.mark.parametrize("content", MODEL_CONTENT)
def test_evaluate_bad_model_file(capsys, tmp_path, trained_run, content):
    import torch

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    path = run / "model.pt"
    if content == "bytes":
        path.write_bytes(b"\x00not a pickle")
    elif content == "empty":
        path.write_bytes(b"")
    elif content == "wrong-shapes":
        torch.save({k: torch.zeros(2, 2) for k in torch.load(path, weights_only=True)}, path)
    else:
        torch.save({"tensor": torch.zeros(3), "list": [1, 2, 3], "int": 7}[content], path)
    check_fault(capsys, ["evaluate", "--checkpoint", str(path)], 2, ["model.pt"])


RECORDS = {
    "config-list": lambda r: {**r, "config": [1, 2]},
    "config-missing": lambda r: {k: v for k, v in r.items() if k != "config"},
    "record-list": lambda r: [r],
    "config-bad-value": lambda r: {**r, "config": {**r["config"], "train": {**r["config"]["train"], "lr": "abc"}}},
    "config-unknown-key": lambda r: {**r, "config": {**r["config"], "nosuch": 1}},
}


@pytest.mark.parametrize("name", sorted(RECORDS) + ["not-json", "missing"])
def test_evaluate_bad_run_record(capsys, tmp_path, trained_run, name):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    path = run / "run.json"
    if name == "not-json":
        path.write_text("{ not json")
    elif name == "missing":
        path.unlink()
    else:
        path.write_text(json.dumps(RECORDS[name](json.loads(path.read_text()))))
    check_fault(capsys, ["evaluate", "--checkpoint", str(run)], 2, ["run.json", str(run)])


@pytest.mark.parametrize("flag", ["--topk", "--per-user"])
@pytest.mark.parametrize("where", ["folder", "under-a-file"])
def test_evaluate_output_path(capsys, tmp_path, trained_run, flag, where):
    target = tmp_path if where == "folder" else tmp_path / "f.txt" / "x.csv"
    (tmp_path / "f.txt").write_text("x")
    check_fault(capsys, ["evaluate", "--checkpoint", str(trained_run), flag, str(target)], (2, 5), [flag, str(tmp_path)])


@pytest.mark.parametrize("device", ["tpu", "cuda:99", "", "cpu:abc"])
def test_evaluate_bad_device(capsys, trained_run, device):
    check_fault(capsys, ["evaluate", "--checkpoint", str(trained_run), "--device", device], 2, ["device"])


def test_evaluate_missing_checkpoint(capsys, tmp_path):
    check_fault(capsys, ["evaluate", "--checkpoint", str(tmp_path / "none")], 2, ["none"])


# ----------------------------------------------------------------------------- bench
BENCH_BASE = ["bench", "denoise", "--datasets", "synthetic", "--backbones", "mf", "--methods", "bpr", "--seeds", "0", "--no-progress"]
BENCH_CASES = {
    "--seeds": ["abc", "1.5", "-1", "99999999999999999999"],
    "--epochs": ["abc", "-1", "1e400", "nan", ""],
    "--patience": ["abc", "-1", ""],
    "--noise": ["injected", "injected:abc", "injected:-1", "injected:inf", "injected:nan", "foo", "injected:1e400"],
    "--datasets": ["nosuch", ""],
    "--backbones": ["gcn"],
    "--methods": ["nosuch"],
    "--option": ["k=5", "pld.nosuch=1", "nosuch.k=1", "pld.k=abc"],
    "--set": ["train.nosuch=1", "train.lr=abc", "nosuch=1"],
    "--device": ["tpu", "cuda:99"],
}


@pytest.mark.parametrize("flag,value", [pytest.param(f, v, id=f"{f}={v}") for f, vs in BENCH_CASES.items() for v in vs])
def test_bench_flag(capsys, tmp_path, flag, value):
    out = tmp_path / "grid"
    argv = [*BENCH_BASE, "--output", str(out), "--methods", "pld" if flag == "--option" else "bpr", f"{flag}={value}"]
    culprits = [flag, flag.lstrip("-"), value.split("=")[0] or flag, "noise", "seed", "dataset", "backbone", "method", "device", "epochs", "patience", "lr", "option"]
    check_fault(capsys, argv, 2, culprits)
    assert not (out / "table.md").exists()


@pytest.mark.parametrize("flag", ["--output", "--report-dir"])
def test_bench_output_is_a_file(capsys, tmp_path, flag):
    target = tmp_path / "file"
    target.write_text("keep")
    argv = [*BENCH_BASE, "--output", str(tmp_path / "grid"), f"{flag}={target}"]
    check_fault(capsys, argv, 5, [str(target)])
    assert target.read_text() == "keep"


def test_bench_locked(capsys, tmp_path):
    from recdenoise.reporting.lock import RunLock

    out = tmp_path / "grid"
    with RunLock(out):
        check_fault(capsys, [*BENCH_BASE, "--output", str(out)], 5, [str(out)])


# ----------------------------------------------------------------------------- datasets
@pytest.mark.parametrize(
    "argv",
    [
        ["describe", "nosuch"],
        ["verify", "nosuch"],
        ["describe"],
        ["verify"],
        ["frob"],
        ["describe", ""],
    ],
    ids=lambda a: "-".join(a) or "none",
)
def test_datasets(capsys, argv):
    culprits = [a for a in argv if a] + ["dataset", "name", "action"]
    check_fault(capsys, ["datasets", *argv], (1, 2), culprits)
