"""Bad input through the CLI: one line on stderr, exit status 2, no traceback (issue 2, point 5)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from recdenoise.cli import main


def _flags(*on: int) -> str:
    flags = ["0"] * 19
    for i in on:
        flags[i] = "1"
    return "|".join(flags)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="latin-1")
    return path


def ml100k_folder(root: Path, data: str) -> Path:
    """A data dir holding an ``ml-100k`` folder whose ``u.data`` is ``data``."""
    folder = root / "ml-100k"
    write(folder / "u.data", data)
    write(folder / "u.item", "".join(f"{i}|Movie {i} (1995)|01-Jan-1995||http://x/{i}|{_flags(i % 19)}\n" for i in range(1, 50)))
    write(folder / "u.user", "".join(f"{u}|{20 + u}|{'MF'[u % 2]}|other|1000{u}\n" for u in range(1, 100)))
    return root


GOOD_ROWS = "".join(f"{u}\t{i}\t{(u + i) % 5 + 1}\t{100 + u * 10 + i}\n" for u in range(1, 13) for i in range(1, 41) if (u * i) % 3)


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got:\n{err}"
    assert "Traceback" not in err and lines[0].startswith("recdenoise ")
    for needle in needles:
        assert needle in lines[0], lines[0]


def train_args(data_dir: Path, tmp_path: Path, *extra: str) -> list[str]:
    return ["train", "--dataset", "ml-100k", "--data-dir", str(data_dir), "--epochs", "1", "--no-progress",
            "--output", str(tmp_path / "run"), *extra]  # fmt: skip


@pytest.mark.parametrize(
    ("data", "needles"),
    [
        ("1,2,3,100\n1,3,4,101\n", ("u.data:1", "separator ','")),  # wrong separator
        ("1\t2\t3\t100\n1\t3\t4\n", ("u.data:2", "expected 4 tab-separated fields, found 3")),  # missing column
        ("1\t2\t3\t100\nabc\t3\t4\t101\n", ("u.data:2", "user value 'abc' is not a number")),  # non-numeric id
        ("1\t2\t3\t100\n1\t3\tfive\t101\n", ("u.data:2", "rating value 'five' is not a number")),  # non-numeric rating
        ("", ("u.data", "empty")),  # empty file
    ],
    ids=["separator", "missing-column", "non-numeric-id", "non-numeric-rating", "empty"],
)
def test_bad_ml100k_file(tmp_path, capsys, data, needles):
    root = ml100k_folder(tmp_path / "data", data)
    code, _out, err = run_cli(capsys, *train_args(root, tmp_path))
    assert_one_line_error(code, err, *needles)


def test_split_references_unknown_user(tmp_path, capsys):
    root = ml100k_folder(tmp_path / "data", GOOD_ROWS)
    write(root / "ml-100k" / "u1.base", GOOD_ROWS)
    write(root / "ml-100k" / "u1.test", "1\t1\t3\t100\n99\t5\t3\t106\n")
    code, _out, err = run_cli(capsys, *train_args(root, tmp_path, "--data-option", 'fold="u1"'))
    assert_one_line_error(code, err, "u1.test:2", "user id 99 does not occur in u.data")


def test_duplicates_warn_in_one_line_and_train(tmp_path, capsys):
    root = ml100k_folder(tmp_path / "data", GOOD_ROWS + "1\t1\t5\t999\n")
    code, out, err = run_cli(capsys, *train_args(root, tmp_path))
    assert code == 0, err
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "duplicate (user, item) rows dropped" in warnings[0]
    assert "recall" in out and "Traceback" not in err


@pytest.mark.parametrize(
    ("content", "needles"),
    [
        ("uid,iid\n1,2\n", ("missing column", "user")),  # default columns user,item absent
        ("user;item\n1;2\n2;3\n", ("user",)),  # wrong separator in a CSV
    ],
    ids=["missing-columns", "csv-separator"],
)
def test_bad_table_file(tmp_path, capsys, content, needles):
    path = write(tmp_path / "ratings.csv", content)
    code, _out, err = run_cli(capsys, "train", "--dataset", str(path), "--epochs", "1", "--no-progress", "--output", str(tmp_path / "r"))
    assert_one_line_error(code, err, str(path.name), *needles)


def test_missing_dataset_says_where_to_put_it(tmp_path, capsys):
    code, _out, err = run_cli(capsys, *train_args(tmp_path / "nowhere", tmp_path))
    assert_one_line_error(code, err, "ml-100k")
    assert "u.data" in err


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["train", "--method", "magic"], "unknown method 'magic'"),
        (["train", "--option", "k=3"], "unknown option(s) ['k'] for method 'bpr'; valid options: ['num_negatives']"),
        (["train", "--pld-k", "3"], "--pld-k is an option of method 'pld'"),
        (["train", "--noise-kind", "injected"], "needs a ratio > 0"),
        (["train", "--set", "train.learning_rate=1"], "unknown config key 'train.learning_rate'"),
        (["train", "--lr", "-1"], "train.lr = -1.0 is out of range"),
        (["train", "--epochs", "many"], "train.epochs: expected int, got 'many' (str)"),
        (["train", "--lr", "abc"], "train.lr: expected float, got 'abc' (str)"),
        (["train", "--aug-rate", "0.5"], "LLMRec options (--aug-rate, --prune-rate, --mask-rate, ...) need --augment DIR"),
        (["train", "--ks", "a,b"], "argument --ks: expected comma-separated integers"),
        (["evaluate", "--checkpoint", "/nonexistent/run"], "--checkpoint /nonexistent/run has no run.json"),
        (["augment", "--dataset", "synthetic", "--base-run", "/nonexistent/run", "--base-url", "http://127.0.0.1:9/v1",
          "--model", "m", "--dry-run", "--output", "/nonexistent/aug"], "--base-run /nonexistent/run has no run.json"),
        (["datasets", "describe", "no-such-data"], "unknown dataset"),
    ],
)
def test_bad_arguments(tmp_path, capsys, argv, needle):
    if argv[0] == "train":
        argv = [*argv, "--epochs", "1", "--no-progress", "--output", str(tmp_path / "r")] if "--epochs" not in argv else [*argv, "--output", str(tmp_path / "r")]
    with pytest.raises(SystemExit) if "argument --" in needle else _nothing() as exc:  # argparse's own errors exit
        code, _out, err = run_cli(capsys, *argv)
    if exc is not None and hasattr(exc, "value"):
        code, err = exc.value.code, capsys.readouterr().err
    assert_one_line_error(code, err, needle)


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def test_config_file_with_unknown_key(tmp_path, capsys):
    cfg = write(tmp_path / "run.toml", '[train]\nepochs = 1\nlearning_rate = 0.1\n')
    code, _out, err = run_cli(capsys, "train", "--config", str(cfg))
    assert_one_line_error(code, err, "run.toml", "train.learning_rate")


def test_subprocess_exit_status_and_no_traceback(tmp_path):
    """The installed entry point (not just ``main``) exits 2 with one line."""
    root = ml100k_folder(tmp_path / "data", "1,2,3,100\n")
    proc = subprocess.run(
        [sys.executable, "-m", "recdenoise", *train_args(root, tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
