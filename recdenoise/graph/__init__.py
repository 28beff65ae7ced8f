"""Graph: the user-item bipartite graph, its normalised adjacency, propagation, edge edits."""

from .bipartite import BipartiteGraph
from .sparse import SparseOperator, csr_tensor, spmm

__all__ = ["BipartiteGraph", "SparseOperator", "csr_tensor", "spmm"]
