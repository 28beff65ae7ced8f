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

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Union

from .compat import tomllib
from .errors import ConfigError

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
        cache_dir: download cache (default ``$RECDENOISE_CACHE`` or ``~/.cache/recdenoise``).
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
    """Noise protocol applied to the training split (validation and test stay clean).

    Attributes:
        kind: ``none``; ``injected`` (add ``int(ratio * |train_u|)`` unseen items per user);
            ``natural`` (ratings below ``threshold`` stay in train as noisy positives and
            leave valid/test).
        ratio: injected-noise ratio.
        threshold: rating threshold of natural noise (``rating < threshold`` is noisy).
    """

    kind: str = "none"
    ratio: float = 0.0
    threshold: float = 3.0


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
    if cfg.train.monitor.partition("@")[2] and int(cfg.train.monitor.partition("@")[2]) not in cfg.eval.ks:
        raise ConfigError(f"train.monitor = {cfg.train.monitor!r} needs its cut-off in eval.ks = {list(cfg.eval.ks)}")


def _get(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


# ---------------------------------------------------------------------- conversion
def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    if typing.get_origin(tp) in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return (args[0] if len(args) == 1 else Any), True
    return tp, False


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check and convert one TOML/CLI value to the field type ``tp``."""
    tp, optional = _unwrap_optional(tp)
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{where}: a value is required (got none)")
    origin = typing.get_origin(tp)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif tp is str:
        if isinstance(value, str):
            return value
    elif tp is Path:
        if isinstance(value, (str, Path)):
            return Path(value)
    elif tp is dict or origin is dict:
        if isinstance(value, Mapping):
            return dict(value)
    elif origin is tuple:
        (item_tp, _ellipsis) = typing.get_args(tp)
        if isinstance(value, str):
            value = [v for v in value.replace(",", " ").split() if v]
        if isinstance(value, (list, tuple)):
            return tuple(_coerce(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value))
    elif tp is Any:
        return value
    name = getattr(tp, "__name__", str(tp))
    raise ConfigError(f"{where}: expected {name}, got {value!r} ({type(value).__name__})")


def build_dataclass(cls: type, values: Mapping[str, Any], where: str = "", label: str = "config key") -> Any:
    """Instantiate dataclass ``cls`` from ``values``, checking every key and type.

    Args:
        where: prefix of the names in messages (a config section like ``"train"``, or
            ``"method 'pld' option"`` with ``label="option"``).
        label: what a key is called in messages.

    Raises:
        ConfigError: an unknown key (the message lists the valid ones) or a value of the
            wrong type (the message names the key and the expected type).
    """
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where or 'config'}: expected a table of {label}s, got {values!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    section = label == "config key"
    if unknown:
        if section:
            prefix = f"{where}." if where else ""
            raise ConfigError(
                f"unknown config key(s) {[prefix + k for k in unknown]}; valid keys{' of [' + where + ']' if where else ''}: "
                f"{sorted(fields)}"
            )
        raise ConfigError(f"unknown {label}(s) {unknown} for {where.rsplit(' ', 1)[0]}; valid {label}s: {sorted(fields)}")
    kwargs = {}
    for name, value in values.items():
        key = (f"{where}.{name}" if where else name) if section else f"{where} {name}"
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{key}: expected a table [{key}], got {value!r}")
            kwargs[name] = build_dataclass(tp, value, key)
        else:
            kwargs[name] = _coerce(value, tp, key)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where or cls.__name__}: {exc}") from exc


def config_from_dict(values: Mapping[str, Any]) -> RunConfig:
    """Build a :class:`RunConfig` from nested dicts (as TOML gives them); checks every key."""
    return build_dataclass(RunConfig, values, "")


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """JSON/TOML-ready nested dict of a config (tuples as lists, paths as strings)."""

    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (tuple, list)):
            return [plain(x) for x in v]
        if isinstance(v, Mapping):
            return {str(k): plain(x) for k, x in v.items()}
        if isinstance(v, Path):
            return str(v)
        return v

    return plain(cfg)


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
