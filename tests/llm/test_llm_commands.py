"""CLI entry points: flags, dry run, a small real run on the registry's synthetic dataset."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd

from recdenoise.llm.commands import (
    EXIT_INCOMPLETE,
    add_augment_arguments,
    add_serve_mock_arguments,
    options_from_args,
    run_augment,
)
from recdenoise.llm.mock_server import MockOpenAIServer



def _args(*argv: str) -> argparse.Namespace:
    return add_augment_arguments(argparse.ArgumentParser()).parse_args(["--dataset", "synthetic", *argv])


def _opts(*argv: str):
    return options_from_args(_args(*argv))


def test_options_are_the_one_place_defaults_live():
    from recdenoise.llm.options import AugmentOptions

    assert _opts() == AugmentOptions(dataset="synthetic")
    opts = _opts("--json-mode", "--no-progress", "--max-failure-rate", "0.2")
    assert opts.structured == "json_object" and not opts.progress and opts.llm_config().structured == "json_object"


def test_flags_and_defaults():
    args = _args("--augmentations", "implicit,users", "--no-progress")
    assert args.augmentations == ("implicit", "users") and args.candidates_k == 10 and args.embedder == "local"
    assert args.no_progress and not args.dry_run and args.api_key_env is None
    mock = add_serve_mock_arguments(argparse.ArgumentParser()).parse_args(
        ["--latency-ms", "100", "--fault-rate", "0.2"]
    )
    assert (mock.host, mock.port, mock.latency_ms, mock.fault_rate, mock.seed) == ("127.0.0.1", 8000, 100.0, 0.2, 0)


def test_dry_run_then_run_then_budget(tmp_path, capsys):
    common = ["--users-limit", "4", "--items-limit", "3", "--embedder", "none", "--no-progress", "--retries", "0"]
    with MockOpenAIServer() as server:
        base = ["--base-url", server.base_url, "--model", "mock-llm", "--output", str(tmp_path / "a"), *common]
        assert run_augment(_opts(*base, "--dry-run")) == 0
        estimate = json.loads(capsys.readouterr().out)
        assert estimate["requests"] == 4 + 3 + 4 and server.stats()["requests"] == 0
        assert run_augment(_opts(*base)) == 0
        assert server.stats()["requests"] == 11 + 1  # the tasks and one structured-output probe
        edges = pd.read_csv(tmp_path / "a" / "augmented_edges.csv")
        assert len(edges) == 4 and (edges.pos_item != edges.neg_item).all()

        cand = np.load(tmp_path / "a" / "augmented_edges.npz")["candidates"]
        np.save(tmp_path / "cand.npy", cand)
        other = [
            "--base-url",
            server.base_url,
            "--output",
            str(tmp_path / "b"),
            "--candidates",
            str(tmp_path / "cand.npy"),
        ]
        assert run_augment(_opts(*other, *common, "--max-requests", "5")) == EXIT_INCOMPLETE
        assert run_augment(_opts(*other, *common)) == 0  # resumes
