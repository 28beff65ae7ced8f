"""``deca``: denoising by cross-model agreement (Wang et al., WWW 2022) as a plug-in
(:class:`~recdenoise.losses.deca.DeCAObjective` over uniform triples; the auxiliary models live
in the objective, so any backbone works). Not checked against the authors' code: see the loss
module and ``docs/results/honest.md``."""

from __future__ import annotations

from ..losses.deca import DeCAObjective, DeCAOptions
from ..samplers import UniformSampler
from .registry import MethodContext, MethodParts, register_method

__all__ = ["build_deca"]


@register_method("deca", DeCAOptions)
def build_deca(options: DeCAOptions, ctx: MethodContext) -> MethodParts:
    """DeCA (Wang et al., WWW 2022): variational bound whose KL makes the backbone and an auxiliary MF agree."""
    objective = DeCAObjective(
        ctx.train.num_users, ctx.train.num_items, aux_dim=options.aux_dim, true_positive_rate=options.true_positive_rate,
        symmetric=options.symmetric, kl_weight=options.kl_weight,
        noise_model=options.noise_model, noise_rate=options.noise_rate, reg_weight=ctx.reg_weight, seed=ctx.seed,
    )  # fmt: skip
    sampler = UniformSampler(ctx.train, batch_size=ctx.batch_size, num_negatives=options.num_negatives, device=ctx.device, seed=ctx.seed)
    return MethodParts(sampler, objective)
