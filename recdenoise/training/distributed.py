"""Data- and graph-parallel training with ``torch.distributed`` (gloo on CPU, NCCL on GPU).

The :class:`~recdenoise.training.Trainer` loop runs unchanged on every rank; what differs are
the parts it is given (:func:`distribute`):

- the **sampler** is the same seeded sampler on every rank, so every rank draws the same
  global batch each step (a run with ``N`` ranks follows the 1-rank run with the same seed),
  and score-aware selection (PLD) runs on the whole batch, keeping the generators in step;
- the **graph** is a :class:`~recdenoise.graph.sharded.ShardedGraph`: each rank propagates its
  row block of the normalised adjacency, embeddings are gathered per layer;
- the **objective** (:class:`DistributedObjective`) computes the loss of this rank's slice of
  the batch, scaled by ``B_r / B`` so that the sum over ranks is the 1-rank loss, when the
  objective is a mean over examples (BPR, BCE, PLD, R-CE, NBPO); objectives that look at the
  whole batch at once (T-CE drops the largest losses *of the batch*) run on the whole batch on
  every rank with the loss scaled by ``1 / N`` (exact, no speed-up for that part);
- the **optimiser** (:class:`AllReduceOptimizer`) sums the partial gradients over ranks before
  each step, so parameters stay identical on every rank.

Checkpoints hold the same state as a 1-rank run (rank 0 writes them); :class:`SyncStart`
hands rank 0's state (a resumed checkpoint) to every rank when training starts.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any, Optional

import torch
import torch.distributed as dist
from torch import nn

from ..errors import ConfigError
from ..graph.sharded import ShardedGraph
from ..losses.denoising import ReweightedReducer
from ..losses.nbpo import NBPOObjective
from ..losses.objective import LossOutput, MeanReducer, PairwiseObjective
from ..types import CandidateSelection, TripletBatch
from ..utils import adam
from .callbacks import Callback

__all__ = [
    "DistContext", "DistributedObjective", "AllReduceOptimizer", "SyncStart", "distribute", "all_reduce_optimizer",
    "shard_bounds", "slice_batch", "torchrun_env",
]


def torchrun_env(environ: Optional[dict] = None) -> Optional[dict[str, int]]:
    """``{"rank", "world_size", "local_rank"}`` when launched by ``torchrun`` (or any launcher that
    sets ``RANK`` and ``WORLD_SIZE``) with more than one process, else ``None``."""
    env = os.environ if environ is None else environ
    if "RANK" not in env or "WORLD_SIZE" not in env:
        return None
    try:
        info = {"rank": int(env["RANK"]), "world_size": int(env["WORLD_SIZE"]), "local_rank": int(env.get("LOCAL_RANK", 0))}
    except ValueError as exc:
        raise ConfigError(f"RANK / WORLD_SIZE / LOCAL_RANK must be integers ({exc}); launch with torchrun") from exc
    return info if info["world_size"] > 1 else None


@dataclass(frozen=True)
class DistContext:
    """This process's place in an initialised process group.

    Attributes:
        rank: global rank ``r``; rank 0 writes the run folder.
        world_size: ``N``.
        group: the process group (``None`` = default group).
    """

    rank: int
    world_size: int
    group: Any = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def current(cls) -> Optional["DistContext"]:
        """The default process group when one is initialised with more than one rank, else ``None``."""
        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
            return None
        return cls(dist.get_rank(), dist.get_world_size())

    def all_gather_object(self, value: Any) -> list:
        out: list = [None] * self.world_size
        dist.all_gather_object(out, value, group=self.group)
        return out

    def broadcast_object(self, value: Any) -> Any:
        box = [value]
        dist.broadcast_object_list(box, src=0, group=self.group)
        return box[0]


def shard_bounds(size: int, rank: int, world_size: int) -> tuple[int, int]:
    """``[start, end)`` of rank ``rank``'s contiguous slice of ``size`` rows (sizes differ by at most 1)."""
    base, extra = divmod(size, world_size)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


def _slice(value: Any, start: int, end: int) -> Any:
    if isinstance(value, torch.Tensor):
        return value[start:end]
    if isinstance(value, CandidateSelection):
        return dataclasses.replace(value, rows=value.rows[start:end], losses=value.losses[start:end], chosen=value.chosen[start:end])
    return value


def slice_batch(batch: TripletBatch, start: int, end: int) -> TripletBatch:
    """Rows ``start:end`` of every per-example field of a batch."""
    return batch.replace(**{f.name: _slice(getattr(batch, f.name), start, end) for f in dataclasses.fields(batch)})


def is_separable(objective: nn.Module, batch: TripletBatch) -> bool:
    """Whether the objective is a mean over examples plus a per-example regulariser, so that the
    loss of the whole batch is the ``B_r / B``-weighted sum of the losses of its slices."""
    if batch.weights is not None:  # a weighted mean is normalised by the batch's total weight
        return False
    if isinstance(objective, NBPOObjective):
        return True
    return isinstance(objective, PairwiseObjective) and isinstance(objective.reducer, (MeanReducer, ReweightedReducer))


