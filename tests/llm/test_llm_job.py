"""The augmentation job end to end against the mock, over the real openai SDK and HTTP."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest

from recdenoise.llm import AugmentConfig, LLMConfig, MockOpenAIServer, augment, estimate, popularity_candidates
from recdenoise.llm.mock_server import mock_chat_answer
from recdenoise.llm.synthetic import synthetic_movies

NUM_USERS, NUM_ITEMS = 30, 60
TASKS = NUM_USERS + NUM_ITEMS + NUM_USERS  # implicit + item attributes + user profiles
DATA_FILES = ("augmented_edges.csv", "items.jsonl", "items.csv", "users.jsonl", "users.csv", "failures.csv")
_FAULT_REASON = {
    "malformed": "unparseable",
    "out_of_candidates": "out_of_candidates",
    "duplicate": "duplicate_item",
    "schema": "schema",
}


@pytest.fixture(scope="module")
def data():
    train = synthetic_movies(NUM_USERS, NUM_ITEMS, seed=0)
    return train, popularity_candidates(train, k=10, seed=0)


def _llm(server, **kw) -> LLMConfig:
    base = dict(
        base_url=server.base_url, model="mock-llm", concurrency=8, timeout=2.0, backoff_base=0.005, backoff_max=0.02
    )
    return LLMConfig(**(base | kw))


def _cfg(**kw) -> AugmentConfig:
    return AugmentConfig(**({"embedder": "openai", "progress": False} | kw))


def _assert_valid_edges(edges: np.ndarray, cand: np.ndarray) -> None:
    users, pos, neg = edges.T
    assert (pos != neg).all()
    assert (cand[users] == pos[:, None]).any(1).all() and (cand[users] == neg[:, None]).any(1).all()


def _same_outputs(a, b) -> None:
    for name in DATA_FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    for npy in sorted(p.name for p in a.glob("*.npy")):
        np.testing.assert_array_equal(np.load(a / npy), np.load(b / npy))
    za, zb = np.load(a / "augmented_edges.npz"), np.load(b / "augmented_edges.npz")
    for key in za.files:
        np.testing.assert_array_equal(za[key], zb[key])


def test_end_to_end_all_three(tmp_path, data):
    train, cand = data
    with MockOpenAIServer(embedding_dim=16) as server:
        result = augment(train, cand, tmp_path, _llm(server), _cfg())
        stats = server.stats()
        augment(train, cand, tmp_path, _llm(server), _cfg())  # rerun: everything from the cache
        assert server.stats()["requests"] == stats["requests"]
    assert result.complete and result.edges.shape == (NUM_USERS, 3)
    assert set(stats["by_body"].values()) == {1}  # no request was sent twice
    _assert_valid_edges(result.edges, cand)

    # the liked / disliked items are the ones the mock derives from genre overlap
    edges = pd.read_csv(tmp_path / "augmented_edges.csv")
    assert list(edges.columns) == ["user", "pos_item", "neg_item", "user_id", "pos_item_id", "neg_item_id"]
    assert (edges.user_id == train.user_ids[edges.user]).all() and (
        edges.pos_item_id == train.item_ids[edges.pos_item]
    ).all()
    items = [json.loads(line) for line in (tmp_path / "items.jsonl").read_text().splitlines()]
    users = [json.loads(line) for line in (tmp_path / "users.jsonl").read_text().splitlines()]
    assert len(items) == NUM_ITEMS and set(items[0]["attributes"]) == {"director", "country", "language"}
    assert len(users) == NUM_USERS and isinstance(users[0]["attributes"]["liked_genres"], list)
    assert users[0]["prompt_version"] == "user-profile-v2" and users[0]["model"] == "mock-llm"

    for name, rows in (("item_text", NUM_ITEMS), ("item_attribute", NUM_ITEMS), ("user_profile", NUM_USERS)):
        feats, mask = np.load(tmp_path / f"{name}_features.npy"), np.load(tmp_path / f"{name}_mask.npy")
        assert feats.shape == (rows, 16) and mask.all()
        np.testing.assert_allclose(np.linalg.norm(feats, axis=1), 1.0, rtol=1e-5)

    assert result.manifest["usage_this_run"]["prompt_tokens"] > 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())  # written by the cached rerun
    assert manifest["provenance"]["base_url"] == server.base_url
    assert manifest["counts"]["tasks"] == TASKS and manifest["counts"]["failed"] == 0
    assert manifest["counts"]["cache_hits"] == TASKS and manifest["usage_this_run"]["requests_sent"] == 0


def test_implicit_answers_follow_the_mock(tmp_path, data):
    train, cand = data
    from recdenoise.llm.jobs import implicit_feedback_tasks
    from recdenoise.llm.text import item_records, user_histories

    with MockOpenAIServer() as server:
        result = augment(train, cand, tmp_path, _llm(server), _cfg(augmentations=("implicit",), embedder="none"))
    tasks = implicit_feedback_tasks(range(NUM_USERS), user_histories(train, 20), cand, item_records(train))
    for task, (u, pos, neg) in zip(tasks, result.edges):
        answer = mock_chat_answer(task.messages)
        assert (cand[u, answer["liked"]], cand[u, answer["disliked"]]) == (pos, neg)
    assert not (tmp_path / "items.jsonl").exists()


def test_faults_are_counted_and_never_become_edges(tmp_path, data, caplog):
    train, cand = data
    caplog.set_level(logging.WARNING, logger="recdenoise")
    # a client timeout of 1 s: a loaded CI machine answers a normal request well within it (0.25 s
    # was flaky there: a slow normal answer counted as a timeout the server had not injected)
    with MockOpenAIServer(fault_rate=0.2, seed=1, timeout_sleep=2.0) as server:
        result = augment(
            train, cand, tmp_path, _llm(server, timeout=1.0, retries=4), _cfg(max_attempts=2, embedder="none")
        )
        faults = server.stats()["faults"]
    counts = result.manifest["counts"]
    assert result.complete and counts["tasks"] == TASKS
    assert counts["succeeded"] + counts["failed"] == TASKS
    # every rejected answer is counted under the reason matching the injected fault
    expected = {_FAULT_REASON[k]: v for k, v in faults.items() if k in _FAULT_REASON}
    assert counts["rejections"] == expected and sum(expected.values()) > 0
    assert {"timeout", "rate_limit", "server_error"} & set(faults)
    failures = pd.read_csv(tmp_path / "failures.csv")
    assert len(failures) == counts["failed"] == sum(counts["failures"].values())
    assert caplog.text.count("no valid answer") == counts["failed"]
    edges = result.edges
    _assert_valid_edges(edges, cand)
    failed_users = {int(t.split(":")[1]) for t in failures.task_id if t.startswith("implicit:")}
    assert len(edges) == NUM_USERS - len(failed_users) and not failed_users & set(edges[:, 0].tolist())


def test_dry_run_sends_nothing(tmp_path, data):
    train, cand = data
    with MockOpenAIServer() as server:
        llm = _llm(server, price_per_1k_prompt=0.15, price_per_1k_completion=0.6)
        est = estimate(train, cand, tmp_path, llm, _cfg())
        assert server.stats()["requests"] == 0 and not (tmp_path / "cache").exists()
        assert est.requests == TASKS and est.cached == 0 and est.embedding_requests > 0
        assert est.by_kind == {"implicit_feedback": NUM_USERS, "item_attributes": NUM_ITEMS, "user_profile": NUM_USERS}
        assert (
            est.cost == pytest.approx(llm.cost(est.prompt_tokens + est.embedding_tokens, est.completion_tokens))
            and est.cost > 0
        )
        augment(train, cand, tmp_path, llm, _cfg(embedder="none"))
        sent = server.stats()["requests"]
        est = estimate(train, cand, tmp_path, llm, _cfg(embedder="none"))
        assert est.requests == 0 and est.cached == TASKS and server.stats()["requests"] == sent


def test_budget_stop_and_resume_matches_uninterrupted(tmp_path, data):
    train, cand = data
    with MockOpenAIServer(embedding_dim=8) as server:
        augment(train, cand, tmp_path / "ref", _llm(server), _cfg())
        server.reset_stats()
        part = augment(train, cand, tmp_path / "run", _llm(server, max_requests=20), _cfg())
        assert not part.complete and part.manifest["counts"]["budget_exhausted"]
        assert part.manifest["counts"]["failures"]["budget_exhausted"] == TASKS - 19  # 1 request: the probe
        assert server.stats()["requests"] == 20 and len(part.edges) < NUM_USERS
        _assert_valid_edges(part.edges, cand)
        done = augment(train, cand, tmp_path / "run", _llm(server), _cfg())
        stats = server.stats()
    assert done.complete and set(stats["by_body"].values()) == {1}
    _same_outputs(tmp_path / "ref", tmp_path / "run")


def test_api_key_never_written_or_logged(tmp_path, data, caplog, monkeypatch):
    train, cand = data
    secret = "sk-test-SECRET-7f3a9c1e5b"
    monkeypatch.setenv("RECDENOISE_LLM_API_KEY", secret)
    caplog.set_level(logging.DEBUG)  # every logger, the SDK's and the HTTP stack's included
    with MockOpenAIServer(require_api_key=secret, fault_rate=0.1, embedding_dim=8) as server:
        result = augment(train, cand, tmp_path, _llm(server), _cfg())
    assert result.complete  # so the key was really sent
    assert secret not in caplog.text
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    assert secret not in repr(result.manifest)


def test_output_is_readable_by_the_llmrec_recipe(tmp_path, data):
    from recdenoise.llm.augment_dir import load_augment_dir  # what `--method llmrec --augment DIR` reads

    train, cand = data
    with MockOpenAIServer(embedding_dim=8) as server:
        augment(train, cand, tmp_path, _llm(server), _cfg())
    loaded = load_augment_dir(tmp_path, train)
    assert loaded.num_edges == NUM_USERS
    assert {name: arr.shape for name, arr in loaded.features.items()} == {
        "item_text": (NUM_ITEMS, 8),
        "item_attributes": (NUM_ITEMS, 8),
        "user_profile": (NUM_USERS, 8),
    }
    # per-field attribute features, as LLMRec embeds them (item_attribute_<field>_features.npy)
    assert {f: arr.shape for f, arr in loaded.attribute_fields.items()} == {
        "country": (NUM_ITEMS, 8),
        "director": (NUM_ITEMS, 8),
        "language": (NUM_ITEMS, 8),
    }


def test_rejected_credentials_stop_the_job(tmp_path, data):
    from recdenoise.errors import LLMError

    train, cand = data
    with MockOpenAIServer(require_api_key="sk-right") as server:
        with pytest.raises(LLMError, match="refused the credentials"):
            augment(train, cand, tmp_path, _llm(server), _cfg(), api_key="sk-wrong")
    assert not (tmp_path / "manifest.json").exists() and not (tmp_path / "augmented_edges.csv").exists()


def test_identical_requests_of_two_tasks_are_sent_once(tmp_path):
    import asyncio

    from recdenoise.llm.cache import JsonlCache
    from recdenoise.llm.client import LLMClient
    from recdenoise.llm.parsing import parse_attributes
    from recdenoise.llm.prompts import DEFAULT_ITEM_ATTRIBUTES, item_attribute_messages
    from recdenoise.llm.runner import ChatTask, run_chat_tasks

    # ML-100K lists some titles twice (e.g. two items "Chasing Amy (1997)"): same prompt, one request
    messages = tuple(item_attribute_messages({"title": "Chasing Amy (1997)"}, DEFAULT_ITEM_ATTRIBUTES))
    parse = lambda text: parse_attributes(text, DEFAULT_ITEM_ATTRIBUTES)  # noqa: E731
    tasks = [ChatTask(f"item:{i}", "item_attributes", "v", messages, parse) for i in range(3)]

    async def go(server):
        with JsonlCache(tmp_path / "c.jsonl") as cache:
            async with LLMClient(_llm(server, structured="off")) as client:
                return await run_chat_tasks(tasks, client, cache, progress=False)

    with MockOpenAIServer(latency=0.05) as server:
        outcomes, report = asyncio.run(go(server))
        assert server.stats()["requests"] == 1
    assert [o.value for o in outcomes] == [outcomes[0].value] * 3 and report.succeeded == 3
    assert report.answers_received == 1 and report.cache_hits == 2
