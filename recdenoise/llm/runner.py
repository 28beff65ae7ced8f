"""Run many chat tasks through the cache, the client and the validators, resumably.

For each task and attempt ``a = 0, 1, ...`` the runner builds the request body (attempt
``a > 0`` appends the rejected answer and a corrective turn), keys it by

.. math::
    \\mathrm{key} = \\mathrm{sha256}(\\mathrm{canonical}(\\{body, kind, prompt\\_version, attempt\\}))

and looks the key up in the :class:`~recdenoise.llm.cache.JsonlCache`; only a miss is sent, and
tasks that ask the very same thing in one run share one request (a per-key lock).
A received answer is cached *before* its content is validated (only after the client checked
the reply's shape, types and sizes), so a restarted job replays the same answers, reaches
the same verdicts and sends nothing it already had. A re-ask quotes at most
:data:`REASK_QUOTE_CHARS` characters of the rejected answer. An answer that fails
validation is re-asked up to ``max_attempts`` times in total, then the task is recorded as
a failure with the reason of the last rejection. Transport failures (retries spent) and an
exhausted budget are failures too; they are not cached, so a rerun tries them again.

The endpoint is not part of the key (answers are keyed by what was asked, so a restarted
local server on another port keeps its cache): use a fresh output folder when switching
between servers that serve different models under the same name.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from tqdm.auto import tqdm

from .cache import JsonlCache, canonical_json, request_fingerprint, sha256_text
from .client import BudgetExhausted, LLMClient, TransportError
from .parsing import AnswerError
from .prompts import reask_message

__all__ = [
    "ChatTask",
    "TaskOutcome",
    "RunReport",
    "run_chat_tasks",
    "request_key",
    "chat_record_ok",
    "REASK_QUOTE_CHARS",
]

log = logging.getLogger(__name__)

#: Characters of a rejected answer quoted back in a re-ask (a 10 MB answer must not become a 20 MB request).
REASK_QUOTE_CHARS = 300


@dataclass(frozen=True)
class ChatTask:
    """One question: ``messages`` to send and ``parse`` (answer text -> value, or :class:`AnswerError`);
    ``schema`` (a JSON schema of the answer, see :mod:`.schemas`) goes into ``response_format``."""

    task_id: str
    kind: str
    prompt_version: str
    messages: tuple[dict, ...]
    parse: Callable[[str], Any]
    schema: dict | None = None
    schema_name: str = "answer"


@dataclass(frozen=True)
class TaskOutcome:
    """``value`` on success, else ``failure`` (a reason); ``attempts`` answers were consumed."""

    task_id: str
    kind: str
    value: Any = None
    failure: str | None = None
    attempts: int = 0

    @property
    def ok(self) -> bool:
        return self.failure is None


@dataclass
class RunReport:
    """Counts for one run of :func:`run_chat_tasks`.

    ``rejections`` counts every rejected answer by reason (including ones a re-ask fixed);
    ``failures`` counts tasks that ended without a value, by final reason.
    """

    tasks: int = 0
    succeeded: int = 0
    cache_hits: int = 0
    answers_received: int = 0
    failures: Counter = field(default_factory=Counter)
    rejections: Counter = field(default_factory=Counter)
    budget_exhausted: bool = False
    prompt_tokens_cached: int = 0
    completion_tokens_cached: int = 0
    seconds: float = 0.0
    structured: dict = field(default_factory=dict)  # the resolved response_format mode and its probe
    batch: dict = field(default_factory=dict)  # batch files read / written (see .batch)

    @property
    def failure_rate(self) -> float:
        """Share of tasks that ended without a value, not counting ``deferred_to_batch`` (0 without tasks)."""
        failed = sum(n for kind, n in self.failures.items() if kind != "deferred_to_batch")
        return failed / self.tasks if self.tasks else 0.0

    def to_dict(self) -> dict:
        return {
            "tasks": self.tasks,
            "succeeded": self.succeeded,
            "failed": sum(self.failures.values()),
            "failures": dict(sorted(self.failures.items())),
            "rejections": dict(sorted(self.rejections.items())),
            "cache_hits": self.cache_hits,
            "answers_received": self.answers_received,
            "budget_exhausted": self.budget_exhausted,
            "prompt_tokens_cached": self.prompt_tokens_cached,
            "completion_tokens_cached": self.completion_tokens_cached,
            "seconds": round(self.seconds, 3),
        }


def chat_record_ok(rec: dict, max_content_chars: int = 32_768) -> bool:
    """Is a chat cache record usable (checked on load: a bad one is dropped and asked again)?"""
    if "probe" in rec:
        return isinstance(rec["probe"], dict)
    tokens = [rec.get("prompt_tokens", 0), rec.get("completion_tokens", 0)]
    content = rec.get("content")
    return (
        isinstance(content, str)
        and len(content) <= max_content_chars
        and all(isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in tokens)
    )


def request_key(body: dict, kind: str, prompt_version: str, attempt: int) -> str:
    """Cache key of one attempt (see the module formula)."""
    return sha256_text(
        canonical_json({"body": body, "kind": kind, "prompt_version": prompt_version, "attempt": attempt})
    )


def attempt_messages(task: ChatTask, rejected: Sequence[tuple[str, AnswerError]]) -> list[dict]:
    """Messages of the next attempt: the task's, then each rejected answer and its correction."""
    msgs = [dict(m) for m in task.messages]
    for answer, err in rejected:
        quoted = answer if len(answer) <= REASK_QUOTE_CHARS else answer[:REASK_QUOTE_CHARS] + " [...]"
        msgs.append({"role": "assistant", "content": quoted})
        msgs.append(reask_message(err.reason, err.detail))
    return msgs


