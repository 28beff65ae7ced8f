"""Bad data files, as a table file (``--dataset file.csv``) and as an ``ml-100k`` folder:
exit 2, one line naming the file, nothing written."""

from __future__ import annotations

import os

import pytest

from .conftest import check_fault

_GOOD = "".join(f"{u},{i},5\n" for u in range(8) for i in range(12) if (u + i) % 2 == 0)

TABLES = {
    "empty": ("", []),
    "header-only": ("user,item,rating\n", []),
    "wrong-separator": ("user;item;rating\n" + _GOOD.replace(",", ";"), []),
    "id-beyond-int64": ("user,item,rating\n99999999999999999999,1,5\n" + _GOOD, []),
    "id-just-beyond-int64": ("user,item,rating\n9223372036854775808,1,5\n" + _GOOD, []),
    "rating-inf": ("user,item,rating\n1,1,inf\n" + _GOOD, []),
    "rating-minus-inf": ("user,item,rating\n1,1,-inf\n" + _GOOD, []),
    "rating-nan": ("user,item,rating\n1,1,nan\n" + _GOOD, []),
    "rating-word": ("user,item,rating\n1,1,five\n" + _GOOD, []),
    "one-item": ("user,item,rating\n" + "".join(f"{u},1,5\n" for u in range(30)), []),
    "missing-column": ("user,rating\n1,5\n2,4\n", []),
    "binary": ("\x00\x01\x02\x03", []),
    "ragged": ("user,item,rating\n1,2\n3,4,5,6\n" + _GOOD, []),
}


@pytest.mark.parametrize("name", [pytest.param(n, marks=m) for n, (_t, m) in TABLES.items()])
@pytest.mark.parametrize("suffix", [".csv", ".tsv"])
def test_table_file(capsys, tmp_path, name, suffix):
    text, _marks = TABLES[name]
    if suffix == ".tsv":
        text = text.replace(",", "\t")
    path = tmp_path / f"data{suffix}"
    path.write_text(text, encoding="utf-8")
    out = tmp_path / "run"
    argv = ["train", "--dataset", str(path), "--epochs", "1", "--ks", "1", "--monitor", "recall@1", "--no-progress", "--output", str(out)]
    check_fault(capsys, argv, 2, [path.name, "--ks", "--rating-threshold", "user", "item"], out)


_UDATA = "".join(f"{u}\t{i}\t{1 + (u * i) % 5}\t{881250949 + u * 100 + i}\n" for u in range(1, 21) for i in range(1, 31) if (u + i) % 3)
ML100K = {
    "u.data-empty": ("u.data", "", ["u.data"]),
    "u.data-wrong-separator": ("u.data", _UDATA.replace("\t", ","), ["u.data"]),
    "u.data-id-beyond-int64": ("u.data", "99999999999999999999\t1\t5\t881250949\n" + _UDATA, ["64-bit"]),
    "u.data-item-beyond-int64": ("u.data", "1\t9223372036854775808\t5\t881250949\n" + _UDATA, ["64-bit"]),
    "u.data-rating-inf": ("u.data", "1\t1\tinf\t881250949\n" + _UDATA, ["finite"]),
    "u.data-rating-nan": ("u.data", "1\t1\tnan\t881250949\n" + _UDATA, ["rating"]),
    "u.data-three-fields": ("u.data", "1\t2\t3\n" + _UDATA, ["u.data"]),
    "u.item-oops": ("u.item", "5|oops\n", ["u.item:1", "24"]),
    "u.user-age-word": ("u.user", "1|old|M|writer|00000\n", ["u.user:1", "age"]),
}
_UITEM = "".join(f"{i}|Movie {i} (1995)|01-Jan-1995||http://x|" + "|".join("1" if g == i % 19 else "0" for g in range(19)) + "\n" for i in range(1, 31))
_UUSER = "".join(f"{u}|{20 + u}|{'MF'[u % 2]}|writer|0000{u % 10}\n" for u in range(1, 21))


