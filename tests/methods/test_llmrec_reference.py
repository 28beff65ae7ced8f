"""LLMRec's reference recipe: side-channel losses, per-field attribute features with one shared
projection, per-feature weights, and the ``llmrec-reference`` option set."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from recdenoise.errors import ConfigError
from recdenoise.losses.llmrec import SideChannelLoss
from recdenoise.methods import build_method, method_options
from recdenoise.methods.llmrec import LLMRecOptions, LLMRecReferenceOptions, load_augment_dir
from recdenoise.models import build_model
from recdenoise.models.fusion import FeatureFusion
from recdenoise.training import Trainer
from recdenoise.utils import seeded_rng

from test_llmrec_train import I, U, _split, write_augment_dir

FIELDS = ("country", "director", "language")


def _with_fields(path, split, width=12):
    write_augment_dir(path, split)
    rng = np.random.default_rng(1)
    for name in FIELDS:
        np.save(path / f"item_attribute_{name}_features.npy", rng.normal(size=(I, width)).astype(np.float32))
    return path


def _parts(method, augment_dir, split, options=None, seed=0):
    with seeded_rng(seed):
        backbone = build_model("lightgcn", U, I, embedding_dim=16, num_layers=2)
        init_rng = torch.get_rng_state()
    return build_method(method, split.train, backbone, options=options, augment_dir=str(augment_dir), batch_size=64,
                        seed=seed, init_rng=init_rng)  # fmt: skip


def test_reference_option_set():
    ref, ours = method_options("llmrec-reference"), method_options("llmrec")
    assert isinstance(ref, LLMRecReferenceOptions) and isinstance(ours, LLMRecOptions)
    assert (ref.prune_rate, ref.prune_scope, ref.prune_keep) == (0.71, "all", "largest")
    assert ref.feature_weight == {"user_profile": 2.8, "item_attributes": 0.005, "item_text": 0.02}
    assert (ref.aug_bpr_weight, ref.modality_bpr_weight, ref.feature_reg_weight) == (0.012, 1e-4, 1e-5)
    assert (ours.aug_bpr_weight, ours.modality_bpr_weight, ours.feature_reg_weight, ours.prune_keep) == (0.0, 0.0, 0.0, "smallest")
    assert method_options("llmrec-reference", {"prune_rate": 0.4}).prune_rate == 0.4  # an option still overrides


def test_per_field_attributes_share_one_projection(tmp_path):
    split = _split()
    aug = _with_fields(tmp_path / "aug", split)
    data = load_augment_dir(aug, split.train)
    assert sorted(data.attribute_fields) == list(FIELDS) and "item_attributes" in data.features
    parts = _parts("llmrec-reference", aug, split)
    net = parts.model
    assert isinstance(net, FeatureFusion)
    # user profile, item text, then one matrix per field (the concatenated matrix is not used)
    assert net.sides == ("user", "item", "item", "item", "item") and net.num_features == 5
    assert net.projection_index == [0, 1, 2, 2, 2] and len(net.projections) == 3
    weights = net.feature_weights.tolist()
    assert weights == pytest.approx([2.8, 0.02, 0.005, 0.005, 0.005])
    concatenated = _parts("llmrec-reference", aug, split, {"attribute_encoding": "concatenated"}).model
    assert concatenated.num_features == 3 and concatenated.projection_index == [0, 1, 2]


def test_per_field_needs_the_files(tmp_path):
    split = _split()
    aug = write_augment_dir(tmp_path / "aug", split)
    with pytest.raises(ConfigError, match="item_attribute_<field>_features.npy"):
        _parts("llmrec", aug, split, {"attribute_encoding": "per_field"})
    assert _parts("llmrec", aug, split).model.num_features == 3  # auto: the concatenated matrix


@pytest.mark.parametrize(
    "weights, terms",
    [
        ({"aug_bpr_weight": 0.3}, {"aug_bpr"}),
        ({"modality_bpr_weight": 0.2}, {"mm_bpr"}),
        ({"feature_reg_weight": 0.1}, {"feat_reg"}),
        ({"aug_bpr_weight": 0.3, "modality_bpr_weight": 0.2, "feature_reg_weight": 0.1}, {"aug_bpr", "mm_bpr", "feat_reg"}),
        ({}, set()),
    ],
)
def test_side_channel_terms_present_and_weighted(tmp_path, weights, terms):
    split = _split()
    aug = _with_fields(tmp_path / "aug", split)
    parts = _parts("llmrec", aug, split, {"prune_rate": 0.0, **weights})
    net, graph = parts.model, parts.graph
    batch = next(iter(parts.sampler.batches(0)))
    net.eval()  # no dropout: the channel embeddings below are the ones the objective saw
    out = parts.objective(net, *net(graph), batch, step=0, graph=graph)
    assert terms <= set(out.stats) and not ({"aug_bpr", "mm_bpr", "feat_reg"} - terms) & set(out.stats)

    def bpr(user_part, item_part):
        pos = (user_part[batch.users] * item_part[batch.pos_items]).sum(-1)
        neg = (user_part[batch.users] * item_part[batch.neg_items]).sum(-1)
        return F.softplus(neg - pos).mean()

    channel = [net.encode_feature(k, graph) for k in range(net.num_features)]  # profile, text, fields
    expected = {
        "aug_bpr": weights.get("aug_bpr_weight", 0) * sum(bpr(channel[0][0], channel[k][1]) for k in (2, 3, 4)),
        "mm_bpr": weights.get("modality_bpr_weight", 0) * bpr(*channel[1]),
        "feat_reg": weights.get("feature_reg_weight", 0) * (channel[1][0].pow(2).sum() + channel[1][1].pow(2).sum()) / (2 * I),
    }
    for name in terms:
        torch.testing.assert_close(out.stats[name], expected[name].detach(), rtol=1e-5, atol=1e-7)
    base = parts.objective.base(net, *net(graph), batch, 0).loss
    torch.testing.assert_close(out.loss.detach(), (base + sum(expected[n] for n in terms)).detach(), rtol=1e-5, atol=1e-6)


def test_side_channel_loss_needs_a_graph():
    with pytest.raises(ConfigError, match="graph"):
        SideChannelLoss(0, [1], [], aug_weight=1.0)(None, None, None)
    assert not SideChannelLoss(None, [1], [], aug_weight=1.0).active  # no profile: the attribute term has nothing to pair with


def test_reference_recipe_trains(tmp_path):
    split = _split()
    aug = _with_fields(tmp_path / "aug", split)
    parts = _parts("llmrec-reference", aug, split)
    trainer = Trainer(parts.model, parts.graph, parts.sampler, parts.objective, lr=0.01, seed=0)
    history = trainer.fit(3).history
    assert all(math.isfinite(h["loss"]) for h in history)
    names = {n for n, _ in parts.objective.named_parameters()}
    assert any(n.startswith("mae.") for n in names)  # the MAE's token and decoders are trained too
    assert parts.model.projections[2].weight.grad is not None  # the shared field projection got gradients
