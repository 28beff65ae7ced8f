"""DCF, UDT and DeCA pinned to the authors' / benchmark code on hand-computed toy tensors.

References: DCF ``bruno686/DCF`` ``loss.py::PLC_uncertain_discard``; UDT
``bachml/EvalDenoisingRec`` ``code/main.py``; DeCA ``wangyu-ustc/DeCA`` ``train.py``. Each test
fails on the library's behaviour before the check (see ``docs/methods.md``).
"""

import math

import pytest
import torch
import torch.nn.functional as F

from recdenoise.losses.dcf import DCFObjective, DCFOptions, reference_lower_bound
from recdenoise.losses.deca import DeCAObjective, DeCAOptions, reference_kl
from recdenoise.losses.udt import UDTObjective, UDTOptions, user_temperature_weights
from recdenoise.types import TripletBatch
from field_toy import ToyModel  # noqa: E402 - tests/methods is on sys.path (pytest prepend mode)


def _fixed(num_users, num_items, pos_scores):
    """Model whose user 0..B-1 scores its positive b at ``pos_scores[b]`` and every negative at 0."""
    model = ToyModel(num_users, num_items)
    with torch.no_grad():
        model.user_embedding.weight[:] = torch.tensor([1.0, 0.0])
        model.item_embedding.weight[:] = 0.0
        model.item_embedding.weight[: len(pos_scores), 0] = torch.tensor(pos_scores)
    return model, model.user_embedding.weight, model.item_embedding.weight


def test_reference_defaults():
    assert (DCFOptions.max_drop_rate, DCFOptions.co_lambda, DCFOptions.time_step, DCFOptions.relabel_ratio) == (0.2, 1e-4, 3, 0.05)
    assert (DCFOptions.granularity, DCFOptions.bound, DCFOptions.relabel) == ("element", "reference", "keep")
    assert (UDTOptions.loss, UDTOptions.warmup, UDTOptions.min_temperature, UDTOptions.max_temperature) == ("bce", 2, 0.1, 0.5)
    assert (UDTOptions.low_loss_factor, UDTOptions.high_loss_factor) == (0.5, 0.0)
    assert (DeCAOptions.objective, DeCAOptions.alpha, DeCAOptions.c_1, DeCAOptions.c_2, DeCAOptions.aux_dim) == ("reference", 1.0, 1000.0, 1000.0, 32)


def test_dcf_reference_lower_bound():
    mean, count = torch.tensor([0.5, 0.5, 1e-5]), torch.tensor([1.0, 3.0, 1.0])
    out = reference_lower_bound(mean, count, epoch=1, co_lambda=0.1)  # s = 2
    numerator = 0.1 * (2 + 0.1 * math.log(4) / 4)
    torch.testing.assert_close(out, torch.tensor([0.5 - numerator / 1.9, 0.5 - numerator / 3.9, 0.0]))  # relu on the last


def test_dcf_running_mean_resets_every_time_step():
    objective = DCFObjective(2, steps_per_epoch=1, time_step=2, co_lambda=0.0)
    rows, psi = torch.arange(2), lambda x: math.log(1 + x + x * x / 2)
    first = objective.lower_bound(rows, torch.tensor([1.0, 2.0]), step=0)  # s = 1: psi / 2
    torch.testing.assert_close(first, torch.tensor([psi(1.0) / 2, psi(2.0) / 2]))
    second = objective.lower_bound(rows, torch.tensor([3.0, 2.0]), step=1)  # s = 2: (2 prev + psi) / 3
    torch.testing.assert_close(second, torch.tensor([(psi(1.0) + psi(3.0)) / 3, (psi(2.0) + psi(2.0)) / 3]))
    third = objective.lower_bound(rows, torch.tensor([1.0, 1.0]), step=2)  # reset; s = 3: psi / 4
    torch.testing.assert_close(third, torch.tensor([psi(1.0) / 4, psi(1.0) / 4]))


@pytest.mark.parametrize("relabel", ["keep", "negative"])
def test_dcf_element_drop_and_relabel_counts(relabel):
    # 4 triples with 1 negative = 8 elements; eps = 0.2 -> 8 - int(0.8 * 8) = 2 positives dropped
    # (triples would drop 1); relabel_ratio 0.5 -> 8 - int((1 - 0.1) * 8) = 1 of them comes back.
    model, user_emb, item_emb = _fixed(4, 8, [3.0, 2.0, -1.0, -2.0])  # positive 3 has the largest loss, then 2
    objective = DCFObjective(4, max_drop_rate=0.2, num_gradual=1, relabel_ratio=0.5, relabel=relabel, co_lambda=0.0, reg_weight=0.0)
    batch = TripletBatch(torch.arange(4), torch.arange(4), torch.arange(4, 8), rows=torch.arange(4))
    out = objective(model, user_emb, item_emb, batch, step=1)
    pos = torch.tensor([3.0, 2.0, -1.0, -2.0])
    pos_terms, neg_total = F.softplus(-pos), 4 * math.log(2.0)
    if relabel == "keep":  # the code: trained again with its observed label 1
        assert out.weights.tolist() == [1.0, 1.0, 0.0, 1.0]
        expected = (pos_terms[[0, 1, 3]].sum() + neg_total) / 7
    else:  # the paper: trained with label 0
        assert out.weights.tolist() == [1.0, 1.0, 0.0, 0.0]
        expected = (pos_terms[[0, 1]].sum() + neg_total + F.softplus(pos[3])) / 7
    assert float(out.loss.detach()) == pytest.approx(float(expected), rel=1e-5)


