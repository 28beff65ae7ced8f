"""CLI entry points of the LLM job: ``recdenoise augment`` and ``recdenoise serve-mock``.

The CLI module adds the flags with :func:`add_augment_arguments` / :func:`add_serve_mock_arguments`,
turns the parsed flags into :class:`~recdenoise.llm.options.AugmentOptions` with
:func:`options_from_args` and calls :func:`run_augment` / :func:`run_serve_mock`, which
return the exit status:

- ``0``: at most ``--max-failure-rate`` (default 5 %) of the tasks ended without a value;
- ``3``: a partial job: more tasks than that failed (bad answers, unusable replies,
  transport failures, counted by kind in one line on stderr), or the request budget ran
  out; rerunning the same command resumes from the cache and asks only what is missing.

There is deliberately no ``--api-key`` flag (it would land in shell history and process
lists): the key is read from the environment variable named by ``--api-key-env``, else
``RECDENOISE_LLM_API_KEY``, else ``OPENAI_API_KEY`` for api.openai.com only.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import DataError
from .options import AugmentOptions, default_of, options_from_args
from .schemas import STRUCTURED_MODES
from .shards import merge_caches

__all__ = [
    "add_augment_arguments",
    "add_serve_mock_arguments",
    "run_augment",
    "run_serve_mock",
    "job_exit_status",
    "options_from_args",
    "AugmentOptions",
    "EXIT_INCOMPLETE",
]

log = logging.getLogger(__name__)

EXIT_INCOMPLETE = 3


def _csv_list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def add_augment_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Flags of ``recdenoise augment``."""
    parser.add_argument(
        "action",
        nargs="?",
        choices=("run", "merge"),
        default=default_of("action"),
        help="run (default) or merge: combine the shard folders given next into --output",
    )
    parser.add_argument("shards", nargs="*", default=[], help="shard folders (merge only)")
    data = parser.add_argument_group("data")
    data.add_argument("--dataset", required=True, help="registered dataset name (e.g. ml-100k)")
    data.add_argument(
        "--data-dir",
        default=default_of("data_dir"),
        help="folder holding the dataset folders (default $RECDENOISE_DATA_DIR)",
    )
    data.add_argument(
        "--split", default=default_of("split"), help="split method passed to prepare_data (must match training)"
    )
    data.add_argument(
        "--seed", type=int, default=default_of("seed"), help="split seed, candidate tie-breaks and retry jitter"
    )
    data.add_argument(
        "--candidates",
        default=default_of("candidates"),
        help="int [U, k] .npy of candidate items (default: base_candidates)",
    )
    data.add_argument(
        "--candidates-k", type=int, default=default_of("candidates_k"), help="candidates per user (LLMRec: 10)"
    )
    data.add_argument(
        "--users-limit", type=int, default=default_of("users_limit"), help="only the first N users (demos)"
    )
    data.add_argument(
        "--items-limit",
        type=int,
        default=default_of("items_limit"),
        help="only the first N items for item attributes (demos)",
    )
    llm = parser.add_argument_group("LLM endpoint")
    llm.add_argument(
        "--base-url",
        action="append",
        default=None,
        help="OpenAI-compatible base URL (vLLM, Ollama, llama.cpp, ...); repeat it for a pool of servers "
        f"serving the same model (default {default_of('base_url')[0]})",
    )
    llm.add_argument("--model", default=default_of("model"), help="chat model name")
    llm.add_argument("--embedding-model", default=default_of("embedding_model"), help="model for --embedder openai")
    llm.add_argument(
        "--api-key-env", default=default_of("api_key_env"), help="environment variable holding the API key"
    )
    llm.add_argument(
        "--concurrency", type=int, default=default_of("concurrency"), help="most requests in flight (a ceiling)"
    )
    llm.add_argument(
        "--fixed-concurrency",
        dest="adaptive_concurrency",
        action="store_false",
        default=default_of("adaptive_concurrency"),
        help="keep --concurrency requests in flight instead of adapting each endpoint's limit to its latency "
        "(adaptive by default: a server that answers one request at a time gets few, so none waits past the timeout)",
    )
    llm.add_argument(
        "--max-requests",
        type=int,
        default=default_of("max_requests"),
        help="request budget for this run (retries count)",
    )
    llm.add_argument(
        "--retries", type=int, default=default_of("retries"), help="retries per request on 429/5xx/timeouts"
    )
    llm.add_argument("--timeout", type=float, default=default_of("timeout"), help="seconds per HTTP attempt")
    llm.add_argument(
        "--max-attempts",
        type=int,
        default=default_of("max_attempts"),
        help="answers asked per task (re-asks after invalid answers)",
    )
    llm.add_argument("--price-prompt", type=float, default=default_of("price_prompt"), help="cost per 1k prompt tokens")
    llm.add_argument(
        "--price-completion", type=float, default=default_of("price_completion"), help="cost per 1k completion tokens"
    )
    llm.add_argument(
        "--structured",
        choices=STRUCTURED_MODES,
        default=default_of("structured"),
        help="constrain answers with a JSON schema: json_schema (OpenAI, vLLM, llama-server, Ollama), "
        "json_object_schema (llama-cpp-python), json_object, off; auto probes the endpoint once and falls back",
    )
    llm.add_argument(
        "--json-mode",
        dest="structured",
        action="store_const",
        const="json_object",
        help="alias of --structured json_object",
    )
    llm.add_argument(
        "--max-reply-bytes",
        type=int,
        default=default_of("max_reply_bytes"),
        help="largest reply body accepted (bytes, default 1 MiB)",
    )
    llm.add_argument("--rpm", type=float, default=default_of("rpm"), help="client-side limit: requests per minute")
    llm.add_argument(
        "--tpm", type=float, default=default_of("tpm"), help="client-side limit: (estimated) tokens per minute"
    )
    llm.add_argument(
        "--retry-after-max",
        type=float,
        default=default_of("retry_after_max"),
        help="cap (seconds) on a server's Retry-After",
    )
    job = parser.add_argument_group("job")
    job.add_argument(
        "--output",
        default=default_of("output"),
        help="output folder (and cache; rerun to resume); default augment/<dataset>",
    )
    job.add_argument(
        "--augmentations",
        type=_csv_list,
        default=default_of("augmentations"),
        help="comma list of implicit,items,users",
    )
    job.add_argument(
        "--embedder",
        choices=("local", "openai", "none"),
        default=default_of("embedder"),
        help="text embeddings backend",
    )
    job.add_argument("--device", default=default_of("device"), help="torch device for the local embedder")
    job.add_argument(
        "--max-history", type=int, default=default_of("max_history"), help="most recent items per user in a prompt"
    )
    job.add_argument(
        "--max-failure-rate",
        type=float,
        default=default_of("max_failure_rate"),
        help="exit 3 when a larger share of tasks ends without a value (default 0.05)",
    )
    job.add_argument(
        "--batch-out",
        default=default_of("batch_out"),
        help="write the pending requests as an OpenAI Batch API input file; send nothing",
    )
    job.add_argument(
        "--batch-in",
        default=default_of("batch_in"),
        help="an OpenAI Batch API (or vLLM run-batch) output file to ingest first",
    )
    job.add_argument("--shard", default=default_of("shard"), help="I/N: only this machine's share of the tasks")
    job.add_argument("--dry-run", action="store_true", help="count requests, tokens and cost; send nothing")
    job.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def add_serve_mock_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Flags of ``recdenoise serve-mock``."""
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay before every answer")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="share of requests given an injected fault")
    parser.add_argument("--seed", type=int, default=0, help="seeds the fault draws")
    parser.add_argument(
        "--faults", type=_csv_list, default=None, help="comma list of fault kinds to draw (default: the usual ones)"
    )
    parser.add_argument("--embedding-dim", type=int, default=64, help="width of the mock's embeddings")
    return parser


def _load_candidates(path: str, num_users: int) -> np.ndarray:
    try:
        cand = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read candidates: {exc}", path) from exc
    if cand.ndim != 2 or cand.shape[0] != num_users:
        raise DataError(f"candidates must be an int array [num_users={num_users}, k], got {list(cand.shape)}", path)
    return cand


def run_augment(options: AugmentOptions, scorer: Callable[[np.ndarray], np.ndarray] | None = None) -> int:
    """``recdenoise augment``; ``scorer`` (users [B] -> scores [B, I]) picks candidates when given."""
    from ..data.registry import prepare_data  # lazy: the data layer is heavy to import
    from .augment import augment
    from .candidates import base_candidates
    from .estimate import estimate

    split, _info = prepare_data(options.dataset, options.data_dir, split=options.split, seed=options.seed)
    train = split.train
    cfg = options.augment_config(train.num_users, train.num_items)
    llm = options.llm_config()
    candidates = None
    if "implicit" in cfg.augmentations:
        if options.candidates:
            candidates = _load_candidates(options.candidates, train.num_users)
        else:
            candidates = base_candidates(split, options.candidates_k, options.seed, scorer=scorer)
    output = Path(options.output) if options.output else Path("augment") / options.dataset
    if options.action == "merge":
        merge_caches(options.shards, output)
    if options.dry_run:
        est = estimate(train, candidates, output, llm, cfg)
        sys.stdout.write(json.dumps(est.to_dict(), indent=2) + "\n")
        return 0
    result = augment(
        train,
        candidates,
        output,
        llm,
        cfg,
        api_key_env=options.api_key_env,
        batch_in=options.batch_in,
        batch_out=options.batch_out,
    )
    counts = result.manifest["counts"]
    sys.stdout.write(
        f"augment: {counts['succeeded']}/{counts['tasks']} tasks ok, {counts['failed']} failed {counts['failures']}, "
        f"{counts['augmented_edges']} edges -> {output}\n"
    )
    if "out" in result.manifest["batch"]:
        out = result.manifest["batch"]["out"]
        sys.stdout.write(f"augment: {out['requests']} requests -> {out['path']}; rerun with --batch-in <results>\n")
    return job_exit_status(result.manifest, options.max_failure_rate)


def job_exit_status(manifest: dict, max_failure_rate: float) -> int:
    """0, or :data:`EXIT_INCOMPLETE` with one summary line on stderr (failures by kind)."""
    counts = manifest["counts"]
    rate = counts["failure_rate"]
    embeddings = manifest.get("features", {}).get("failed")
    if rate <= max_failure_rate and not counts["budget_exhausted"] and not embeddings:
        return 0
    failures = dict(counts["failures"]) | ({f"embeddings:{embeddings}": 1} if embeddings else {})
    kinds = ", ".join(f"{kind}={n}" for kind, n in sorted(failures.items(), key=lambda kv: -kv[1]))
    why = (
        "request budget spent"
        if counts["budget_exhausted"]
        else "embeddings failed"
        if rate <= max_failure_rate
        else f"over --max-failure-rate {max_failure_rate:g}"
    )
    sys.stderr.write(
        f"recdenoise augment: partial job: {counts['failed']}/{counts['tasks']} tasks failed ({rate:.1%}, {why})"
        f"{': ' + kinds if kinds else ''}; rerun the same command to retry them\n"
    )
    return EXIT_INCOMPLETE


def run_serve_mock(args: argparse.Namespace) -> int:
    """``recdenoise serve-mock``: blocks until Ctrl-C."""
    from .mock_server import serve_mock

    serve_mock(
        args.host,
        args.port,
        latency=args.latency_ms / 1000.0,
        fault_rate=args.fault_rate,
        seed=args.seed,
        faults=args.faults,
        embedding_dim=args.embedding_dim,
    )
    return 0
