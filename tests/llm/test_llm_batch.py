"""Offline batch files: --batch-out requests, answered offline, --batch-in: same files as online."""

from __future__ import annotations

import json

import numpy as np
import pytest

from recdenoise.llm import AugmentConfig, LLMConfig, MockOpenAIServer, augment, popularity_candidates
from recdenoise.llm.batch import read_batch_requests
from recdenoise.llm.mock_server import mock_chat_answer
from recdenoise.llm.synthetic import synthetic_movies

DATA_FILES = ("augmented_edges.csv", "items.jsonl", "items.csv", "users.jsonl", "users.csv", "failures.csv")


@pytest.fixture(scope="module")
def data():
    train = synthetic_movies(8, 30, seed=0)
    return train, popularity_candidates(train, k=6, seed=0)


def _answer_line(request: dict, broken: bool = False) -> str:
    """What the OpenAI Batch API / vLLM run-batch write for one request."""
    content = json.dumps(mock_chat_answer(request["body"]["messages"]))
    body = {
        "id": "x",
        "object": "chat.completion",
        "model": request["body"]["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": 7 if broken else content}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }
    return json.dumps(
        {"id": "b", "custom_id": request["custom_id"], "response": {"status_code": 200, "body": body}, "error": None}
    )


def test_batch_round_trip_matches_online(tmp_path, data, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-never-sent")  # nothing is sent: every answer is in the cache
    train, cand = data
    cfg = AugmentConfig(embedder="none", progress=False, items=tuple(range(10)))
    llm = LLMConfig(base_url="https://api.openai.com/v1", model="gpt-4o-mini")  # never contacted
    requests_path, results_path = tmp_path / "requests.jsonl", tmp_path / "results.jsonl"

    first = augment(train, cand, tmp_path / "batch", llm, cfg, batch_out=requests_path)
    requests = read_batch_requests(requests_path)
    assert len(requests) == first.manifest["counts"]["tasks"] == 8 + 10 + 8
    assert {r["url"] for r in requests} == {"/v1/chat/completions"} and {r["method"] for r in requests} == {"POST"}
    assert all(r["body"]["response_format"]["type"] == "json_schema" for r in requests)

    lines = [_answer_line(r, broken=(j == 0)) for j, r in enumerate(requests)]
    lines.append(json.dumps({"custom_id": "nonsense", "response": None, "error": {"message": "x"}}))
    results_path.write_text("\n".join(lines) + "\n")
    second = augment(train, cand, tmp_path / "batch", llm, cfg, batch_in=results_path, batch_out=requests_path)
    assert second.manifest["batch"]["in"] == {"ingested": len(requests) - 1, "reply_content_type": 1, "reply_shape": 1}
    (left,) = read_batch_requests(requests_path)  # the broken answer is asked again
    assert left["custom_id"] == requests[0]["custom_id"]
    results_path.write_text(_answer_line(left) + "\n")
    final = augment(train, cand, tmp_path / "batch", llm, cfg, batch_in=results_path)
    assert final.complete

    with MockOpenAIServer() as server:
        online = augment(
            train,
            cand,
            tmp_path / "online",
            LLMConfig(base_url=server.base_url, model="gpt-4o-mini", structured="json_schema"),
            cfg,
        )
    assert online.complete
    for name in DATA_FILES:
        assert (tmp_path / "batch" / name).read_bytes() == (tmp_path / "online" / name).read_bytes(), name
    za, zb = np.load(tmp_path / "batch" / "augmented_edges.npz"), np.load(tmp_path / "online" / "augmented_edges.npz")
    for key in za.files:
        np.testing.assert_array_equal(za[key], zb[key])