def test_udt_user_temperature_weights():
    users = torch.tensor([0, 0, 1, 1, 2])
    row_losses = torch.tensor([0.1, 0.3, 0.2, 1.0, 0.7])
    user_losses = torch.tensor([0.8, 4.0, 1.0])  # means 0.4, 2.0, 1.0 -> ranks 0, 2, 1
    weights, factor = user_temperature_weights(users, row_losses, user_losses, 3, (0.1, 0.5), (0.5, 0.0))
    torch.testing.assert_close(factor, torch.tensor([0.5, 0.0, 0.25]))
    a, b = math.exp(-0.1 / 0.1), math.exp(-0.3 / 0.1)  # user 0: tau 0.1
    expected = torch.tensor([0.5 * 2 * a / (a + b), 0.5 * 2 * b / (a + b), 0.0, 0.0, 0.25])  # user 1: factor 0
    torch.testing.assert_close(weights, expected)


def test_udt_reference_weights_from_epoch_two():
    model, user_emb, item_emb = _fixed(4, 8, [3.0, 2.0, -1.0, -2.0])
    users = torch.tensor([0, 0, 1, 1])
    objective = UDTObjective(users, 2, steps_per_epoch=1, reg_weight=0.0)
    batch = TripletBatch(users, torch.arange(4), torch.arange(4, 8), rows=torch.arange(4))
    pos = torch.tensor([3.0, 2.0, -1.0, -2.0])
    pos_terms, neg_terms = F.softplus(-pos), torch.full((4,), math.log(2.0))
    plain = (pos_terms.sum() + neg_terms.sum()) / 8
    for step in (0, 1):  # warmup: epochs 0 and 1 unweighted
        assert float(objective(model, user_emb, item_emb, batch, step=step).loss.detach()) == pytest.approx(float(plain), rel=1e-6)
    out = objective(model, user_emb, item_emb, batch, step=2)
    # user 0 has the smaller mean loss: tau 0.1, factor 0.5; user 1: factor 0 (switched off)
    a, b = torch.exp(-pos_terms[0] / 0.1), torch.exp(-pos_terms[1] / 0.1)
    w0 = 0.5 * 2 * torch.stack([a, b]) / (a + b)
    expected = ((w0 * pos_terms[:2]).sum() + 0.5 * neg_terms[:2].sum()) / 8
    assert float(out.loss.detach()) == pytest.approx(float(expected), rel=1e-5)
    assert out.weights[2:].tolist() == [0.0, 0.0]


def test_deca_reference_kl():
    assert float(reference_kl(torch.tensor(0.5), torch.tensor(0.5))) == pytest.approx(0.0, abs=1e-7)
    def log(x):
        return math.log(x + 1e-5)

    expected = 0.9 * log(0.9) - 0.9 * log(0.5) + 0.1 * log(0.1) - 0.1 * log(0.5)
    assert float(reference_kl(torch.tensor(0.9), torch.tensor(0.5))) == pytest.approx(expected, rel=1e-6)


def test_deca_reference_alternates_dp_and_dn():
    # every model at logit 0: q = p = h = 1/2, KL = 0, so the terms are the likelihoods alone
    model, user_emb, item_emb = _fixed(2, 4, [0.0, 0.0])
    objective = DeCAObjective(2, 4, aux_dim=2, c_1=1000.0, c_2=10.0, reg_weight=0.0)  # distinct constants
    with torch.no_grad():
        for p in objective.parameters():
            p.zero_()
    batch = TripletBatch(torch.arange(2), torch.arange(2), torch.arange(2, 4), rows=torch.arange(2))
    half_log = 0.5 * math.log(0.5 + 1e-5)
    dp = objective(model, user_emb, item_emb, batch, step=0)  # + : -(1-q) log h1; - : -(1-q) log(1-h1) + C1 q
    assert float(dp.loss.detach()) == pytest.approx(-half_log + (-half_log + 1000 * 0.5), rel=1e-6)
    dp.loss.backward()
    assert objective.dp_user.weight.grad is not None and objective.dn_user.weight.grad is None
    dn = objective(model, user_emb, item_emb, batch, step=1)  # + : -q log h2 + C2 (1-q); - : -q log(1-h2)
    assert float(dn.loss.detach()) == pytest.approx((-half_log + 10 * 0.5) + (-half_log), rel=1e-6)


def test_deca_aux_model_learns_only_through_the_kl():
    # the auxiliary MF is in no likelihood term: where it agrees with the backbone (p = q) its
    # gradient vanishes (the earlier symmetric bound also trained it on the labels)
    model, user_emb, item_emb = _fixed(2, 4, [2.0, -1.0])
    objective = DeCAObjective(2, 4, aux_dim=2, reg_weight=0.0)
    with torch.no_grad():
        objective.aux_user.weight.copy_(user_emb)
        objective.aux_item.weight.copy_(item_emb)
    batch = TripletBatch(torch.arange(2), torch.arange(2), torch.arange(2, 4), rows=torch.arange(2))
    objective(model, user_emb, item_emb, batch, step=0).loss.backward()
    assert float(objective.aux_user.weight.grad.abs().max()) < 1e-4
    assert float(objective.aux_item.weight.grad.abs().max()) < 1e-4
