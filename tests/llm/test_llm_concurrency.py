"""Adaptive concurrency per endpoint (llm/pool.py): the limit rule, lanes, a job against a serial server."""

from __future__ import annotations

import asyncio

import pytest

from recdenoise.llm.cache import JsonlCache
from recdenoise.llm.client import LLMClient, LLMConfig
from recdenoise.llm.mock_server import MockOpenAIServer
from recdenoise.llm.parsing import parse_attributes
from recdenoise.llm.pool import INITIAL_LIMIT, AdaptiveLimit, EndpointPool
from recdenoise.llm.prompts import DEFAULT_ITEM_ATTRIBUTES, item_attribute_messages
from recdenoise.llm.runner import ChatTask, run_chat_tasks

ATTRS = DEFAULT_ITEM_ATTRIBUTES


def _limit(ceiling=32, timeout=60.0, limit=None, slow_start=True):
    lim = AdaptiveLimit(ceiling, timeout)
    if limit is not None:
        lim.limit = float(limit)
    lim.slow_start = slow_start
    return lim


# (case, limit before, slow start, latency, sent_with, limit after); timeout 60 s: T = 30 s
RULES = [
    ("fast answer, full window, slow start: +1", 8, True, 1.0, 8, 9),
    ("fast answer, full window, past slow start: +1/w", 8, False, 1.0, 8, 8.125),
    ("fast answer, window not full: unchanged", 8, True, 1.0, 3, 8),
    ("ceiling is never passed", 32, True, 1.0, 32, 32),
    ("latency between T/2 and T: hold", 8, True, 20.0, 8, 8),
    ("latency past T: proportional cut", 8, True, 40.0, 8, 6),
    ("cut relative to what was in flight", 8, True, 60.0, 4, 2),
    ("cut never below 1", 2, True, 59.0, 1, 1),
]


@pytest.mark.parametrize("case,before,slow,latency,sent_with,after", RULES, ids=[r[0] for r in RULES])
def test_limit_rule(case, before, slow, latency, sent_with, after):
    lim = _limit(limit=before, slow_start=slow)
    lim.on_answer(latency, sent_with)
    assert lim.limit == pytest.approx(after)
    assert lim.slow_start == (slow and after >= before)


def test_overload_halves():
    lim = _limit(limit=16)
    lim.on_overload(16)
    assert lim.limit == 8 and lim.decreases == 1
    lim.on_overload(2)  # a request sent when only 2 were in flight timed out
    assert lim.limit == 1


def test_a_new_kind_of_request_restarts_slow_start():
    lim = _limit(limit=12, slow_start=False)
    lim.on_send("implicit_feedback")
    assert lim.limit == INITIAL_LIMIT and lim.slow_start
    lim.limit = 12.0
    lim.on_send("implicit_feedback")  # a kind already sent: no reset
    assert lim.limit == 12


def test_fixed_concurrency_never_adapts():
    lim = AdaptiveLimit(16, 60.0, adaptive=False)
    assert lim.allowed == 16
    lim.on_send("x")
    lim.on_overload(16)
    lim.on_answer(59.0, 16)
    assert lim.allowed == 16


def test_pool_spreads_over_endpoints_and_lanes():
    async def main():
        pool = EndpointPool(["http://a/v1", "http://b/v1"], lambda url: object(), ceiling=40, timeout=60.0)
        assert len(pool.endpoints[0].lanes) == 3  # ceil(40 / 16) connection lanes per endpoint
        slots = [await pool.acquire() for _ in range(2 * INITIAL_LIMIT)]
        assert [e.in_flight for e in pool.endpoints] == [INITIAL_LIMIT, INITIAL_LIMIT]
        assert max(max(e.lane_in_flight) for e in pool.endpoints) <= 2
        waiter = asyncio.ensure_future(pool.acquire())  # both endpoints are at their limit
        await asyncio.sleep(0.01)
        assert not waiter.done()
        await pool.release(slots[0], None)
        slot = await asyncio.wait_for(waiter, 1.0)
        assert slot.endpoint is slots[0].endpoint

    asyncio.run(main())


def _tasks(n: int) -> list[ChatTask]:
    parse = lambda text: parse_attributes(text, DEFAULT_ITEM_ATTRIBUTES)  # noqa: E731
    return [
        ChatTask(
            f"item:{i}", "item_attributes", "t", tuple(item_attribute_messages({"title": f"film {i}"}, ATTRS)), parse
        )
        for i in range(n)
    ]


@pytest.mark.parametrize("adaptive", [True, False])
def test_serial_server_within_timeout_only_when_adaptive(tmp_path, adaptive):
    """A server answering one request at a time in 0.15 s, a 1 s timeout and 16 requests allowed
    in flight: with a fixed window the tail of every burst waits past the timeout; adaptively
    the job keeps few in flight and no request times out."""

    async def main(url):
        cfg = LLMConfig(
            base_url=url,
            model="m",
            concurrency=16,
            timeout=1.0,
            retries=0,
            structured="off",
            adaptive_concurrency=adaptive,
        )
        with JsonlCache(tmp_path / f"{adaptive}.jsonl") as cache:
            async with LLMClient(cfg) as client:
                _, report = await run_chat_tasks(_tasks(24), client, cache, progress=False)
                return report, client.usage, client.endpoints[0].limit

    with MockOpenAIServer(latency=0.15, serial=True) as server:
        report, usage, limit = asyncio.run(main(server.base_url))
    if adaptive:
        assert report.succeeded == 24 and usage.errors.get("timeout", 0) == 0, (report.to_dict(), usage.to_dict())
        assert limit.allowed <= 4  # 0.15 s answers, 0.5 s latency target: at most ~3 fit
    else:
        assert usage.errors.get("timeout", 0) > 0


def test_a_refusing_server_is_explained_once(tmp_path, caplog):
    """HTTP 400 (here: a response_format the server lacks; on llama.cpp also a prompt over the
    context window) fails each task as ``http_400`` and logs the server's reason once."""

    async def main(url):
        cfg = LLMConfig(base_url=url, model="m", concurrency=4, structured="json_schema", retries=0)
        with JsonlCache(tmp_path / "c.jsonl") as cache:
            async with LLMClient(cfg) as client:
                tasks = [
                    ChatTask(t.task_id, t.kind, t.prompt_version, t.messages, t.parse, schema={"type": "object"})
                    for t in _tasks(5)
                ]
                return (await run_chat_tasks(tasks, client, cache, progress=False))[1]

    with MockOpenAIServer(response_formats=("json_object",)) as server, caplog.at_level("WARNING"):
        report = asyncio.run(main(server.base_url))
    assert report.failures == {"http_400": 5}
    refusals = [r for r in caplog.records if "refused a request with HTTP 400" in r.getMessage()]
    assert len(refusals) == 1 and "not supported" in refusals[0].getMessage()
