"""LightGCN propagation sharded over the ranks of a ``torch.distributed`` process group.

Each of the ``N`` ranks holds one row block of the normalised bipartite adjacency: the rows of
:math:`\\tilde{R}` of a contiguous range of users :math:`\\mathcal{U}_r` and the rows of
:math:`\\tilde{R}^\\top` of a contiguous range of items :math:`\\mathcal{I}_r`, chosen so that
every rank holds about ``nnz / N`` non-zeros (power-law graphs are far from uniform per row).
One layer is

.. math::
    x_{\\mathcal{U}_r}' = \\tilde{R}_{\\mathcal{U}_r} x_I, \\qquad
    x_{\\mathcal{I}_r}' = \\tilde{R}^\\top_{\\mathcal{I}_r} x_U, \\qquad
    x' = \\operatorname{all\\_gather}_r(x_{\\mathcal{U}_r}', x_{\\mathcal{I}_r}')

so a rank does ``1/N`` of the sparse work, forward and backward. The backward of the gather is
a reduce-scatter: each rank's loss sees part of the batch, so its gradient of ``x'`` is partial
and the true gradient of its own block is the sum over ranks. Parameter gradients are partial
too and are all-reduced once per step by the trainer's optimiser
(:class:`recdenoise.training.distributed.AllReduceOptimizer`).

:class:`ShardedGraph` has :class:`~recdenoise.graph.BipartiteGraph`'s propagation interface,
so :class:`~recdenoise.models.LightGCN` runs on it unchanged; anything else it is asked is
answered by the full graph it wraps.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.distributed as dist

from .bipartite import BipartiteGraph
from .sparse import SparseOperator

__all__ = ["ShardedGraph", "balanced_ranges", "all_gather_rows"]


def balanced_ranges(counts: torch.Tensor, parts: int) -> list[tuple[int, int]]:
    """Contiguous ``[start, end)`` row ranges, one per part, each holding about ``sum(counts) / parts``.

    Shapes:
        counts: ``[M]`` non-zeros per row; returns ``parts`` ranges covering ``0..M``.
    """
    total = float(counts.sum())
    cum = torch.cumsum(counts.double().cpu(), 0)
    bounds = [0]
    for p in range(1, parts):
        bounds.append(max(bounds[-1], int(torch.searchsorted(cum, total * p / parts))))
    bounds.append(int(counts.numel()))
    return [(bounds[p], bounds[p + 1]) for p in range(parts)]


class _GatherRows(torch.autograd.Function):
    """All-gather of row blocks of unequal sizes (padded to the largest) with a reduce-scatter backward."""

    @staticmethod
    def forward(ctx, local: torch.Tensor, sizes: list[int], rank: int, group) -> torch.Tensor:
        ctx.sizes, ctx.rank, ctx.group = sizes, rank, group
        width = max(sizes)
        padded = local.new_zeros((width,) + tuple(local.shape[1:]))
        padded[: local.shape[0]] = local
        parts = [torch.empty_like(padded) for _ in sizes]
        dist.all_gather(parts, padded, group=group)
        return torch.cat([part[:n] for part, n in zip(parts, sizes)])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        sizes, width = ctx.sizes, max(ctx.sizes)
        chunks = []
        for block in grad.contiguous().split(sizes):
            pad = grad.new_zeros((width,) + tuple(grad.shape[1:]))
            pad[: block.shape[0]] = block
            chunks.append(pad)
        out = torch.empty_like(chunks[0])
        dist.reduce_scatter(out, chunks, group=ctx.group)  # sum of every rank's partial gradient
        return out[: sizes[ctx.rank]], None, None, None


def all_gather_rows(local: torch.Tensor, sizes: list[int], rank: int, group=None) -> torch.Tensor:
    """Concatenate every rank's ``local [sizes[r], ...]`` block (differentiable; backward = reduce-scatter)."""
    return _GatherRows.apply(local, sizes, rank, group)