@pytest.mark.parametrize("name", list(ML100K))
def test_ml100k_file(capsys, tmp_path, name):
    filename, text, culprits = ML100K[name]
    folder = tmp_path / "data" / "ml-100k"
    folder.mkdir(parents=True)
    for name, good in (("u.data", _UDATA), ("u.item", _UITEM), ("u.user", _UUSER)):
        (folder / name).write_text(good, encoding="utf-8")
    (folder / filename).write_text(text, encoding="utf-8")
    out = tmp_path / "run"
    argv = ["train", "--dataset", "ml-100k", "--data-dir", str(tmp_path / "data"), "--epochs", "1", "--ks", "1", "--monitor", "recall@1",
            "--no-progress", "--output", str(out)]  # fmt: skip
    line = check_fault(capsys, argv, 2, [filename], out)
    assert all(c in line for c in culprits), line


def test_good_ml100k_fixture_trains(capsys, tmp_path):
    """The fixture folder itself is valid: each case above fails for its own planted fault."""
    from .conftest import run_cli

    folder = tmp_path / "data" / "ml-100k"
    folder.mkdir(parents=True)
    for name, good in (("u.data", _UDATA), ("u.item", _UITEM), ("u.user", _UUSER)):
        (folder / name).write_text(good, encoding="utf-8")
    argv = ["train", "--dataset", "ml-100k", "--data-dir", str(tmp_path / "data"), "--epochs", "1", "--ks", "1", "--monitor", "recall@1",
            "--no-progress", "--output", str(tmp_path / "run")]  # fmt: skip
    assert run_cli(argv) == 0, capsys.readouterr().err


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file(capsys, tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("user,item,rating\n" + _GOOD, encoding="utf-8")
    os.chmod(path, 0)
    out = tmp_path / "run"
    check_fault(capsys, ["train", "--dataset", str(path), "--epochs", "1", "--ks", "1", "--monitor", "recall@1", "--output", str(out)], (2, 5), [path.name], out)


@pytest.mark.parametrize("command", ["train", "bench"])
def test_data_dir_is_a_file(capsys, tmp_path, command):
    data_dir = tmp_path / "datasets.zip"
    data_dir.write_bytes(b"PK")
    out = tmp_path / "run"
    argv = {"train": ["train", "--dataset", "ml-100k", "--epochs", "1"],
            "bench": ["bench", "denoise", "--datasets", "ml-100k", "--methods", "bpr", "--seeds", "0"]}[command]  # fmt: skip
    line = check_fault(capsys, [*argv, "--data-dir", str(data_dir), "--output", str(out)], 2, [str(data_dir)], out)
    assert "is a file, not a folder" in line and not out.exists()


def test_missing_table_file(capsys, tmp_path):
    out = tmp_path / "run"
    check_fault(capsys, ["train", "--dataset", str(tmp_path / "none.csv"), "--output", str(out)], 2, ["none.csv"], out)


@pytest.mark.parametrize("ks", ["1", "10,20", "10,20,100000"])
def test_one_user_table(capsys, tmp_path, ks):
    """A 1-user file either trains to completion or fails before the run folder exists."""
    import json

    from .conftest import run_cli

    path = tmp_path / "one.csv"
    path.write_text("user,item,rating\n" + "".join(f"1,{i},5\n" for i in range(30)), encoding="utf-8")
    out = tmp_path / "run"
    monitor = f"recall@{ks.split(',')[0]}"
    rc = run_cli(["train", "--dataset", str(path), "--epochs", "1", "--ks", ks, "--monitor", monitor, "--no-progress", "--output", str(out)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if rc == 0:
        assert json.loads((out / "run.json").read_text())["status"] == "complete"
    else:
        assert rc == 2 and len(err.strip().splitlines()) == 1 and not out.exists(), err


@pytest.mark.parametrize("field", ["path", "strip"])
@pytest.mark.parametrize("bad", ["../../evil", "/etc/passwd", "a/../../b", "C:/x", "..\\evil"])
def test_manifest_paths_are_confined_to_the_dataset_folder(field, bad):
    """A manifest cannot make a download write outside its dataset folder."""
    from recdenoise.data.download import DownloadSpec
    from recdenoise.errors import ConfigError

    kind = "file" if field == "path" else "zip"
    with pytest.raises(ConfigError, match="relative path inside the dataset folder"):
        DownloadSpec(url="http://127.0.0.1/x", kind=kind, **{field: bad})
