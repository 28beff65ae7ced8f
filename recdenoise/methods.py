"""Training methods by name: each is a (sampler, objective, callbacks) triple for the one Trainer.

``bpr`` and ``bce`` are the plain baselines (uniform negatives). Denoising methods register
here too, so the CLI, the benchmarks and users' scripts build them the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from .data.interactions import Interactions
from .errors import ConfigError
from .losses.objective import PairwiseObjective
from .samplers import Sampler, UniformSampler
from .training.callbacks import Callback

__all__ = ["MethodParts", "build_method", "METHODS", "register_method"]


@dataclass
class MethodParts:
    """What a method contributes to a :class:`~recdenoise.training.Trainer`."""

    sampler: Sampler
    objective: torch.nn.Module
    callbacks: list[Callback] = field(default_factory=list)


Builder = Callable[..., MethodParts]
METHODS: dict[str, Builder] = {}


def register_method(name: str) -> Callable[[Builder], Builder]:
    def deco(fn: Builder) -> Builder:
        METHODS[name] = fn
        return fn

    return deco


def build_method(
    name: str,
    train: Interactions,
    *,
    batch_size: int = 2048,
    reg_weight: float = 1e-4,
    device: torch.device | str = "cpu",
    seed: int = 0,
    options: dict[str, Any] | None = None,
) -> MethodParts:
    """Build a method by name.

    Args:
        name: one of :data:`METHODS` (``"bpr"``, ``"bce"``, ...).
        train: training interactions.
        options: method-specific options (e.g. ``{"k": 5, "tau": 0.1}`` for PLD); unknown
            keys raise :class:`ConfigError`.
    """
    if name not in METHODS:
        raise ConfigError(f"unknown method {name!r}; choose one of {sorted(METHODS)}")
    return METHODS[name](train, batch_size=batch_size, reg_weight=reg_weight, device=device, seed=seed, **(options or {}))


def _plain(loss: str) -> Builder:
    def build(train, *, batch_size, reg_weight, device, seed, **options) -> MethodParts:
        if options:
            raise ConfigError(f"method {loss!r} takes no options, got {sorted(options)}")
        sampler = UniformSampler(train, batch_size=batch_size, device=device, seed=seed)
        return MethodParts(sampler, PairwiseObjective(loss, reg_weight=reg_weight))

    return build


register_method("bpr")(_plain("bpr"))
register_method("bce")(_plain("bce"))