class DistributedObjective(nn.Module):
    """Wraps an objective so that each rank computes the loss of its slice of the global batch.

    The returned :class:`LossOutput` looks like the 1-rank one: ``loss`` has the value of the
    whole batch's loss (all-reduced) and the gradient of this rank's share; ``per_example`` and
    ``weights`` are gathered for the whole batch, so callbacks (diagnostics) see every example.
    ``state_dict`` is the wrapped objective's, so checkpoints do not depend on the world size.
    """

    def __init__(self, objective: nn.Module, ctx: DistContext):
        super().__init__()
        self.inner, self.ctx = objective, ctx

    def forward(self, model, user_emb, item_emb, batch: TripletBatch, step: int, graph=None) -> LossOutput:
        ctx = self.ctx
        if not is_separable(self.inner, batch):
            out = self.inner(model, user_emb, item_emb, batch, step, graph=graph)
            share = out.loss / ctx.world_size  # the same loss on every rank: their gradients add up to one
            return dataclasses.replace(out, loss=share + (out.loss - share).detach())
        sizes = [e - s for s, e in (shard_bounds(len(batch), r, ctx.world_size) for r in range(ctx.world_size))]
        start, end = shard_bounds(len(batch), ctx.rank, ctx.world_size)
        if end == start:  # fewer examples than ranks: take part in every collective with a zero loss
            share = (user_emb.sum() + item_emb.sum()) * 0.0
            local = LossOutput(share, user_emb.new_zeros(0), None, {})
        else:
            local = self.inner(model, user_emb, item_emb, slice_batch(batch, start, end), step, graph=graph)
            share = local.loss * ((end - start) / len(batch))
        # one collective for the batch loss and whether any rank's reducer weighted its examples
        summary = torch.stack([share.detach().float(), share.new_tensor(float(local.weights is not None))])
        dist.all_reduce(summary, group=ctx.group)
        total = summary[0].to(share.dtype)
        per_example = _gather_cat(local.per_example.detach(), sizes, ctx)
        weights = None
        if float(summary[1]) > 0:
            mine = local.weights if local.weights is not None else torch.ones_like(local.per_example)
            weights = _gather_cat(mine.detach(), sizes, ctx)
        return LossOutput(share + (total - share).detach(), per_example, weights, {**local.stats, "loss": total})

    def __getattr__(self, name: str):  # the wrapped objective's own attributes (e.g. a method's summary())
        try:
            return super().__getattr__(name)
        except AttributeError:
            inner = self.__dict__.get("_modules", {}).get("inner")
            if inner is None:
                raise
            return getattr(inner, name)

    # a checkpoint holds the wrapped objective's state, whatever the world size
    def state_dict(self, *args, **kwargs):
        return self.inner.state_dict(*args, **kwargs)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        return self.inner.load_state_dict(state_dict, strict=strict)

    def state_dict_extra(self) -> dict:
        return getattr(self.inner, "state_dict_extra", dict)()

    def load_state_dict_extra(self, state: dict) -> None:
        if hasattr(self.inner, "load_state_dict_extra"):
            self.inner.load_state_dict_extra(state)


def _gather_cat(local: torch.Tensor, sizes: list[int], ctx: DistContext) -> torch.Tensor:
    """The ranks' ``[B_r, ...]`` slices concatenated in rank order (no grad; padded to the largest)."""
    width = max(sizes)
    padded = local.new_zeros((width,) + tuple(local.shape[1:]))
    padded[: local.shape[0]] = local
    parts = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(parts, padded, group=ctx.group)
    return torch.cat([p[:n] for p, n in zip(parts, sizes)])


class AllReduceOptimizer:
    """An optimiser whose ``step`` first sums the gradients over the ranks (one flat all-reduce).

    A parameter without a gradient on this rank counts as a zero gradient, so every rank takes
    part in the same collective with the same buffer layout.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, ctx: DistContext):
        self.optimizer, self.ctx = optimizer, ctx

    @property
    def param_groups(self):
        return self.optimizer.param_groups

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def step(self, closure=None):
        params = [p for group in self.optimizer.param_groups for p in group["params"] if p.requires_grad]
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat, group=self.ctx.group)
        offset = 0
        for p, g in zip(params, grads):
            p.grad = flat[offset : offset + g.numel()].view_as(p)
            offset += g.numel()
        return self.optimizer.step(closure)

    def state_dict(self) -> dict:
        return self.optimizer.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state)


class SyncStart(Callback):
    """At the start of ``fit``, every rank takes rank 0's trainer state when rank 0 resumed a
    checkpoint (a fresh run starts identical everywhere: same seeds), so only rank 0 reads it."""

    def __init__(self, ctx: DistContext):
        self.ctx = ctx

    def on_fit_start(self, trainer) -> None:
        resumed = self.ctx.broadcast_object(trainer.epoch if self.ctx.is_main else None)
        if not resumed:
            return
        state = self.ctx.broadcast_object(trainer.state_dict() if self.ctx.is_main else None)
        if not self.ctx.is_main:
            trainer.load_state_dict(state)


def distribute(parts, ctx: DistContext):
    """The method's parts ready for ``N`` ranks: a sharded graph, the per-rank objective and
    :class:`SyncStart` (pair it with :func:`all_reduce_optimizer`)."""
    if parts.graph is None:
        raise ConfigError("distributed training needs the method's graph (parts.graph)")
    objective = DistributedObjective(parts.objective, ctx)
    graph = ShardedGraph(parts.graph, ctx.rank, ctx.world_size, ctx.group)
    return dataclasses.replace(parts, objective=objective, graph=graph, callbacks=[SyncStart(ctx)] + list(parts.callbacks))


def all_reduce_optimizer(optimizer: Optional[torch.optim.Optimizer], parts, ctx: DistContext, lr: float) -> AllReduceOptimizer:
    """``optimizer`` (``None``: the Adam over model and objective parameters that the 1-rank
    trainer builds) summing gradients over the ranks before each step."""
    if optimizer is None:
        optimizer = adam([*parts.model.parameters(), *parts.objective.parameters()], lr=lr)
    return AllReduceOptimizer(optimizer, ctx)
