"""kill -9 in the middle of a job, restart: no answered request is sent again, no answer is lost,
and the outputs equal those of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np

from recdenoise.llm import AugmentConfig, LLMConfig, MockOpenAIServer, augment, popularity_candidates
from recdenoise.llm.synthetic import synthetic_movies

JOB = textwrap.dedent(
    """
    import sys
    from recdenoise.llm import AugmentConfig, LLMConfig, augment, popularity_candidates
    from recdenoise.llm.synthetic import synthetic_movies

    train = synthetic_movies(30, 60, seed=0)
    cand = popularity_candidates(train, k=10, seed=0)
    llm = LLMConfig(base_url=sys.argv[1], model="mock-llm", concurrency=4, timeout=10.0)
    result = augment(train, cand, sys.argv[2], llm, AugmentConfig(embedder="openai", progress=False))
    sys.exit(0 if result.complete else 3)
    """
)
FILES = ("augmented_edges.csv", "items.jsonl", "items.csv", "users.jsonl", "users.csv", "failures.csv")


def _complete_records(path) -> list[dict]:
    if not path.exists():
        return []
    lines = path.read_bytes().split(b"\n")[:-1]  # a torn last line is not an answer yet
    return [json.loads(line) for line in lines]


def test_sigkill_then_resume(tmp_path):
    script = tmp_path / "job.py"
    script.write_text(JOB)
    out = tmp_path / "killed"
    cache = out / "cache" / "chat.jsonl"
    with MockOpenAIServer(latency=0.05, embedding_dim=8) as server:
        train = synthetic_movies(30, 60, seed=0)
        llm = LLMConfig(base_url=server.base_url, model="mock-llm", concurrency=4, timeout=10.0)
        augment(
            train,
            popularity_candidates(train, 10, 0),
            tmp_path / "ref",
            llm,
            AugmentConfig(embedder="openai", progress=False),
        )
        server.reset_stats()

        proc = subprocess.Popen([sys.executable, str(script), server.base_url, str(out)])
        deadline = time.monotonic() + 60
        while len(_complete_records(cache)) < 31:  # 30 answers + the probe verdict
            assert proc.poll() is None, "the job ended before it could be killed"
            assert time.monotonic() < deadline, "the job made no progress"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        before = [r for r in _complete_records(cache) if "probe" not in r]  # answers (not the probe verdict)
        assert 30 <= len(before) < 120  # killed part-way

        rc = subprocess.run([sys.executable, str(script), server.base_url, str(out)], timeout=120).returncode
        stats = server.stats()
    assert rc == 0
    by_body = stats["by_body"]
    assert all(by_body[r["body_sha256"]] == 1 for r in before)  # answered before the kill: never re-sent
    assert sum(c > 1 for c in by_body.values()) <= 4  # at most the requests in flight at the kill
    after = {r["key"]: r for r in _complete_records(cache)}
    assert all(after[r["key"]]["content"] == r["content"] for r in before)  # nothing lost or replaced
    for name in FILES:
        assert (out / name).read_bytes() == (tmp_path / "ref" / name).read_bytes(), name
    for npy in sorted(p.name for p in (tmp_path / "ref").glob("*.npy")):
        np.testing.assert_array_equal(np.load(out / npy), np.load(tmp_path / "ref" / npy))
