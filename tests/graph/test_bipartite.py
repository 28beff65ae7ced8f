"""BipartiteGraph: normalisation against the dense formula, propagation, edge edits,
edge_index interop, and LightGCN parity with PyTorch Geometric."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recdenoise.data import Interactions
from recdenoise.errors import ConfigError, DataError
from recdenoise.graph import BipartiteGraph
from recdenoise.models import LightGCN


def random_edges(num_users: int, num_items: int, density: float, seed: int, isolated: bool = True):
    """Random unique edges; with ``isolated`` the last user and last item get no edge."""
    rng = np.random.default_rng(seed)
    mask = rng.random((num_users, num_items)) < density
    if isolated:
        mask[-1, :] = False
        mask[:, -1] = False
    users, items = np.nonzero(mask)
    return users.astype(np.int64), items.astype(np.int64)


def dense_normalized(users: np.ndarray, items: np.ndarray, num_users: int, num_items: int) -> np.ndarray:
    """:math:`D^{-1/2} A D^{-1/2}` of the (U+I)^2 bipartite adjacency, 0 rows/cols for isolated nodes."""
    n = num_users + num_items
    adj = np.zeros((n, n))
    adj[users, items + num_users] = 1.0
    adj[items + num_users, users] = 1.0
    deg = adj.sum(1)
    with np.errstate(divide="ignore"):
        inv = np.where(deg > 0, deg**-0.5, 0.0)
    return inv[:, None] * adj * inv[None, :]


def make_graph(num_users=6, num_items=9, density=0.35, seed=0, isolated=True) -> BipartiteGraph:
    users, items = random_edges(num_users, num_items, density, seed, isolated)
    return BipartiteGraph(torch.from_numpy(users), torch.from_numpy(items), num_users, num_items)


# ------------------------------------------------------------ normalisation
@pytest.mark.parametrize("num_users,num_items,density,seed", [(4, 5, 0.5, 0), (7, 11, 0.3, 1), (13, 6, 0.6, 2)])
def test_normalized_adjacency_equals_dense_formula(num_users, num_items, density, seed):
    users, items = random_edges(num_users, num_items, density, seed, isolated=True)
    graph = BipartiteGraph(torch.from_numpy(users), torch.from_numpy(items), num_users, num_items)
    expected = dense_normalized(users, items, num_users, num_items)
    full = graph.normalized_adjacency().to_dense().double().numpy()
    np.testing.assert_allclose(full, expected, rtol=1e-6, atol=1e-7)
    # the U x I block and its stored transpose
    op = graph.normalized()
    block = expected[:num_users, num_users:]
    np.testing.assert_allclose(op.matrix.to_dense().double().numpy(), block, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(op.transpose.to_dense().double().numpy(), block.T, rtol=1e-6, atol=1e-7)
    # isolated user / item rows are exactly zero (no NaN from 0^-1/2)
    assert np.isfinite(full).all()
    assert not full[num_users - 1].any() and not full[-1].any()


def test_normalized_is_cached():
    graph = make_graph()
    assert graph.normalized() is graph.normalized()


def test_weighted_edges_and_duplicates_merge():
    users = torch.tensor([0, 0, 1, 0])
    items = torch.tensor([1, 2, 2, 1])
    graph = BipartiteGraph(users, items, 2, 3, weights=torch.tensor([1.0, 2.0, 3.0, 4.0]))
    assert graph.num_edges == 3
    assert graph.users.tolist() == [0, 0, 1] and graph.items.tolist() == [1, 2, 2]
    assert graph.weights.tolist() == [5.0, 2.0, 3.0]
    du, di = graph.degrees()
    assert du.tolist() == [7.0, 3.0] and di.tolist() == [0.0, 5.0, 5.0]


def test_constructor_rejects_bad_indices():
    with pytest.raises(DataError, match="user index"):
        BipartiteGraph(torch.tensor([0, 3]), torch.tensor([0, 1]), 3, 2)
    with pytest.raises(DataError, match="item index"):
        BipartiteGraph(torch.tensor([0, 1]), torch.tensor([0, -1]), 3, 2)
    with pytest.raises(DataError, match="equal length"):
        BipartiteGraph(torch.tensor([0, 1]), torch.tensor([0]), 3, 2)


# -------------------------------------------------------------- propagation
@pytest.mark.parametrize("dim", [1, 5])
def test_propagate_equals_dense_multiplication(dim):
    num_users, num_items = 6, 9
    users, items = random_edges(num_users, num_items, 0.4, 3)
    graph = BipartiteGraph(torch.from_numpy(users), torch.from_numpy(items), num_users, num_items)
    gen = torch.Generator().manual_seed(0)
    xu = torch.randn(num_users, dim, generator=gen, dtype=torch.float32)
    xi = torch.randn(num_items, dim, generator=gen, dtype=torch.float32)
    yu, yi = graph.propagate(xu, xi)
    full = torch.from_numpy(dense_normalized(users, items, num_users, num_items)).float()
    expected = full @ torch.cat([xu, xi])
    torch.testing.assert_close(yu, expected[:num_users])
    torch.testing.assert_close(yi, expected[num_users:])


def test_empty_graph_propagates_zeros():
    graph = BipartiteGraph(torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long), 3, 4)
    yu, yi = graph.propagate(torch.ones(3, 2), torch.ones(4, 2))
    assert yu.abs().sum() == 0 and yi.abs().sum() == 0


# ------------------------------------------------------------- edge edits
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_drop_edges_keeps_about_one_minus_p(p):
    graph = make_graph(60, 80, 0.3, seed=4, isolated=False)
    users_before, items_before = graph.users.clone(), graph.items.clone()
    dropped = graph.drop_edges(p, torch.Generator().manual_seed(7))
    again = graph.drop_edges(p, torch.Generator().manual_seed(7))
    other = graph.drop_edges(p, torch.Generator().manual_seed(8))
    n = graph.num_edges
    kept = dropped.num_edges / n
    assert abs(kept - (1 - p)) < 4 * np.sqrt(p * (1 - p) / n)
    assert dropped is not graph
    # deterministic under a seed, different under another
    assert torch.equal(dropped.users, again.users) and torch.equal(dropped.items, again.items)
    assert not (torch.equal(dropped.users, other.users) and torch.equal(dropped.items, other.items))
    # the original is untouched, the new graph is a subset with its own normalisation
    assert torch.equal(graph.users, users_before) and torch.equal(graph.items, items_before)
    assert graph.has_edges(dropped.users, dropped.items).all()
    d_users, d_items = dropped.users.numpy(), dropped.items.numpy()
    expected = dense_normalized(d_users, d_items, graph.num_users, graph.num_items)
    np.testing.assert_allclose(dropped.normalized_adjacency().to_dense().numpy(), expected, rtol=1e-5, atol=1e-7)


def test_drop_edges_zero_and_bad_p():
    graph = make_graph()
    assert graph.drop_edges(0.0) is graph
    for p in (-0.1, 1.0, 1.5):
        with pytest.raises(ConfigError, match="edge dropout"):
            graph.drop_edges(p)


def test_add_remove_has_edges():
    graph = BipartiteGraph(torch.tensor([0, 1, 2]), torch.tensor([0, 1, 2]), 3, 4)
    assert graph.has_edges(torch.tensor([0, 1, 2, 0, 2]), torch.tensor([0, 1, 2, 1, 3])).tolist() == [
        True, True, True, False, False,
    ]
    added = graph.add_edges(torch.tensor([0, 2, 0]), torch.tensor([3, 3, 0]))
    assert graph.num_edges == 3  # immutable
    assert added.num_edges == 5
    assert added.has_edges(torch.tensor([0, 2, 0]), torch.tensor([3, 3, 0])).all()
    assert added.weights[(added.users == 0) & (added.items == 0)].item() == 2.0  # merged
    removed = added.remove_edges(torch.tensor([0, 1, 2]), torch.tensor([0, 3, 3]))  # (1, 3) absent: ignored
    assert removed.num_edges == 3
    assert not removed.has_edges(torch.tensor([0, 2]), torch.tensor([0, 3])).any()
    assert removed.has_edges(torch.tensor([1, 2, 0]), torch.tensor([1, 2, 3])).all()
    # the normalisation follows the edit
    expected = dense_normalized(removed.users.numpy(), removed.items.numpy(), 3, 4)
    np.testing.assert_allclose(removed.normalized_adjacency().to_dense().numpy(), expected, rtol=1e-6)


def test_has_edges_on_empty_graph():
    graph = BipartiteGraph(torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long), 2, 2)
    assert not graph.has_edges(torch.tensor([0, 1]), torch.tensor([1, 0])).any()


def test_csr_rows_matches_scipy():
    users, items = random_edges(7, 5, 0.5, 9)
    x = Interactions(users, items, 7, 5)
    graph = BipartiteGraph.from_interactions(x)
    indptr, indices = graph.csr_rows()
    np.testing.assert_array_equal(indptr.numpy(), x.csr.indptr)
    np.testing.assert_array_equal(indices.numpy(), x.csr.indices)


# -------------------------------------------------------------- interop
def test_edge_index_round_trip_with_interactions():
    users, items = random_edges(8, 10, 0.3, 5)
    x = Interactions(users, items, 8, 10)
    graph = BipartiteGraph.from_interactions(x)
    ei = graph.to_edge_index(homogeneous=True)
    assert torch.equal(ei, x.to_edge_index(homogeneous=True))
    assert torch.equal(graph.to_edge_index(homogeneous=False), x.to_edge_index(homogeneous=False))
    back = BipartiteGraph.from_edge_index(ei, 8, 10, homogeneous=True)
    assert torch.equal(back.users, graph.users) and torch.equal(back.items, graph.items)
    assert Interactions.from_edge_index(ei, 8, 10, homogeneous=True).checksum() == x.checksum()
    assert graph.to_interactions(like=x).checksum() == x.checksum()
    plain = BipartiteGraph.from_edge_index(x.to_edge_index(), 8, 10, homogeneous=False)
    assert torch.equal(plain.users, graph.users) and torch.equal(plain.items, graph.items)


@pytest.mark.parametrize("direction", ["user_to_item", "item_to_user", "coalesced"])
def test_from_edge_index_accepts_pyg_conventions(direction):
    from torch_geometric.utils import coalesce, to_undirected

    users, items = random_edges(6, 7, 0.4, 6)
    x = Interactions(users, items, 6, 7)
    fwd = torch.stack([torch.from_numpy(users), torch.from_numpy(items) + 6])
    if direction == "user_to_item":
        ei = fwd
    elif direction == "item_to_user":
        ei = fwd.flip(0)
    else:  # PyG's own undirected, coalesced (sorted by source node) form
        ei = coalesce(to_undirected(fwd, num_nodes=13), num_nodes=13)
    graph = BipartiteGraph.from_edge_index(ei, 6, 7, homogeneous=True)
    assert graph.to_interactions().checksum() == x.checksum()


def test_from_edge_index_rejects_bad_shape():
    with pytest.raises(DataError, match=r"\[2, E\]"):
        BipartiteGraph.from_edge_index(torch.zeros(3, 4, dtype=torch.long), 2, 2)


@pytest.mark.parametrize("num_layers", [0, 1, 3])
@pytest.mark.parametrize("alpha", [None, "custom"])
def test_lightgcn_matches_pyg_get_embedding(num_layers, alpha):
    """Key interop test: same initial weights and alpha => same final embeddings as PyG."""
    from torch_geometric.nn.models import LightGCN as PygLightGCN

    num_users, num_items, dim = 9, 12, 8
    users, items = random_edges(num_users, num_items, 0.3, 11, isolated=True)
    graph = BipartiteGraph(torch.from_numpy(users), torch.from_numpy(items), num_users, num_items)
    alpha_list = None if alpha is None else [0.5 ** (k + 1) for k in range(num_layers + 1)]
    torch.manual_seed(0)
    ours = LightGCN(num_users, num_items, dim, num_layers, alpha=alpha_list)
    pyg = PygLightGCN(num_users + num_items, dim, num_layers, alpha=None if alpha is None else torch.tensor(alpha_list))
    with torch.no_grad():  # PyG: one table, items offset by U
        pyg.embedding.weight.copy_(torch.cat([ours.user_embedding.weight, ours.item_embedding.weight]))
    user_emb, item_emb = ours(graph)
    out = pyg.get_embedding(graph.to_edge_index(homogeneous=True))
    torch.testing.assert_close(user_emb, out[:num_users], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(item_emb, out[num_users:], rtol=1e-5, atol=1e-6)
    # PyG on our precomputed normalised CSR adjacency (normalize=False) agrees as well
    pyg_csr = PygLightGCN(num_users + num_items, dim, num_layers, normalize=False)
    pyg_csr.load_state_dict(pyg.state_dict())
    out_csr = pyg_csr.get_embedding(graph.normalized_adjacency())
    torch.testing.assert_close(out_csr, out, rtol=1e-5, atol=1e-6)
    # and gradients w.r.t. the initial embeddings agree
    (user_emb.square().sum() + item_emb.sin().sum()).backward()
    (out[:num_users].square().sum() + out[num_users:].sin().sum()).backward()
    ours_grad = torch.cat([ours.user_embedding.weight.grad, ours.item_embedding.weight.grad])
    torch.testing.assert_close(ours_grad, pyg.embedding.weight.grad, rtol=1e-5, atol=1e-6)


def test_to_device_returns_self_on_same_device():
    graph = make_graph()
    assert graph.to("cpu") is graph


@pytest.mark.gpu
def test_graph_ops_on_cuda_match_cpu():
    graph = make_graph(30, 40, 0.2, seed=2)
    gen = torch.Generator().manual_seed(0)
    xu, xi = torch.randn(30, 8, generator=gen), torch.randn(40, 8, generator=gen)
    cpu_u, cpu_i = graph.propagate(xu, xi)
    cuda = graph.to("cuda")
    assert cuda.device.type == "cuda"
    gpu_u, gpu_i = cuda.propagate(xu.cuda(), xi.cuda())
    torch.testing.assert_close(gpu_u.cpu(), cpu_u, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(gpu_i.cpu(), cpu_i, rtol=1e-5, atol=1e-6)
    # a graph built on cuda directly normalises identically
    direct = BipartiteGraph(graph.users.cuda(), graph.items.cuda(), 30, 40)
    torch.testing.assert_close(direct.normalized_adjacency().to_dense().cpu(), graph.normalized_adjacency().to_dense())
    dropped = cuda.drop_edges(0.5, torch.Generator(device="cuda").manual_seed(1))
    assert dropped.device.type == "cuda" and 0 < dropped.num_edges < graph.num_edges
    assert cuda.has_edges(dropped.users, dropped.items).all()
    assert cuda.remove_edges(dropped.users, dropped.items).num_edges == graph.num_edges - dropped.num_edges
