"""Typed run configuration, loadable from TOML, with dotted command-line overrides.

A :class:`RunConfig` is a tree of frozen dataclasses, one per pipeline stage::

    seed = 0
    output_dir = "runs/ml-100k-lightgcn"

    [data]                      # recdenoise.data.prepare_data
    dataset = "ml-100k"
    data_dir = "../shared/datasets"
    split = "auto"              # auto | ratio | leave_one_out | temporal | predefined
    ratios = [0.8, 0.1, 0.1]

    [noise]                     # recdenoise.data.noise.add_noise
    kind = "injected"           # none | injected | natural
    ratio = 0.2

    [model]
    name = "lightgcn"
    embedding_dim = 64
    num_layers = 3

    [method]                    # recdenoise.methods.build_method
    name = "pld"
    options = { k = 5, tau = 0.1, warmup = 5 }

    [train]
    epochs = 300
    lr = 1e-3

    [eval]
    ks = [10, 20]

Unknown sections or keys and values of the wrong type are :class:`~recdenoise.errors.ConfigError`
naming the key (and the file), never silently ignored. ``load_config(path, overrides)``
applies ``{"train.lr": 0.01, ...}`` on top of the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

from .compat import tomllib
from .errors import ConfigError
from .schema import build_dataclass, to_plain

__all__ = [
    "DataConfig",
    "NoiseConfig",
    "ModelConfig",
    "MethodConfig",
    "TrainConfig",
    "EvalConfig",
    "AugmentConfig",
    "RunConfig",
    "load_config",
    "apply_overrides",
    "config_from_dict",
    "config_to_dict",
    "build_dataclass",
]


@dataclass(frozen=True)
class DataConfig:
    """Which data and how it is split (arguments of :func:`recdenoise.data.prepare_data`).

    Attributes:
        dataset: registered name (``recdenoise datasets list``); ``"synthetic"`` needs no files.
        data_dir: folder holding the dataset folders; ``None`` = ``$RECDENOISE_DATA_DIR``.
        split: ``auto`` (the dataset's own split if it has one, else ``ratio``), ``ratio``,
            ``leave_one_out``, ``temporal`` or ``predefined``.
        ratios: ``(train, valid, test)`` shares per user.
        rating_threshold: keep ratings ``>= threshold`` as positives; ``None`` keeps all.
        k_core: minimum interactions per user and item (0 = no filter).
        download: fetch missing files from the official source (sha256-checked).
        cache_dir: download cache (default ``$RECDENOISE_CACHE_DIR`` or ``~/.cache/recdenoise``).
        options: reader options, e.g. ``{num_users = 1000}`` for ``synthetic``; for a table
            file: ``user_col``, ``item_col``, ``rating_col``, ``timestamp_col``, ``sep``.
        split_seed: seed of the split; ``None`` = the run's ``seed``. Fix it to train several
            seeds on one split (e.g. the split an augment dir was made for).
    """

    dataset: str = "synthetic"
    data_dir: Optional[str] = None
    split: str = "auto"
    ratios: tuple[float, ...] = (0.8, 0.1, 0.1)
    rating_threshold: Optional[float] = None
    k_core: int = 0
    download: bool = False
    cache_dir: Optional[str] = None
    options: dict = field(default_factory=dict)
    split_seed: Optional[int] = None


@dataclass(frozen=True)
class NoiseConfig:
    """Noise protocol applied to the training split (and to validation when ``valid = "noisy"``;
    test always stays clean).

    Attributes:
        kind: ``none``; ``injected`` (add ``int(ratio * |train_u|)`` unseen items per user);
            ``natural`` (ratings below ``threshold`` stay in train as noisy positives and
            leave valid/test).
        ratio: injected-noise ratio.
        threshold: rating threshold of natural noise (``rating < threshold`` is noisy).
        valid: validation protocol: ``clean`` (noise in training only; the optimistic
            protocol) or ``noisy`` (injected noise planted into validation in the same
            proportion, natural noise kept there; labelled like training noise), or
            ``both``: one training run, trained and selected on the clean validation rows, that
            also records what every criterion would pick on the noisy validation set
            (``run.json["selection"]["shadow"]``; the protocols train on identical data).
    """

    kind: str = "none"
    ratio: float = 0.0
    threshold: float = 3.0
    valid: str = "clean"


@dataclass(frozen=True)
class ModelConfig:
    """Backbone: ``mf`` or ``lightgcn`` (``num_layers`` is ignored by MF)."""

    name: str = "lightgcn"
    embedding_dim: int = 64
    num_layers: int = 3


@dataclass(frozen=True)
class MethodConfig:
    """Training method (``bpr``, ``bce``, ``pld``, ``nbpo``, ``tce``, ``rce``) and its options."""

    name: str = "bpr"
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation.

    Attributes:
        epochs: maximum epochs.
        batch_size: training triples per step.
        lr: Adam learning rate.
        weight_decay: L2 weight on the batch's layer-0 embeddings (``reg_weight``).
        patience: early stopping after this many evaluations without improvement
            (0 = off).
        monitor: validation metric that selects the epoch, e.g. ``recall@20``.
        eval_every: validate every this many epochs.
        edge_dropout: share of graph edges dropped per step (LightGCN; 0 = off).
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:1``...
        progress: tqdm bars.
        checkpoint_every: write the resumable checkpoint every this many epochs.
        select: the model-selection criterion that picks the reported epoch: ``metric``
            (``monitor`` on validation), ``loss`` (mean validation loss) or ``trimmed_loss``
            (ERM_RE: the validation loss with the ``select_trim`` largest positive losses
            trimmed). Every criterion's epoch and test metrics are recorded in ``run.json``.
        select_trim: share of the largest validation losses trimmed by ``trimmed_loss``.
        select_loss: loss of the validation-loss criteria: ``auto`` (the method's loss:
            ``bce`` for bce and BCE-based methods, else ``bpr``), ``bpr`` or ``bce``.
        select_negatives: fixed, seeded sampled negatives per validation positive.
    """

    epochs: int = 100
    batch_size: int = 2048
    lr: float = 1e-3
    weight_decay: float = 1e-4
    patience: int = 20
    monitor: str = "recall@20"
    eval_every: int = 1
    edge_dropout: float = 0.0
    device: str = "auto"
    progress: bool = True
    checkpoint_every: int = 1
    select: str = "metric"
    select_trim: float = 0.2
    select_loss: str = "auto"
    select_negatives: int = 1


@dataclass(frozen=True)
class EvalConfig:
    """Full-ranking evaluation: cut-offs, metrics, batch bound and exported top-K length."""

    ks: tuple[int, ...] = (10, 20)
    metrics: tuple[str, ...] = ("recall", "ndcg", "precision", "hit_rate", "mrr")
    batch_size: Optional[int] = None
    max_batch_mib: int = 256
    topk: int = 20


@dataclass(frozen=True)
class AugmentConfig:
    """LLMRec recipe over an augment dir written by ``recdenoise augment`` (``dir=None``: off).

    ``options`` are :class:`recdenoise.llmrec.LLMRecOptions` fields, e.g.
    ``{aug_rate = 0.1, prune_rate = 0.2, mask_rate = 0.2}``.
    """

    dir: Optional[str] = None
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RunConfig:
    """Everything one training run needs; written resolved into ``run.json``."""

    data: DataConfig = field(default_factory=DataConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    seed: int = 0
    output_dir: Optional[Path] = None

    def __post_init__(self) -> None:
        _validate(self)


# ---------------------------------------------------------------------------- checks
_CHOICES = {
    "noise.kind": ("none", "injected", "natural"),
    "model.name": ("mf", "lightgcn"),
    "noise.valid": ("clean", "noisy", "both"),
    "train.select": ("metric", "loss", "trimmed_loss"),
    "train.select_loss": ("auto", "bpr", "bce"),
}


def _validate(cfg: RunConfig) -> None:
    for path, allowed in _CHOICES.items():
        value = _get(cfg, path)
        if value not in allowed:
            raise ConfigError(f"{path} = {value!r} is not one of {list(allowed)}")
    positive = {
        "train.epochs": cfg.train.epochs >= 0,
        "train.batch_size": cfg.train.batch_size > 0,
        "train.lr": cfg.train.lr > 0,
        "train.weight_decay": cfg.train.weight_decay >= 0,
        "train.patience": cfg.train.patience >= 0,
        "train.eval_every": cfg.train.eval_every > 0,
        "train.checkpoint_every": cfg.train.checkpoint_every > 0,
        "train.edge_dropout": 0 <= cfg.train.edge_dropout < 1,
        "train.select_trim": 0 <= cfg.train.select_trim < 1,
        "train.select_negatives": 0 < cfg.train.select_negatives <= 1000,
        "model.embedding_dim": cfg.model.embedding_dim > 0,
        "model.num_layers": cfg.model.num_layers >= 0,
        "noise.ratio": cfg.noise.ratio >= 0,
        "eval.topk": cfg.eval.topk > 0,
        "eval.max_batch_mib": cfg.eval.max_batch_mib > 0,
        "seed": cfg.seed >= 0,
    }
    for path, ok in positive.items():
        if not ok:
            raise ConfigError(f"{path} = {_get(cfg, path)!r} is out of range")
    _validate_ranges(cfg)


_MAX = {"train.lr": 10.0, "model.embedding_dim": 65536, "model.num_layers": 64, "train.batch_size": 2**26}


def _validate_ranges(cfg: RunConfig) -> None:
    """Bounds beyond the sign: sane magnitudes, split ratios, noise ratio, cut-offs, monitor."""
    for path, bound in _MAX.items():
        if _get(cfg, path) > bound:
            raise ConfigError(f"{path} = {_get(cfg, path)!r} is out of range (at most {bound})")
    if cfg.seed >= 2**32:
        raise ConfigError(f"seed = {cfg.seed} is out of range (0 <= seed < 2**32)")
    if cfg.data.k_core < 0:
        raise ConfigError(f"data.k_core = {cfg.data.k_core} is out of range (>= 0; 0 = no filter)")
    ratios = cfg.data.ratios
    if len(ratios) != 3 or any(r < 0 for r in ratios) or abs(sum(ratios) - 1) > 1e-6 or ratios[0] <= 0 or ratios[2] <= 0:
        raise ConfigError(
            f"data.ratios = {list(ratios)}: need three shares (train, valid, test) >= 0 that sum to 1, "
            "with non-empty train and test, e.g. [0.8, 0.1, 0.1]"
        )
    if not 0 <= cfg.noise.ratio <= 10:
        raise ConfigError(f"noise.ratio = {cfg.noise.ratio} is out of range [0, 10]")
    if not cfg.eval.ks or any(k <= 0 for k in cfg.eval.ks):
        raise ConfigError(f"eval.ks = {list(cfg.eval.ks)}: cut-offs must be positive integers, e.g. [10, 20]")
    metric, at, cutoff = cfg.train.monitor.partition("@")
    if metric not in cfg.eval.metrics or (at and not cutoff.isdigit()):
        raise ConfigError(
            f"train.monitor = {cfg.train.monitor!r} is not a computed metric; choose one of "
            f"{[f'{m}@{k}' for m in cfg.eval.metrics for k in cfg.eval.ks]}"
        )
    if at and int(cutoff) not in cfg.eval.ks:
        raise ConfigError(f"train.monitor = {cfg.train.monitor!r} needs its cut-off in eval.ks = {list(cfg.eval.ks)}")


def _get(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def config_from_dict(values: Mapping[str, Any]) -> RunConfig:
    """Build a :class:`RunConfig` from nested dicts (as TOML gives them); checks every key."""
    return build_dataclass(RunConfig, values, "")


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """JSON/TOML-ready nested dict of a config (tuples as lists, paths as strings)."""
    return to_plain(cfg)


def apply_overrides(cfg: RunConfig, overrides: Mapping[str, Any]) -> RunConfig:
    """Return ``cfg`` with dotted-path values replaced, e.g. ``{"train.lr": 0.01}``.

    ``method.options.k = 3`` style paths set one option. Values are type-checked like the file.
    """
    tree = config_to_dict(cfg)
    for path, value in overrides.items():
        node = tree
        parts = path.split(".")
        for i, part in enumerate(parts[:-1]):
            if not isinstance(node, dict) or part not in node:
                raise ConfigError(f"unknown config key {'.'.join(parts[: i + 1])!r} (in override {path!r})")
            node = node[part]
        if not isinstance(node, dict):
            raise ConfigError(f"config key {'.'.join(parts[:-1])!r} is not a table (in override {path!r})")
        leaf = parts[-1]
        is_options = parts[-2:-1] == ["options"]
        if leaf not in node and not is_options:
            raise ConfigError(f"unknown config key {path!r}")
        node[leaf] = value
    return config_from_dict(tree)


def load_config(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> RunConfig:
    """Read a TOML file (``None``: defaults) and apply dotted ``overrides`` on top.

    Raises:
        ConfigError: unreadable or invalid TOML, unknown keys, wrong types (the message
            names the file and the key).
    """
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        try:
            values = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"config file {path} does not exist") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read config file {path}: {exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    try:
        cfg = config_from_dict(values)
        return apply_overrides(cfg, overrides or {})
    except ConfigError as exc:
        if path is None:
            raise
        raise ConfigError(f"{path}: {exc}") from exc
