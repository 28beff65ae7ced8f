"""Hostile HTTP-200 replies are per-task failures counted by kind: the job finishes, exits 3
with a one-line summary, caches nothing bad, and a rerun against a good server completes."""

from __future__ import annotations

import argparse
import json

import pytest

from recdenoise.llm import AugmentConfig, LLMConfig, MockOpenAIServer, augment, popularity_candidates
from recdenoise.llm.cache import JsonlCache
from recdenoise.llm.commands import (
    EXIT_INCOMPLETE,
    add_augment_arguments,
    job_exit_status,
    options_from_args,
    run_augment,
)
from recdenoise.llm.mock_server import HOSTILE_KINDS
from recdenoise.llm.replies import REPLY_FAILURE_KINDS, ReplyError, ReplyLimits, chat_reply, load_json
from recdenoise.llm.runner import chat_record_ok
from recdenoise.llm.synthetic import synthetic_movies

# mock reply kind -> the failure kind the job must count
EXPECTED = {
    "truncated_json": "reply_not_json",
    "html": "reply_not_json",
    "choices_string": "reply_shape",
    "choices_empty_object": "reply_shape",
    "choices_null": "reply_shape",
    "message_list": "reply_shape",
    "deep_garbage": "reply_shape",
    "usage_string": "reply_usage",
    "usage_negative": "reply_usage",
    "huge_integer": "reply_number_too_long",
    "deep_nesting": "reply_too_deep",
    "content_integer": "reply_content_type",
    "content_object": "reply_content_type",
    "huge_reply": "reply_too_large",
    "trickle_reply": "timeout",  # a byte every 50 ms: each read is quick, the attempt's deadline is not
    "nan_usage": "reply_nonfinite",
    "nan_embedding": "reply_nonfinite",
    "wrong_width_embedding": "reply_embedding_shape",
}
EMBEDDING_KINDS = ("nan_embedding", "wrong_width_embedding")
USERS, ITEMS = 3, 4
TASKS = USERS + ITEMS + USERS


def test_every_hostile_kind_is_covered():
    assert set(EXPECTED) == set(HOSTILE_KINDS) and set(EXPECTED.values()) <= {*REPLY_FAILURE_KINDS, "timeout"}


@pytest.fixture(scope="module")
def data():
    train = synthetic_movies(USERS, 20, seed=0)
    return train, popularity_candidates(train, k=4, seed=0)


def _llm(server, **kw) -> LLMConfig:
    base = dict(base_url=server.base_url, model="mock-llm", timeout=5.0, backoff_base=0.001, backoff_max=0.01)
    return LLMConfig(**(base | kw))


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_hostile_reply_is_a_counted_task_failure(tmp_path, data, kind, capsys):
    train, cand = data
    embedder = "openai" if kind in EMBEDDING_KINDS else "none"
    cfg = AugmentConfig(embedder=embedder, progress=False, max_attempts=2, items=tuple(range(ITEMS)))
    fast = {"timeout": 0.5, "retries": 0} if kind == "trickle_reply" else {}
    with MockOpenAIServer(faults=(kind,), fault_rate=1.0, embedding_dim=8) as bad:
        result = augment(train, cand, tmp_path, _llm(bad, **fast), cfg)  # no exception: the job finishes
    counts = result.manifest["counts"]
    if kind in EMBEDDING_KINDS:
        assert counts["failed"] == 0 and result.manifest["features"]["failed"] == EXPECTED[kind]
    else:
        assert counts["failures"] == {EXPECTED[kind]: TASKS}
        assert result.manifest["structured"]["mode"] == "off"  # every probe got the bad reply too
    assert not result.complete
    assert job_exit_status(result.manifest, 0.05) == EXIT_INCOMPLETE
    line = capsys.readouterr().err.strip()
    assert len(line.splitlines()) == 1 and EXPECTED[kind] in line
    with JsonlCache(tmp_path / "cache" / "chat.jsonl", validate=chat_record_ok) as cache:
        assert cache.dropped == 0  # nothing unusable was cached

    with MockOpenAIServer(embedding_dim=8) as good:  # rerun in the same folder: completes
        again = augment(train, cand, tmp_path, _llm(good), cfg)
    assert again.complete and again.manifest["counts"]["succeeded"] == TASKS


