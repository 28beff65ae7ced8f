"""``deca``: denoising by cross-model agreement (Wang et al., WWW 2022) as a plug-in
(:class:`~recdenoise.losses.deca.DeCAObjective` over uniform triples; the auxiliary and
observation models live in the objective, so any backbone works). Checked against the
authors' code: see the loss module and ``docs/methods.md``."""

from __future__ import annotations

from ..losses.deca import DeCAObjective, DeCAOptions
from ..samplers import UniformSampler
from .registry import MethodContext, MethodParts, register_method

__all__ = ["build_deca"]


@register_method("deca", DeCAOptions)
def build_deca(options: DeCAOptions, ctx: MethodContext) -> MethodParts:
    """DeCA (Wang et al., WWW 2022): the backbone's posterior agrees (KL) with an auxiliary MF under DP/DN observation models."""
    objective = DeCAObjective(
        ctx.train.num_users, ctx.train.num_items, objective=options.objective, aux_dim=options.aux_dim,
        alpha=options.alpha, c_1=options.c_1, c_2=options.c_2, iterative=options.iterative,
        true_positive_rate=options.true_positive_rate, symmetric=options.symmetric, kl_weight=options.kl_weight,
        noise_model=options.noise_model, noise_rate=options.noise_rate, reg_weight=ctx.reg_weight, seed=ctx.seed,
    )  # fmt: skip
    sampler = UniformSampler(ctx.train, batch_size=ctx.batch_size, num_negatives=options.num_negatives, device=ctx.device, seed=ctx.seed)
    return MethodParts(sampler, objective)
