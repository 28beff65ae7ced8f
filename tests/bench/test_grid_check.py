"""The grid checks every cell before running any: a typo in the last name fails in a second, not hours in."""

from __future__ import annotations

import pytest

from recdenoise.bench.grid import DenoiseGrid
from recdenoise.cli import main
from recdenoise.config import RunConfig, apply_overrides
from recdenoise.errors import ConfigError, DatasetNotFoundError


class NeverRun:
    """A runner that fails the test if the grid reaches it."""

    def __call__(self, config, *, resume=False, progress=True):
        raise AssertionError(f"cell {config.output_dir} ran although the grid is invalid")


# (what is wrong, grid arguments, expected error, fragment of its message)
CASES = [
    ("last method misspelt", dict(methods=("bpr", "pldd")), ConfigError, "unknown method 'pldd'"),
    ("second dataset unknown", dict(datasets=["synthetic", "ml-100kk"]), ConfigError, "unknown dataset 'ml-100kk'"),
    ("backbone unknown", dict(backbones=("mf", "gcn")), ConfigError, "model.name = 'gcn'"),
    ("option unknown", dict(method_options={"pld": {"warmpu": 1}}), ConfigError, "warmpu"),
    ("option out of range", dict(method_options={"pld": {"tau": -1.0}}), ConfigError, "pld.*tau must be > 0"),
    ("natural noise on a dataset without ratings", dict(datasets=["synthetic", "gowalla-lightgcnpp"],
     noise=[("injected", 0.2), ("natural", None)]), ConfigError, "natural noise needs ratings"),
    ("dataset files missing", dict(datasets=["synthetic", "ml-100k"]), DatasetNotFoundError, "ml-100k"),
]  # fmt: skip


@pytest.mark.parametrize("what, kwargs, error, fragment", CASES, ids=[c[0] for c in CASES])
def test_an_invalid_grid_fails_before_any_cell(tmp_path, what, kwargs, error, fragment):
    base = apply_overrides(RunConfig(), {"data.data_dir": str(tmp_path / "no-data")})
    args = dict(datasets=["synthetic"], backbones=("mf",), methods=("bpr", "pld"), noise=[("injected", 0.2)], seeds=(0, 1))
    args.update(kwargs)
    grid = DenoiseGrid(args.pop("datasets"), base, tmp_path / "grid", runner=NeverRun(), progress=False, keep_going=True, **args)
    with pytest.raises(error, match=fragment):
        grid.run()
    assert not (tmp_path / "grid").exists()  # nothing written


def test_a_valid_grid_passes_the_check(tmp_path):
    grid = DenoiseGrid(["synthetic"], RunConfig(), tmp_path / "grid", backbones=("mf", "lightgcn"), methods=("bpr", "tce"),
                       noise=[("injected", 0.2), ("natural", None)], seeds=(0,), method_options={"tce": {"loss": "bce"}})  # fmt: skip
    grid.check()  # no exception, nothing written
    assert not (tmp_path / "grid").exists()


def test_bench_cli_reports_a_late_typo_in_one_line_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "bench"
    code = main(["bench", "denoise", "--datasets", "synthetic", "--backbones", "mf", "--methods", "bpr,tcee",
                 "--noise", "injected:0.2", "--seeds", "0", "--no-progress", "--output", str(out)])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "unknown method 'tcee'" in err[0] and "mf/tcee/seed0" in err[0]
    assert not out.exists()
