"""LLMRec (Wei et al., WSDM 2024) training recipe: glue from an augment dir to trainer parts.

The offline LLM job (:mod:`recdenoise.llm`, ``recdenoise augment``) writes an *augment dir*
(its format, writer and reader live in :mod:`recdenoise.llm.augment_dir`; the names below
are re-exported here):

* ``augmented_edges.csv``: LLM-chosen BPR triples, columns ``user, pos_item, neg_item``
  (contiguous indices of the training split) and optionally the raw ids
  ``user_id, pos_item_id, neg_item_id`` (checked against the split when present);
* text-feature matrices (``.npy``, ``float [N, F]``) aligned to contiguous ids: item text,
  item augmented attributes, user profiles (file names in :data:`FEATURE_FILES`); all-zero
  rows mark nodes without a validated text (the ``*_mask.npy`` files say the same);
* ``manifest.json`` (optional): ``provenance.data_checksum`` must equal
  ``train.checksum()`` of the split trained on, which catches an augment dir made for another
  split seed (same id space, different train set: its triples could hold test items).

The method ``llmrec`` (:func:`build_llmrec`, through :func:`~recdenoise.methods.build_method`)
turns it into :class:`~recdenoise.methods.MethodParts` for the one :class:`~recdenoise.training.Trainer`:

* model: LightGCN/MF, wrapped in :class:`~recdenoise.models.fusion.FeatureFusion` when
  features are used;
* sampler: :class:`~recdenoise.samplers.augmented.AugmentedSampler` (uniform + augmented triples);
* objective: :class:`~recdenoise.losses.llmrec.LLMRecObjective` = pairwise loss with
  :class:`~recdenoise.losses.llmrec.PruneAugmented` + masked feature reconstruction;
* graph: the training graph (plus augmented positive edges with ``augment_graph=True``).

``recdenoise train --method llmrec --augment DIR`` (or ``--augment DIR`` with ``bpr``/``bce``,
which then names the loss) trains it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

import numpy as np
import torch

from ..data.interactions import Interactions
from ..errors import ConfigError
from ..graph import BipartiteGraph
from ..llm.augment_dir import EDGES_FILE, FEATURE_FILES, MANIFEST_FILE, AugmentData, load_augment_dir
from ..losses.llmrec import KEEPS, SCOPES, FeatureMAE, LLMRecObjective, PruneAugmented, SideChannelLoss
from ..losses.objective import LOSSES, MeanReducer, PairwiseObjective
from ..models import Recommender
from ..models.fusion import FeatureFusion
from ..samplers.augmented import AugmentedSampler
from ..utils import seeded_rng
from .registry import MethodContext, MethodParts, register_method

__all__ = [
    "EDGES_FILE",
    "MANIFEST_FILE",
    "FEATURE_FILES",
    "AugmentData",
    "LLMRecOptions",
    "LLMRecReferenceOptions",
    "load_augment_dir",
    "build_llmrec",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LLMRecOptions:
    """Options of the LLMRec recipe (``--method llmrec``): the one place their defaults live.

    Attributes:
        augment_dir: the augment dir (default: the run's ``--augment DIR``).
        use_augmented_edges: mix the LLM triples into batches.
        aug_rate: augmented triples per original triple in a batch (LLMRec ``aug_sample_rate``).
        augment_graph: also add augmented positives as edges of the propagation graph
            (off in LLMRec, which uses them as BPR samples only).
        prune_rate: :math:`\\omega` of :class:`PruneAugmented` (0 = no pruning).
        prune_scope: ``"augmented"`` (default) or ``"all"`` (reference code).
        prune_keep: ``"smallest"`` (paper, default) or ``"largest"`` (reference code).
        features: feature names to fuse (``None`` = all in the dir; ``()`` = none).
        feature_weight: one weight, or feature name -> weight.
        feature_layers, feature_dropout, proj_dim, residual: see :class:`FeatureFusion`.
        mask_rate: MAE mask share (0 disables reconstruction).
        mae_weight: weight of the reconstruction loss.
        mae_gamma: exponent of the scaled cosine error.
        loss: ``"bpr"`` or ``"bce"``.
        attribute_encoding: ``"auto"`` (per field when the augment dir has
            ``item_attribute_<field>_features.npy``, else the concatenated matrix), ``"per_field"``
            (the reference: one feature per field, one shared projection; an error without the
            files) or ``"concatenated"`` (one text of all fields, one projection).
        aug_bpr_weight: BPR of the user-profile channel against each item-attribute channel
            (reference ``aug_mf_rate`` 0.012; 0 = off).
        modality_bpr_weight: BPR within each modality (item text) channel (reference
            ``mm_mf_rate``, 1e-4 on Netflix; 0 = off).
        feature_reg_weight: L2 of the modality channels, :math:`\\frac{1}{2I}\\sum \\lVert \\cdot \\rVert^2`
            (reference ``feat_reg_decay`` 1e-5; 0 = off).
    """

    augment_dir: Optional[str] = None
    use_augmented_edges: bool = True
    aug_rate: float = 0.1
    augment_graph: bool = False
    prune_rate: float = 0.0
    prune_scope: str = "augmented"
    prune_keep: str = "smallest"
    features: Optional[tuple[str, ...]] = None
    feature_weight: Any = 0.1
    feature_layers: int = 1
    feature_dropout: float = 0.0
    proj_dim: Optional[int] = None
    residual: bool = False
    mask_rate: float = 0.0
    mae_weight: float = 0.1
    mae_gamma: float = 2.0
    loss: str = "bpr"
    attribute_encoding: str = "auto"
    aug_bpr_weight: float = 0.0
    modality_bpr_weight: float = 0.0
    feature_reg_weight: float = 0.0

    def __post_init__(self) -> None:
        if self.attribute_encoding not in ATTRIBUTE_ENCODINGS:
            raise ConfigError(f"attribute_encoding must be one of {ATTRIBUTE_ENCODINGS}, got {self.attribute_encoding!r}")
        if self.prune_scope not in SCOPES:
            raise ConfigError(f"prune_scope must be one of {SCOPES}, got {self.prune_scope!r}")
        if self.prune_keep not in KEEPS:
            raise ConfigError(f"prune_keep must be one of {KEEPS}, got {self.prune_keep!r}")
        if self.loss not in LOSSES:
            raise ConfigError(f"loss must be one of {sorted(LOSSES)}, got {self.loss!r}")
        if self.features is not None:
            unknown = [f for f in self.features if f not in FEATURE_FILES]
            if unknown:
                raise ConfigError(f"unknown features {unknown}; choose from {sorted(FEATURE_FILES)}")


@dataclass(frozen=True)
class LLMRecReferenceOptions(LLMRecOptions):
    """Options of ``--method llmrec-reference``: LLMRec's own recipe (``main.py`` and its Netflix
    ``parser.py``), the same fields as :class:`LLMRecOptions` with the reference's defaults.

    Prune **all** triples and **keep the largest** losses at rate 0.71 (``prune_loss``,
    ``prune_loss_drop_rate``); feature weights user profile 2.8 / item attributes 0.005 per
    field / item text 0.02 (``user_cat_rate`` / ``item_cat_rate`` / ``model_cat_rate``);
    attributes per field; side channels ``aug_mf_rate`` 0.012, ``mm_mf_rate`` 1e-4,
    ``feat_reg_decay`` 1e-5; MAE with ``mask_rate`` 0.1 and ``att_re_rate`` 1e-5;
    ``aug_sample_rate`` 0.1. What stays different from the reference is listed in
    ``docs/results/llmrec.md``.
    """

    prune_rate: float = 0.71
    prune_scope: str = "all"
    prune_keep: str = "largest"
    feature_weight: Any = field(default_factory=lambda: {"user_profile": 2.8, "item_attributes": 0.005, "item_text": 0.02})
    mask_rate: float = 0.1
    mae_weight: float = 1e-5
    attribute_encoding: str = "auto"
    aug_bpr_weight: float = 0.012
    modality_bpr_weight: float = 1e-4
    feature_reg_weight: float = 1e-5


ATTRIBUTE_ENCODINGS = ("auto", "per_field", "concatenated")
MODALITY_FEATURES = ("item_text",)
"""Features that are item *modalities* (the reference's text and image): ``mm_mf_rate`` and ``feat_reg`` act on them."""


def _feature_weights(names: list[str], weight: Any) -> list[float]:
    if isinstance(weight, Mapping):
        missing = [n for n in names if n not in weight]
        if missing:
            raise ConfigError(f"feature_weight has no weight for features {missing}")
        return [float(weight[n]) for n in names]
    return [float(weight)] * len(names)


def _augmented_graph(train: Interactions, data: AugmentData, device: torch.device) -> BipartiteGraph:
    """The training graph plus the augmented positives as edges (an edge present twice stays one)."""
    users = torch.cat([torch.tensor(train.users), torch.tensor(data.users)]).to(device)
    items = torch.cat([torch.tensor(train.items), torch.tensor(data.pos_items)]).to(device)
    key = torch.unique(users * train.num_items + items)
    return BipartiteGraph(key // train.num_items, key % train.num_items, train.num_users, train.num_items)


def _feature_matrices(opts: LLMRecOptions, data: AugmentData, names: list[str]) -> list[tuple[str, np.ndarray]]:
    """``(feature name, matrix)`` per fused matrix, user features first; ``item_attributes``
    expands to one matrix per field when ``attribute_encoding`` says so."""
    per_field = opts.attribute_encoding == "per_field" or (opts.attribute_encoding == "auto" and bool(data.attribute_fields))
    if per_field and not data.attribute_fields and "item_attributes" in names:
        raise ConfigError(
            "attribute_encoding='per_field' needs item_attribute_<field>_features.npy files in the augment dir; "
            "regenerate it with a writer that stores one matrix per attribute field, or use 'concatenated'"
        )
    out = []
    for side in ("user", "item"):
        for name in (n for n in names if FEATURE_FILES[n][0] == side):
            if name == "item_attributes" and per_field:
                out += [(name, data.attribute_fields[f]) for f in sorted(data.attribute_fields)]
            else:
                out.append((name, data.features[name]))
    return out


def _fusion(opts: LLMRecOptions, base: Recommender, data: Optional[AugmentData], seed: int, init_rng) -> tuple[Recommender, Optional[FeatureMAE], list[str]]:
    """The model to train (``base`` or a :class:`FeatureFusion` around it), the MAE, and the
    feature name of each of the model's matrices.

    New layers continue the backbone's seeded initialisation stream (``init_rng``: the CPU RNG
    state right after the backbone was built; ``None``: a stream seeded with ``seed``) inside a
    forked RNG, so the caller's global RNG is untouched. Per-field attribute matrices share one
    projection (the reference's ``item_trans``).
    """
    available = {} if data is None else {**data.features, **({"item_attributes": None} if data.attribute_fields else {})}
    names = [n for n in (opts.features if opts.features is not None else FEATURE_FILES) if n in available]
    if opts.features:
        absent = [n for n in opts.features if n not in available]
        if absent:
            raise ConfigError(f"features {absent} were asked for but the augment dir has no {[FEATURE_FILES[n][1] for n in absent]}")
    if opts.mask_rate > 0 and not names:
        raise ConfigError("mask_rate > 0 needs side features: the augment dir has none or features=()")
    if not names:
        return base, None, []
    matrices = _feature_matrices(opts, data, names)
    kinds = [name for name, _ in matrices]
    with seeded_rng(seed, state=init_rng):
        net = FeatureFusion(
            base.cpu(),
            [torch.from_numpy(x) for name, x in matrices if FEATURE_FILES[name][0] == "user"],
            [torch.from_numpy(x) for name, x in matrices if FEATURE_FILES[name][0] == "item"],
            proj_dim=opts.proj_dim,
            dropout=opts.feature_dropout,
            feature_weight=_feature_weights(kinds, opts.feature_weight),
            feature_layers=opts.feature_layers,
            residual=opts.residual,
            projection_groups=[list(dict.fromkeys(kinds)).index(name) for name in kinds],
        )
        mae = FeatureMAE.for_model(net, mask_rate=opts.mask_rate, gamma=opts.mae_gamma, seed=seed) if opts.mask_rate > 0 else None
    return net, mae, kinds


def _side_channels(opts: LLMRecOptions, kinds: list[str]) -> Optional[SideChannelLoss]:
    if not (opts.aug_bpr_weight or opts.modality_bpr_weight or opts.feature_reg_weight) or not kinds:
        return None
    profile = kinds.index("user_profile") if "user_profile" in kinds else None
    if opts.aug_bpr_weight > 0 and (profile is None or "item_attributes" not in kinds):
        logger.warning("aug_bpr_weight > 0 needs user_profile and item_attributes features; the term is skipped")
    return SideChannelLoss(
        profile,
        [k for k, name in enumerate(kinds) if name == "item_attributes"],
        [k for k, name in enumerate(kinds) if name in MODALITY_FEATURES],
        aug_weight=opts.aug_bpr_weight,
        modality_weight=opts.modality_bpr_weight,
        reg_weight=opts.feature_reg_weight,
    )


@register_method("llmrec", LLMRecOptions)
def build_llmrec(opts: LLMRecOptions, ctx: MethodContext) -> MethodParts:
    """LLMRec (Wei et al., WSDM 2024): LLM-augmented triples with pruning, fused text features, MAE.

    Without an augment dir (neither ``augment_dir`` nor the run's ``--augment``) it is the
    plain base model with BPR through the same path (a baseline); asking for features or
    masking without one is an error. Returns parts whose ``model`` (a :class:`FeatureFusion`
    when features are used) and ``graph`` (augmented with ``augment_graph``) are the ones to train.
    """
    if ctx.model is None:
        raise ConfigError("method 'llmrec' needs the backbone model: build_method(config, train, model)")
    train, device = ctx.train, ctx.device
    augment_dir = opts.augment_dir or ctx.augment_dir
    data = None
    if augment_dir is not None:
        data = load_augment_dir(augment_dir, train, require_edges=opts.use_augmented_edges)
    elif opts.features or opts.mask_rate > 0:
        raise ConfigError("side features and masking need an augment dir; pass --augment DIR or drop those options")
    if data is not None and opts.use_augmented_edges and opts.aug_rate > 0 and data.num_edges == 0:
        logger.warning("the augment dir %s has no augmented triples: training on the original ones only", data.path)
    use_edges = data is not None and opts.use_augmented_edges and data.num_edges > 0
    graph = _augmented_graph(train, data, device) if use_edges and opts.augment_graph else ctx.graph

    net, mae, kinds = _fusion(opts, ctx.model, data, ctx.seed, ctx.init_rng)
    edges = (data.users, data.pos_items, data.neg_items) if use_edges else ([], [], [])
    sampler = AugmentedSampler(
        train, *edges, aug_rate=opts.aug_rate if use_edges else 0.0, batch_size=ctx.batch_size, device=device, seed=ctx.seed
    )
    reducer = PruneAugmented(opts.prune_rate, opts.prune_scope, opts.prune_keep) if opts.prune_rate > 0 else MeanReducer()
    base_objective = PairwiseObjective(opts.loss, reg_weight=ctx.reg_weight, reducer=reducer)
    objective = LLMRecObjective(
        base_objective, mae=mae, mae_weight=opts.mae_weight if mae is not None else 0.0, side=_side_channels(opts, kinds)
    )
    return MethodParts(sampler, objective.to(device), model=net.to(device), graph=graph)


register_method("llmrec-reference", LLMRecReferenceOptions, "LLMRec with the reference code's recipe (pruning, weights, side channels)")(build_llmrec)
