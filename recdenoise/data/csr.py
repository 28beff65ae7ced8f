"""Users-as-rows CSR bookkeeping shared by data and graph (numpy arrays or torch tensors).

A row-sorted list of ``N`` entries with row index ``rows`` and the CSR row pointer
``indptr`` describe the same thing; these two functions convert between them, on any
device, without a per-row Python loop.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

__all__ = ["row_pointers", "expand_rows"]

Array = TypeVar("Array", np.ndarray, torch.Tensor)


def row_pointers(rows: Array, num_rows: int) -> Array:
    """CSR ``indptr`` of row-sorted entries: ``indptr[r + 1] - indptr[r]`` entries are in row ``r``.

    Shapes:
        rows: ``int64 [N]`` (sorted); returns ``int64 [R + 1]``, same kind and device as ``rows``.
    """
    if isinstance(rows, torch.Tensor):
        indptr = torch.zeros(num_rows + 1, dtype=torch.long, device=rows.device)
        indptr[1:] = torch.cumsum(torch.bincount(rows, minlength=num_rows), 0)
        return indptr
    indptr = np.zeros(num_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=num_rows), out=indptr[1:])
    return indptr


def expand_rows(counts: Array) -> Array:
    """Row index of every entry, from the entries per row (``indptr.diff()`` of a CSR matrix).

    ``expand_rows([2, 0, 1]) == [0, 0, 2]``.

    Shapes:
        counts: ``int64 [R]``; returns ``int64 [sum(counts)]``, same kind and device as ``counts``.
    """
    if isinstance(counts, torch.Tensor):
        return torch.repeat_interleave(torch.arange(counts.numel(), device=counts.device), counts)
    return np.repeat(np.arange(counts.shape[0]), counts)
