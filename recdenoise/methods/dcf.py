"""``dcf``: the Double Correction Framework (He et al., KDD 2024) as a plug-in
(:class:`~recdenoise.losses.dcf.DCFObjective` over uniform triples). Checked against the
authors' code: see the loss module and ``docs/methods.md``."""

from __future__ import annotations

from ..losses.dcf import DCFObjective, DCFOptions
from ..samplers import UniformSampler
from .registry import MethodContext, MethodParts, register_method

__all__ = ["build_dcf"]


@register_method("dcf", DCFOptions)
def build_dcf(options: DCFOptions, ctx: MethodContext) -> MethodParts:
    """DCF (He et al., KDD 2024): drop by a damped lower bound of the loss over time, give the surest back."""
    steps_per_epoch = -(-len(ctx.train) // ctx.batch_size)
    objective = DCFObjective(
        len(ctx.train), loss=options.loss, granularity=options.granularity, max_drop_rate=options.max_drop_rate,
        num_gradual=max(1, options.gradual_epochs * steps_per_epoch), steps_per_epoch=steps_per_epoch,
        bound=options.bound, co_lambda=options.co_lambda, co_lambda_epochs=options.co_lambda_epochs,
        time_step=options.time_step, window=options.window, delta=options.delta, damping=options.damping,
        relabel_ratio=options.relabel_ratio, relabel=options.relabel, max_relabel_rate=options.max_relabel_rate,
        reg_weight=ctx.reg_weight, device=ctx.device,
    )  # fmt: skip
    sampler = UniformSampler(ctx.train, batch_size=ctx.batch_size, num_negatives=options.num_negatives, device=ctx.device, seed=ctx.seed)
    return MethodParts(sampler, objective)