class ShardedGraph:
    """A :class:`BipartiteGraph` whose propagation is split by rows over a process group.

    Args:
        graph: the full training graph (every rank builds it from the same data).
        rank, world_size: this process's place in ``group``.
        group: a ``torch.distributed`` process group (``None`` = the default group).

    The row blocks are built on first use, so a model that never propagates (MF) costs nothing.

    Shapes:
        propagate(user_x ``[U, D]``, item_x ``[I, D]``) -> ``([U, D], [I, D])``, on every rank.
    """

    def __init__(self, graph: BipartiteGraph, rank: int, world_size: int, group=None):
        self.full = graph
        self.rank, self.world_size, self.group = rank, world_size, group
        self.num_users, self.num_items = graph.num_users, graph.num_items
        self._blocks: Optional[tuple[SparseOperator, SparseOperator]] = None
        self._sizes: list[int] = []
        self._order: Optional[torch.Tensor] = None

    def __getattr__(self, name: str):  # everything but propagation: the full graph's answer
        if name == "full":
            raise AttributeError(name)
        return getattr(self.full, name)

    def __repr__(self) -> str:
        return f"ShardedGraph(rank={self.rank}/{self.world_size}, {self.full!r})"

    @property
    def device(self) -> torch.device:
        return self.full.device

    def to(self, device: torch.device | str) -> "ShardedGraph":
        if torch.device(device) == self.device:
            return self
        return ShardedGraph(self.full.to(device), self.rank, self.world_size, self.group)

    def drop_edges(self, p: float, generator: torch.Generator | None = None) -> "ShardedGraph":
        """Edge dropout on the full graph (the same draw on every rank: same seed), then re-sharded."""
        return ShardedGraph(self.full.drop_edges(p, generator), self.rank, self.world_size, self.group)

    # ------------------------------------------------------------ the blocks
    def _build(self) -> None:
        op = self.full.normalized()
        du, di = self.full.degrees()
        user_ranges = balanced_ranges((du > 0).long() + op.matrix.crow_indices().diff(), self.world_size)
        item_ranges = balanced_ranges((di > 0).long() + op.transpose.crow_indices().diff(), self.world_size)
        (u0, u1), (i0, i1) = user_ranges[self.rank], item_ranges[self.rank]
        self._blocks = (_row_block(op.matrix, u0, u1), _row_block(op.transpose, i0, i1))
        # gathered layout: [users of rank 0, items of rank 0, users of rank 1, ...]; _order puts
        # users (then items) back in id order
        self._sizes = [(ue - us) + (ie - is_) for (us, ue), (is_, ie) in zip(user_ranges, item_ranges)]
        starts = torch.cumsum(torch.tensor([0] + self._sizes[:-1]), 0).tolist()
        user_pos = [torch.arange(s, s + ue - us) for s, (us, ue) in zip(starts, user_ranges)]
        item_pos = [torch.arange(s + ue - us, s + ue - us + ie - is_) for s, (us, ue), (is_, ie) in zip(starts, user_ranges, item_ranges)]
        self._order = torch.cat(user_pos + item_pos).to(self.device)

    @property
    def local_nnz(self) -> int:
        """Non-zeros this rank multiplies per layer (both blocks)."""
        if self._blocks is None:
            self._build()
        return sum(int(b.matrix.values().numel()) for b in self._blocks)

    def propagate(self, user_x: torch.Tensor, item_x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One normalised propagation step; this rank computes its rows, the gather shares them."""
        if self._blocks is None:
            self._build()
        user_block, item_block = self._blocks
        local = torch.cat([user_block @ item_x, item_block @ user_x])
        gathered = all_gather_rows(local, self._sizes, self.rank, self.group).index_select(0, self._order)
        return gathered[: self.num_users], gathered[self.num_users :]


def _row_block(matrix: torch.Tensor, start: int, end: int) -> SparseOperator:
    """Rows ``start:end`` of a CSR matrix as a :class:`SparseOperator` (with its transpose)."""
    crow, cols, vals = matrix.crow_indices(), matrix.col_indices(), matrix.values()
    lo, hi = int(crow[start]), int(crow[end])
    rows = torch.repeat_interleave(torch.arange(end - start, device=crow.device), crow[start + 1 : end + 1] - crow[start:end])
    return SparseOperator.from_coo(rows, cols[lo:hi], vals[lo:hi], (end - start, matrix.shape[1]))
