"""LLM job throughput against the loopback mock: requests/s from concurrency 1 to 256.

Every request goes the full job path: openai SDK over HTTP (size-capped transport) ->
retrying client -> reply checks -> durable (fsynced) JSONL cache -> answer validation. The
mock sleeps ``--latency-ms`` per answer, like a remote model would. The bound at
concurrency ``c`` and latency ``L`` is ``c / L`` requests/s; the table shows the share of it
reached with adaptive concurrency (the default, :mod:`recdenoise.llm.pool`) and with
``--fixed-concurrency``. The mock runs in its own process (``recdenoise serve-mock``); the rest
of the bound is CPU: client and mock share this machine.

    python benchmarks/llm_throughput.py                       # 1 ... 256, ~5 s per level and mode
    python benchmarks/llm_throughput.py --concurrency 1,32 --seconds 2
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import mock_server_process  # noqa: E402

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


async def _run(base_url: str, concurrency: int, n: int, folder: Path, adaptive: bool) -> float:
    llm = LLMConfig(
        base_url=base_url,
        model="mock-llm",
        concurrency=concurrency,
        timeout=60.0,
        structured="off",
        adaptive_concurrency=adaptive,
    )
    with JsonlCache(folder / f"c{concurrency}-{adaptive}.jsonl") as cache:
        async with LLMClient(llm) as client:
            start = time.perf_counter()
            outcomes, report = await run_chat_tasks(
                _tasks(n, f"c{concurrency}{adaptive}"), client, cache, progress=False
            )
            seconds = time.perf_counter() - start
    assert report.succeeded == n and client.usage.requests_sent == n
    return n / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--concurrency", default="1,4,16,32,64,128,256", help="comma list of concurrency levels")
    parser.add_argument("--seconds", type=float, default=5.0, help="about how long each level runs at its bound")
    parser.add_argument("--in-process", action="store_true", help="run the mock in this process (threads)")
    args = parser.parse_args()
    latency = args.latency_ms / 1000
    print(
        f"mock latency {args.latency_ms:.0f} ms, mock {'in this process' if args.in_process else 'in its own process'}"
    )
    print("| concurrency | requests | bound c/L | adaptive req/s | share | fixed req/s | share |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    server = MockOpenAIServer(latency=latency) if args.in_process else None
    with (
        server or contextlib.nullcontext(),
        mock_server_process("--latency-ms", str(args.latency_ms))
        if server is None
        else contextlib.nullcontext(server.base_url) as url,
        tempfile.TemporaryDirectory() as tmp,
    ):
        for c in (int(x) for x in args.concurrency.split(",")):
            n = max(20, int(args.seconds * c / latency))
            rates = [asyncio.run(_run(url, c, n, Path(tmp), adaptive)) for adaptive in (True, False)]
            bound = c / latency
            cells = " | ".join(f"{r:.1f} | {r / bound:.0%}" for r in rates)
            print(f"| {c} | {n} | {bound:.0f} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
