"""Many endpoints (fewest in flight, cooldown, per-endpoint stats) and shards merged into one run."""

from __future__ import annotations

import argparse

import pytest

from recdenoise.llm import AugmentConfig, LLMConfig, MockOpenAIServer, augment, popularity_candidates
from recdenoise.llm.commands import add_augment_arguments, options_from_args, run_augment
from recdenoise.llm.shards import parse_shard, shard_of
from recdenoise.llm.synthetic import synthetic_movies
from recdenoise.errors import ConfigError

DATA_FILES = ("augmented_edges.csv", "items.jsonl", "items.csv", "users.jsonl", "users.csv", "failures.csv")


@pytest.fixture(scope="module")
def data():
    train = synthetic_movies(12, 30, seed=0)
    return train, popularity_candidates(train, k=6, seed=0)


def test_requests_spread_and_a_failing_endpoint_rests(tmp_path, data):
    train, cand = data
    cfg = AugmentConfig(embedder="none", progress=False, items=tuple(range(12)))
    with (
        MockOpenAIServer(latency=0.02) as a,
        MockOpenAIServer(latency=0.02) as b,
        MockOpenAIServer(faults=("server_error",), fault_rate=1.0) as broken,
    ):
        llm = LLMConfig(
            base_url=a.base_url,
            more_base_urls=(b.base_url, broken.base_url),
            model="mock-llm",
            structured="json_schema",
            backoff_base=0.001,
            backoff_max=0.005,
            cooldown_after=2,
            cooldown_seconds=60,
        )
        result = augment(train, cand, tmp_path, llm, cfg)
        sent = [s.stats()["requests"] for s in (a, b, broken)]
    assert result.complete and result.manifest["counts"]["succeeded"] == 36
    assert min(sent[:2]) >= 8  # both healthy servers took a share
    assert sent[2] <= 4  # the broken one rested after 2 failures in a row (plus what was already in flight)
    endpoints = result.manifest["usage_this_run"]["endpoints"]
    assert [e["requests"] for e in endpoints] == sent and endpoints[2]["cooldowns"] >= 1
    assert endpoints[2]["errors"] == {"server_error": sent[2]}


def test_shards_merge_into_a_single_run(tmp_path, data):
    assert parse_shard("1/3") == (1, 3) and parse_shard(None) is None
    with pytest.raises(ConfigError):
        parse_shard("3/3")
    assert {shard_of(f"user:{u}", 4) for u in range(40)} == {0, 1, 2, 3}

    common = ["--dataset", "synthetic", "--users-limit", "6", "--items-limit", "6", "--embedder", "openai"]
    common += ["--no-progress", "--candidates-k", "5"]
    parse = add_augment_arguments(argparse.ArgumentParser()).parse_args
    with MockOpenAIServer(embedding_dim=8) as server:
        url = ["--base-url", server.base_url, "--model", "mock-llm"]
        assert run_augment(options_from_args(parse([*common, *url, "--output", str(tmp_path / "single")]))) == 0
        for i in range(3):
            shard = [*common, *url, "--shard", f"{i}/3", "--output", str(tmp_path / f"s{i}")]
            assert run_augment(options_from_args(parse(shard))) == 0
        server.reset_stats()
        merge = ["merge", *(str(tmp_path / f"s{i}") for i in range(3)), *common, *url]
        assert run_augment(options_from_args(parse([*merge, "--output", str(tmp_path / "merged")]))) == 0
        assert server.stats()["requests"] == 0  # everything came from the shards' caches
    for name in DATA_FILES + ("item_text_features.npy", "user_profile_features.npy"):
        assert (tmp_path / "merged" / name).read_bytes() == (tmp_path / "single" / name).read_bytes(), name
