"""The built-in training methods: plain BPR/BCE and the denoising methods.

Each is a (sampler, objective) pair around the one trainer; options are typed dataclasses
that live beside the component they configure:

- ``bpr`` / ``bce``: :class:`~recdenoise.samplers.UniformSampler` + :class:`~recdenoise.losses.PairwiseObjective`;
- ``pld``: :class:`~recdenoise.samplers.PLDSampler` (options :class:`~recdenoise.samplers.PLDOptions`);
- ``nbpo``: :class:`~recdenoise.losses.NBPOObjective` (options :class:`~recdenoise.losses.NBPOOptions`);
- ``tce`` / ``rce``: :class:`~recdenoise.losses.TruncatedReducer` /
  :class:`~recdenoise.losses.ReweightedReducer` (options :class:`~recdenoise.losses.TCEOptions`,
  :class:`~recdenoise.losses.RCEOptions`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

from ..errors import ConfigError
from ..losses.denoising import (
    GRANULARITIES, ElementReweighting, ElementTruncation, ElementwiseObjective, RCEOptions, ReweightedReducer,
    TCEOptions, TruncatedReducer,
)  # fmt: skip
from ..losses.nbpo import NBPOObjective, NBPOOptions, reference_flip_reg
from ..losses.objective import PairwiseObjective
from ..samplers import PLDOptions, PLDSampler, UniformSampler
from ..utils import adam
from .registry import MethodContext, MethodParts, register_method

__all__ = ["PlainOptions"]


@dataclass(frozen=True)
class PlainOptions:
    """Options of ``bpr`` / ``bce``: negatives per positive."""

    num_negatives: int = 1


def _uniform(ctx: MethodContext, num_negatives: int) -> UniformSampler:
    return UniformSampler(ctx.train, batch_size=ctx.batch_size, num_negatives=num_negatives, device=ctx.device, seed=ctx.seed)


def _check_loss(method: str, loss: str) -> None:
    if loss not in ("bpr", "bce"):
        raise ConfigError(f"method {method!r}: option loss must be 'bpr' or 'bce', got {loss!r}")


def _check_granularity(method: str, loss: str, granularity: str) -> None:
    if granularity not in GRANULARITIES:
        raise ConfigError(f"method {method!r}: option granularity must be one of {list(GRANULARITIES)}, got {granularity!r}")
    if granularity == "element" and loss != "bce":
        raise ConfigError(
            f"method {method!r}: granularity='element' splits BCE into positive and negative elements; "
            f"loss={loss!r} is one pairwise term per triple: pass --option granularity=triple"
        )


@register_method("bpr", PlainOptions)
def build_bpr(options: PlainOptions, ctx: MethodContext) -> MethodParts:
    """BPR with uniform negatives that are never a training positive of the user."""
    return MethodParts(_uniform(ctx, options.num_negatives), PairwiseObjective("bpr", reg_weight=ctx.reg_weight))


@register_method("bce", PlainOptions)
def build_bce(options: PlainOptions, ctx: MethodContext) -> MethodParts:
    """Pointwise binary cross-entropy with uniform negatives."""
    return MethodParts(_uniform(ctx, options.num_negatives), PairwiseObjective("bce", reg_weight=ctx.reg_weight))


@register_method("pld", PLDOptions)
def build_pld(options: PLDOptions, ctx: MethodContext) -> MethodParts:
    """PLD (Zhang et al., WWW 2025): resample positives by the user's personal loss distribution."""
    _check_loss("pld", options.loss)
    if options.optimizer not in ("adam", "adamw"):
        raise ConfigError(f"method 'pld': option optimizer must be 'adam' or 'adamw', got {options.optimizer!r}")
    if options.adamw_weight_decay < 0:
        raise ConfigError(f"method 'pld': option adamw_weight_decay must be >= 0, got {options.adamw_weight_decay!r}")
    sampler = PLDSampler(
        ctx.train, batch_size=ctx.batch_size, num_negatives=options.num_negatives, device=ctx.device, seed=ctx.seed,
        k=options.k, tau=options.tau, warmup=options.warmup, loss=options.loss,
        user_sampling=options.user_sampling, pool_replacement=options.pool_replacement,
    )  # fmt: skip
    make_optimizer = None
    if options.optimizer == "adamw":
        make_optimizer = functools.partial(_adamw, weight_decay=options.adamw_weight_decay)
    return MethodParts(sampler, PairwiseObjective(options.loss, reg_weight=ctx.reg_weight), make_optimizer=make_optimizer)


