"""The offline LLM augmentation job of LLMRec (Wei et al., WSDM 2024), resumable and honest.

:func:`augment` turns training interactions (+ item side information) and per-user
candidates into (a) validated BPR triples ``(u, i^+, i^-)`` with ``i^+ != i^-`` both among
``u``'s candidates, (b) item attributes, (c) user profiles, and text embeddings of items,
attributes and profiles. Every answer goes through the durable cache first, so a job
killed at any moment and started again with the same arguments sends no completed request
twice and ends with the same files as an uninterrupted run. A failure (bad answer after all
re-asks, transport error, spent budget) is counted by reason and listed in
``failures.csv``; it never becomes data.

The dry run (requests, tokens, cost; nothing sent) is :func:`recdenoise.llm.estimate.estimate`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

import numpy as np

from .. import __version__
from ..data import Interactions
from ..errors import ConfigError
from .batch import ingest_batch_results, write_batch_requests
from .cache import JsonlCache, canonical_json, decode_vector, sha256_text
from .client import LLMClient, LLMConfig, TransportError, redact_url
from .features import (
    CachedEmbedder,
    LocalSentenceEmbedder,
    OpenAIEmbedder,
    TextEmbedder,
    attributes_text,
    embed_aligned,
)
from .jobs import (
    attributes_table,
    edges_from_outcomes,
    implicit_feedback_tasks,
    item_attribute_tasks,
    user_profile_tasks,
    validate_candidates,
)
from .augment_dir import write_array, write_attributes, write_edges, write_failures, write_manifest
from .parsing import ANSWER_REJECTION_REASONS
from .replies import ReplyLimits
from .prompts import (
    DEFAULT_ITEM_ATTRIBUTES,
    DEFAULT_USER_PROFILE,
    IMPLICIT_PROMPT_VERSION,
    ITEM_ATTRIBUTES_PROMPT_VERSION,
    USER_PROFILE_PROMPT_VERSION,
)
from .runner import ChatTask, RunReport, chat_record_ok, run_chat_tasks
from .shards import shard_of
from .text import item_records, item_text, user_histories, user_records

__all__ = ["AugmentConfig", "AugmentResult", "augment", "build_tasks", "selection", "AUGMENTATIONS", "EMBEDDERS"]

log = logging.getLogger(__name__)

AUGMENTATIONS = ("implicit", "items", "users")
EMBEDDERS = ("local", "openai", "none")
EMBED_BATCH = 64  # texts per embeddings request (OpenAIEmbedder's default)
_KIND_OF = {"implicit": "implicit_feedback", "items": "item_attributes", "users": "user_profile"}


@dataclass(frozen=True)
class AugmentConfig:
    """What to augment and how.

    Attributes:
        augmentations: subset of ``("implicit", "items", "users")``.
        item_attributes: attribute name -> ``"string" | "integer" | "string_list"``.
        user_profile: profile field name -> type (same kinds).
        max_history: most recent items per user shown in a prompt.
        max_attempts: answers asked per task (the first plus re-asks after rejections).
        embedder: ``"local"`` (MiniLM), ``"openai"`` (embeddings endpoint) or ``"none"``.
        embedding_device: torch device for the local embedder.
        users, items: contiguous ids to process (``None`` = all).
        shard: ``(I, N)``: only the tasks of shard ``I`` of ``N`` (see :mod:`.shards`).
        progress: show a tqdm bar.
    """

    augmentations: tuple[str, ...] = AUGMENTATIONS
    item_attributes: dict = field(default_factory=lambda: dict(DEFAULT_ITEM_ATTRIBUTES))
    user_profile: dict = field(default_factory=lambda: dict(DEFAULT_USER_PROFILE))
    max_history: int = 20
    max_attempts: int = 3
    embedder: str = "local"
    embedding_device: str = "cpu"
    users: tuple[int, ...] | None = None
    items: tuple[int, ...] | None = None
    shard: tuple[int, int] | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        bad = [a for a in self.augmentations if a not in AUGMENTATIONS]
        if bad or not self.augmentations:
            raise ConfigError(f"augmentations={list(self.augmentations)}: choose from {list(AUGMENTATIONS)}")
        if self.embedder not in EMBEDDERS:
            raise ConfigError(f"embedder={self.embedder!r}: choose from {list(EMBEDDERS)}")
        if self.max_attempts < 1 or self.max_history < 1:
            raise ConfigError(f"max_attempts={self.max_attempts} and max_history={self.max_history} must be >= 1")
        for name, schema in (("item_attributes", self.item_attributes), ("user_profile", self.user_profile)):
            kinds = set(schema.values()) - {"string", "integer", "string_list"}
            if not schema or kinds:
                raise ConfigError(f"{name}={schema!r}: needs >= 1 field, types string | integer | string_list")


@dataclass
class AugmentResult:
    """Edges ``int64 [E, 3]`` (user, pos, neg), the manifest written, and whether the job finished."""

    edges: np.ndarray
    manifest: dict
    output_dir: Path

    @property
    def complete(self) -> bool:
        return bool(self.manifest["complete"])


def selection(ids: Sequence[int] | None, n: int, what: str) -> np.ndarray:
    """``int64`` sorted unique ids to process (``None`` = all ``n``)."""
    sel = np.arange(n, dtype=np.int64) if ids is None else np.unique(np.asarray(ids, dtype=np.int64))
    if sel.size and (sel.min() < 0 or sel.max() >= n):
        raise ConfigError(f"{what} selection holds ids outside [0, {n})")
    return sel


def build_tasks(
    train: Interactions, candidates: np.ndarray | None, cfg: AugmentConfig
) -> tuple[list[ChatTask], np.ndarray | None, list[dict]]:
    """The chat tasks of ``cfg`` (in order implicit, items, users), validated candidates, item records."""
    records = item_records(train)
    histories = user_histories(train, cfg.max_history)
    known = user_records(train)  # demographics (age, gender, occupation) where the dataset has them
    users = selection(cfg.users, train.num_users, "users")
    items = selection(cfg.items, train.num_items, "items")
    tasks: list[ChatTask] = []
    cand = None
    if "implicit" in cfg.augmentations:
        if candidates is None:
            raise ConfigError("implicit augmentation needs candidates [U, k] (see recdenoise.llm.candidates)")
        cand = validate_candidates(candidates, train.num_users, train.num_items)
        tasks += implicit_feedback_tasks(users, histories, cand, records, known)
    if "items" in cfg.augmentations:
        tasks += item_attribute_tasks(items, records, cfg.item_attributes)
    if "users" in cfg.augmentations:
        tasks += user_profile_tasks(users, histories, records, cfg.user_profile, known)
    if cfg.shard is not None:
        index, count = cfg.shard
        tasks = [t for t in tasks if shard_of(t.task_id, count) == index]
    return tasks, cand, records


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


async def _embed_all(
    embedder: CachedEmbedder, train: Interactions, records, outcomes, cfg, out: Path
) -> tuple[list[str], dict]:
    items = selection(cfg.items, train.num_items, "items")
    jobs = [("item_text", items, [item_text(records[i]) for i in items], train.num_items)]
    for aug, size, stem in (("items", train.num_items, "item_attribute"), ("users", train.num_users, "user_profile")):
        if aug in cfg.augmentations:
            ok = [o for o in outcomes if o.ok and o.kind == _KIND_OF[aug]]
            index = np.array([int(o.task_id.rsplit(":", 1)[1]) for o in ok], dtype=np.int64)
            jobs.append((stem, index, [attributes_text(o.value) for o in ok], size))
            if aug == "items":  # LLMRec embeds each attribute field on its own too (one shared projection)
                for name in sorted({k for o in ok for k in o.value}):
                    have = [(i, o.value[name]) for i, o in zip(index, ok) if name in o.value]
                    rows = np.array([i for i, _ in have], dtype=np.int64)
                    field = re.sub(r"[^A-Za-z0-9]", "", name) or "field"
                    jobs.append((f"{stem}_{field}", rows, [attributes_text({name: v}) for _, v in have], size))
    files: list[str] = []
    shapes: dict[str, list[int]] = {}
    for stem, index, texts, size in jobs:
        if not texts:  # nothing validated to embed: no file rather than a [N, 0] matrix
            continue
        arr, mask = await embed_aligned(embedder, index, texts, size)
        files += write_array(out, f"{stem}_features", arr) + write_array(out, f"{stem}_mask", mask)
        shapes[f"{stem}_features"] = list(arr.shape)
    return files, {"embedder": embedder.name, "texts_embedded_this_run": embedder.computed, "shapes": shapes}


def _probe_key(llm: LLMConfig) -> str:
    return sha256_text(
        canonical_json({"probe": "structured-v1", "base_url": redact_url(llm.base_url), "model": llm.model})
    )


async def _structured(client: LLMClient, cache: JsonlCache) -> dict:
    """Resolve ``structured='auto'`` once per endpoint and model; the verdict is kept in the cache."""
    key = _probe_key(client.config)
    known = (cache.get(key) or {}).get("probe")
    probe = await client.resolve_structured(known)
    decided = all(v in ("ok", "ignored") or v.startswith("http_4") for v in probe["tried"].values())
    if probe.get("probed") and decided:  # a verdict from transport failures is not kept: the next run probes again
        await cache.aput(key, {"probe": {k: v for k, v in probe.items() if k != "probed"}})
    return probe


def _vector_ok(rec: dict) -> bool:
    try:
        vec = decode_vector(rec["vector"])
    except (KeyError, TypeError, ValueError):
        return False
    return vec.size > 0 and bool(np.isfinite(vec).all())


async def _run(train, tasks, cand, records, out, llm, cfg, api_key, api_key_env, embedder, batch_in, batch_out):
    batch: dict = {}
    if batch_in is not None or batch_out is not None:
        # Batch files carry no probe: `auto` means the json_schema format every batch runner takes.
        llm = dataclasses.replace(llm, structured="json_schema" if llm.structured == "auto" else llm.structured)
    if batch_out is not None:
        api_key = "unused: --batch-out sends nothing"
    with JsonlCache(out / "cache" / "chat.jsonl", validate=chat_record_ok) as chat_cache:
        if batch_in is not None:
            batch["in"] = dict(ingest_batch_results(batch_in, chat_cache, ReplyLimits(llm.max_reply_bytes)))
        async with LLMClient(llm, api_key, api_key_env) as client:
            probe = await _structured(client, chat_cache)
            deferred: dict | None = {} if batch_out is not None else None
            outcomes, report = await run_chat_tasks(tasks, client, chat_cache, cfg.max_attempts, cfg.progress, deferred)
            report.structured = probe
            if deferred is not None:
                batch["out"] = {"path": str(batch_out), "requests": write_batch_requests(batch_out, deferred)}
            report.batch = batch
            files: list[str] = []
            features: dict = {"embedder": "none"}
            if cfg.embedder != "none" and not report.budget_exhausted and batch_out is None:
                base = embedder or (
                    LocalSentenceEmbedder(cfg.embedding_device) if cfg.embedder == "local" else OpenAIEmbedder(client)
                )
                with JsonlCache(out / "cache" / "embeddings.jsonl", validate=_vector_ok) as emb_cache:
                    try:
                        files, features = await _embed_all(
                            CachedEmbedder(base, emb_cache), train, records, outcomes, cfg, out
                        )
                    except TransportError as exc:  # batches embedded so far stay cached for the rerun
                        log.warning("augment: embeddings failed (%s); rerun to retry them", exc)
                        features = {"embedder": base.name, "failed": exc.reason}
            client.usage.endpoints = [e.to_dict() for e in client.endpoints]
            return outcomes, report, client.usage, files, features


def augment(
    train: Interactions,
    candidates: np.ndarray | None,
    output_dir: str | Path,
    llm: LLMConfig,
    cfg: AugmentConfig | None = None,
    api_key: str | None = None,
    api_key_env: str | None = None,
    embedder: TextEmbedder | None = None,
    batch_in: str | Path | None = None,
    batch_out: str | Path | None = None,
) -> AugmentResult:
    """Run the augmentation job; outputs (atomically written) and the cache live in ``output_dir``.

    Args:
        train: training interactions with ``item_info`` (title / genres / year when available).
        candidates: ``int [U, k]`` item indices per user (``-1`` = padding); needed for ``implicit``.
        output_dir: folder for outputs and ``cache/``; rerunning with the same folder resumes.
        llm: endpoint and request settings.
        cfg: what to augment (default: all three, local embeddings).
        api_key, api_key_env: see :func:`~recdenoise.llm.client.resolve_api_key`.
        embedder: overrides ``cfg.embedder`` with a custom :class:`TextEmbedder`.
        batch_in: a Batch API output file whose answers are checked and cached first (:mod:`.batch`).
        batch_out: write every request not answered from the cache there (Batch API input)
            instead of sending it; those tasks end as ``deferred_to_batch`` and no embeddings run.

    Shapes:
        - result.edges: ``int64 [E, 3]`` rows ``(user, pos_item, neg_item)``.
    """
    cfg = cfg or AugmentConfig()
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = _now()
    tasks, cand, records = build_tasks(train, candidates, cfg)
    log.info(
        "augment: %d tasks (%s) against %s, model %s",
        len(tasks),
        ",".join(cfg.augmentations),
        redact_url(llm.base_url),
        llm.model,
    )
    outcomes, report, usage, feature_files, features = asyncio.run(
        _run(train, tasks, cand, records, out, llm, cfg, api_key, api_key_env, embedder, batch_in, batch_out)
    )
    files = write_failures(out, outcomes)
    edges = np.zeros((0, 3), dtype=np.int64)
    if cand is not None:
        edges = edges_from_outcomes(outcomes, cand)
        files += write_edges(out, edges, cand, train.user_ids, train.item_ids)
    for aug, index_name, schema, version in (
        ("items", "item", cfg.item_attributes, ITEM_ATTRIBUTES_PROMPT_VERSION),
        ("users", "user", cfg.user_profile, USER_PROFILE_PROMPT_VERSION),
    ):
        if aug in cfg.augmentations:
            raw = train.item_ids if index_name == "item" else train.user_ids
            table = attributes_table(outcomes, _KIND_OF[aug], index_name, raw, schema)
            files += write_attributes(out, f"{index_name}s", table, {"model": llm.model, "prompt_version": version})
    manifest = _manifest(train, llm, cfg, report, usage, started, files + feature_files, features, len(edges))
    write_manifest(out, manifest)
    _log_summary(report, manifest)
    return AugmentResult(edges=edges, manifest=manifest, output_dir=out)


def _manifest(train, llm, cfg, report: RunReport, usage, started, files, features, num_edges) -> dict:
    return {
        # Complete = every task has its final verdict; transport failures are retried by a rerun.
        "complete": not report.budget_exhausted
        and set(report.failures) <= set(ANSWER_REJECTION_REASONS)
        and "failed" not in features,
        "provenance": {
            "model": llm.model,
            "base_url": redact_url(llm.base_url),
            "prompt_versions": {
                "implicit": IMPLICIT_PROMPT_VERSION,
                "items": ITEM_ATTRIBUTES_PROMPT_VERSION,
                "users": USER_PROFILE_PROMPT_VERSION,
            },
            "started_at": started,
            "finished_at": _now(),
            "recdenoise_version": __version__,
            "data_checksum": train.checksum(),
        },
        "llm_config": llm.to_record(),
        "structured": report.structured,
        "batch": report.batch,
        "augment_config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()},
        "counts": report.to_dict() | {"augmented_edges": num_edges, "failure_rate": round(report.failure_rate, 6)},
        "usage_this_run": usage.to_dict() | {"cost": llm.cost(usage.prompt_tokens, usage.completion_tokens)},
        "features": features,
        "files": sorted(files),
    }


def _log_summary(report: RunReport, manifest: dict) -> None:
    counts = manifest["counts"]
    log.info(
        "augment: %d/%d tasks succeeded, %d failed %s, %d rejections %s, %d cache hits, %d edges",
        counts["succeeded"],
        counts["tasks"],
        counts["failed"],
        counts["failures"],
        sum(counts["rejections"].values()),
        counts["rejections"],
        counts["cache_hits"],
        counts["augmented_edges"],
    )
    if report.budget_exhausted:
        log.warning(
            "augment: request budget spent; outputs are partial -- rerun with the same output folder to continue"
        )
    elif "out" in manifest["batch"]:
        log.warning(
            "augment: %d requests written to a batch file; answer them, then rerun with --batch-in",
            manifest["batch"]["out"]["requests"],
        )
    elif not manifest["complete"]:
        log.warning("augment: some requests failed in transport; rerun with the same output folder to retry them")
