"""Peak memory of the LLM job under 10 MB replies, and of reloading a cache of huge records.

1. ``recdenoise serve-mock --faults huge_reply --fault-rate 1`` in its own process answers
   every chat request with a 10 MB body; the job (100 tasks, in this process) must stay
   bounded: every reply is cut at ``--max-reply-bytes`` (1 MiB) and fails as ``reply_too_large``.
2. A cache file holding 60 records of 10 MB each (600 MB, what an unbounded version wrote)
   is opened; the oversize lines are skipped while streaming.

Peak RSS is ``ru_maxrss`` of a fresh child process per phase, minus nothing: the figure
includes the interpreter and the imports (reported separately as the baseline).

    python benchmarks/llm_memory.py            # target: peak < 500 MiB for both phases
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import mock_server_process  # noqa: E402

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
phase, arg, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
from recdenoise.llm import AugmentConfig, LLMConfig, augment, popularity_candidates
from recdenoise.llm.cache import JsonlCache
from recdenoise.llm.runner import chat_record_ok
from recdenoise.llm.synthetic import synthetic_movies
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
if phase == "job":
    train = synthetic_movies(50, 60, seed=0)
    cand = popularity_candidates(train, 10, 0)
    llm = LLMConfig(base_url=arg, model="mock-llm", structured="off", retries=0, timeout=60.0)
    cfg = AugmentConfig(augmentations=("implicit", "users"), embedder="none", progress=False, max_attempts=1)
    result = augment(train, cand, out, llm, cfg)
    info = result.manifest["counts"]
else:
    with JsonlCache(arg, validate=chat_record_ok) as cache:
        info = {"records_kept": len(cache), "dropped": cache.dropped}
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"baseline_mib": base / 1024, "peak_mib": peak / 1024, "seconds": time.perf_counter() - start, "info": info}))
"""


def _child(phase: str, arg: str, out: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, phase, arg, str(out)], capture_output=True, text=True, timeout=600
    )
    if proc.returncode != 0:
        raise SystemExit(f"{phase} failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _job(tmp: Path) -> dict:
    with mock_server_process("--faults", "huge_reply", "--fault-rate", "1") as url:
        return _child("job", url, tmp / "job")


def _cache(tmp: Path, records: int) -> dict:
    path = tmp / "chat.jsonl"
    huge = "x" * 10_000_000
    with open(path, "w") as fh:
        for i in range(records):
            fh.write(json.dumps({"key": f"k{i}", "content": huge, "prompt_tokens": 1, "completion_tokens": 1}) + "\n")
            fh.write(json.dumps({"key": f"s{i}", "content": "{}", "prompt_tokens": 1, "completion_tokens": 1}) + "\n")
    return _child("cache", str(path), tmp) | {"cache_mib": path.stat().st_size / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-records", type=int, default=60, help="10 MB records in the cache phase")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        job = _job(Path(tmp))
        cache = _cache(Path(tmp), args.cache_records)
    print(
        f"job, 100 tasks of 10 MB replies: peak {job['peak_mib']:.0f} MiB (baseline after imports "
        f"{job['baseline_mib']:.0f} MiB), {job['seconds']:.1f} s, failures {job['info']['failures']}"
    )
    print(
        f"cache reload, {cache['cache_mib']:.0f} MB file: peak {cache['peak_mib']:.0f} MiB "
        f"(baseline {cache['baseline_mib']:.0f} MiB), {cache['seconds']:.1f} s, {cache['info']}"
    )
    ok = job["peak_mib"] < 500 and cache["peak_mib"] < 500
    print(f"target peak < 500 MiB: {'met' if ok else 'NOT met'}")
    if os.environ.get("LLM_MEMORY_JSON"):
        Path(os.environ["LLM_MEMORY_JSON"]).write_text(json.dumps({"job": job, "cache": cache}, indent=2))


if __name__ == "__main__":
    main()
