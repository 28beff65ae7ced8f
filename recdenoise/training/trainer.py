"""One training loop for every model, sampler and objective.

Per batch: propagate once (``model(graph)``), let the sampler refine the batch with the
current scores if it asks to, compute the objective, step the optimiser. Per epoch:
evaluate on validation, keep the best weights, run callbacks (early stopping, checkpoint).
Denoising methods plug in as samplers or objectives: the loop never changes.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import torch
from tqdm.auto import tqdm

from ..data.interactions import Interactions
from ..errors import CheckpointError, ConfigError, DivergedError
from ..graph import BipartiteGraph
from ..losses.objective import PairwiseObjective
from ..models.base import Recommender
from ..samplers.base import Sampler
from ..scoring import EmbeddingScorer
from ..utils import adam, atomic_torch_save
from .callbacks import Callback

__all__ = ["Trainer", "FitResult"]

logger = logging.getLogger(__name__)

CHECKPOINT_VERSION = 1


@dataclass
class FitResult:
    """History and best validation state of a :meth:`Trainer.fit` call."""

    history: list = field(default_factory=list)
    best_epoch: Optional[int] = None
    best_valid: dict = field(default_factory=dict)
    stopped_early: bool = False


class Trainer:
    """Trains a :class:`Recommender` on a graph with a sampler and an objective.

    Args:
        model: MF, LightGCN, or any :class:`Recommender`.
        graph: the training graph (propagated over; not stored on the model).
        sampler: yields the triples to optimise (e.g. :class:`UniformSampler`, PLD).
        objective: turns a batch into a loss (default BPR with L2 1e-4).
        lr: Adam learning rate (ignored when ``optimizer`` is given).
        optimizer: a custom optimiser over ``model`` and ``objective`` parameters.
        evaluator: a :class:`recdenoise.evaluation.Evaluator` for validation.
        valid: validation interactions; ``train`` items are masked when ranking.
        train: training interactions (masked during validation).
        monitor: validation metric used to select the best epoch, e.g. ``"recall@20"``.
        eval_every: evaluate every this many epochs.
        callbacks: :class:`Callback` s (early stopping, checkpoint, diagnostics...).
        edge_dropout: probability of dropping each edge per batch (0 = off).
        show_progress: tqdm bars over epochs and batches.
        seed: seeds edge-dropout draws and the stream that layers drawing from torch's default
            generator (dropout) see during training; the trainer forks the global RNG for
            that, so the caller's RNG is neither read nor changed. The sampler and model carry
            their own seeds.
    """

    def __init__(
        self,
        model: Recommender,
        graph: BipartiteGraph,
        sampler: Sampler,
        objective: Optional[torch.nn.Module] = None,
        *,
        lr: float = 1e-3,
        optimizer: Optional[torch.optim.Optimizer] = None,
        evaluator=None,
        valid: Optional[Interactions] = None,
        train: Optional[Interactions] = None,
        monitor: str = "recall@20",
        eval_every: int = 1,
        callbacks: Sequence[Callback] = (),
        edge_dropout: float = 0.0,
        show_progress: bool = False,
        seed: int = 0,
    ):
        if eval_every < 1:
            raise ConfigError(f"eval_every must be >= 1, got {eval_every}")
        if lr <= 0:
            raise ConfigError(f"lr must be > 0, got {lr}")
        self.device = next(model.parameters()).device
        self.model = model
        self.graph = graph.to(self.device)
        self.sampler = sampler
        self.objective = (objective if objective is not None else PairwiseObjective()).to(self.device)
        params = list(model.parameters()) + list(self.objective.parameters())
        self.optimizer = optimizer if optimizer is not None else adam(params, lr=lr)
        self.evaluator = evaluator
        self.valid, self.train = valid, train
        self.monitor = monitor
        self.eval_every = eval_every
        self.callbacks = list(callbacks)
        self.edge_dropout = edge_dropout
        self.show_progress = show_progress
        self.dropout_generator = torch.Generator(device=self.device)
        self.dropout_generator.manual_seed(seed)
        self._rng_state = torch.Generator().manual_seed(seed).get_state()  # CPU stream of the training loop
        self._cuda_rng_state: Optional[torch.Tensor] = None
        self.epoch = 0  # epochs completed
        self.step = 0  # optimiser steps taken
        self.should_stop = False
        self.result = FitResult()
        self._best_state: Optional[dict] = None
        # Weights of the last epoch while the model holds the restored best ones (after fit):
        # training and checkpoints continue from these, not from the best epoch.
        self._last_state: Optional[dict] = None

    # ------------------------------------------------------------------ loop
    def fit(self, epochs: int) -> FitResult:
        """Train until ``epochs`` epochs are completed in total (a resumed trainer continues).

        At the end the model holds the weights of the best validation epoch (if validation
        ran), so what is reported on test was selected on validation only.
        """
        if epochs < 0:
            raise ConfigError(f"epochs must be >= 0, got {epochs}")
        if self._last_state is not None:
            self.model.load_state_dict(self._last_state)
            self._last_state = None
        for cb in self.callbacks:
            cb.on_fit_start(self)
        bar = tqdm(range(self.epoch, epochs), desc="epochs", disable=not self.show_progress, initial=self.epoch, total=epochs)
        for epoch in bar:
            if self.should_stop:
                break
            logs = self.train_epoch(epoch)
            self._check_finite(epoch, logs)
            if self.evaluator is not None and self.valid is not None and ((epoch + 1) % self.eval_every == 0 or epoch + 1 == epochs):
                logs["valid"] = self.validate()
                self._check_finite(epoch, logs)
                self._track_best(epoch, logs["valid"])
            self.result.history.append(logs)
            self.epoch = epoch + 1
            for cb in self.callbacks:
                cb.on_epoch_end(self, epoch, logs)
            if self.show_progress:
                bar.set_postfix(loss=f"{logs['loss']:.4f}", **{k: f"{v:.4f}" for k, v in (logs.get("valid") or {}).items() if k == self.monitor})
        self.result.stopped_early = self.should_stop
        if self._best_state is not None:
            self._last_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            self.model.load_state_dict(self._best_state)
        for cb in self.callbacks:
            cb.on_fit_end(self)
        return self.result

    @contextlib.contextmanager
    def _own_rng(self):
        """Run with the trainer's own default-generator streams (restored for the caller after)."""
        cuda = self.device.type == "cuda"
        with torch.random.fork_rng(devices=[self.device] if cuda else []):
            torch.set_rng_state(self._rng_state)
            if cuda and self._cuda_rng_state is not None:
                torch.cuda.set_rng_state(self._cuda_rng_state, self.device)
            try:
                yield
            finally:
                self._rng_state = torch.get_rng_state()
                if cuda:
                    self._cuda_rng_state = torch.cuda.get_rng_state(self.device)

    def train_epoch(self, epoch: int) -> dict:
        """One pass of the sampler; returns ``{"epoch", "loss", "time", ...}``."""
        with self._own_rng():
            return self._train_epoch(epoch)

    def _train_epoch(self, epoch: int) -> dict:
        self.model.train()
        for cb in self.callbacks:
            cb.on_epoch_start(self, epoch)
        start = time.perf_counter()
        total, count = torch.zeros((), device=self.device), 0
        batches = tqdm(self.sampler.batches(epoch), total=len(self.sampler), desc=f"epoch {epoch + 1}", leave=False, disable=not self.show_progress)
        for batch in batches:
            graph = self.graph.drop_edges(self.edge_dropout, self.dropout_generator) if self.edge_dropout else self.graph
            user_emb, item_emb = self.model(graph)
            if self.sampler.needs_scores:
                batch = self.sampler.select(batch, EmbeddingScorer(user_emb, item_emb), epoch)
            output = self.objective(self.model, user_emb, item_emb, batch, self.step, graph=graph)
            self.optimizer.zero_grad(set_to_none=True)
            output.loss.backward()
            self.optimizer.step()
            self.step += 1
            total += output.loss.detach() * len(batch)
            count += len(batch)
            for cb in self.callbacks:
                cb.on_batch_end(self, batch, output)
        return {"epoch": epoch + 1, "loss": float(total) / max(count, 1), "time": time.perf_counter() - start}

    @torch.no_grad()
    def validate(self) -> dict:
        """Full-ranking metrics on the validation interactions (train items masked)."""
        exclude = [self.train] if self.train is not None else []
        return self.evaluator.evaluate(self.model.scorer(self.graph), self.valid, exclude=exclude).metrics

    def _check_finite(self, epoch: int, logs: dict) -> None:
        """Once per epoch (cheap): the accumulated loss, the weights and the monitored validation
        score must be finite, else :class:`DivergedError` (the CLI exits with status 4)."""
        hint = "lower --lr (or --weight-decay), or check the data"
        if not math.isfinite(logs["loss"]):
            raise DivergedError(f"training diverged at epoch {epoch + 1}: the epoch loss is {logs['loss']}; {hint}", epoch + 1)
        if "valid" not in logs:
            for name, param in self.model.named_parameters():
                if not bool(torch.isfinite(param).all()):
                    raise DivergedError(f"training diverged at epoch {epoch + 1}: parameter {name} is not finite; {hint}", epoch + 1)
            return
        value = logs["valid"].get(self.monitor)
        if value is not None and not math.isfinite(value):
            raise DivergedError(f"training diverged at epoch {epoch + 1}: validation {self.monitor} is {value}; {hint}", epoch + 1)

    def _track_best(self, epoch: int, valid: dict) -> None:
        if self.monitor not in valid:
            raise ConfigError(f"monitor {self.monitor!r} is not a validation metric; available: {sorted(valid)}")
        if self.result.best_epoch is None or valid[self.monitor] > self.result.best_valid[self.monitor]:
            self.result.best_epoch, self.result.best_valid = epoch + 1, dict(valid)
            self._best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    # ------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        """Everything needed to continue exactly: weights, optimiser, RNGs, history, callbacks."""
        return {
            "version": CHECKPOINT_VERSION,
            "epoch": self.epoch,
            "step": self.step,
            "model": self._last_state if self._last_state is not None else self.model.state_dict(),
            "objective": self.objective.state_dict(),
            "objective_extra": getattr(self.objective, "state_dict_extra", dict)(),
            "optimizer": self.optimizer.state_dict(),
            "sampler": self.sampler.state_dict(),
            "dropout_generator": self.dropout_generator.get_state(),
            # the loop's own default-generator streams (dropout layers and the like)
            "torch_rng": self._rng_state,
            "cuda_rng": [self._cuda_rng_state] if self._cuda_rng_state is not None else [],
            "result": copy.deepcopy(self.result.__dict__),
            "best_state": self._best_state,
            "callbacks": [cb.state_dict() for cb in self.callbacks],
            "should_stop": self.should_stop,
        }

    def load_state_dict(self, state: dict) -> None:
        if state.get("version") != CHECKPOINT_VERSION:
            raise CheckpointError(f"checkpoint version {state.get('version')!r} is not supported (expected {CHECKPOINT_VERSION})")
        try:
            self.model.load_state_dict(state["model"])
            self.objective.load_state_dict(state["objective"])
        except RuntimeError as exc:
            raise CheckpointError(f"checkpoint does not match the model/objective: {exc}") from exc
        if hasattr(self.objective, "load_state_dict_extra"):
            self.objective.load_state_dict_extra(state["objective_extra"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.sampler.load_state_dict(state["sampler"])
        self.dropout_generator.set_state(state["dropout_generator"])
        if "torch_rng" in state:
            self._rng_state = state["torch_rng"].cpu()
        if state.get("cuda_rng") and self.device.type == "cuda":
            self._cuda_rng_state = state["cuda_rng"][0].cpu()
        self.result = FitResult(**state["result"])
        self._best_state = state["best_state"]
        self._last_state = None
        if len(state["callbacks"]) != len(self.callbacks):
            raise CheckpointError(f"checkpoint has {len(state['callbacks'])} callback states, trainer has {len(self.callbacks)} callbacks")
        for cb, cb_state in zip(self.callbacks, state["callbacks"]):
            cb.load_state_dict(cb_state)
        self.epoch, self.step, self.should_stop = state["epoch"], state["step"], state["should_stop"]

    def save_checkpoint(self, path: str | Path) -> None:
        """Atomically write :meth:`state_dict` to ``path``."""
        atomic_torch_save(self.state_dict(), path)

    def load_checkpoint(self, path: str | Path) -> None:
        """Restore from :meth:`save_checkpoint`; the next :meth:`fit` continues from there."""
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"no checkpoint at {path}; train first or pass the right --output/--resume path")
        try:
            state = torch.load(path, map_location=self.device, weights_only=True)
        except Exception as exc:  # corrupt or truncated file
            raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from exc
        if not isinstance(state, dict):
            raise CheckpointError(f"{path} holds a {type(state).__name__}, not a trainer checkpoint; delete it or train without --resume")
        try:
            self.load_state_dict(state)
        except CheckpointError as exc:
            raise CheckpointError(f"{path}: {exc}") from exc
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, RuntimeError) as exc:
            raise CheckpointError(
                f"{path} is not a complete trainer checkpoint ({type(exc).__name__}: {exc}); delete it or train without --resume"
            ) from exc
