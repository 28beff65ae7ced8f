"""End to end: a synthetic augment dir -> build_method("llmrec", ...) -> Trainer (CPU, seconds)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from recdenoise.data import Interactions, Split
from recdenoise.errors import ConfigError, DataError
from recdenoise.evaluation import Evaluator
from recdenoise.methods import build_method, method_options
from recdenoise.methods.llmrec import EDGES_FILE, FEATURE_FILES, LLMRecOptions, load_augment_dir
from recdenoise.models import build_model
from recdenoise.models.fusion import FeatureFusion
from recdenoise.samplers.augmented import AugmentedSampler
from recdenoise.training import Trainer
from recdenoise.utils import seeded_rng

U, I = 40, 60


def _split(seed: int = 0) -> Split:
    rng = np.random.default_rng(seed)
    parts = {"train": ([], []), "valid": ([], []), "test": ([], [])}
    for u in range(U):
        items = rng.choice(I, 9, replace=False)
        for name, chunk in zip(parts, (items[:7], items[7:8], items[8:])):
            parts[name][0].extend([u] * len(chunk))
            parts[name][1].extend(chunk.tolist())
    user_ids = np.array([f"u{u}" for u in range(U)])
    item_ids = np.array([100 + i for i in range(I)])
    make = lambda us, its: Interactions(np.array(us), np.array(its), U, I, user_ids=user_ids, item_ids=item_ids)  # noqa: E731
    return Split(*(make(*parts[name]) for name in parts))


def write_augment_dir(path: Path, split: Split, num_edges: int = 80, seed: int = 0, features: bool = True) -> Path:
    """A stand-in for `recdenoise augment` output: random triples + random text features."""
    rng = np.random.default_rng(seed)
    path.mkdir(parents=True, exist_ok=True)
    users = rng.integers(0, U, num_edges)
    pos = rng.integers(0, I, num_edges)
    neg = (pos + rng.integers(1, I, num_edges)) % I
    train = split.train
    pd.DataFrame(
        {"user": users, "pos_item": pos, "neg_item": neg,
         "user_id": train.user_ids[users], "pos_item_id": train.item_ids[pos], "neg_item_id": train.item_ids[neg]}
    ).to_csv(path / EDGES_FILE, index=False)  # fmt: skip
    if features:
        for name, (side, file_name) in FEATURE_FILES.items():
            rows = U if side == "user" else I
            np.save(path / file_name, rng.normal(size=(rows, 16)).astype(np.float32))
    return path


def build_llmrec_parts(augment_dir, split, *, model="lightgcn", embedding_dim=64, num_layers=3, batch_size=2048, seed=0, options=None):
    """``(model, parts, graph)`` through the one build path: a seeded backbone + ``build_method("llmrec", ...)``."""
    train = split.train if isinstance(split, Split) else split
    with seeded_rng(seed):
        backbone = build_model(model, train.num_users, train.num_items, embedding_dim=embedding_dim, num_layers=num_layers)
        init_rng = torch.get_rng_state()
    parts = build_method(
        "llmrec", train, backbone, options=options, augment_dir=None if augment_dir is None else str(augment_dir),
        batch_size=batch_size, seed=seed, init_rng=init_rng,
    )  # fmt: skip
    return parts.model, parts, parts.graph


OPTIONS = {"aug_rate": 0.5, "prune_rate": 0.5, "mask_rate": 0.2, "mae_weight": 0.5, "feature_weight": 0.2}


def _fit(tmp_path, options, epochs=3, seed=0):
    split = _split()
    augment_dir = write_augment_dir(tmp_path / "aug", split)
    model, parts, graph = build_llmrec_parts(
        augment_dir, split, embedding_dim=16, num_layers=2, batch_size=64, seed=seed, options=options
    )
    trainer = Trainer(
        model, graph, parts.sampler, parts.objective, lr=0.01, evaluator=Evaluator(ks=(5, 20)),
        valid=split.valid, train=split.train, callbacks=parts.callbacks, seed=seed,
    )  # fmt: skip
    return model, parts, graph, trainer, split


def test_end_to_end_training(tmp_path):
    model, parts, graph, trainer, split = _fit(tmp_path, OPTIONS)
    assert isinstance(model, FeatureFusion) and model.num_features == 3 and model.sides == ("user", "item", "item")
    assert isinstance(parts.sampler, AugmentedSampler) and parts.sampler.num_augmented == 80
    stored = [model.feature(k).clone() for k in range(3)]
    mae_before = [p.detach().clone() for p in parts.objective.mae.parameters()]
    result = trainer.fit(3)
    assert len(result.history) == 3 and all(math.isfinite(h["loss"]) for h in result.history)
    assert result.best_epoch is not None and 0 <= result.best_valid["recall@20"] <= 1
    assert all(torch.equal(model.feature(k), x) for k, x in enumerate(stored))
    assert all(not torch.equal(a, b) for a, b in zip(mae_before, parts.objective.mae.parameters()))
    test = Evaluator(ks=(20,)).evaluate(model.scorer(graph), split.test, exclude=[split.train, split.valid])
    assert 0 <= test["ndcg@20"] <= 1


def test_checkpoint_resume_is_exact(tmp_path):
    *_, full, _ = _fit(tmp_path / "a", OPTIONS)
    full.fit(2)
    *_, first, _ = _fit(tmp_path / "b", OPTIONS)
    first.fit(1)
    first.save_checkpoint(tmp_path / "ckpt.pt")
    *_, resumed, _ = _fit(tmp_path / "c", OPTIONS)
    resumed.load_checkpoint(tmp_path / "ckpt.pt")
    resumed.fit(2)
    assert resumed.result.history[-1]["loss"] == pytest.approx(full.result.history[-1]["loss"], rel=1e-6)
    for (name, a), b in zip(full.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), name


@pytest.mark.parametrize(
    "options, fused, augmented",
    [
        ({"use_augmented_edges": False, "features": ()}, False, 0),
        ({"features": ()}, False, 80),
        ({"features": ["item_text"], "feature_weight": {"item_text": 0.3}}, True, 80),
        ({"augment_graph": True, "features": ()}, False, 80),
    ],
)
def test_ablations_build(tmp_path, options, fused, augmented):
    split = _split()
    augment_dir = write_augment_dir(tmp_path, split)
    model, parts, graph = build_llmrec_parts(augment_dir, split, embedding_dim=8, num_layers=1, options=options)
    assert isinstance(model, FeatureFusion) == fused
    assert (parts.sampler.aug_rate > 0) == (augmented > 0)
    if options.get("augment_graph"):
        assert graph.num_edges > len(split.train)
    else:
        assert graph.num_edges == len(split.train)


def test_no_augment_dir_is_the_plain_baseline():
    model, parts, graph = build_llmrec_parts(None, _split(), embedding_dim=8, num_layers=1)
    assert not isinstance(model, FeatureFusion) and parts.sampler.aug_rate == 0.0
    with pytest.raises(ConfigError):
        build_llmrec_parts(None, _split(), options={"mask_rate": 0.1})


def test_registered_method(tmp_path):
    split = _split()
    augment_dir = write_augment_dir(tmp_path, split, features=False)
    model = build_model("mf", U, I, embedding_dim=8)
    options = {"augment_dir": str(augment_dir), "aug_rate": 0.25, "prune_rate": 0.3}
    parts = build_method("llmrec", split.train, model, batch_size=32, options=options)
    batch = next(iter(parts.sampler.batches(0)))
    assert int(batch.is_augmented.sum()) == 8
    assert parts.model is model and parts.graph.num_edges == len(split.train)  # no features: the backbone itself
    with pytest.raises(ConfigError):  # masking needs side features; this dir has none
        build_method("llmrec", split.train, model, options={"augment_dir": str(augment_dir), "mask_rate": 0.1})
    with pytest.raises(ConfigError, match="needs the backbone model"):
        build_method("llmrec", split.train, options=options)


def test_loader_errors(tmp_path):
    split = _split()
    with pytest.raises(DataError):
        load_augment_dir(tmp_path / "missing", split.train)
    good = write_augment_dir(tmp_path / "good", split)
    data = load_augment_dir(good, split.train)
    assert data.num_edges == 80 and set(data.features) == set(FEATURE_FILES)

    bad = write_augment_dir(tmp_path / "raw", split)
    table = pd.read_csv(bad / EDGES_FILE)
    table.loc[5, "pos_item_id"] = 99999
    table.to_csv(bad / EDGES_FILE, index=False)
    with pytest.raises(DataError, match=r"augmented_edges.csv:7.*another id mapping"):
        load_augment_dir(bad, split.train)

    bad = write_augment_dir(tmp_path / "range", split)
    table = pd.read_csv(bad / EDGES_FILE)
    table.loc[0, "user"] = U
    table.to_csv(bad / EDGES_FILE, index=False)
    with pytest.raises(DataError, match="outside"):
        load_augment_dir(bad, split.train)

    bad = write_augment_dir(tmp_path / "rows", split)
    np.save(bad / FEATURE_FILES["item_text"][1], np.zeros((I + 1, 4), dtype=np.float32))
    with pytest.raises(DataError, match="one row per contiguous item"):
        load_augment_dir(bad, split.train)

    no_edges = tmp_path / "no_edges"
    write_augment_dir(no_edges, split)
    (no_edges / EDGES_FILE).unlink()
    with pytest.raises(DataError):
        load_augment_dir(no_edges, split.train)
    assert load_augment_dir(no_edges, split.train, require_edges=False).num_edges == 0


def test_unknown_options_are_errors():
    with pytest.raises(ConfigError, match=r"unknown option\(s\) \['aug_sample_rate'\] for method 'llmrec'; valid options: \[.*'aug_rate'"):
        method_options("llmrec", {"aug_sample_rate": 0.1})
    with pytest.raises(ConfigError):
        method_options("llmrec", {"features": ["image"]})
    with pytest.raises(ConfigError):
        method_options("llmrec", {"prune_keep": "median"})
    assert isinstance(method_options("llmrec", {"aug_rate": 0.2}), LLMRecOptions)


def test_manifest_checksum_must_match_the_split(tmp_path, caplog):
    import json

    split = _split()
    path = write_augment_dir(tmp_path, split)
    (path / "manifest.json").write_text(json.dumps({"complete": True, "provenance": {"data_checksum": split.train.checksum()}}))
    load_augment_dir(path, split.train)
    other = _split(seed=1)  # same id space, another train set (another split seed)
    with pytest.raises(DataError, match="checksum"):
        load_augment_dir(path, other.train)
    (path / "manifest.json").write_text(json.dumps({"complete": False, "provenance": {"data_checksum": split.train.checksum()}}))
    with caplog.at_level("WARNING"):
        load_augment_dir(path, split.train)
    assert "did not finish" in caplog.text


class _HashEmbedder:
    """Deterministic stand-in for MiniLM (keeps the test fast and offline)."""

    name = "test-hash-embedder"

    async def embed(self, texts):
        import hashlib

        seeds = [int.from_bytes(hashlib.sha256(t.encode()).digest()[:4], "big") for t in texts]
        return np.stack([np.random.default_rng(s).normal(size=12) for s in seeds]).astype(np.float32)


def test_augment_job_output_trains(tmp_path):
    """The LLM job's real writer (against the loopback mock server) feeds build_llmrec_parts."""
    from recdenoise.data.split import ratio_split
    from recdenoise.data.synthetic import make_synthetic
    from recdenoise.llm.augment import AugmentConfig, augment
    from recdenoise.llm.candidates import popularity_candidates
    from recdenoise.llm.client import LLMConfig
    from recdenoise.llm.mock_server import MockOpenAIServer

    split = ratio_split(make_synthetic(num_users=25, num_items=40, interactions_per_user=8, seed=0).interactions, seed=0)
    with MockOpenAIServer("127.0.0.1", 0) as server:
        augment(
            split.train, popularity_candidates(split.train, 5, 0), tmp_path / "aug",
            LLMConfig(base_url=server.base_url, model="mock"), AugmentConfig(progress=False),
            api_key="mock-key", embedder=_HashEmbedder(),
        )  # fmt: skip
    options = {**OPTIONS, "aug_rate": 0.2}
    model, parts, graph = build_llmrec_parts(tmp_path / "aug", split, embedding_dim=8, num_layers=1, batch_size=32, options=options)
    # user profile + item text + one feature per attribute field (the job writes director/country/language
    # files, and attribute_encoding="auto" takes them through one shared projection, as the reference)
    assert isinstance(model, FeatureFusion) and model.num_features == 5 and parts.sampler.num_augmented > 0
    trainer = Trainer(model, graph, parts.sampler, parts.objective, lr=0.01, evaluator=Evaluator(ks=(5,)), valid=split.valid, train=split.train, monitor="recall@5")
    assert all(math.isfinite(h["loss"]) for h in trainer.fit(2).history)
