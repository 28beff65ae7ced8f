"""Full-ranking evaluation sharded by users over the ranks of a ``torch.distributed`` group.

Rank ``r`` of ``N`` ranks every ``N``-th user with targets (``users[r::N]``: strided, so that
every rank gets users of every activity level), with the wrapped :class:`Evaluator` and its
memory budget; the per-rank results are merged on every rank. Metrics are means over users,
so the merged mean is the users-weighted mean of the ranks' means; per-user rows and top-k
lists are concatenated back in user order. Every rank scores ``~U/N`` users: the ``[B, I]``
score blocks, the dominant cost, are split ``N`` ways.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch

from ..data import Interactions
from .evaluator import EvalResult, Evaluator

__all__ = ["ShardedEvaluator", "merge_results"]


class ShardedEvaluator:
    """An :class:`Evaluator` that evaluates this rank's share of the users and merges the ranks' results.

    Args:
        evaluator: the evaluator each rank runs on its users.
        ctx: a :class:`~recdenoise.training.distributed.DistContext`-like object with ``rank``,
            ``world_size`` and ``all_gather_object``.
    """

    def __init__(self, evaluator: Evaluator, ctx: Any):
        self.evaluator, self.ctx = evaluator, ctx

    def __getattr__(self, name: str):
        if name in ("evaluator", "ctx"):
            raise AttributeError(name)
        return getattr(self.evaluator, name)

    def shard(self, targets: Interactions) -> Interactions:
        """The target rows of this rank's users (every ``N``-th user with targets)."""
        users = np.flatnonzero(targets.user_counts > 0)
        mine = np.zeros(targets.num_users, dtype=bool)
        mine[users[self.ctx.rank :: self.ctx.world_size]] = True
        return targets.subset(mine[targets.users])

    def evaluate(
        self,
        scorer,
        targets: Interactions,
        exclude: Sequence[Interactions] | Interactions = (),
        return_per_user: bool = False,
        return_topk: int | None = None,
    ) -> EvalResult:
        local = self.evaluator.evaluate(scorer, self.shard(targets), exclude, return_per_user=return_per_user, return_topk=return_topk)
        return merge_results(self.ctx.all_gather_object(local))


def merge_results(parts: Sequence[EvalResult]) -> EvalResult:
    """One :class:`EvalResult` from results over disjoint sets of users."""
    counted = [p for p in parts if p.num_users > 0]
    num_users = sum(p.num_users for p in counted)
    keys = list(parts[0].metrics)
    if num_users == 0:
        metrics = {key: math.nan for key in keys}
    else:
        metrics = {key: math.fsum(p.metrics[key] * p.num_users for p in counted) / num_users for key in keys}
    per_user = None
    if all(p.per_user is not None for p in parts):
        per_user = pd.concat([p.per_user for p in parts], ignore_index=True).sort_values("user", kind="stable").reset_index(drop=True)
    topk = None
    if all(p.topk is not None for p in parts):
        users = torch.cat([p.topk[0] for p in parts])
        order = torch.argsort(users, stable=True)
        topk = (users[order], torch.cat([p.topk[1] for p in parts])[order], torch.cat([p.topk[2] for p in parts])[order])
    return EvalResult(metrics=metrics, num_users=num_users, per_user=per_user, topk=topk)
