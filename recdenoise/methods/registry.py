"""The method registry: one build path from a name, typed options and a training context to
the parts a :class:`~recdenoise.training.Trainer` (or a hand-written loop) needs.

A method is a :class:`MethodSpec`: a name, a frozen options dataclass (the one place its
defaults live) and a builder ``build(options, context) -> MethodParts``. Options given as a
mapping (TOML ``[method] options``, ``--option k=v``, ``--pld-k``) are validated against the
dataclass: an unknown key lists the valid ones, a wrong type names the key and the type.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional

import torch

from ..config import RunConfig, build_dataclass
from ..data.interactions import Interactions
from ..errors import ConfigError
from ..graph import BipartiteGraph
from ..samplers import Sampler
from ..utils import resolve_device

if TYPE_CHECKING:  # pragma: no cover
    from ..models import Recommender
    from ..training.callbacks import Callback

__all__ = [
    "MethodParts",
    "MethodContext",
    "MethodSpec",
    "METHODS",
    "register_method",
    "get_method",
    "method_options",
    "build_method",
    "resolve_run_method",
]


@dataclass
class MethodParts:
    """What a method contributes to training.

    Attributes:
        sampler: decides which triples are optimised.
        objective: turns a batch into a loss (``objective(model, user_emb, item_emb, batch, step, graph=...)``).
        callbacks: extra trainer callbacks.
        model: the model to train: the one given, or a wrapper around it (LLMRec's feature fusion).
        graph: the graph to propagate over: the training graph, or an augmented one.
        make_optimizer: ``make_optimizer(params, lr) -> Optimizer`` when the method prescribes
            its optimiser (PLD's ``optimizer="adamw"``); ``None``: the trainer's Adam.
    """

    sampler: Sampler
    objective: torch.nn.Module
    callbacks: list["Callback"] = field(default_factory=list)
    model: Optional["Recommender"] = None
    graph: Optional[BipartiteGraph] = None
    make_optimizer: Optional[Callable[[list, float], torch.optim.Optimizer]] = None


@dataclass(frozen=True)
class MethodContext:
    """The run-level settings every builder receives.

    Attributes:
        train: training interactions.
        model: the (seeded) backbone, or ``None`` for methods that do not need it.
        graph: the training graph on ``device``.
        batch_size, reg_weight, seed: the run's ``train.batch_size``, ``train.weight_decay``, ``seed``.
        device: where batches and objectives live.
        augment_dir: an output folder of ``recdenoise augment`` (LLMRec).
        init_rng: the CPU RNG state right after ``model`` was initialised from the seed, so
            layers a method adds continue that stream (``None``: they are seeded with ``seed``).
    """

    train: Interactions
    model: Optional["Recommender"]
    graph: BipartiteGraph
    batch_size: int = 2048
    reg_weight: float = 1e-4
    device: torch.device = torch.device("cpu")
    seed: int = 0
    augment_dir: Optional[str] = None
    init_rng: Optional[torch.Tensor] = None


@dataclass(frozen=True)
class MethodSpec:
    """A registered method: ``name``, its ``options`` dataclass and its ``build`` function."""

    name: str
    options: type
    build: Callable[[Any, MethodContext], MethodParts]
    summary: str = ""


METHODS: dict[str, MethodSpec] = {}
"""Registered methods by name (filled when :mod:`recdenoise.methods` is imported)."""


def register_method(name: str, options: type, summary: str = "") -> Callable:
    """Decorator registering ``build(options, context) -> MethodParts`` under ``name``."""
    if not dataclasses.is_dataclass(options):
        raise TypeError(f"options of method {name!r} must be a dataclass, got {options!r}")

    def deco(build: Callable[[Any, MethodContext], MethodParts]) -> Callable:
        METHODS[name] = MethodSpec(name, options, build, summary or (build.__doc__ or "").strip().split("\n")[0])
        return build

    return deco


def get_method(name: str) -> MethodSpec:
    if name not in METHODS:
        raise ConfigError(f"unknown method {name!r}; choose one of {sorted(METHODS)}")
    return METHODS[name]


def method_options(name: str, values: Mapping[str, Any] | Any = None) -> Any:
    """The typed options of method ``name`` from a mapping (validated) or an options instance."""
    spec = get_method(name)
    if isinstance(values, spec.options):
        return values
    options = build_dataclass(spec.options, dict(values or {}), f"method {name!r} option", label="option")
    _check_common_bounds(name, options)
    return options


# Options that mean the same in every method, checked once here before any builder uses them
# (a builder may derive values from them before its components validate: e.g. 1 / (1 + n)).
_AT_LEAST = {"num_negatives": 1, "k": 1, "flip_dim": 1, "num_gradual": 1, "gradual_epochs": 0, "warmup": 0}


def _check_common_bounds(name: str, options: Any) -> None:
    for field_name, low in _AT_LEAST.items():
        value = getattr(options, field_name, None)
        if isinstance(value, int) and not isinstance(value, bool) and value < low:
            raise ConfigError(f"method {name!r} option {field_name} = {value} is out of range (at least {low})")


def build_method(
    config: RunConfig | str,
    train: Interactions,
    model: Optional["Recommender"] = None,
    *,
    graph: Optional[BipartiteGraph] = None,
    options: Mapping[str, Any] | Any = None,
    batch_size: int = 2048,
    reg_weight: float = 1e-4,
    device: torch.device | str | None = None,
    seed: int = 0,
    augment_dir: Optional[str] = None,
    init_rng: Optional[torch.Tensor] = None,
) -> MethodParts:
    """Build a method's parts: the one path used by the CLI, experiments, benchmarks and own loops.

    Args:
        config: a :class:`~recdenoise.config.RunConfig` (method name and options, batch size,
            ``weight_decay``, seed and augment dir are read from it), or a method name
            (``"pld"``) with the keyword settings below.
        train: training interactions.
        model: the backbone (required by methods that wrap or read it, e.g. LLMRec).
        graph: the training graph (default: built from ``train`` on ``device``).
        options: method options (mapping or options dataclass) when ``config`` is a name.
        batch_size, reg_weight, seed, augment_dir: settings when ``config`` is a name.
        init_rng: see :class:`MethodContext`.
        device: default: the model's device, else the CPU.

    Returns:
        :class:`MethodParts`; ``parts.model`` / ``parts.graph`` are what to train and
        propagate over (the given ones unless the method replaces them).
    """
    if isinstance(config, RunConfig):
        name, options = resolve_run_method(config)
        batch_size, reg_weight, seed = config.train.batch_size, config.train.weight_decay, config.seed
        augment_dir = config.augment.dir
    else:
        name = config
    spec = get_method(name)
    opts = method_options(name, options)
    if device is None:
        device = next(model.parameters()).device if model is not None else "cpu"
    device = resolve_device(device)
    if graph is None:
        graph = BipartiteGraph.from_interactions(train, device=device)
    context = MethodContext(train, model, graph.to(device), batch_size, reg_weight, device, seed, augment_dir, init_rng)
    parts = spec.build(opts, context)
    if parts.model is None:
        parts.model = model
    if parts.graph is None:
        parts.graph = context.graph
    return parts


def resolve_run_method(config: RunConfig) -> tuple[str, dict[str, Any]]:
    """``(method name, options)`` of a run: ``--augment DIR`` with ``bpr``/``bce`` is the LLMRec
    recipe with that loss (the ``[augment] options`` are LLMRec options)."""
    name, options = config.method.name, dict(config.method.options)
    if config.augment.dir is not None:
        if name in ("bpr", "bce"):
            name, options = "llmrec", {"loss": name, **options}
        elif name not in ("llmrec", "llmrec-reference"):
            raise ConfigError(
                f"--augment trains the LLMRec recipe (method llmrec or llmrec-reference, or bpr/bce as its loss); "
                f"method {name!r} cannot be combined with it"
            )
        options.update(config.augment.options)
    elif config.augment.options:
        raise ConfigError("LLMRec options (--aug-rate, --prune-rate, --mask-rate, ...) need --augment DIR")
    return name, options
