r"""LLMRec's training objective (Wei et al., "LLMRec: Large Language Models with Graph
Augmentation for Recommendation", WSDM 2024, Sec. 3.3).

* :class:`PruneAugmented`: noise pruning of the BPR loss, a reducer for
  :class:`~recdenoise.losses.PairwiseObjective`.
* :class:`FeatureMAE`: masked-autoencoder feature enhancement: mask node features with a
  learned ``[MASK]`` token, encode through the fusion model, reconstruct with a decoder,
  scaled cosine error.
* :class:`SideChannelLoss`: the reference's BPR on the feature channels (user profile x each
  item-attribute field, ``aug_mf_rate``; each modality, ``mm_mf_rate``) and the modality
  feature regulariser (``feat_reg_decay``).
* :class:`LLMRecObjective`: BPR (pruned) + side channels + ``mae_weight`` x reconstruction.

**Pruning: which share is dropped.** The paper sorts the per-triple BPR losses ascending and
keeps the first :math:`(1-\omega)` share, i.e. it *drops the largest losses* as likely noise.
LLMRec's code (``prune_loss`` in ``main.py``) sorts ``logsigmoid(pos - neg)`` ascending and
keeps the first share of *that*, i.e. it keeps the *largest* losses. We default to the
paper's intent (``keep="smallest"``) because it is the stated method and the one that acts as
denoising (as in T-CE); ``keep="largest"`` reproduces the reference code. The reference prunes
every triple of the batch (``scope="all"``); we default to ``scope="augmented"``, pruning only
LLM-generated triples, which is where the noise this step targets comes from.

**Masking.** The reference code's item masking is behind ``args.mask`` (off in the shipped
configs) and replaces features by their mean *in place*. Here masking is an explicit option
(``mask_rate``; 0 disables) and always works on a copy.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..graph import BipartiteGraph
from ..scoring import bpr_loss, pair_scores
from ..types import TripletBatch
from .objective import LossOutput, PairwiseObjective

__all__ = ["PruneAugmented", "scaled_cosine_error", "FeatureMAE", "SideChannelLoss", "LLMRecObjective"]

SCOPES = ("augmented", "all")
KEEPS = ("smallest", "largest")


class PruneAugmented:
    r"""Drop a share :math:`\omega` of the triples of each batch by their loss (LLMRec's pruning).

    Among the candidate triples (the augmented ones, or all), exactly
    :math:`n - \lfloor (1-\omega)\, n \rfloor` are dropped: the largest-loss ones with
    ``keep="smallest"`` (paper, default), the smallest-loss ones with ``keep="largest"``
    (reference code). Non-candidates are always kept. The batch loss is the mean over kept
    triples (times ``batch.weights`` if the sampler set them):

    .. math::
        \mathcal{L} = \frac{\sum_b w_b \ell_b}{\sum_b w_b}, \qquad w_b \in \{0, 1\}

    A batch without an ``is_augmented`` flag has no augmented triple: with
    ``scope="augmented"`` nothing is pruned.

    Args:
        prune_rate: :math:`\omega \in [0, 1)` (LLMRec: 0.71 on Netflix, 0.4 on MovieLens).
        scope: ``"augmented"`` (default) or ``"all"`` (the reference).
        keep: ``"smallest"`` (default, the paper) or ``"largest"`` (the reference code).

    Shapes:
        losses: ``[B]`` -> (scalar, weights ``[B]``, 0 for dropped triples).
    """

    def __init__(self, prune_rate: float, scope: str = "augmented", keep: str = "smallest"):
        if not 0.0 <= prune_rate < 1.0:
            raise ConfigError(f"prune_rate must be in [0, 1), got {prune_rate}")
        if scope not in SCOPES:
            raise ConfigError(f"scope must be one of {SCOPES}, got {scope!r}")
        if keep not in KEEPS:
            raise ConfigError(f"keep must be one of {KEEPS}, got {keep!r}")
        self.prune_rate, self.scope, self.keep = float(prune_rate), scope, keep

    def candidates(self, batch: TripletBatch, size: int, device: torch.device) -> torch.Tensor:
        """``bool [B]``: the triples pruning may drop."""
        if self.scope == "all":
            return torch.ones(size, dtype=torch.bool, device=device)
        flags = batch.is_augmented
        return torch.zeros(size, dtype=torch.bool, device=device) if flags is None else flags.to(device)

    def num_dropped(self, num_candidates: int) -> int:
        # The epsilon keeps e.g. (1 - 0.7) * 10 = 3.0000000000000004 from flooring differently
        # from what the rate says; the reference computes int((1 - rate) * n).
        return num_candidates - int(math.floor((1.0 - self.prune_rate) * num_candidates + 1e-9))

    def __call__(self, losses: torch.Tensor, batch: TripletBatch, step: int, pos_scores: torch.Tensor):
        cand = self.candidates(batch, losses.shape[0], losses.device)
        drop = self.num_dropped(int(cand.sum()))
        weights = torch.ones_like(losses) if batch.weights is None else batch.weights.to(losses.dtype).clone()
        if drop > 0:
            fill = float("-inf") if self.keep == "smallest" else float("inf")
            key = losses.detach().masked_fill(~cand, fill)
            dropped = torch.topk(key, drop, largest=self.keep == "smallest").indices
            weights[dropped] = 0.0
        elif batch.weights is None:
            return losses.mean(), None
        loss = (weights * losses).sum() / weights.sum().clamp_min(1e-12)
        return loss, weights.detach()

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


def scaled_cosine_error(pred: torch.Tensor, target: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    r"""Scaled cosine error per row (GraphMAE; LLMRec's ``sce_criterion``):

    .. math::
        \ell_v = \left(1 - \frac{\hat{f}_v^\top f_v}{\lVert \hat{f}_v \rVert \lVert f_v \rVert}\right)^{\gamma}

    Shapes:
        pred, target: ``[M, F]``; returns ``[M]``.
    """
    cos = (F.normalize(pred, p=2, dim=-1) * F.normalize(target, p=2, dim=-1)).sum(-1)
    return (1.0 - cos).clamp_min(0.0).pow(gamma)


class FeatureMAE(nn.Module):
    r"""Masked feature reconstruction for a :class:`~recdenoise.models.fusion.FeatureFusion` model.

    Each call draws, per side (users, items), a random set :math:`\tilde{\mathcal{V}}` of
    ``floor(mask_rate * N)`` nodes (shared by that side's features, as in the reference),
    builds a *copy* of each feature matrix with those rows replaced by a learned token
    :math:`m_k \in \mathbb{R}^{F_k}`, encodes it with the model's projection and graph
    propagation, decodes the masked nodes' own-side encodings with :math:`g_k` (a linear
    layer; the reference's ``Linear + LeakyReLU(True)`` is linear too, ``True`` being its
    slope) and scores them against the original features:

    .. math::
        \mathcal{L}_{FR} = \sum_k \frac{1}{|\tilde{\mathcal{V}}|} \sum_{v \in \tilde{\mathcal{V}}}
        \left(1 - \cos(g_k(z_{k,v}), f_{k,v})\right)^{\gamma}

    Masked nodes whose stored feature row is all zeros (no feature produced) are left out
    of the mean: there is nothing to reconstruct.

    Args:
        feature_dims: ``F_k`` of the model's features (``model.feature_dims()``).
        sides: ``"user"``/``"item"`` of each feature (``model.sides``).
        embedding_dim: ``D``.
        mask_rate: share of nodes masked per side and call (LLMRec: 0.1; 0 disables).
        gamma: :math:`\gamma` of the scaled cosine error (LLMRec's ``alpha_l`` = 2).
        features: which feature indices to mask and reconstruct (default all).
        seed: seeds the mask draws (CPU generator, so masks do not depend on the device).
    """

    def __init__(
        self,
        feature_dims: Sequence[int],
        sides: Sequence[str],
        embedding_dim: int,
        *,
        mask_rate: float = 0.1,
        gamma: float = 2.0,
        features: Optional[Sequence[int]] = None,
        seed: int = 0,
    ):
        super().__init__()
        if len(feature_dims) != len(sides):
            raise ConfigError(f"feature_dims ({len(feature_dims)}) and sides ({len(sides)}) must have equal length")
        if not 0.0 <= mask_rate < 1.0:
            raise ConfigError(f"mask_rate must be in [0, 1), got {mask_rate}")
        if gamma <= 0:
            raise ConfigError(f"gamma must be > 0, got {gamma}")
        targets = list(range(len(feature_dims))) if features is None else [int(k) for k in features]
        bad = [k for k in targets if not 0 <= k < len(feature_dims)]
        if bad:
            raise ConfigError(f"features {bad} are not feature indices of the model (0..{len(feature_dims) - 1})")
        self.sides = tuple(sides)
        self.targets = targets
        self.mask_rate, self.gamma = float(mask_rate), float(gamma)
        self.mask_tokens = nn.ParameterList([nn.Parameter(torch.zeros(feature_dims[k])) for k in targets])
        self.decoders = nn.ModuleList([nn.Linear(embedding_dim, feature_dims[k]) for k in targets])
        self.generator = torch.Generator()
        self.generator.manual_seed(seed)

    @classmethod
    def for_model(cls, model, **kwargs) -> "FeatureMAE":
        """Build for a :class:`~recdenoise.models.fusion.FeatureFusion` (dims, sides, ``D`` read from it)."""
        return cls(model.feature_dims(), model.sides, model.embedding_dim, **kwargs)

    def draw_masks(self, num_users: int, num_items: int) -> dict[str, torch.Tensor]:
        """``{"user": long [M_U], "item": long [M_I]}`` masked node indices (CPU)."""
        out = {}
        for side, n in (("user", num_users), ("item", num_items)):
            if side in self.sides:
                count = int(self.mask_rate * n)
                out[side] = torch.randperm(n, generator=self.generator)[:count]
        return out

    def forward(self, model, graph: Optional[BipartiteGraph]) -> torch.Tensor:
        """Reconstruction loss (scalar); 0 when nothing is masked."""
        if tuple(model.sides) != self.sides:
            raise ConfigError(f"FeatureMAE was built for features {self.sides} but the model has {tuple(model.sides)}")
        masks = self.draw_masks(model.num_users, model.num_items)
        total = torch.zeros((), device=model.feature(0).device)
        for slot, k in enumerate(self.targets):
            side = self.sides[k]
            stored = model.feature(k)
            nodes = masks[side].to(stored.device)
            if nodes.numel() == 0:
                continue
            token = self.mask_tokens[slot].to(stored.dtype)
            # index_copy is out of place: the stored buffer is never written to.
            masked = stored.index_copy(0, nodes, token.unsqueeze(0).expand(nodes.numel(), -1))
            user_part, item_part = model.encode_feature(k, graph, masked)
            encoded = user_part if side == "user" else item_part
            target = stored[nodes]
            present = target.abs().sum(-1) > 0  # all-zero rows mark nodes the LLM job gave no feature
            if not bool(present.any()):
                continue
            decoded = self.decoders[slot](encoded[nodes[present]])
            total = total + scaled_cosine_error(decoded, target[present], self.gamma).mean()
        return total

    def state_dict_extra(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict_extra(self, state: dict) -> None:
        self.generator.set_state(state["generator"].cpu())


class SideChannelLoss(nn.Module):
    r"""LLMRec's side-channel losses on a :class:`~recdenoise.models.fusion.FeatureFusion` model.

    With :math:`(U^k, I^k)` = feature ``k`` projected and propagated to both sides, unnormalised
    (``model.encode_feature(k, graph)``, the reference's ``*_user_feats`` / ``*_item_feats``),
    and :math:`\mathrm{BPR}(X, Y) = \operatorname{mean}_b \operatorname{softplus}(x_{u_b}^\top y_{j_b} - x_{u_b}^\top y_{i_b})`
    over the batch (augmented triples included, unpruned, as the reference):

    .. math::
        \mathcal{L}_{side} = \lambda_{aug} \sum_{f} \mathrm{BPR}(U^{prof}, I^{f})
        + \lambda_{mm} \sum_{m} \mathrm{BPR}(U^{m}, I^{m})
        + \lambda_{feat} \frac{1}{2I} \sum_{m} \left(\lVert U^m \rVert_F^2 + \lVert I^m \rVert_F^2\right)

    where :math:`f` runs over the item-attribute features (one per field, or the concatenated
    one), ``prof`` is the user-profile feature and :math:`m` over the modality features (item
    text; the reference also has images). :math:`\lambda_{aug}, \lambda_{mm}, \lambda_{feat}` are
    the reference's ``aug_mf_rate`` (0.012), ``mm_mf_rate`` (1e-4 on Netflix) and
    ``feat_reg_decay`` (1e-5). The attribute term needs a profile feature; a term whose weight
    is 0 or whose features are absent is skipped.

    Args:
        profile: index of the user-profile feature in the model, or ``None``.
        attributes: indices of the item-attribute features.
        modalities: indices of the modality features.
        aug_weight, modality_weight, reg_weight: :math:`\lambda_{aug}, \lambda_{mm}, \lambda_{feat}`.
    """

    def __init__(
        self,
        profile: Optional[int],
        attributes: Sequence[int] = (),
        modalities: Sequence[int] = (),
        *,
        aug_weight: float = 0.0,
        modality_weight: float = 0.0,
        reg_weight: float = 0.0,
    ):
        super().__init__()
        if min(aug_weight, modality_weight, reg_weight) < 0:
            raise ConfigError(f"side-channel weights must be >= 0, got {aug_weight}, {modality_weight}, {reg_weight}")
        self.profile, self.attributes, self.modalities = profile, list(attributes), list(modalities)
        self.aug_weight, self.modality_weight, self.reg_weight = float(aug_weight), float(modality_weight), float(reg_weight)

    @property
    def active(self) -> bool:
        return bool(
            (self.aug_weight > 0 and self.profile is not None and self.attributes)
            or ((self.modality_weight > 0 or self.reg_weight > 0) and self.modalities)
        )

    @staticmethod
    def _bpr(user_part: torch.Tensor, item_part: torch.Tensor, batch: TripletBatch) -> torch.Tensor:
        pos = pair_scores(user_part, item_part, batch.users, batch.pos_items)
        neg = pair_scores(user_part, item_part, batch.users, batch.neg_items)
        return bpr_loss(pos, neg).mean()

    def forward(self, model, graph: Optional[BipartiteGraph], batch: TripletBatch) -> dict[str, torch.Tensor]:
        """``{"aug_bpr", "mm_bpr", "feat_reg"}``: the weighted terms that are active."""
        if graph is None:
            raise ConfigError("LLMRec's side-channel losses propagate features over the graph; call the objective with graph=...")
        channels: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

        def channel(k: int) -> tuple[torch.Tensor, torch.Tensor]:
            if k not in channels:
                channels[k] = model.encode_feature(k, graph)
            return channels[k]

        terms = {}
        if self.aug_weight > 0 and self.profile is not None and self.attributes:
            profile_users = channel(self.profile)[0]
            terms["aug_bpr"] = self.aug_weight * sum(self._bpr(profile_users, channel(k)[1], batch) for k in self.attributes)
        if self.modality_weight > 0 and self.modalities:
            terms["mm_bpr"] = self.modality_weight * sum(self._bpr(*channel(k), batch) for k in self.modalities)
        if self.reg_weight > 0 and self.modalities:
            squares = sum(channel(k)[0].pow(2).sum() + channel(k)[1].pow(2).sum() for k in self.modalities)
            terms["feat_reg"] = self.reg_weight * squares / (2.0 * model.num_items)
        return terms


class LLMRecObjective(nn.Module):
    r"""LLMRec's loss: the (pruned) pairwise objective plus masked feature reconstruction.

    .. math::
        \mathcal{L} = \mathcal{L}_{BPR}^{\text{pruned}} + \lambda_2 \lVert \Theta \rVert^2
        + \mathcal{L}_{side} + \lambda_{FR}\, \mathcal{L}_{FR}

    The reconstruction propagates the features over the graph of the step, which the trainer
    passes to every objective call (with edge dropout applied); the objective never stores it.

    Args:
        base: the pairwise objective (its reducer does the pruning, e.g. :class:`PruneAugmented`).
        mae: a :class:`FeatureMAE` (its mask tokens and decoders are trained: the trainer
            optimises the objective's parameters), or ``None``.
        mae_weight: :math:`\lambda_{FR}` (LLMRec's ``att_re_rate``).
        side: a :class:`SideChannelLoss` (:math:`\mathcal{L}_{side}`), or ``None``.
    """

    def __init__(
        self,
        base: PairwiseObjective,
        mae: Optional[FeatureMAE] = None,
        mae_weight: float = 0.0,
        side: Optional[SideChannelLoss] = None,
    ):
        super().__init__()
        if mae_weight < 0:
            raise ConfigError(f"mae_weight must be >= 0, got {mae_weight}")
        if mae_weight > 0 and mae is None:
            raise ConfigError("mae_weight > 0 needs a FeatureMAE (mae=...)")
        self.base = base
        self.mae = mae
        self.mae_weight = float(mae_weight)
        self.side = side if side is not None and side.active else None

    def forward(
        self,
        model,
        user_emb: torch.Tensor,
        item_emb: torch.Tensor,
        batch: TripletBatch,
        step: int,
        graph: Optional[BipartiteGraph] = None,
    ) -> LossOutput:
        out = self.base(model, user_emb, item_emb, batch, step)
        loss, stats = out.loss, dict(out.stats)
        flags = batch.is_augmented
        if flags is not None:
            stats["augmented"] = float(flags.sum())
            if out.weights is not None:
                stats["augmented_kept"] = float((out.weights[flags] > 0).sum())
        if self.side is not None:
            for name, term in self.side(model, graph, batch).items():
                loss = loss + term
                stats[name] = term.detach()
        if self.mae is not None and self.mae_weight > 0 and self.mae.mask_rate > 0:
            reconstruction = self.mae(model, graph)
            loss = loss + self.mae_weight * reconstruction
            stats["mae"] = float(reconstruction.detach())
        return LossOutput(loss, out.per_example, out.weights, stats)

    def state_dict_extra(self) -> dict:
        return {"base": self.base.state_dict_extra(), "mae": self.mae.state_dict_extra() if self.mae is not None else {}}

    def load_state_dict_extra(self, state: dict) -> None:
        if hasattr(self.base.reducer, "load_state_dict"):
            self.base.reducer.load_state_dict(state["base"])
        if self.mae is not None:
            self.mae.load_state_dict_extra(state["mae"])
