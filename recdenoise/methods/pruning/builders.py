"""Data pruning as denoising: ``random``, ``el2n``, ``grand`` and ``prototype``.

Each scores every training interaction once before training (higher = more likely noisy /
harder), keeps exactly ``round((1 - fraction) N)`` of them (:func:`.scores.prune_keep_mask`)
and trains plain BPR/BCE on what is kept (:class:`.sampler.PrunedSampler`); with
``prune_graph`` LightGCN also propagates over the kept interactions only. The scoring pass is
recorded by ``parts.sampler.summary()`` (detection AUC, noisy share kept, time).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from ...losses.objective import PairwiseObjective
from ..registry import MethodContext, MethodParts, register_method
from ...errors import ConfigError
from .kmeans import REPRESENTATIONS, interaction_features, prototype_scores
from .sampler import PrunedSampler, pruned_graph, pruning_summary
from .scores import SCORE_LOSSES, check_choice, el2n_scores, grand_scores, prune_keep_mask
from .short_runs import proxy_runs, run_seed, scoring_negatives

__all__ = ["RandomPruneOptions", "ScorePruneOptions", "PrototypeOptions", "check_options", "pruned_parts"]


@dataclass(frozen=True)
class RandomPruneOptions:
    """Options of ``random``.

    Attributes:
        fraction: share of the training interactions pruned, in ``[0, 1)``.
        min_per_user: each user keeps at least this many interactions (0 may empty users).
        prune_graph: also drop the pruned interactions from the propagation graph (LightGCN).
        loss: training loss, ``"bpr"`` or ``"bce"``.
        num_negatives: negatives per positive during training.
    """

    fraction: float = 0.2
    min_per_user: int = 1
    prune_graph: bool = True
    loss: str = "bpr"
    num_negatives: int = 1


@dataclass(frozen=True)
class ScorePruneOptions(RandomPruneOptions):
    """Options of ``el2n`` / ``grand`` (and the common ones of ``random``).

    Attributes:
        prune: ``"high"`` prunes the highest scores (hard, likely noisy: the denoising default);
            ``"low"`` the lowest (easy, redundant: Paul et al.'s setting on clean data).
        score_epochs: epochs of each short proxy run before scoring (0 = at initialisation).
        score_runs: short runs with distinct seeds; the score is their mean.
        score_lr: Adam learning rate of the proxy runs.
        score_negatives: negatives per interaction when scoring.
    """

    prune: str = "high"
    score_epochs: int = 5
    score_runs: int = 3
    score_lr: float = 0.005
    score_negatives: int = 4


@dataclass(frozen=True)
class PrototypeOptions(ScorePruneOptions):
    """Options of ``prototype`` (on top of those of ``el2n``).

    Attributes:
        k: number of k-means prototypes.
        representation: ``"hadamard"`` (:math:`e_u \\odot e_i`) or ``"concat"`` (:math:`[e_u; e_i]`).
        kmeans_iters: at most this many Lloyd steps.
    """

    score_runs: int = 1
    k: int = 50
    representation: str = "hadamard"
    kmeans_iters: int = 25


def check_options(options: RandomPruneOptions) -> None:
    """Fail on a bad option before the (costly) scoring pass."""
    prune_keep_mask(torch.zeros(1), torch.zeros(1, dtype=torch.long), 1, options.fraction, getattr(options, "prune", "high"), 0)
    check_choice("loss", options.loss, SCORE_LOSSES)
    if options.min_per_user < 0:
        raise ConfigError(f"option min_per_user must be >= 0, got {options.min_per_user!r}")
    if isinstance(options, PrototypeOptions):
        check_choice("representation", options.representation, REPRESENTATIONS)


def pruned_parts(ctx: MethodContext, options: RandomPruneOptions, scores: torch.Tensor, method: str, seconds: float, prune: str = "high", **extra) -> MethodParts:
    """Keep-set from ``scores [N]``, the :class:`PrunedSampler` over it, the pruned graph, and BPR/BCE."""
    check_options(options)
    users = torch.from_numpy(ctx.train.users).to(scores.device)
    keep = prune_keep_mask(scores, users, ctx.train.num_users, options.fraction, prune, options.min_per_user)
    summary = pruning_summary(method, scores, keep, ctx.train, seconds, fraction=options.fraction, prune=prune, **extra)
    sampler = PrunedSampler(
        ctx.train, keep, summary=summary, batch_size=ctx.batch_size, num_negatives=options.num_negatives, device=ctx.device, seed=ctx.seed
    )
    graph = pruned_graph(ctx.graph, ctx.train, keep) if options.prune_graph else None
    return MethodParts(sampler, PairwiseObjective(options.loss, reg_weight=ctx.reg_weight), graph=graph)


@register_method("random", RandomPruneOptions)
def build_random(options: RandomPruneOptions, ctx: MethodContext) -> MethodParts:
    """Random pruning (Liu et al., ICLR 2022): drop a uniformly drawn share of the interactions."""
    gen = torch.Generator(device=ctx.device).manual_seed(run_seed(ctx.seed, 0, salt=1))
    scores = torch.rand(len(ctx.train), device=ctx.device, generator=gen)
    return pruned_parts(ctx, options, scores, "random", 0.0)


def _mean_proxy_score(ctx: MethodContext, options: ScorePruneOptions, score_fn, salt: int) -> tuple[torch.Tensor, float]:
    check_options(options)
    start = time.perf_counter()
    total = torch.zeros(len(ctx.train), device=ctx.device)
    for seed, (user_emb, item_emb) in proxy_runs(ctx, options.score_runs, options.score_epochs, options.score_lr, options.loss, salt):
        users, items, negatives = scoring_negatives(ctx.train, options.score_negatives, seed, ctx.device)
        total += score_fn(user_emb, item_emb, users, items, negatives, options.loss)
    return total / options.score_runs, time.perf_counter() - start


def _scored(options: ScorePruneOptions) -> dict:
    return {"score_epochs": options.score_epochs, "score_runs": options.score_runs}


@register_method("el2n", ScorePruneOptions)
def build_el2n(options: ScorePruneOptions, ctx: MethodContext) -> MethodParts:
    """EL2N (Paul et al., NeurIPS 2021): prune by the error of early predicted probabilities."""
    scores, seconds = _mean_proxy_score(ctx, options, el2n_scores, salt=2)
    return pruned_parts(ctx, options, scores, "el2n", seconds, options.prune, **_scored(options))


@register_method("grand", ScorePruneOptions)
def build_grand(options: ScorePruneOptions, ctx: MethodContext) -> MethodParts:
    """GraNd (Paul et al., NeurIPS 2021): prune by the norm of early per-example loss gradients."""
    scores, seconds = _mean_proxy_score(ctx, options, grand_scores, salt=3)
    return pruned_parts(ctx, options, scores, "grand", seconds, options.prune, **_scored(options))


@register_method("prototype", PrototypeOptions)
def build_prototype(options: PrototypeOptions, ctx: MethodContext) -> MethodParts:
    """Self-supervised prototypes (Sorscher et al., NeurIPS 2022): prune by distance to the nearest k-means centroid."""
    check_options(options)
    start = time.perf_counter()
    total = torch.zeros(len(ctx.train), device=ctx.device)
    users = torch.from_numpy(ctx.train.users).to(ctx.device)
    items = torch.from_numpy(ctx.train.items).to(ctx.device)
    for seed, (user_emb, item_emb) in proxy_runs(ctx, options.score_runs, options.score_epochs, options.score_lr, options.loss, salt=4):
        features = interaction_features(user_emb, item_emb, users, items, options.representation)
        gen = torch.Generator(device=ctx.device).manual_seed(seed)
        total += prototype_scores(features, options.k, options.kmeans_iters, gen)
    extra = {**_scored(options), "k": options.k, "representation": options.representation}
    return pruned_parts(ctx, options, total / options.score_runs, "prototype", time.perf_counter() - start, options.prune, **extra)
