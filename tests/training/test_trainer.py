"""Trainer: learning, determinism, exact resume, best-epoch restore, callbacks, checkpoint errors."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from recdenoise.data import Interactions
from recdenoise.errors import CheckpointError, ConfigError
from recdenoise.evaluation import Evaluator
from recdenoise.graph import BipartiteGraph
from recdenoise.losses import PairwiseObjective
from recdenoise.models import build_model
from recdenoise.samplers import PairScorer, TripletBatch, UniformSampler
from recdenoise.training import Callback, Checkpoint, EarlyStopping, LogMetrics, Trainer

NUM_USERS, NUM_ITEMS = 24, 30


def planted_split(seed: int = 0) -> tuple[Interactions, Interactions]:
    """Three communities of users/items; each user has 8 in-community items: 6 train, 2 valid."""
    rng = np.random.default_rng(seed)
    train_u, train_i, valid_u, valid_i = [], [], [], []
    for u in range(NUM_USERS):
        block = (u % 3) * (NUM_ITEMS // 3)
        items = block + rng.choice(NUM_ITEMS // 3, size=8, replace=False)
        train_u += [u] * 6
        train_i += list(items[:6])
        valid_u += [u] * 2
        valid_i += list(items[6:])
    return (
        Interactions(np.array(train_u), np.array(train_i), NUM_USERS, NUM_ITEMS),
        Interactions(np.array(valid_u), np.array(valid_i), NUM_USERS, NUM_ITEMS),
    )


TRAIN, VALID = planted_split()


def make_trainer(
    model_name: str = "lightgcn",
    seed: int = 0,
    callbacks=(),
    evaluator=None,
    edge_dropout: float = 0.0,
    sampler=None,
    device: str = "cpu",
    lr: float = 0.02,
    **kw,
) -> Trainer:
    torch.manual_seed(seed)
    model = build_model(model_name, NUM_USERS, NUM_ITEMS, embedding_dim=8, num_layers=2).to(device)
    sampler = sampler or UniformSampler(TRAIN, batch_size=32, seed=seed, device=device)
    return Trainer(
        model,
        BipartiteGraph.from_interactions(TRAIN),
        sampler,
        PairwiseObjective("bpr", reg_weight=1e-4),
        lr=lr,
        evaluator=evaluator if evaluator is not None else Evaluator(ks=(5,), device=device),
        valid=VALID,
        train=TRAIN,
        monitor="recall@5",
        callbacks=callbacks,
        edge_dropout=edge_dropout,
        seed=seed,
        **kw,
    )


def strip_time(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in logs.items() if k != "time"} for logs in history]


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


class StubEvaluator:
    """Returns a scripted metric sequence, one value per call."""

    def __init__(self, values):
        self.values, self.calls = list(values), 0

    def evaluate(self, scorer, targets, exclude=()):
        value = self.values[min(self.calls, len(self.values) - 1)]
        self.calls += 1
        return type("R", (), {"metrics": {"recall@5": value}})()


class Snapshot(Callback):
    """Keeps a copy of the weights after every epoch."""

    def __init__(self):
        self.states = []

    def on_epoch_end(self, trainer, epoch, logs):
        self.states.append({k: v.detach().clone() for k, v in trainer.model.state_dict().items()})


# ------------------------------------------------------------------ learning
@pytest.mark.parametrize("model_name", ["mf", "lightgcn"])
def test_loss_decreases_and_validation_improves(model_name):
    trainer = make_trainer(model_name)
    result = trainer.fit(8)
    losses = [logs["loss"] for logs in result.history]
    assert len(result.history) == 8 and trainer.epoch == 8
    assert losses[-1] < 0.6 * losses[0]
    recalls = [logs["valid"]["recall@5"] for logs in result.history]
    assert recalls[-1] >= recalls[0] and recalls[-1] > 0.5  # 2 targets among 8 unseen in-community items
    assert result.best_valid["recall@5"] == max(recalls) and result.history[result.best_epoch - 1]["valid"] == result.best_valid
    assert trainer.step == 8 * len(trainer.sampler)


@pytest.mark.parametrize("edge_dropout", [0.0, 0.2])
def test_fit_twice_with_same_seed_is_identical(edge_dropout):
    a = make_trainer(seed=3, edge_dropout=edge_dropout).fit(3)
    b_trainer = make_trainer(seed=3, edge_dropout=edge_dropout)
    b = b_trainer.fit(3)
    assert strip_time(a.history) == strip_time(b.history)
    assert a.best_epoch == b.best_epoch
    c = make_trainer(seed=4, edge_dropout=edge_dropout).fit(3)
    assert strip_time(a.history) != strip_time(c.history)


# ------------------------------------------------------------------ resume
@pytest.mark.parametrize("edge_dropout", [0.0, 0.3])
def test_checkpoint_resume_equals_straight_run(tmp_path, edge_dropout):
    straight = make_trainer(seed=1, edge_dropout=edge_dropout, callbacks=[EarlyStopping("recall@5", patience=10)])
    straight_result = straight.fit(4)

    path = tmp_path / "ckpt.pt"
    first = make_trainer(seed=1, edge_dropout=edge_dropout, callbacks=[EarlyStopping("recall@5", patience=10), Checkpoint(path)])
    first.fit(2)  # "crash" after epoch 2: the Checkpoint callback wrote the epoch-2 state
    resumed = make_trainer(seed=99, edge_dropout=edge_dropout, callbacks=[EarlyStopping("recall@5", patience=10), Checkpoint(path)])
    resumed.load_checkpoint(path)
    assert resumed.epoch == 2
    resumed_result = resumed.fit(4)

    assert strip_time(resumed_result.history) == strip_time(straight_result.history)
    assert resumed_result.best_epoch == straight_result.best_epoch
    assert resumed_result.best_valid == straight_result.best_valid
    assert same_weights(resumed.model.state_dict(), straight.model.state_dict())
    assert resumed.step == straight.step
    assert resumed.callbacks[0].state_dict() == straight.callbacks[0].state_dict()


def test_save_after_fit_then_resume_equals_straight_run(tmp_path):
    """Saving a trainer after fit() (which restored the best weights) still resumes exactly."""
    straight = make_trainer(seed=2, evaluator=StubEvaluator([0.5, 0.1, 0.6, 0.7]))
    straight.fit(4)  # best epoch 4: the final weights are the last ones
    first = make_trainer(seed=2, evaluator=StubEvaluator([0.5, 0.1, 0.6, 0.7]))
    first.fit(2)  # best epoch 1 != last epoch 2: fit() restored epoch 1
    first.save_checkpoint(tmp_path / "c.pt")
    resumed = make_trainer(seed=2, evaluator=StubEvaluator([0.6, 0.7]))
    resumed.load_checkpoint(tmp_path / "c.pt")
    resumed.fit(4)
    assert same_weights(resumed.model.state_dict(), straight.model.state_dict())
    # continuing the same trainer object is the same as well
    first.evaluator = StubEvaluator([0.6, 0.7])
    first.fit(4)
    assert same_weights(first.model.state_dict(), straight.model.state_dict())


def test_best_epoch_weights_are_restored():
    snap = Snapshot()
    trainer = make_trainer(evaluator=StubEvaluator([0.1, 0.4, 0.2, 0.3]), callbacks=[snap])
    result = trainer.fit(4)
    assert result.best_epoch == 2 and result.best_valid == {"recall@5": 0.4}
    assert same_weights(trainer.model.state_dict(), snap.states[1])
    assert not same_weights(trainer.model.state_dict(), snap.states[-1])


def test_eval_every_and_no_evaluator():
    trainer = make_trainer(evaluator=StubEvaluator([0.1, 0.2, 0.3]), eval_every=2)
    result = trainer.fit(5)
    assert ["valid" in logs for logs in result.history] == [False, True, False, True, True]  # and the last epoch
    plain = Trainer(
        build_model("mf", NUM_USERS, NUM_ITEMS, embedding_dim=4),
        BipartiteGraph.from_interactions(TRAIN),
        UniformSampler(TRAIN, batch_size=64),
    )
    result = plain.fit(2)
    assert result.best_epoch is None and all("valid" not in logs for logs in result.history)


# ---------------------------------------------------------------- callbacks
def test_early_stopping_stops():
    stopper = EarlyStopping("recall@5", patience=2)
    trainer = make_trainer(evaluator=StubEvaluator([0.3, 0.2, 0.1, 0.5, 0.6]), callbacks=[stopper])
    result = trainer.fit(10)
    assert result.stopped_early and len(result.history) == 3 and trainer.epoch == 3
    assert result.best_epoch == 1
    assert stopper.state_dict() == {"best": 0.3, "bad_evals": 2}


def test_early_stopping_errors():
    with pytest.raises(ConfigError, match="patience"):
        EarlyStopping(patience=0)
    trainer = make_trainer(evaluator=StubEvaluator([0.1]), callbacks=[EarlyStopping("ndcg@20")])
    with pytest.raises(ConfigError, match="ndcg@20"):
        trainer.fit(1)


def test_monitor_must_be_a_metric():
    trainer = make_trainer(evaluator=StubEvaluator([0.1]))
    trainer.monitor = "precision@7"
    with pytest.raises(ConfigError, match="precision@7"):
        trainer.fit(1)


def test_callback_hooks_order_and_log_metrics(caplog):
    events = []

    class Recorder(Callback):
        def on_fit_start(self, trainer):
            events.append("fit_start")

        def on_epoch_start(self, trainer, epoch):
            events.append(f"epoch_start{epoch}")

        def on_batch_end(self, trainer, batch, output):
            assert output.per_example.shape == (len(batch),) and not output.per_example.requires_grad
            events.append("batch")

        def on_epoch_end(self, trainer, epoch, logs):
            events.append(f"epoch_end{epoch}")

        def on_fit_end(self, trainer):
            events.append("fit_end")

    trainer = make_trainer(callbacks=[Recorder(), LogMetrics()])
    with caplog.at_level(logging.INFO, logger="recdenoise.training.callbacks"):
        trainer.fit(2)
    n = len(trainer.sampler)
    assert events == ["fit_start", "epoch_start0", *["batch"] * n, "epoch_end0", "epoch_start1", *["batch"] * n, "epoch_end1", "fit_end"]
    assert sum("epoch 2" in r.message and "recall@5" in r.message for r in caplog.records) == 1


def test_score_aware_sampler_gets_pair_scorer():
    class Picky(UniformSampler):
        needs_scores = True

        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.calls = 0

        def select(self, batch: TripletBatch, scorer: PairScorer, epoch: int) -> TripletBatch:
            self.calls += 1
            scores = scorer(batch.users, batch.pos_items)
            assert scores.shape == (len(batch),) and not scores.requires_grad
            return batch.replace(weights=torch.ones(len(batch)))

    sampler = Picky(TRAIN, batch_size=64, seed=0)
    make_trainer(sampler=sampler).fit(1)
    assert sampler.calls == len(sampler)


def test_config_errors():
    with pytest.raises(ConfigError, match="eval_every"):
        make_trainer(eval_every=0)
    with pytest.raises(ConfigError, match="lr"):
        make_trainer(lr=0.0)
    with pytest.raises(ConfigError, match="epochs"):
        make_trainer().fit(-1)


# --------------------------------------------------------------- checkpoints
def test_corrupt_checkpoint_is_a_checkpoint_error(tmp_path):
    trainer = make_trainer()
    with pytest.raises(CheckpointError, match="no checkpoint"):
        trainer.load_checkpoint(tmp_path / "missing.pt")
    trainer.fit(1)
    path = tmp_path / "c.pt"
    trainer.save_checkpoint(path)
    data = path.read_bytes()
    (tmp_path / "truncated.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cannot read"):
        make_trainer().load_checkpoint(tmp_path / "truncated.pt")
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError):
        make_trainer().load_checkpoint(tmp_path / "garbage.pt")


def test_incompatible_checkpoints(tmp_path):
    trainer = make_trainer()
    path = tmp_path / "c.pt"
    trainer.save_checkpoint(path)
    other = Trainer(
        build_model("lightgcn", NUM_USERS, NUM_ITEMS, embedding_dim=16),
        BipartiteGraph.from_interactions(TRAIN),
        UniformSampler(TRAIN),
    )
    with pytest.raises(CheckpointError, match="does not match"):
        other.load_checkpoint(path)
    with pytest.raises(CheckpointError, match="callback"):
        make_trainer(callbacks=[EarlyStopping("recall@5")]).load_checkpoint(path)
    state = trainer.state_dict()
    state["version"] = 999
    with pytest.raises(CheckpointError, match="version"):
        make_trainer().load_state_dict(state)


# ---------------------------------------------------------------------- GPU
class FixedSampler(UniformSampler):
    """Replays batches drawn once on the CPU, so CPU and CUDA runs see identical triples."""

    def __init__(self, train, device, seed=0):
        super().__init__(train, batch_size=32, seed=seed, device=device)
        cpu = UniformSampler(train, batch_size=32, seed=seed)
        self.fixed = [list(cpu.batches(e)) for e in range(2)]

    def batches(self, epoch):
        for b in self.fixed[epoch]:
            yield TripletBatch(b.users.to(self.device), b.pos_items.to(self.device), b.neg_items.to(self.device), b.rows.to(self.device))


@pytest.mark.gpu
def test_trainer_epoch_on_cuda_matches_cpu():
    cpu = make_trainer(sampler=FixedSampler(TRAIN, "cpu"))
    gpu = make_trainer(sampler=FixedSampler(TRAIN, "cuda"), device="cuda")
    assert gpu.device.type == "cuda"
    a, b = cpu.fit(2), gpu.fit(2)
    for la, lb in zip(a.history, b.history):
        assert la["loss"] == pytest.approx(lb["loss"], rel=1e-3)
        for k in la["valid"]:
            assert la["valid"][k] == pytest.approx(lb["valid"][k], abs=0.05)
    for k, v in cpu.model.state_dict().items():
        # float32 sums differ in order on the GPU; Adam's normalised steps can amplify that a little
        torch.testing.assert_close(gpu.model.state_dict()[k].cpu(), v, rtol=1e-2, atol=5e-3)
    # a real (CUDA-generator) epoch with edge dropout runs and is seeded
    runs = [make_trainer(device="cuda", edge_dropout=0.1, seed=5).fit(1).history[0]["loss"] for _ in range(2)]
    assert runs[0] == runs[1]


def test_default_adam_is_fused_and_matches_the_unfused_step():
    from recdenoise.utils import adam

    torch.manual_seed(0)
    a = torch.nn.Parameter(torch.randn(50, 8))
    b = torch.nn.Parameter(a.detach().clone())
    fused, plain = adam([a], lr=0.01), torch.optim.Adam([b], lr=0.01)
    assert fused.defaults["fused"] and not plain.defaults.get("fused")
    for _ in range(20):
        grad = torch.randn(50, 8)
        a.grad, b.grad = grad.clone(), grad.clone()
        fused.step(), plain.step()
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    # no fused kernel for a sparse parameter: the plain step
    sparse = torch.nn.Parameter(torch.eye(3).to_sparse())
    assert not adam([sparse], lr=0.01).defaults.get("fused")
