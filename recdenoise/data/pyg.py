"""PyTorch Geometric interop: the one place (user, item) pairs become PyG graphs and back.

Two PyG conventions are supported:

- ``edge_index``: a ``LongTensor [2, E]`` of (user index, item index) rows, or PyG's LightGCN
  input (``homogeneous=True``): ``[2, 2E]`` undirected over ``U + I`` nodes, items offset by ``U``;
- :class:`torch_geometric.data.HeteroData` with node types ``"user"`` / ``"item"``, the edge
  type ``("user", "rates", "item")`` (its ``edge_index`` and, when known, ``rating`` and
  ``time`` per edge, the attribute names of PyG's MovieLens datasets) and the reverse
  ``("item", "rated_by", "user")``.

:meth:`Interactions.to_pyg` / :meth:`Interactions.from_pyg` and
:class:`~recdenoise.graph.BipartiteGraph`'s edge-index methods all call these functions.
``torch_geometric`` is optional (``pip install 'recdenoise[pyg]'``) and imported only here,
inside the functions that build or read a ``HeteroData``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    from .interactions import Interactions

__all__ = ["EDGE_TYPE", "REVERSE_EDGE_TYPE", "edge_index_to_pairs", "pairs_to_edge_index", "from_pyg", "to_pyg"]

EDGE_TYPE = ("user", "rates", "item")
REVERSE_EDGE_TYPE = ("item", "rated_by", "user")


def _hetero_data_class() -> type:
    try:
        from torch_geometric.data import HeteroData
    except ImportError as exc:
        raise ImportError(
            "PyG interop needs torch-geometric, which is optional: pip install 'recdenoise[pyg]'"
        ) from exc
    return HeteroData


# ------------------------------------------------------------------ edge_index
def pairs_to_edge_index(users: torch.Tensor, items: torch.Tensor, num_users: int, homogeneous: bool = False) -> torch.Tensor:
    """PyG ``edge_index`` of (user, item) pairs.

    Shapes:
        users, items: ``long [E]``; returns ``[2, E]`` (user, item) rows, or with
        ``homogeneous=True`` ``[2, 2E]`` both directions over ``U + I`` nodes (items offset by ``U``).
    """
    if not homogeneous:
        return torch.stack([users, items])
    items = items + num_users
    return torch.stack([torch.cat([users, items]), torch.cat([items, users])])


def edge_index_to_pairs(
    edge_index: torch.Tensor, num_users: int, num_items: int, homogeneous: bool = False, merge: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inverse of :func:`pairs_to_edge_index`: ``(users, items)`` on ``edge_index``'s device.

    With ``homogeneous=True`` either direction (or both) may be present; user-user and
    item-item edges are ignored. ``merge`` drops duplicate pairs and sorts them by (user, item).

    Raises:
        DataError: ``edge_index`` is not ``[2, E]``.
    """
    if edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise DataError(f"edge_index must have shape [2, E], got {list(edge_index.shape)}")
    src, dst = edge_index.long()
    if homogeneous:
        fwd = (src < num_users) & (dst >= num_users)
        bwd = (dst < num_users) & (src >= num_users)
        src, dst = torch.cat([src[fwd], dst[bwd]]), torch.cat([dst[fwd], src[bwd]]) - num_users
    if not merge:
        return src, dst
    key = torch.unique(src * max(num_items, 1) + dst)
    return key // max(num_items, 1), key % max(num_items, 1)


