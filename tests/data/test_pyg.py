"""PyG interop: Interactions <-> HeteroData / edge_index, checked against real PyG objects."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recdenoise.data import Interactions
from recdenoise.data.csr import expand_rows, row_pointers
from recdenoise.data.pyg import EDGE_TYPE, REVERSE_EDGE_TYPE, from_pyg
from recdenoise.errors import DataError

pyg = pytest.importorskip("torch_geometric")
from torch_geometric.data import HeteroData  # noqa: E402
from torch_geometric.transforms import ToUndirected  # noqa: E402


def _interactions(num_users: int = 7, num_items: int = 9, ratings: bool = True) -> Interactions:
    rng = np.random.default_rng(0)
    keys = np.unique(rng.integers(0, num_users * num_items, 25))
    n = keys.size
    extra = dict(ratings=rng.integers(1, 6, n).astype(np.float32), timestamps=rng.integers(0, 10**9, n)) if ratings else {}
    return Interactions(keys // num_items, keys % num_items, num_users, num_items, **extra)


@pytest.mark.parametrize("ratings", [True, False])
def test_round_trip(ratings: bool) -> None:
    x = _interactions(ratings=ratings)
    data = x.to_pyg()
    assert isinstance(data, HeteroData)
    assert data["user"].num_nodes == 7 and data["item"].num_nodes == 9
    assert torch.equal(data[EDGE_TYPE].edge_index, torch.stack([torch.from_numpy(x.users), torch.from_numpy(x.items)]))
    assert torch.equal(data[REVERSE_EDGE_TYPE].edge_index, data[EDGE_TYPE].edge_index.flip(0))
    assert ("rating" in data[EDGE_TYPE]) is ratings
    back = Interactions.from_pyg(data)
    assert back.shape == x.shape and back.checksum() == x.checksum()
    if ratings:
        assert np.array_equal(back.ratings, x.ratings) and np.array_equal(back.timestamps, x.timestamps)


def test_hand_built_hetero_data() -> None:
    data = HeteroData()
    data["user"].num_nodes = 4
    data["item"].num_nodes = 5
    data["user", "rates", "item"].edge_index = torch.tensor([[3, 0, 0, 2], [4, 1, 0, 1]])
    data["user", "rates", "item"].rating = torch.tensor([[5.0], [4.0], [3.0], [1.0]])  # [E, 1] as PyG stores it
    x = Interactions.from_pyg(data)
    assert x.shape == (4, 5) and x.users.tolist() == [0, 0, 2, 3] and x.items.tolist() == [0, 1, 1, 4]
    assert x.ratings.tolist() == [3.0, 4.0, 1.0, 5.0] and x.timestamps is None


def test_to_undirected_works_on_our_output() -> None:
    x = _interactions()
    data = ToUndirected()(x.to_pyg())
    assert data.validate()
    reverse = data["item", "rev_rates", "user"]
    assert torch.equal(reverse.edge_index, data[EDGE_TYPE].edge_index.flip(0))
    assert torch.equal(reverse.rating, data[EDGE_TYPE].rating)
    assert Interactions.from_pyg(data).checksum() == x.checksum()


def test_other_edge_type_names_and_wrong_edge_type() -> None:
    data = HeteroData()
    data["user"].num_nodes = 3
    data["movie"].num_nodes = 4
    data["user", "rates", "movie"].edge_index = torch.tensor([[0, 2], [3, 1]])
    with pytest.raises(DataError, match=r"no \('user', 'rates', 'item'\) edges; its edge types are \[\('user', 'rates', 'movie'\)\]"):
        from_pyg(data)
    x = from_pyg(data, edge_type=("user", "rates", "movie"))
    assert x.shape == (3, 4) and len(x) == 2
    with pytest.raises(DataError, match="HeteroData or an edge_index"):
        from_pyg({"edge_index": torch.zeros(2, 1)})


def test_plain_edge_index() -> None:
    edge_index = torch.tensor([[0, 1, 1, 0], [2, 0, 0, 2]])  # duplicates are merged
    x = Interactions.from_pyg(edge_index, num_users=3, num_items=4)
    assert x.shape == (3, 4) and x.users.tolist() == [0, 1] and x.items.tolist() == [2, 0]
    assert Interactions.from_pyg(edge_index).shape == (2, 3)
    with pytest.raises(DataError, match=r"shape \[2, E\]"):
        from_pyg(torch.zeros(3, 2, dtype=torch.long))
    with pytest.raises(DataError, match="out of range"):
        from_pyg(edge_index, num_users=1, num_items=4)


def test_missing_pyg_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "torch_geometric.data", None)
    with pytest.raises(ImportError, match=r"pip install 'recdenoise\[pyg\]'"):
        _interactions().to_pyg()


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_csr_helpers(kind: str) -> None:
    rows = [0, 0, 2, 2, 2, 3]
    counts = [2, 0, 3, 1]
    as_ = (lambda v: np.array(v, dtype=np.int64)) if kind == "numpy" else (lambda v: torch.tensor(v))
    indptr = row_pointers(as_(rows), 4)
    assert type(indptr) is type(as_(rows)) and list(indptr.tolist()) == [0, 2, 2, 5, 6]
    assert expand_rows(as_(counts)).tolist() == rows