def test_cli_exits_3_with_one_line_and_no_traceback(tmp_path, capsys):
    argv = ["--dataset", "synthetic", "--users-limit", "3", "--items-limit", "2", "--embedder", "none"]
    argv += ["--no-progress", "--retries", "0", "--output", str(tmp_path)]
    with MockOpenAIServer(faults=("html",), fault_rate=1.0) as bad:
        args = add_augment_arguments(argparse.ArgumentParser()).parse_args(argv + ["--base-url", bad.base_url])
        assert run_augment(options_from_args(args)) == EXIT_INCOMPLETE
    err = capsys.readouterr().err
    assert "Traceback" not in err and "reply_not_json=8" in err and len(err.strip().splitlines()) == 1


def test_small_model_without_schema_never_exits_0(tmp_path):
    """A server that answers sloppily without constraints: `off` -> every task fails -> exit 3;
    `auto` finds the schema mode and every task succeeds."""
    argv = ["--dataset", "synthetic", "--users-limit", "4", "--items-limit", "4", "--embedder", "none"]
    argv += ["--no-progress", "--max-attempts", "1"]
    with MockOpenAIServer(unconstrained="sloppy", response_formats=("json_object_schema",)) as server:
        parse = add_augment_arguments(argparse.ArgumentParser()).parse_args
        off = parse(argv + ["--base-url", server.base_url, "--output", str(tmp_path / "off"), "--structured", "off"])
        assert run_augment(options_from_args(off)) == EXIT_INCOMPLETE
        auto = parse(argv + ["--base-url", server.base_url, "--output", str(tmp_path / "auto")])
        assert run_augment(options_from_args(auto)) == 0
    manifest = json.loads((tmp_path / "auto" / "manifest.json").read_text())
    assert manifest["structured"]["mode"] == "json_object_schema"
    assert manifest["structured"]["tried"]["json_schema"] == "http_400"


def test_bad_cache_records_are_dropped_and_asked_again(tmp_path, data):
    train, cand = data
    cfg = AugmentConfig(embedder="none", progress=False, items=tuple(range(ITEMS)))
    with MockOpenAIServer() as server:
        augment(train, cand, tmp_path, _llm(server), cfg)
        path = tmp_path / "cache" / "chat.jsonl"
        lines = path.read_text().splitlines()
        rec = json.loads(lines[1])
        lines[1] = json.dumps(rec | {"content": 42})  # what an old version could have cached
        path.write_text("\n".join(lines) + "\n")
        server.reset_stats()
        again = augment(train, cand, tmp_path, _llm(server), cfg)
        assert server.stats()["requests"] == 1 and again.complete


@pytest.mark.parametrize(
    "raw, kind",
    [
        (b"[" * 40 + b"]" * 40, "reply_too_deep"),
        (b'{"a": 1' + b"0" * 30 + b"}", "reply_number_too_long"),
        (b'{"a": 1e999}', "reply_number_too_long"),
        (b'{"a": Infinity}', "reply_nonfinite"),
        (b"x" * 2000, "reply_too_large"),
    ],
)
def test_load_json_caps(raw, kind):
    with pytest.raises(ReplyError) as err:
        load_json(raw, ReplyLimits(max_bytes=1024))
    assert err.value.kind == kind


def test_chat_reply_accepts_a_normal_body_and_null_content():
    body = {"choices": [{"message": {"content": None}}], "usage": {"prompt_tokens": 3, "completion_tokens": 0}}
    assert chat_reply(body, ReplyLimits()) == ("", 3, 0, None)