# ------------------------------------------------------------------ HeteroData
def to_pyg(interactions: Interactions) -> Any:
    """A :class:`torch_geometric.data.HeteroData` holding ``interactions``.

    ``data["user"].num_nodes = U``, ``data["item"].num_nodes = I``,
    ``data["user", "rates", "item"].edge_index`` (``[2, N]``, plus ``rating`` ``float [N]`` and
    ``time`` ``long [N]`` when known) and ``data["item", "rated_by", "user"].edge_index``.
    """
    data = _hetero_data_class()()
    data["user"].num_nodes = interactions.num_users
    data["item"].num_nodes = interactions.num_items
    edge_index = pairs_to_edge_index(torch.from_numpy(interactions.users), torch.from_numpy(interactions.items), 0)
    data[EDGE_TYPE].edge_index = edge_index
    if interactions.ratings is not None:
        data[EDGE_TYPE].rating = torch.from_numpy(interactions.ratings)
    if interactions.timestamps is not None:
        data[EDGE_TYPE].time = torch.from_numpy(interactions.timestamps)
    data[REVERSE_EDGE_TYPE].edge_index = edge_index.flip(0)
    return data


def from_pyg(
    data: Any,
    num_users: int | None = None,
    num_items: int | None = None,
    *,
    edge_type: tuple[str, str, str] = EDGE_TYPE,
    rating_attr: str | None = "rating",
    time_attr: str | None = "time",
) -> Interactions:
    """:class:`Interactions` from a PyG ``HeteroData`` or a plain ``edge_index``.

    Args:
        data: a ``HeteroData`` with ``edge_type`` edges, or a ``LongTensor [2, E]`` of
            (user index, item index) rows.
        num_users, num_items: the id space; default: the node types' ``num_nodes``, else
            the largest index + 1.
        edge_type: the (user, relation, item) edge type to read.
        rating_attr, time_attr: per-edge attributes read as ratings / timestamps when present
            (``None``: ignore). Without them duplicate edges are merged; with them a
            duplicate is a :class:`DataError`.

    Raises:
        DataError: a wrong edge type (the message lists the graph's), a bad shape, or an
            index outside the id space.
    """
    from .interactions import Interactions  # interactions.py calls this module from its methods

    columns: dict[str, np.ndarray] = {}
    if isinstance(data, torch.Tensor):
        edge_index = data
    else:
        edge_index, columns, num_users, num_items = _read_hetero(data, edge_type, rating_attr, time_attr, num_users, num_items)
    users, items = edge_index_to_pairs(edge_index, 0, 0, merge=False)
    users, items = users.cpu().numpy(), items.cpu().numpy()
    num_users = int(users.max(initial=-1)) + 1 if num_users is None else int(num_users)
    num_items = int(items.max(initial=-1)) + 1 if num_items is None else int(num_items)
    if not columns:
        key = np.unique(users * max(num_items, 1) + items)
        users, items = key // max(num_items, 1), key % max(num_items, 1)
    return Interactions(users, items, num_users, num_items, **columns)


def _read_hetero(
    data: Any,
    edge_type: tuple[str, str, str],
    rating_attr: str | None,
    time_attr: str | None,
    num_users: int | None,
    num_items: int | None,
) -> tuple[torch.Tensor, dict[str, np.ndarray], int | None, int | None]:
    """``(edge_index, {ratings, timestamps}, num_users, num_items)`` of a ``HeteroData``."""
    hetero_data = _hetero_data_class()
    if not isinstance(data, hetero_data):
        raise DataError(f"expected a torch_geometric HeteroData or an edge_index tensor, got {type(data).__name__}")
    edge_type = tuple(edge_type)
    if edge_type not in data.edge_types:
        raise DataError(
            f"the HeteroData has no {edge_type} edges; its edge types are {data.edge_types} "
            "(pass edge_type=(user_type, relation, item_type))"
        )
    store = data[edge_type]
    if "edge_index" not in store:
        raise DataError(f"the {edge_type} edges of the HeteroData have no edge_index")
    src_type, _, dst_type = edge_type
    if num_users is None and "num_nodes" in data[src_type]:
        num_users = data[src_type].num_nodes
    if num_items is None and "num_nodes" in data[dst_type]:
        num_items = data[dst_type].num_nodes
    columns = {}
    for attr, column in ((rating_attr, "ratings"), (time_attr, "timestamps")):
        if attr is not None and attr in store:
            columns[column] = store[attr].detach().cpu().numpy().reshape(-1)
    return store.edge_index, columns, num_users, num_items
