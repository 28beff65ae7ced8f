"""NBPO objective: likelihood, gradients, reference surrogate, numerical stability."""

from __future__ import annotations

import pytest
import torch

from recdenoise.losses import NBPOObjective, nbpo_log_likelihood
from recdenoise.models import MF
from recdenoise.samplers import TripletBatch


@pytest.fixture(autouse=True)
def float64():
    """Gradient checks in double precision; restored after each test (never at import time)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _naive_nll(r_i, g_i, r_j, g_j):
    R_i, G_i, R_j, G_j = map(torch.sigmoid, (r_i, g_i, r_j, g_j))
    return -(torch.log(R_i * (1 - G_i)) + torch.log((1 - R_j) + R_j * G_j).mean(-1))


def _tiny():
    """2 users, 4 items, MF backbone; batch of 2 positives with 3 unvoted items each."""
    torch.manual_seed(0)
    model = MF(2, 4, embedding_dim=3).double()
    objective = NBPOObjective(2, 4, flip_dim=2, reg_weight=0.0, flip_reg_weight=0.0, likelihood="exact").double()
    with torch.no_grad():  # moderate flip rates so both terms matter
        objective.user_flip.weight.normal_(0, 0.7)
        objective.item_flip.weight.normal_(0, 0.7)
    batch = TripletBatch(torch.tensor([0, 1]), torch.tensor([0, 1]), torch.tensor([[1, 2, 3], [0, 2, 3]]))
    return model, objective, batch


def test_likelihood_values():
    r_i, g_i = torch.tensor([0.3, -1.2]), torch.tensor([-0.5, 2.0])
    r_j, g_j = torch.tensor([[0.1, 2.0], [-3.0, 0.0]]), torch.tensor([[1.0, -2.0], [0.5, 0.3]])
    log_pos, log_neg = nbpo_log_likelihood(r_i, g_i, r_j, g_j)
    R_i, G_i, R_j, G_j = map(torch.sigmoid, (r_i, g_i, r_j, g_j))
    torch.testing.assert_close(log_pos.exp(), R_i * (1 - G_i))
    torch.testing.assert_close(log_neg.exp(), (1 - R_j) + R_j * G_j)


def test_gradients_match_written_out_likelihood():
    model, objective, batch = _tiny()
    user_emb, item_emb = model(None)
    out = objective(model, user_emb, item_emb, batch, step=0)
    params = list(model.parameters()) + list(objective.parameters())
    grads = torch.autograd.grad(out.loss, params)

    u = model(None)[0][batch.users]
    items = model(None)[1]
    r_i = (u * items[batch.pos_items]).sum(-1)
    r_j = (u.unsqueeze(1) * items[batch.neg_items]).sum(-1)
    g_i = objective.flip_logits(batch.users, batch.pos_items)
    g_j = objective.flip_logits(batch.users.unsqueeze(1), batch.neg_items)
    expected = torch.autograd.grad(_naive_nll(r_i, g_i, r_j, g_j).mean(), params)
    for a, b in zip(grads, expected):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(out.per_example, _naive_nll(r_i, g_i, r_j, g_j).detach())


def test_gradcheck_finite_differences():
    model, objective, batch = _tiny()

    def f(user_w, item_w, p, q):
        log_pos, log_neg = nbpo_log_likelihood(
            (user_w[batch.users] * item_w[batch.pos_items]).sum(-1),
            (p[batch.users] * q[batch.pos_items]).sum(-1),
            (user_w[batch.users].unsqueeze(1) * item_w[batch.neg_items]).sum(-1),
            (p[batch.users].unsqueeze(1) * q[batch.neg_items]).sum(-1),
        )
        return -(log_pos + log_neg.mean(-1)).mean()

    inputs = [t.detach().clone().requires_grad_() for t in (model.user_embedding.weight, model.item_embedding.weight,
                                                            objective.user_flip.weight, objective.item_flip.weight)]
    assert torch.autograd.gradcheck(f, inputs)


def test_reference_surrogate_reproduces_hand_written_updates():
    """The reference's ascent directions: dr_i=(1-g_i)(1-R_i), dg_i=-R_i g_i, dr_j=g_j(1-R_j)-R_j, dg_j=(1-g_j)R_j."""
    model, objective, batch = _tiny()
    objective.likelihood = "reference"
    user_emb, item_emb = model(None)
    r_i = (user_emb[batch.users] * item_emb[batch.pos_items]).sum(-1).detach().requires_grad_()
    r_j = (user_emb[batch.users].unsqueeze(1) * item_emb[batch.neg_items]).sum(-1).detach().requires_grad_()
    g_i = objective.flip_logits(batch.users, batch.pos_items).detach().requires_grad_()
    g_j = objective.flip_logits(batch.users.unsqueeze(1), batch.neg_items).detach().requires_grad_()
    from recdenoise.losses.nbpo import _reference_surrogate

    pos, neg = _reference_surrogate(r_i, g_i, r_j, g_j)
    (pos.sum() + neg.sum()).backward()
    R_i, G_i, R_j, G_j = (torch.sigmoid(t.detach()) for t in (r_i, g_i, r_j, g_j))
    torch.testing.assert_close(r_i.grad, (1 - G_i) * (1 - R_i))
    torch.testing.assert_close(g_i.grad, -R_i * G_i)
    torch.testing.assert_close(r_j.grad, G_j * (1 - R_j) - R_j)
    torch.testing.assert_close(g_j.grad, (1 - G_j) * R_j)
    out = objective(model, user_emb, item_emb, batch, 0)
    assert torch.isfinite(out.loss)


def test_stable_for_extreme_logits():
    big = torch.tensor([60.0, -60.0, 0.0])
    log_pos, log_neg = nbpo_log_likelihood(big, -big, big.unsqueeze(1), big.unsqueeze(1))
    assert torch.isfinite(log_pos).all() and torch.isfinite(log_neg).all()
    x = big.clone().requires_grad_()
    lp, ln = nbpo_log_likelihood(x, x, x.unsqueeze(1), -x.unsqueeze(1))
    (lp.sum() + ln.sum()).backward()
    assert torch.isfinite(x.grad).all()


def test_flip_init_small_and_parameters_registered():
    objective = NBPOObjective(5, 7, flip_dim=50)
    gamma = objective.flip_rate(torch.arange(5).unsqueeze(1), torch.arange(7).unsqueeze(0))
    assert gamma.shape == (5, 7) and gamma.max() < 0.2
    assert {n for n, _ in objective.named_parameters()} == {"user_flip.weight", "item_flip.weight"}


def test_regularisation_and_single_negative():
    model, objective, batch = _tiny()
    objective.reg_weight, objective.user_flip_reg, objective.item_flip_reg = 0.1, 0.2, 0.2
    single = batch.replace(neg_items=batch.neg_items[:, 0])
    user_emb, item_emb = model(None)
    out = objective(model, user_emb, item_emb, single, 0)
    assert out.per_example.shape == (2,) and "reg" in out.stats and "flip_reg" in out.stats
    assert out.loss > out.per_example.mean()


def test_bad_options():
    from recdenoise.errors import ConfigError

    with pytest.raises(ConfigError):
        NBPOObjective(2, 2, flip_dim=0)
    with pytest.raises(ConfigError):
        NBPOObjective(2, 2, likelihood="approx")
