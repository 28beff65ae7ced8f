"""Distributed training (2 gloo ranks on CPU) against the 1-process run with the same seed.

One spawn of two ranks runs every case (spawning costs more than these tiny runs); each test
checks one case against a 1-process run. Summation order differs across ranks, so metrics are
compared within 1e-3 (in practice they agree to ~1e-6).
"""

from __future__ import annotations

import copy

import pytest

dist = pytest.importorskip("torch.distributed")
if not dist.is_available() or not dist.is_gloo_available():
    pytest.skip("torch.distributed with the gloo backend is not available in this torch build", allow_module_level=True)

from recdenoise.config import config_from_dict  # noqa: E402
from recdenoise.experiment import run_experiment  # noqa: E402
from recdenoise.testing.distributed import run_ranks, train_run  # noqa: E402

EPOCHS = 3


def _config(model: str, method: str, output=None, noise: float = 0.0, options=None) -> dict:
    cfg = {
        "seed": 0,
        "data": {"dataset": "synthetic", "options": {"num_users": 120, "num_items": 160, "interactions_per_user": 12}},
        "model": {"name": model, "embedding_dim": 16, "num_layers": 2},
        "method": {"name": method, "options": options or {}},
        "train": {"epochs": EPOCHS, "patience": 0, "lr": 0.01, "batch_size": 256, "device": "cpu", "progress": False},
        "eval": {"ks": [10, 20]},
        "output_dir": str(output) if output else None,
    }
    if noise:
        cfg["noise"] = {"kind": "injected", "ratio": noise}
    return cfg


def _cases(tmp) -> dict:
    return {
        "lightgcn-bpr": (_config("lightgcn", "bpr"), {}),
        "mf-bpr": (_config("mf", "bpr"), {}),
        "lightgcn-pld": (_config("lightgcn", "pld", noise=0.2, options={"k": 5, "tau": 0.1, "warmup": 1}), {}),
        "lightgcn-tce": (_config("lightgcn", "tce", noise=0.2, options={"gradual_epochs": 1}), {}),
        "mf-nbpo": (_config("mf", "nbpo", noise=0.2), {}),
        "lightgcn-rce": (_config("lightgcn", "rce", noise=0.2), {}),
    }


def _all_cases(ctx, tmp: str) -> dict:
    """Every case on this rank, plus a killed-and-resumed run with a run folder."""
    out = {name: train_run(ctx, cfg) for name, (cfg, _) in _cases(tmp).items()}
    folder = f"{tmp}/resumed"
    out["killed"] = train_run(ctx, _config("lightgcn", "pld", output=folder, noise=0.2, options={"warmup": 1}), kill_at_epoch=2)
    out["resumed"] = train_run(ctx, _config("lightgcn", "pld", output=folder, noise=0.2, options={"warmup": 1}), resume=True)
    return out


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("dist"))
    return run_ranks(_all_cases, 2, tmp, timeout=600), tmp


def _single(cfg: dict) -> dict:
    result = run_experiment(config_from_dict(copy.deepcopy(cfg)))
    return {"test": result.test.metrics, "losses": [h["loss"] for h in result.record["history"]], "record": result.record}


def _assert_close(dist_run: dict, single: dict) -> None:
    assert dist_run["test"].keys() == single["test"].keys()
    for key, value in single["test"].items():
        assert dist_run["test"][key] == pytest.approx(value, abs=1e-3), key
    assert dist_run["losses"] == pytest.approx(single["losses"], rel=1e-4)


@pytest.mark.parametrize("name", ["lightgcn-bpr", "mf-bpr", "lightgcn-pld", "lightgcn-tce", "mf-nbpo", "lightgcn-rce"])
def test_two_ranks_follow_the_one_process_run(two_ranks, name):
    (rank0, rank1), tmp = two_ranks
    cfg, _ = _cases(tmp)[name]
    single = _single(cfg)
    _assert_close(rank0[name], single)
    assert rank1[name]["test"] == rank0[name]["test"]  # every rank ends with the merged metrics


def test_pld_diagnostics_see_the_whole_batch(two_ranks):
    (rank0, _), tmp = two_ranks
    cfg, _ = _cases(tmp)["lightgcn-pld"]
    single = _single(cfg)
    got = rank0["lightgcn-pld"]["record"]["diagnostics"]["epochs"][-1]
    want = single["record"]["diagnostics"]["epochs"][-1]
    assert got["num_examples"] == want["num_examples"]
    assert got["loss_auc"] == pytest.approx(want["loss_auc"], abs=1e-3)


def test_killed_and_resumed_two_rank_run_ends_like_an_uninterrupted_one(two_ranks):
    (rank0, rank1), tmp = two_ranks
    assert rank0["killed"] == {"killed": True} and rank1["killed"] == {"killed": True}
    assert rank0["resumed"]["record"]["resumed_from_epoch"] == 2
    single = _single(_config("lightgcn", "pld", noise=0.2, options={"warmup": 1}))
    _assert_close(rank0["resumed"], single)
    assert rank1["resumed"]["test"] == rank0["resumed"]["test"]
