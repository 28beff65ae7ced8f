"""LLM job throughput against the loopback mock: requests/s from concurrency 1 to 256.

Every request goes the full job path: openai SDK over HTTP (size-capped transport) ->
retrying client -> reply checks -> durable (fsynced) JSONL cache -> answer validation. The
mock sleeps ``--latency-ms`` per answer, like a remote model would. The bound at
concurrency ``c`` and latency ``L`` is ``c / L`` requests/s; the table shows the share of it
reached (the rest is this process's and the mock's CPU: both run on the same machine).

    python benchmarks/llm_throughput.py                       # 1, 4, 16, 64, 256
    python benchmarks/llm_throughput.py --concurrency 1,32    # target: >= 40 req/s at 32
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
    llm = LLMConfig(base_url=base_url, model="mock-llm", concurrency=concurrency, timeout=60.0, structured="off")
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
    parser.add_argument("--concurrency", default="1,4,16,64,256", help="comma list of concurrency levels")
    parser.add_argument("--rounds", type=int, default=8, help="requests per level = rounds * concurrency (min 20)")
    args = parser.parse_args()
    latency = args.latency_ms / 1000
    print(f"mock latency {args.latency_ms:.0f} ms")
    print("| concurrency | requests | req/s | bound c/L | share of bound |")
    print("|---:|---:|---:|---:|---:|")
    with MockOpenAIServer(latency=latency) as server, tempfile.TemporaryDirectory() as tmp:
        for c in (int(x) for x in args.concurrency.split(",")):
            n = max(20, args.rounds * c)
            rate = asyncio.run(_run(server.base_url, c, n, Path(tmp)))
            print(f"| {c} | {n} | {rate:.1f} | {c / latency:.0f} | {rate * latency / c:.0%} |", flush=True)


if __name__ == "__main__":
    main()
