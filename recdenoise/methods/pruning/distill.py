r"""Teacher distillation on pruned data (Ben-Baruch et al., "Distilling the Knowledge in Data
Pruning", 2024): a teacher trained on all the data, a student trained on the pruned set with a
loss that mixes BPR with the teacher's soft pairwise preferences.

.. math::
    \ell_{uij} = (1 - \alpha)\, \ell^{\mathrm{BPR}}_{uij}
    + \alpha\, T^2\, \mathrm{BCE}\!\Big(\sigma\big(\tfrac{\hat y_{ui} - \hat y_{uj}}{T}\big),\
      \sigma\big(\tfrac{\hat y^{t}_{ui} - \hat y^{t}_{uj}}{T}\big)\Big)

(the soft target of Hinton et al.'s distillation, for the one binary comparison BPR makes).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F

from ...errors import ConfigError
from ...losses.objective import LossOutput, PairwiseObjective
from ...scoring import pair_scores
from ..registry import MethodContext, MethodParts, register_method
from .builders import pruned_parts
from .scores import check_choice, el2n_scores
from .short_runs import load_teacher, proxy_embeddings, proxy_model, run_seed, scoring_negatives, train_proxy

__all__ = ["KDOptions", "DistillObjective"]


@dataclass(frozen=True)
class KDOptions:
    """Options of ``kd``.

    Attributes:
        fraction: share of the training interactions pruned, in ``[0, 1)``.
        score: what prunes: ``"teacher"`` (the teacher's EL2N, free once it is trained) or
            ``"random"`` (the paper's headline setting).
        prune: ``"high"`` / ``"low"`` end of the teacher score (see ``el2n``).
        min_per_user: each user keeps at least this many interactions.
        prune_graph: also drop the pruned interactions from the propagation graph.
        alpha: distillation weight :math:`\\alpha` (0 = BPR on the pruned set).
        temperature: :math:`T` of both soft probabilities.
        teacher_dir: a finished run folder (or its ``model.pt``) of the same backbone and data
            (``{seed}`` is replaced by the run's seed); ``None`` trains one on the fly.
        teacher_epochs: epochs of the on-the-fly teacher (BPR on all the data).
        score_lr: Adam learning rate of the on-the-fly teacher.
        score_negatives: negatives per interaction for the teacher score.
        num_negatives: negatives per positive during training.
        loss: ``"bpr"`` only (the distillation target is a pairwise preference).
    """

    fraction: float = 0.2
    score: str = "teacher"
    prune: str = "high"
    min_per_user: int = 1
    prune_graph: bool = True
    alpha: float = 0.5
    temperature: float = 1.0
    teacher_dir: Optional[str] = None
    teacher_epochs: int = 20
    score_lr: float = 0.005
    score_negatives: int = 4
    num_negatives: int = 1
    loss: str = "bpr"


class DistillObjective(PairwiseObjective):
    """BPR mixed with the teacher's soft pairwise preference (see the module docstring).

    Args:
        teacher_user, teacher_item: the teacher's final embeddings ``[U, D]``, ``[I, D]`` (fixed).
        alpha, temperature: see :class:`KDOptions`.

    Shapes:
        per-example losses ``[B]`` (the plain BPR part is what ``per_example`` reports).
    """

    def __init__(self, teacher_user: torch.Tensor, teacher_item: torch.Tensor, reg_weight: float = 1e-4, alpha: float = 0.5, temperature: float = 1.0):
        if not 0.0 <= alpha <= 1.0:
            raise ConfigError(f"option alpha must be in [0, 1], got {alpha!r}")
        super().__init__("bpr", reg_weight, reducer=_ScaledMean(1 - alpha))
        if temperature <= 0:
            raise ConfigError(f"option temperature must be > 0, got {temperature!r}")
        self.teacher_user, self.teacher_item = teacher_user.detach(), teacher_item.detach()
        self.alpha, self.temperature = alpha, temperature

    def forward(self, model, user_emb, item_emb, batch, step, graph=None) -> LossOutput:
        out = super().forward(model, user_emb, item_emb, batch, step)  # (1 - alpha) * BPR + L2
        pos, neg = self.scores(user_emb, item_emb, batch)
        tu, ti = self.teacher_user.to(pos.device), self.teacher_item.to(pos.device)
        t_pos, t_neg = pair_scores(tu, ti, batch.users, batch.pos_items), pair_scores(tu, ti, batch.users, batch.neg_items)
        if neg.dim() == 1:
            neg, t_neg = neg.unsqueeze(-1), t_neg.unsqueeze(-1)
        temp = self.temperature
        student = (pos.unsqueeze(-1) - neg) / temp
        target = torch.sigmoid((t_pos.unsqueeze(-1) - t_neg) / temp)
        kd = F.binary_cross_entropy_with_logits(student, target, reduction="none").mean(-1).mean() * temp**2
        out.loss = out.loss + self.alpha * kd
        out.stats["kd"] = kd.detach()
        return out


class _ScaledMean:
    """Reducer: ``scale`` times the plain mean."""

    def __init__(self, scale: float):
        self.scale = scale

    def __call__(self, losses, batch, step, pos_scores):
        return self.scale * losses.mean(), None

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


@register_method("kd", KDOptions)
def build_kd(options: KDOptions, ctx: MethodContext) -> MethodParts:
    """Teacher distillation on pruned data (Ben-Baruch et al., 2024): BPR + the full-data teacher's soft scores."""
    check_choice("score", options.score, ("teacher", "random"))
    check_choice("loss", options.loss, ("bpr",))
    start = time.perf_counter()
    seed = run_seed(ctx.seed, 0, salt=5)
    if options.teacher_dir is not None:
        teacher, source = load_teacher(ctx, options.teacher_dir), options.teacher_dir.format(seed=ctx.seed)
    else:
        teacher = train_proxy(proxy_model(ctx, seed), ctx, options.teacher_epochs, seed, options.score_lr)
        source = f"on the fly ({options.teacher_epochs} epochs)"
    teacher_user, teacher_item = proxy_embeddings(teacher, ctx.graph)
    if options.score == "teacher":
        users, items, negatives = scoring_negatives(ctx.train, options.score_negatives, seed, ctx.device)
        scores = el2n_scores(teacher_user, teacher_item, users, items, negatives)
    else:
        gen = torch.Generator(device=ctx.device).manual_seed(run_seed(ctx.seed, 1, salt=5))
        scores = torch.rand(len(ctx.train), device=ctx.device, generator=gen)
    parts = pruned_parts(ctx, options, scores, "kd", time.perf_counter() - start, options.prune, score=options.score, teacher=source, alpha=options.alpha)
    parts.objective = DistillObjective(teacher_user, teacher_item, ctx.reg_weight, options.alpha, options.temperature)
    return parts
