"""``udt``: user-level denoising with per-user temperatures (:class:`~recdenoise.losses.udt.UDTObjective`
over uniform triples), checked against the RecSys 2025 benchmark's code: see the loss module
and ``docs/methods.md``."""

from __future__ import annotations

import torch

from ..losses.udt import UDTObjective, UDTOptions
from ..samplers import UniformSampler
from .registry import MethodContext, MethodParts, register_method

__all__ = ["build_udt"]


@register_method("udt", UDTOptions)
def build_udt(options: UDTOptions, ctx: MethodContext) -> MethodParts:
    """UDT: weight a user's positives by a softmax of -loss at a per-user temperature, and the user by its mean-loss rank."""
    users = torch.from_numpy(ctx.train.users).to(ctx.device)
    objective = UDTObjective(
        users, ctx.train.num_users, -(-len(ctx.train) // ctx.batch_size), loss=options.loss, weighting=options.weighting,
        min_temperature=options.min_temperature, max_temperature=options.max_temperature,
        low_loss_factor=options.low_loss_factor, high_loss_factor=options.high_loss_factor, tau=options.tau,
        momentum=options.momentum, warmup=options.warmup, reg_weight=ctx.reg_weight,
    )  # fmt: skip
    sampler = UniformSampler(ctx.train, batch_size=ctx.batch_size, num_negatives=options.num_negatives, device=ctx.device, seed=ctx.seed)
    return MethodParts(sampler, objective)
