"""spmm with the cached transpose: values and gradients against dense autograd."""

from __future__ import annotations

import pytest
import torch

from recdenoise.graph import SparseOperator, csr_tensor, spmm


def random_coo(rows: int, cols: int, density: float, seed: int, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    mask = torch.rand(rows, cols, generator=gen) < density
    r, c = mask.nonzero(as_tuple=True)
    values = torch.rand(r.numel(), generator=gen, dtype=torch.float64).to(dtype) + 0.1
    dense = torch.zeros(rows, cols, dtype=dtype)
    dense[r, c] = values
    # shuffle the triplets: csr_tensor must sort them
    perm = torch.randperm(r.numel(), generator=gen)
    return r[perm], c[perm], values[perm], dense


@pytest.mark.parametrize("shape", [(5, 7), (12, 3), (1, 9)])
def test_csr_tensor_from_unsorted_triplets(shape):
    r, c, v, dense = random_coo(*shape, 0.4, 0)
    mat = csr_tensor(r, c, v, shape)
    assert mat.layout == torch.sparse_csr
    assert tuple(mat.shape) == shape
    torch.testing.assert_close(mat.to_dense(), dense)


@pytest.mark.parametrize("shape,dim,density", [((6, 8), 4, 0.3), ((10, 4), 1, 0.6), ((7, 7), 16, 0.1)])
def test_spmm_forward_and_gradient_match_dense(shape, dim, density):
    r, c, v, dense = random_coo(*shape, density, 1)
    op = SparseOperator.from_coo(r, c, v, shape)
    torch.testing.assert_close(op.transpose.to_dense(), dense.T)
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(shape[1], dim, generator=gen, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_(True)
    weight = torch.randn(shape[0], dim, generator=gen)

    out = spmm(op, x)
    ref = dense @ x_ref
    torch.testing.assert_close(out, ref)
    (out * weight).sum().backward()
    (ref * weight).sum().backward()
    torch.testing.assert_close(x.grad, x_ref.grad)

    # the transposed operator, and its gradient through `op.T @ y`
    y = torch.randn(shape[0], dim, generator=gen, requires_grad=True)
    y_ref = y.detach().clone().requires_grad_(True)
    out_t, ref_t = op.T @ y, dense.T @ y_ref
    torch.testing.assert_close(out_t, ref_t)
    out_t.pow(2).sum().backward()
    ref_t.pow(2).sum().backward()
    torch.testing.assert_close(y.grad, y_ref.grad)


def test_spmm_gradcheck_double():
    r, c, v, _ = random_coo(5, 6, 0.5, 3, dtype=torch.float64)
    op = SparseOperator.from_coo(r, c, v, (5, 6))
    x = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: spmm(op, t), (x,))


def test_spmm_two_layers_backprop():
    """Stacked products (as in LightGCN) back-propagate through both layers."""
    r, c, v, dense = random_coo(6, 6, 0.5, 4)
    op = SparseOperator.from_coo(r, c, v, (6, 6))
    x = torch.randn(6, 3, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_(True)
    (op @ (op @ x)).sum().backward()
    (dense @ (dense @ x_ref)).sum().backward()
    torch.testing.assert_close(x.grad, x_ref.grad)


def test_spmm_without_grad_and_properties():
    r, c, v, dense = random_coo(4, 5, 0.5, 5)
    op = SparseOperator.from_coo(r, c, v, (4, 5))
    x = torch.randn(5, 2)
    out = spmm(op, x)
    assert not out.requires_grad
    torch.testing.assert_close(out, dense @ x)
    assert op.shape == (4, 5) and op.T.shape == (5, 4)
    assert op.device == torch.device("cpu")
    assert op.to("cpu").shape == (4, 5)


@pytest.mark.gpu
def test_spmm_on_cuda_matches_cpu():
    r, c, v, dense = random_coo(30, 20, 0.2, 6)
    op = SparseOperator.from_coo(r, c, v, (30, 20)).to("cuda")
    x = torch.randn(20, 8, requires_grad=True)
    xc = x.detach().cuda().requires_grad_(True)
    out = spmm(op, xc)
    torch.testing.assert_close(out.cpu(), dense @ x.detach(), rtol=1e-5, atol=1e-6)
    out.sum().backward()
    (dense @ x).sum().backward()
    torch.testing.assert_close(xc.grad.cpu(), x.grad, rtol=1e-5, atol=1e-6)
