"""Sparse matrix helpers: CSR construction and a sparse-dense product with a cached transpose.

``torch.sparse.mm`` on a CSR matrix runs MKL/cuSPARSE kernels, but its backward builds the
transpose of the sparse matrix on every call. A bipartite graph has the transpose for free
(the item-to-user block), so :class:`SparseOperator` keeps both and :func:`spmm` uses the
stored transpose in the backward pass.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch

__all__ = ["SparseOperator", "spmm", "csr_tensor"]


def csr_tensor(
    rows: torch.Tensor, cols: torch.Tensor, values: torch.Tensor, shape: tuple[int, int]
) -> torch.Tensor:
    """A ``torch.sparse_csr`` tensor from COO triplets (duplicates are not allowed).

    Shapes:
        rows, cols, values: ``[E]``; returns ``[shape[0], shape[1]]``.
    """
    order = torch.argsort(rows * shape[1] + cols)
    rows, cols, values = rows[order], cols[order], values[order]
    crow = torch.zeros(shape[0] + 1, dtype=torch.int64, device=rows.device)
    crow[1:] = torch.cumsum(torch.bincount(rows, minlength=shape[0]), 0)
    with warnings.catch_warnings():
        # "Sparse CSR tensor support is in beta": the ops we use (mm, to) are stable.
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, cols, values, size=shape)


@dataclass(frozen=True)
class SparseOperator:
    """A sparse matrix ``A`` together with ``A^T``, both CSR, on one device.

    Shapes:
        matrix: ``[M, N]``; transpose: ``[N, M]``.
    """

    matrix: torch.Tensor
    transpose: torch.Tensor

    @classmethod
    def from_coo(
        cls, rows: torch.Tensor, cols: torch.Tensor, values: torch.Tensor, shape: tuple[int, int]
    ) -> "SparseOperator":
        return cls(csr_tensor(rows, cols, values, shape), csr_tensor(cols, rows, values, (shape[1], shape[0])))

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.matrix.shape)

    @property
    def device(self) -> torch.device:
        return self.matrix.device

    def to(self, device: torch.device | str) -> "SparseOperator":
        return SparseOperator(self.matrix.to(device), self.transpose.to(device))

    @property
    def T(self) -> "SparseOperator":
        return SparseOperator(self.transpose, self.matrix)

    def __matmul__(self, dense: torch.Tensor) -> torch.Tensor:
        return spmm(self, dense)


class _SpMM(torch.autograd.Function):
    @staticmethod
    def forward(ctx, matrix: torch.Tensor, transpose: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
        ctx.transpose = transpose
        return torch.sparse.mm(matrix, dense)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        grad_dense = torch.sparse.mm(ctx.transpose, grad_out) if ctx.needs_input_grad[2] else None
        return None, None, grad_dense


def spmm(op: SparseOperator, dense: torch.Tensor) -> torch.Tensor:
    """``A @ X`` with a backward pass that reuses the stored ``A^T`` (no transpose per step).

    Gradients flow to ``dense`` only (the graph's values are constants).

    Shapes:
        op: ``[M, N]``; dense: ``[N, D]``; returns ``[M, D]``.
    """
    if dense.requires_grad:
        return _SpMM.apply(op.matrix, op.transpose, dense)
    return torch.sparse.mm(op.matrix, dense)
