"""Short proxy runs for the scoring pass, and teachers loaded from a run folder.

Methods sit below ``training`` (they may not import the Trainer), so the scoring pass has its
own few-line loop: a seeded copy of the run's backbone, a uniform sampler and a pairwise
objective, Adam. Every draw comes from generators seeded from the run's seed.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Optional

import torch

from ...data.interactions import Interactions
from ...errors import ConfigError
from ...graph import BipartiteGraph
from ...losses.objective import PairwiseObjective
from ...models import MF
from ...samplers import NegativeSampler, UniformSampler
from ...utils import adam, seeded_rng

if TYPE_CHECKING:  # pragma: no cover
    from ...models import Recommender
    from ..registry import MethodContext

__all__ = ["proxy_model", "train_proxy", "proxy_embeddings", "proxy_runs", "scoring_negatives", "load_teacher", "run_seed"]

MODEL_FILE = "model.pt"


def run_seed(seed: int, run: int, salt: int) -> int:
    """The seed of proxy run ``run`` of a scoring pass: distinct from the run's own ``seed``."""
    return (seed * 1_000_003 + salt * 10_007 + run + 1) % 2**31


def proxy_model(ctx: "MethodContext", seed: int) -> "Recommender":
    """A copy of the run's backbone re-initialised from ``seed`` (an MF proxy when the context
    has no model: ``build_method(name, train)`` without one)."""
    with seeded_rng(seed):
        if ctx.model is None:
            return MF(ctx.train.num_users, ctx.train.num_items).to(ctx.device)
        model = copy.deepcopy(ctx.model)
        if not hasattr(model, "reset_parameters"):
            raise ConfigError(f"the scoring pass re-initialises the backbone, but {type(model).__name__} has no reset_parameters()")
        model.reset_parameters()
    return model


def train_proxy(
    model: "Recommender", ctx: "MethodContext", epochs: int, seed: int, lr: float, loss: str = "bpr", graph: Optional[BipartiteGraph] = None
) -> "Recommender":
    """Train ``model`` for ``epochs`` epochs of ``loss`` on all of ``ctx.train`` (in place)."""
    if epochs < 0:
        raise ConfigError(f"option score_epochs/teacher_epochs must be >= 0, got {epochs!r}")
    if lr <= 0:
        raise ConfigError(f"option score_lr must be > 0, got {lr!r}")
    graph = ctx.graph if graph is None else graph
    sampler = UniformSampler(ctx.train, batch_size=ctx.batch_size, device=ctx.device, seed=seed)
    objective = PairwiseObjective(loss, reg_weight=ctx.reg_weight)
    optimizer = adam(model.parameters(), lr=lr)
    model.train()
    step = 0
    for epoch in range(epochs):
        for batch in sampler.batches(epoch):
            user_emb, item_emb = model(graph)
            out = objective(model, user_emb, item_emb, batch, step)
            optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            optimizer.step()
            step += 1
    return model


def proxy_embeddings(model: "Recommender", graph: Optional[BipartiteGraph]) -> tuple[torch.Tensor, torch.Tensor]:
    """Final ``(user_emb [U, D], item_emb [I, D])`` in eval mode, detached."""
    scorer = model.scorer(graph)
    return scorer.user_emb, scorer.item_emb


def scoring_negatives(train: Interactions, num_negatives: int, seed: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(users [N], items [N], negatives [N, n])``: each training row with ``n`` uniform negatives
    (never a training positive of the user), drawn in one seeded call."""
    if num_negatives < 1:
        raise ConfigError(f"option score_negatives must be >= 1, got {num_negatives!r}")
    users = torch.from_numpy(train.users).to(device)
    items = torch.from_numpy(train.items).to(device)
    gen = torch.Generator(device=device).manual_seed(seed)
    return users, items, NegativeSampler(train, device=device).sample(users, num_negatives, gen)


def proxy_runs(ctx: "MethodContext", runs: int, epochs: int, lr: float, loss: str, salt: int) -> Iterator[tuple[int, tuple[torch.Tensor, torch.Tensor]]]:
    """``(seed, final embeddings)`` of ``runs`` short proxy runs with distinct seeds."""
    if runs < 1:
        raise ConfigError(f"option score_runs must be >= 1, got {runs!r}")
    for run in range(runs):
        seed = run_seed(ctx.seed, run, salt)
        model = train_proxy(proxy_model(ctx, seed), ctx, epochs, seed, lr, loss)
        yield seed, proxy_embeddings(model, ctx.graph)


def load_teacher(ctx: "MethodContext", run_dir: str) -> "Recommender":
    """The backbone with the weights of a finished run's ``model.pt`` (``{seed}`` in ``run_dir``
    is replaced by the run's seed, so one option serves every seed of a grid)."""
    if ctx.model is None:
        raise ConfigError("option teacher_dir needs the run's backbone: pass model= to build_method")
    path = Path(run_dir.format(seed=ctx.seed))
    file = path / MODEL_FILE if path.is_dir() else path
    if not file.is_file():
        raise ConfigError(f"option teacher_dir: no {MODEL_FILE} at {path}; train the teacher first (recdenoise train --output {path})")
    state = torch.load(file, map_location=ctx.device, weights_only=True)
    teacher = copy.deepcopy(ctx.model)
    try:
        teacher.load_state_dict(state)
    except RuntimeError as exc:
        raise ConfigError(f"option teacher_dir: {file} does not fit this run's backbone ({exc}); use a teacher of the same model and data") from exc
    return teacher
