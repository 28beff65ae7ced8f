"""JsonlCache: durability, torn-line recovery, single-writer lock, group-committed async puts."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from recdenoise.errors import LLMError
from recdenoise.llm.cache import JsonlCache, canonical_json, decode_vector, encode_vector, request_fingerprint


def test_put_get_and_reload(tmp_path):
    path = tmp_path / "c.jsonl"
    with JsonlCache(path) as cache:
        cache.put("a", {"content": "x", "n": 1})
        cache.put_many([("b", {"content": "y"}), ("c", {"content": "z"})])
        assert len(cache) == 3 and "b" in cache and cache.get("missing") is None
    with JsonlCache(path) as cache:
        assert cache.get("a")["content"] == "x" and cache.get("c")["content"] == "z"
    assert len(path.read_text().splitlines()) == 3


def test_torn_last_line_is_ignored_and_truncated(tmp_path, caplog):
    path = tmp_path / "c.jsonl"
    with JsonlCache(path) as cache:
        cache.put("a", {"content": "x"})
    with open(path, "ab") as fh:  # what a crash mid-write leaves behind
        fh.write(b'{"key": "b", "content": "hal')
    with JsonlCache(path) as cache:
        assert len(cache) == 1 and "b" not in cache
        cache.put("c", {"content": "after"})
    assert "torn" in caplog.text
    lines = path.read_text().splitlines()
    assert [json.loads(line)["key"] for line in lines] == ["a", "c"]


def test_malformed_or_refused_lines_are_dropped_and_named(tmp_path, caplog):
    path = tmp_path / "c.jsonl"
    big = json.dumps({"key": "big", "content": "x" * 5000})
    path.write_text('{"key": "a"}\nnot json\n{"key": "b", "bad": 1}\n' + big + '\n{"key": "c"}\n')
    with JsonlCache(path, validate=lambda rec: "bad" not in rec, max_line_bytes=1000) as cache:
        assert sorted(cache) == ["a", "c"] and cache.dropped == 3
    assert "c.jsonl:2" in caplog.text and "c.jsonl:4" in caplog.text


def test_second_writer_is_refused(tmp_path):
    path = tmp_path / "c.jsonl"
    with JsonlCache(path):
        with pytest.raises(LLMError, match="in use"):
            JsonlCache(path)
    JsonlCache(path).close()  # released on close


def test_read_keys_skips_torn_line_without_repairing(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"key": "a"}\n{"key": "b"')
    assert JsonlCache.read_keys(path) == {"a"}
    assert path.read_text().endswith('"b"')  # untouched
    assert JsonlCache.read_keys(tmp_path / "missing.jsonl") == set()


def test_async_puts_share_fsyncs_and_all_land(tmp_path):
    path = tmp_path / "c.jsonl"

    async def main(cache):
        await asyncio.gather(*(cache.aput(f"k{i}", {"v": i}) for i in range(50)))

    with JsonlCache(path) as cache:
        asyncio.run(main(cache))
        assert cache._synced == cache._written == 50
    assert JsonlCache.read_keys(path) == {f"k{i}" for i in range(50)}


def test_helpers_are_deterministic():
    assert canonical_json({"b": 1, "a": [1, "é"]}) == '{"a":[1,"é"],"b":1}'
    assert request_fingerprint({"a": 1, "b": 2}) == request_fingerprint({"b": 2, "a": 1})
    vec = np.linspace(-1, 1, 7, dtype=np.float32)
    np.testing.assert_array_equal(decode_vector(encode_vector(vec)), vec)
