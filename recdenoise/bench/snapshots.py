"""Loss snapshots: every training interaction's loss at chosen epochs of a plain run.

PLD's premise (Zhang et al., WWW 2025) is that *within a user* noisy interactions have
larger loss than clean ones, even where the global loss distributions overlap. To check it
on a dataset, :func:`loss_snapshots` trains a plain BPR (or BCE) model on a noise-labelled
training set and, at each requested epoch (e.g. the end of PLD's warm-up and the end of
training), records every interaction's loss with
:func:`recdenoise.diagnostics.interaction_losses` (averaged over ``num_negatives`` uniform
negatives to damp the negative draw). The result feeds
:func:`recdenoise.reporting.plots.plot_loss_distributions`.
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
import torch

from ..data.interactions import Split
from ..errors import ConfigError
from ..evaluation import Evaluator
from ..graph import BipartiteGraph
from ..methods import build_method
from ..models import build_model
from ..training import Trainer
from ..training.diagnostics import interaction_losses
from ..utils import resolve_device, seeded_rng

__all__ = ["loss_snapshots"]

logger = logging.getLogger(__name__)


def loss_snapshots(
    split: Split,
    backbone: str = "mf",
    epochs: Sequence[int] = (5, 100),
    *,
    method: str = "bpr",
    lr: float = 1e-3,
    batch_size: int = 2048,
    reg_weight: float = 1e-4,
    embedding_dim: int = 64,
    num_layers: int = 3,
    num_negatives: int = 10,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> dict[int, dict[str, np.ndarray]]:
    """Train ``method`` on ``split.train`` and snapshot per-interaction losses at ``epochs``.

    Args:
        split: train must carry ``is_noise`` (see :func:`recdenoise.data.noise.add_noise`).
        backbone: ``"mf"`` or ``"lightgcn"``.
        epochs: epochs (1-based counts of completed epochs) after which to snapshot.
        method: the plain method trained (``"bpr"`` or ``"bce"``; its loss is the one recorded).
        num_negatives: uniform negatives each interaction's loss is averaged over.
        seed: seeds the model, the sampler and the negatives of the snapshot.

    Returns:
        ``{epoch: {"losses": float [N], "is_noise": bool [N], "users": int64 [N],
        "valid_recall@20": float}}`` aligned with the rows of ``split.train``. The model is
        *not* restored to its best validation epoch between snapshots: a snapshot shows the
        weights training has reached at that epoch.

    Shapes:
        ``N = len(split.train)``.
    """
    train = split.train
    if train.is_noise is None:
        raise ConfigError("loss snapshots need noise labels: train.is_noise is None; apply add_noise(...) first")
    if method not in ("bpr", "bce"):
        raise ConfigError(f"loss snapshots train a plain method ('bpr' or 'bce'), got {method!r}")
    stages = sorted({int(e) for e in epochs})
    if not stages or stages[0] < 1:
        raise ConfigError(f"snapshot epochs must be positive integers, got {list(epochs)}")
    device = resolve_device(device)
    kwargs = {"num_layers": num_layers} if backbone == "lightgcn" else {}
    with seeded_rng(seed):  # seeded initialisation; the caller's RNG is untouched
        model = build_model(backbone, train.num_users, train.num_items, embedding_dim=embedding_dim, **kwargs).to(device)
    graph = BipartiteGraph.from_interactions(train, device)
    parts = build_method(method, train, model, graph=graph, batch_size=batch_size, reg_weight=reg_weight, device=device, seed=seed)
    # no evaluator in the trainer: it would restore the best validated weights after fit()
    trainer = Trainer(model, graph, parts.sampler, parts.objective, lr=lr, seed=seed)
    evaluator = Evaluator(ks=(20,), device=device)
    out: dict[int, dict[str, np.ndarray]] = {}
    for epoch in stages:
        trainer.fit(epoch)
        losses = interaction_losses(model, graph, train, loss=method, num_negatives=num_negatives, seed=seed)
        valid = evaluator.evaluate(model.scorer(graph), split.valid, exclude=[train]).metrics
        out[epoch] = {
            "losses": losses.numpy(),
            "is_noise": train.is_noise.copy(),
            "users": train.users.copy(),
            "valid_recall@20": float(valid.get("recall@20", np.nan)),
        }
        logger.info("loss snapshot %s/%s epoch %d: valid recall@20 %.4f", backbone, method, epoch, out[epoch]["valid_recall@20"])
    return out
