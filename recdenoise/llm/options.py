"""The options of ``recdenoise augment`` as one typed, frozen record: the one place defaults live.

:func:`~recdenoise.llm.commands.add_augment_arguments` takes its flag defaults from here,
:func:`options_from_args` builds the record from parsed flags (in one place), and
:meth:`AugmentOptions.llm_config` / :meth:`AugmentOptions.augment_config` hand the settings
down to the library's own configs, validated once there.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass

from ..errors import ConfigError
from .augment import AUGMENTATIONS, AugmentConfig
from .client import LLMConfig
from .shards import parse_shard

__all__ = ["AugmentOptions", "options_from_args", "default_of"]


@dataclass(frozen=True)
class AugmentOptions:
    """Everything ``recdenoise augment`` can be told (field = flag, ``_`` for ``-``).

    Settings that the library's configs also have take their defaults from there
    (:class:`LLMConfig`, :class:`AugmentConfig`), so each default is written once.
    """

    dataset: str
    data_dir: str | None = None
    split: str = "auto"
    seed: int = 0
    candidates: str | None = None
    candidates_k: int = 10
    users_limit: int | None = None
    items_limit: int | None = None
    # LLM endpoint
    base_url: tuple[str, ...] = (LLMConfig.base_url,)  # repeatable: a pool of endpoints
    model: str = LLMConfig.model
    embedding_model: str = LLMConfig.embedding_model
    api_key_env: str | None = None
    concurrency: int = LLMConfig.concurrency
    adaptive_concurrency: bool = LLMConfig.adaptive_concurrency
    max_requests: int | None = LLMConfig.max_requests
    retries: int = LLMConfig.retries
    timeout: float = LLMConfig.timeout
    max_attempts: int = AugmentConfig.max_attempts
    price_prompt: float = LLMConfig.price_per_1k_prompt
    price_completion: float = LLMConfig.price_per_1k_completion
    structured: str = LLMConfig.structured
    max_reply_bytes: int = LLMConfig.max_reply_bytes
    rpm: float | None = LLMConfig.rpm
    tpm: float | None = LLMConfig.tpm
    retry_after_max: float = LLMConfig.retry_after_max
    # job
    output: str | None = None
    augmentations: tuple[str, ...] = AUGMENTATIONS
    embedder: str = AugmentConfig.embedder
    device: str = AugmentConfig.embedding_device
    max_history: int = AugmentConfig.max_history
    max_failure_rate: float = 0.05
    batch_out: str | None = None
    batch_in: str | None = None
    dry_run: bool = False
    progress: bool = True
    shard: str | None = None
    action: str = "run"  # "merge": first copy the caches of `shards` into `output`
    shards: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 0.0 <= self.max_failure_rate <= 1.0:
            raise ConfigError(f"--max-failure-rate must be in [0, 1], got {self.max_failure_rate}")
        if self.action not in ("run", "merge") or (self.action == "merge") != bool(self.shards):
            raise ConfigError(
                "`recdenoise augment merge SHARD_DIR... --output OUT` needs shard folders (and only merge takes them)"
            )
        if self.action == "merge" and (self.output is None or self.shard is not None):
            raise ConfigError("augment merge needs --output (the merged folder) and no --shard")
        parse_shard(self.shard)
        if self.candidates_k < 2:
            raise ConfigError(f"--candidates-k must be >= 2 (one liked and one disliked), got {self.candidates_k}")

    def llm_config(self) -> LLMConfig:
        return LLMConfig(
            base_url=self.base_url[0],
            more_base_urls=tuple(self.base_url[1:]),
            model=self.model,
            embedding_model=self.embedding_model,
            concurrency=self.concurrency,
            adaptive_concurrency=self.adaptive_concurrency,
            max_requests=self.max_requests,
            retries=self.retries,
            timeout=self.timeout,
            seed=self.seed,
            structured=self.structured,
            max_reply_bytes=self.max_reply_bytes,
            rpm=self.rpm,
            tpm=self.tpm,
            retry_after_max=self.retry_after_max,
            price_per_1k_prompt=self.price_prompt,
            price_per_1k_completion=self.price_completion,
        )

    def augment_config(self, num_users: int, num_items: int) -> AugmentConfig:
        limit = lambda n, total: None if n is None else tuple(range(min(n, total)))  # noqa: E731
        return AugmentConfig(
            augmentations=tuple(self.augmentations),
            max_history=self.max_history,
            max_attempts=self.max_attempts,
            embedder=self.embedder,
            embedding_device=self.device,
            users=limit(self.users_limit, num_users),
            items=limit(self.items_limit, num_items),
            shard=parse_shard(self.shard),
            progress=self.progress,
        )


def default_of(name: str):
    """The default of option ``name`` (for the CLI's flags)."""
    return AugmentOptions.__dataclass_fields__[name].default


def options_from_args(args: argparse.Namespace) -> AugmentOptions:
    """The :class:`AugmentOptions` of parsed ``recdenoise augment`` flags (unknown attributes are ignored)."""
    values = {}
    for f in dataclasses.fields(AugmentOptions):
        value = getattr(args, f.name, None)
        if value is None and f.default is not None:  # absent, or a repeatable flag never given: the default
            continue
        values[f.name] = tuple(value) if isinstance(value, list) else value
    if hasattr(args, "no_progress"):
        values["progress"] = not args.no_progress
    return AugmentOptions(**values)
