"""Training methods by name: each is a (sampler, objective, callbacks) triple for the one Trainer.

``bpr`` and ``bce`` are the plain baselines (uniform negatives). Denoising methods register
here too, so the CLI, the benchmarks and users' scripts build them the same way:

- ``pld`` (sampler :class:`~recdenoise.samplers.PLDSampler`; options ``k``, ``tau``, ``warmup``,
  ``loss``, ``user_sampling``, ``pool_replacement``, ``num_negatives``);
- ``nbpo`` (objective :class:`~recdenoise.losses.NBPOObjective`; options ``flip_dim``,
  ``num_negatives`` (default 4, as the reference), ``flip_reg_weight``, ``likelihood``);
- ``tce`` / ``rce`` (reducers :class:`~recdenoise.losses.TruncatedReducer` /
  :class:`~recdenoise.losses.ReweightedReducer`; option ``loss`` (default ``"bce"``, the
  paper's T-CE / R-CE), ``max_drop_rate`` + ``num_gradual`` / ``beta``, ``num_negatives``).

When the training interactions carry noise labels, :func:`build_method` appends a
:class:`~recdenoise.diagnostics.NoiseDiagnostics` callback.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from .data.interactions import Interactions
from .errors import ConfigError
from .losses.denoising import ReweightedReducer, TruncatedReducer
from .losses.nbpo import NBPOObjective
from .losses.objective import PairwiseObjective
from .samplers import PLDSampler, Sampler, UniformSampler
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

    When ``train.is_noise`` is set, the parts include a
    :class:`~recdenoise.diagnostics.NoiseDiagnostics` callback (its ``summary()`` goes into the
    run record).
    """
    if name not in METHODS:
        raise ConfigError(f"unknown method {name!r}; choose one of {sorted(METHODS)}")
    builder, options = METHODS[name], dict(options or {})
    _check_options(name, builder, options)
    parts = builder(train, batch_size=batch_size, reg_weight=reg_weight, device=device, seed=seed, **options)
    if train.is_noise is not None:
        from .diagnostics import NoiseDiagnostics  # local: diagnostics imports training

        parts.callbacks.append(NoiseDiagnostics(train))
    return parts


_FIXED = {"batch_size", "reg_weight", "device", "seed"}


def _check_options(name: str, builder: Builder, options: dict[str, Any]) -> None:
    params = inspect.signature(builder).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return  # the builder validates its own options
    allowed = sorted(n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY and n not in _FIXED)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ConfigError(f"unknown option(s) {unknown} for method {name!r}; allowed: {allowed}")


def _plain(loss: str) -> Builder:
    def build(train, *, batch_size, reg_weight, device, seed, **options) -> MethodParts:
        if options:
            raise ConfigError(f"method {loss!r} takes no options, got {sorted(options)}")
        sampler = UniformSampler(train, batch_size=batch_size, device=device, seed=seed)
        return MethodParts(sampler, PairwiseObjective(loss, reg_weight=reg_weight))

    return build


register_method("bpr")(_plain("bpr"))
register_method("bce")(_plain("bce"))


def _check_loss(method: str, loss: str) -> None:
    if loss not in ("bpr", "bce"):
        raise ConfigError(f"method {method!r}: option loss must be 'bpr' or 'bce', got {loss!r}")


@register_method("pld")
def _pld(
    train, *, batch_size, reg_weight, device, seed,
    k: int = 5, tau: float = 0.1, warmup: int = 5, loss: str = "bpr",
    user_sampling: str = "uniform", pool_replacement: bool = False, num_negatives: int = 1,
) -> MethodParts:
    """PLD (Zhang et al., WWW 2025): resample positives by the user's personal loss distribution."""
    _check_loss("pld", loss)
    sampler = PLDSampler(
        train, batch_size=batch_size, num_negatives=num_negatives, device=device, seed=seed,
        k=k, tau=tau, warmup=warmup, loss=loss, user_sampling=user_sampling, pool_replacement=pool_replacement,
    )
    return MethodParts(sampler, PairwiseObjective(loss, reg_weight=reg_weight))


@register_method("nbpo")
def _nbpo(
    train, *, batch_size, reg_weight, device, seed,
    flip_dim: int = 64, num_negatives: int = 4, flip_reg_weight: float | None = None, likelihood: str = "exact",
) -> MethodParts:
    """NBPO (Yu & Qin, SIGIR 2020): likelihood with a learned label-flip rate for unvoted items."""
    sampler = UniformSampler(train, batch_size=batch_size, num_negatives=num_negatives, device=device, seed=seed)
    objective = NBPOObjective(
        train.num_users, train.num_items, flip_dim=flip_dim, reg_weight=reg_weight,
        flip_reg_weight=flip_reg_weight, likelihood=likelihood, seed=seed,
    )
    return MethodParts(sampler, objective)


@register_method("tce")
def _tce(
    train, *, batch_size, reg_weight, device, seed,
    loss: str = "bce", max_drop_rate: float = 0.2, num_gradual: int | None = None, gradual_epochs: int = 10,
    num_negatives: int = 1,
) -> MethodParts:
    """T-CE (Wang et al., WSDM 2021): drop the largest-loss examples, drop rate ramped over steps.

    The reference ramps over ``num_gradual=30000`` optimiser steps, which is many epochs on small
    data; by default the ramp spans ``gradual_epochs`` epochs of this training set instead
    (``num_gradual`` given explicitly wins).
    """
    _check_loss("tce", loss)
    if num_gradual is None:
        num_gradual = max(1, gradual_epochs * -(-len(train) // batch_size))
    reducer = TruncatedReducer(max_drop_rate, num_gradual, rank_by="positive" if loss == "bce" else "loss")
    sampler = UniformSampler(train, batch_size=batch_size, num_negatives=num_negatives, device=device, seed=seed)
    return MethodParts(sampler, PairwiseObjective(loss, reg_weight=reg_weight, reducer=reducer))


@register_method("rce")
def _rce(
    train, *, batch_size, reg_weight, device, seed,
    loss: str = "bce", beta: float = 0.25, num_negatives: int = 1,
) -> MethodParts:
    """R-CE (Wang et al., WSDM 2021): weight examples by the detached predicted probability ** beta."""
    _check_loss("rce", loss)
    reducer = ReweightedReducer(beta, score_by="positive" if loss == "bce" else "loss")
    sampler = UniformSampler(train, batch_size=batch_size, num_negatives=num_negatives, device=device, seed=seed)
    return MethodParts(sampler, PairwiseObjective(loss, reg_weight=reg_weight, reducer=reducer))
