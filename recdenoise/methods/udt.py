"""``udt``: user-level weighting from per-user loss ranks (:class:`~recdenoise.losses.udt.UDTObjective`
over uniform triples). A reconstruction, not checked against the benchmark's code: see the loss
module and ``docs/results/honest.md``."""

from __future__ import annotations

import torch

from ..losses.udt import UDTObjective, UDTOptions
from ..samplers import UniformSampler
from .registry import MethodContext, MethodParts, register_method

__all__ = ["build_udt"]


@register_method("udt", UDTOptions)
def build_udt(options: UDTOptions, ctx: MethodContext) -> MethodParts:
    """UDT: weight each interaction by exp(-rank/tau) of its loss among the same user's, per-user normalised."""
    users = torch.from_numpy(ctx.train.users).to(ctx.device)
    objective = UDTObjective(
        users, ctx.train.num_users, -(-len(ctx.train) // ctx.batch_size), loss=options.loss, tau=options.tau,
        momentum=options.momentum, warmup=options.warmup, reg_weight=ctx.reg_weight,
    )  # fmt: skip
    sampler = UniformSampler(ctx.train, batch_size=ctx.batch_size, num_negatives=options.num_negatives, device=ctx.device, seed=ctx.seed)
    return MethodParts(sampler, objective)