def _adamw(params, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    return adam(params, lr=lr, optimizer=torch.optim.AdamW, weight_decay=weight_decay)


@register_method("nbpo", NBPOOptions)
def build_nbpo(options: NBPOOptions, ctx: MethodContext) -> MethodParts:
    """NBPO (Yu & Qin, SIGIR 2020): likelihood with a learned label-flip rate for unvoted items.

    ``flip_reg_weight=None`` converts the reference's ``lambda_phi`` to this run's users, items
    and negatives (:func:`~recdenoise.losses.nbpo.reference_flip_reg`).
    """
    flip_reg = options.flip_reg_weight
    if flip_reg is None:
        flip_reg = reference_flip_reg(options.reference_lambda_phi, ctx.train.num_users, ctx.train.num_items, options.num_negatives)
    objective = NBPOObjective(
        ctx.train.num_users, ctx.train.num_items, flip_dim=options.flip_dim, reg_weight=ctx.reg_weight,
        flip_reg_weight=flip_reg, likelihood=options.likelihood, seed=ctx.seed,
    )  # fmt: skip
    return MethodParts(_uniform(ctx, options.num_negatives), objective)


@register_method("tce", TCEOptions)
def build_tce(options: TCEOptions, ctx: MethodContext) -> MethodParts:
    """T-CE (Wang et al., WSDM 2021): drop the largest-loss positives, drop rate ramped over steps.

    ``granularity="element"`` (default) drops positive elements as the reference;
    ``"triple"`` drops whole triples (see :mod:`recdenoise.losses.denoising` for the mapping
    of ``max_drop_rate`` between the two). The reference ramps over ``num_gradual=30000``
    optimiser steps, which is many epochs on small data; by default the ramp spans
    ``gradual_epochs`` epochs of this training set instead (``num_gradual`` given explicitly wins).
    """
    _check_loss("tce", options.loss)
    _check_granularity("tce", options.loss, options.granularity)
    num_gradual = options.num_gradual
    if num_gradual is None:
        num_gradual = max(1, options.gradual_epochs * -(-len(ctx.train) // ctx.batch_size))
    if options.granularity == "element":
        objective = ElementwiseObjective(ElementTruncation(options.max_drop_rate, num_gradual), reg_weight=ctx.reg_weight)
    else:
        reducer = TruncatedReducer(options.max_drop_rate, num_gradual, rank_by="positive" if options.loss == "bce" else "loss")
        objective = PairwiseObjective(options.loss, reg_weight=ctx.reg_weight, reducer=reducer)
    return MethodParts(_uniform(ctx, options.num_negatives), objective)


@register_method("rce", RCEOptions)
def build_rce(options: RCEOptions, ctx: MethodContext) -> MethodParts:
    """R-CE (Wang et al., WSDM 2021): weight each element by its detached label probability ** beta.

    ``granularity="element"`` (default, the reference) weights positives and negatives
    separately; ``"triple"`` weights a triple once by its positive (BCE) or pairwise (BPR) probability.
    """
    _check_loss("rce", options.loss)
    _check_granularity("rce", options.loss, options.granularity)
    if options.granularity == "element":
        objective = ElementwiseObjective(ElementReweighting(options.beta), reg_weight=ctx.reg_weight)
    else:
        reducer = ReweightedReducer(options.beta, score_by="positive" if options.loss == "bce" else "loss")
        objective = PairwiseObjective(options.loss, reg_weight=ctx.reg_weight, reducer=reducer)
    return MethodParts(_uniform(ctx, options.num_negatives), objective)
