"""LLM job throughput against the loopback mock: requests/s at concurrency 32 vs 1.

Every request goes the full job path: openai SDK over HTTP -> retrying client -> durable
(fsynced) JSONL cache -> answer validation. The mock sleeps ``--latency-ms`` per answer,
like a remote model would; the request counts are scaled so each side runs a few seconds.

    python benchmarks/llm_throughput.py            # target: >= 40 req/s at concurrency 32
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from recdenoise.llm.cache import JsonlCache
from recdenoise.llm.client import LLMClient, LLMConfig
from recdenoise.llm.mock_server import MockOpenAIServer
from recdenoise.llm.parsing import parse_attributes
from recdenoise.llm.prompts import DEFAULT_ITEM_ATTRIBUTES, item_attribute_messages
from recdenoise.llm.runner import ChatTask, run_chat_tasks


def _tasks(n: int, tag: str) -> list[ChatTask]:
    parse = lambda text: parse_attributes(text, DEFAULT_ITEM_ATTRIBUTES)  # noqa: E731
    return [
        ChatTask(
            f"item:{i}",
            "item_attributes",
            "bench",
            tuple(item_attribute_messages({"title": f"{tag} film {i}"}, DEFAULT_ITEM_ATTRIBUTES)),
            parse,
        )
        for i in range(n)
    ]


async def _run(base_url: str, concurrency: int, n: int, folder: Path) -> float:
    llm = LLMConfig(base_url=base_url, model="mock-llm", concurrency=concurrency, timeout=30.0)
    with JsonlCache(folder / f"c{concurrency}.jsonl") as cache:
        async with LLMClient(llm) as client:
            start = time.perf_counter()
            outcomes, report = await run_chat_tasks(_tasks(n, f"c{concurrency}"), client, cache, progress=False)
            seconds = time.perf_counter() - start
    assert report.succeeded == n and client.usage.requests_sent == n
    return n / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--requests-1", type=int, default=60, help="requests at concurrency 1")
    parser.add_argument("--requests-32", type=int, default=1200, help="requests at concurrency 32")
    args = parser.parse_args()
    with MockOpenAIServer(latency=args.latency_ms / 1000) as server, tempfile.TemporaryDirectory() as tmp:
        one = asyncio.run(_run(server.base_url, 1, args.requests_1, Path(tmp)))
        many = asyncio.run(_run(server.base_url, 32, args.requests_32, Path(tmp)))
    print(f"mock latency {args.latency_ms:.0f} ms")
    print(f"concurrency  1: {one:8.1f} req/s  ({args.requests_1} requests)")
    print(f"concurrency 32: {many:8.1f} req/s  ({args.requests_32} requests)")
    print(f"ratio: {many / one:.1f}x  (target >= 40 req/s at 32: {'met' if many >= 40 else 'NOT met'})")


if __name__ == "__main__":
    main()