async def _fetch(
    task: ChatTask,
    attempt: int,
    body: dict,
    key: str,
    client: LLMClient,
    cache: JsonlCache,
    report: RunReport,
    deferred: dict | None,
) -> dict | TaskOutcome:
    """The cache record for ``key``: from the cache (filled meanwhile by a task that asked the
    same) or sent now and cached before it is used; a :class:`TaskOutcome` failure otherwise
    (``deferred_to_batch`` when ``deferred`` collects unsent requests, key -> body)."""
    rec = cache.get(key)
    if rec is not None:
        _count_hit(rec, report)
        return rec
    if deferred is not None:
        deferred[key] = body
        return TaskOutcome(task.task_id, task.kind, failure="deferred_to_batch", attempts=attempt)
    try:
        answer = await client.chat(body, kind=task.kind)
    except BudgetExhausted:
        report.budget_exhausted = True
        return TaskOutcome(task.task_id, task.kind, failure="budget_exhausted", attempts=attempt)
    except TransportError as exc:
        log.info("task %s: request failed (%s); a rerun will try it again", task.task_id, exc)  # summed up at the end
        return TaskOutcome(task.task_id, task.kind, failure=exc.reason, attempts=attempt)
    report.answers_received += 1
    return await cache.aput(
        key,
        {
            "task_id": task.task_id,
            "kind": task.kind,
            "prompt_version": task.prompt_version,
            "attempt": attempt,
            "body_sha256": request_fingerprint(body),
            "model": answer.model,
            "content": answer.content,
            "prompt_tokens": answer.prompt_tokens,
            "completion_tokens": answer.completion_tokens,
            "received_at": time.time(),
        },
    )


def _count_hit(rec: dict, report: RunReport) -> None:
    report.cache_hits += 1
    report.prompt_tokens_cached += int(rec.get("prompt_tokens", 0))
    report.completion_tokens_cached += int(rec.get("completion_tokens", 0))


async def _run_one(
    task: ChatTask,
    client: LLMClient,
    cache: JsonlCache,
    max_attempts: int,
    report: RunReport,
    locks: dict[str, asyncio.Lock],
    deferred: dict | None = None,
) -> TaskOutcome:
    rejected: list[tuple[str, AnswerError]] = []
    for attempt in range(max_attempts):
        body = client.chat_body(attempt_messages(task, rejected), task.schema, task.schema_name)
        key = request_key(body, task.kind, task.prompt_version, attempt)
        rec = cache.get(key)
        if rec is not None:
            _count_hit(rec, report)
        else:
            # Two tasks can ask the very same thing (ML-100K lists some titles twice): the second
            # waits for the first's answer instead of sending the request again.
            async with locks.setdefault(key, asyncio.Lock()):
                rec = await _fetch(task, attempt, body, key, client, cache, report, deferred)
            if isinstance(rec, TaskOutcome):
                return rec
        try:
            value = task.parse(rec["content"])
        except AnswerError as err:
            report.rejections[err.reason] += 1
            log.info("task %s attempt %d: answer rejected (%s)", task.task_id, attempt, err)
            rejected.append((rec["content"], err))
            continue
        return TaskOutcome(task.task_id, task.kind, value=value, attempts=attempt + 1)
    reason = rejected[-1][1].reason
    log.warning("task %s: no valid answer after %d attempt(s) (last: %s)", task.task_id, max_attempts, rejected[-1][1])
    return TaskOutcome(task.task_id, task.kind, failure=reason, attempts=max_attempts)


async def run_chat_tasks(
    tasks: Sequence[ChatTask],
    client: LLMClient,
    cache: JsonlCache,
    max_attempts: int = 3,
    progress: bool = True,
    deferred: dict | None = None,
) -> tuple[list[TaskOutcome], RunReport]:
    """Run ``tasks`` concurrently (the client bounds what is in flight); outcomes in task order.

    With ``deferred`` (a dict) nothing is sent: every request not in the cache is collected
    there (cache key -> body, for an offline batch file) and its task fails as ``deferred_to_batch``.

    A fatal error (bad credentials, unknown model) cancels the rest and propagates; every
    answer received before it is already in the cache.
    """
    report = RunReport(tasks=len(tasks))
    if client.structured is None:  # structured="auto" not resolved by the caller: probe now
        report.structured = await client.resolve_structured()
    start = time.perf_counter()
    locks: dict[str, asyncio.Lock] = {}
    futures = [asyncio.ensure_future(_run_one(t, client, cache, max_attempts, report, locks, deferred)) for t in tasks]
    bar = tqdm(total=len(tasks), desc="LLM requests", unit="task", disable=not progress, leave=False)
    try:
        for fut in asyncio.as_completed(futures):
            outcome = await fut
            bar.update(1)
            if outcome.ok:
                report.succeeded += 1
            else:
                report.failures[outcome.failure] += 1
    except BaseException:
        for f in futures:
            f.cancel()
        await asyncio.gather(*futures, return_exceptions=True)
        raise
    finally:
        bar.close()
    report.seconds = time.perf_counter() - start
    return [f.result() for f in futures], report
