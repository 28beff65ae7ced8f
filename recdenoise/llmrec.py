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

:func:`build_llmrec_parts` turns it into ``(model, MethodParts, graph)`` for the one
:class:`~recdenoise.training.Trainer`:

* model: LightGCN/MF, wrapped in :class:`~recdenoise.models.fusion.FeatureFusion` when
  features are used;
* sampler: :class:`~recdenoise.samplers.augmented.AugmentedSampler` (uniform + augmented triples);
* objective: :class:`~recdenoise.losses.llmrec.LLMRecObjective` = pairwise loss with
  :class:`~recdenoise.losses.llmrec.PruneAugmented` + masked feature reconstruction;
* graph: the training graph (plus augmented positive edges with ``augment_graph=True``).

The method ``"llmrec"`` is also registered in :mod:`recdenoise.methods` for the
sampler/pruning part alone (options ``augment_dir``, ``aug_rate``, ``prune_*``), which works
with any model built by :func:`~recdenoise.models.build_model`.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

import torch

from .data.interactions import Interactions, Split
from .errors import ConfigError
from .graph import BipartiteGraph
from .llm.augment_dir import EDGES_FILE, FEATURE_FILES, MANIFEST_FILE, AugmentData, load_augment_dir
from .losses.llmrec import KEEPS, SCOPES, FeatureMAE, LLMRecObjective, PruneAugmented
from .losses.objective import LOSSES, MeanReducer, PairwiseObjective
from .methods import MethodParts, register_method
from .models import Recommender, build_model
from .models.fusion import FeatureFusion
from .samplers.augmented import AugmentedSampler
from .utils import resolve_device

__all__ = [
    "EDGES_FILE",
    "MANIFEST_FILE",
    "FEATURE_FILES",
    "AugmentData",
    "LLMRecOptions",
    "load_augment_dir",
    "build_llmrec_parts",
]

logger = logging.getLogger(__name__)

@dataclass
class LLMRecOptions:
    """Options of the LLMRec recipe (unknown keys are a :class:`ConfigError`).

    Attributes:
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
    """

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

    def __post_init__(self) -> None:
        if self.prune_scope not in SCOPES:
            raise ConfigError(f"prune_scope must be one of {SCOPES}, got {self.prune_scope!r}")
        if self.prune_keep not in KEEPS:
            raise ConfigError(f"prune_keep must be one of {KEEPS}, got {self.prune_keep!r}")
        if self.loss not in LOSSES:
            raise ConfigError(f"loss must be one of {sorted(LOSSES)}, got {self.loss!r}")
        if self.features is not None:
            self.features = tuple(self.features)
            unknown = [f for f in self.features if f not in FEATURE_FILES]
            if unknown:
                raise ConfigError(f"unknown features {unknown}; choose from {sorted(FEATURE_FILES)}")

    @classmethod
    def from_dict(cls, options: "Mapping[str, Any] | LLMRecOptions | None") -> "LLMRecOptions":
        if isinstance(options, LLMRecOptions):
            return options
        options = dict(options or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(f"unknown llmrec options {unknown}; valid options are {sorted(known)}")
        return cls(**options)


def _feature_weights(names: list[str], weight: Any) -> list[float]:
    if isinstance(weight, Mapping):
        missing = [n for n in names if n not in weight]
        if missing:
            raise ConfigError(f"feature_weight has no weight for features {missing}")
        return [float(weight[n]) for n in names]
    return [float(weight)] * len(names)


def build_llmrec_parts(
    augment_dir: str | Path | None,
    split: Split | Interactions,
    *,
    model: str = "lightgcn",
    embedding_dim: int = 64,
    num_layers: int = 3,
    batch_size: int = 2048,
    reg_weight: float = 1e-4,
    device: torch.device | str = "cpu",
    seed: int = 0,
    options: Mapping[str, Any] | LLMRecOptions | None = None,
) -> tuple[Recommender, MethodParts, BipartiteGraph]:
    """Build the LLMRec model, sampler, objective and training graph from an augment dir.

    Args:
        augment_dir: output dir of ``recdenoise augment``. ``None``: no augmentation at all
            (augmented edges are ignored), i.e. the plain base model with BPR, a baseline
            through the same path; asking for features or masking without one is an error.
        split: the split the augment dir was generated for (only ``train`` is read).
        model: base ID model, ``"lightgcn"`` or ``"mf"``; ``embedding_dim``/``num_layers`` as
            :func:`~recdenoise.models.build_model`.
        batch_size, reg_weight, seed: as :func:`~recdenoise.methods.build_method`; ``seed``
            also seeds the model initialisation and the MAE masks.
        device: where the model, graph and batches live.
        options: :class:`LLMRecOptions` or a dict of its fields.

    Returns:
        ``(model, MethodParts(sampler, objective, callbacks=[]), graph)``: hand all three to
        ``Trainer(model, graph, parts.sampler, parts.objective, callbacks=parts.callbacks, ...)``
        and evaluate with ``model.scorer(graph)``.
    """
    opts = LLMRecOptions.from_dict(options)
    train = split.train if isinstance(split, Split) else split
    device = resolve_device(device)
    data = None
    if augment_dir is not None:
        data = load_augment_dir(augment_dir, train, require_edges=opts.use_augmented_edges)
    elif opts.features or opts.mask_rate > 0:
        raise ConfigError("side features and masking need an augment_dir; pass one or drop those options")

    if data is not None and opts.use_augmented_edges and opts.aug_rate > 0 and data.num_edges == 0:
        logger.warning("the augment dir %s has no augmented triples: training on the original ones only", data.path)
    graph = BipartiteGraph.from_interactions(train, device=device)
    use_edges = data is not None and opts.use_augmented_edges and data.num_edges > 0
    if use_edges and opts.augment_graph and data.num_edges:
        users = torch.cat([torch.tensor(train.users), torch.tensor(data.users)]).to(device)
        items = torch.cat([torch.tensor(train.items), torch.tensor(data.pos_items)]).to(device)
        key = torch.unique(users * train.num_items + items)  # an edge present twice stays one unit-weight edge
        graph = BipartiteGraph(key // train.num_items, key % train.num_items, train.num_users, train.num_items)

    with torch.random.fork_rng(devices=[]):  # initialise from `seed` without touching the caller's RNG
        torch.manual_seed(seed)
        base = build_model(model, train.num_users, train.num_items, embedding_dim=embedding_dim, num_layers=num_layers)
        names = [] if data is None else [n for n in (opts.features if opts.features is not None else FEATURE_FILES) if n in data.features]
        if opts.features:
            absent = [n for n in opts.features if data is None or n not in data.features]
            if absent:
                raise ConfigError(f"features {absent} were asked for but the augment dir has no {[FEATURE_FILES[n][1] for n in absent]}")
        net: Recommender = base
        if names:
            user_names = [n for n in names if FEATURE_FILES[n][0] == "user"]
            item_names = [n for n in names if FEATURE_FILES[n][0] == "item"]
            net = FeatureFusion(
                base,
                [torch.from_numpy(data.features[n]) for n in user_names],
                [torch.from_numpy(data.features[n]) for n in item_names],
                proj_dim=opts.proj_dim,
                dropout=opts.feature_dropout,
                feature_weight=_feature_weights(user_names + item_names, opts.feature_weight),
                feature_layers=opts.feature_layers,
                residual=opts.residual,
            )
        mae = None
        if opts.mask_rate > 0:
            if not names:
                raise ConfigError("mask_rate > 0 needs side features: the augment dir has none or features=()")
            mae = FeatureMAE.for_model(net, mask_rate=opts.mask_rate, gamma=opts.mae_gamma, seed=seed)
    net = net.to(device)

    if use_edges:
        sampler = AugmentedSampler(
            train, data.users, data.pos_items, data.neg_items,
            aug_rate=opts.aug_rate, batch_size=batch_size, device=device, seed=seed,
        )  # fmt: skip
    else:
        sampler = AugmentedSampler(train, [], [], [], aug_rate=0.0, batch_size=batch_size, device=device, seed=seed)
    reducer = PruneAugmented(opts.prune_rate, opts.prune_scope, opts.prune_keep) if opts.prune_rate > 0 else MeanReducer()
    base_objective = PairwiseObjective(opts.loss, reg_weight=reg_weight, reducer=reducer)
    objective = LLMRecObjective(base_objective, mae=mae, mae_weight=opts.mae_weight if mae is not None else 0.0, graph=graph)
    return net, MethodParts(sampler, objective.to(device)), graph


_SAMPLER_OPTIONS = ("augment_dir", "aug_rate", "prune_rate", "prune_scope", "prune_keep", "loss")


@register_method("llmrec")
def _build_llmrec_method(train: Interactions, *, batch_size, reg_weight, device, seed, **options) -> MethodParts:
    """``build_method("llmrec", train, options={"augment_dir": ..., "aug_rate": 0.1, "prune_rate": 0.5})``:
    augmented triples + pruning for any plain model (features and MAE need :func:`build_llmrec_parts`)."""
    extra = sorted(set(options) - set(_SAMPLER_OPTIONS))
    if extra:
        raise ConfigError(
            f"method 'llmrec' takes options {list(_SAMPLER_OPTIONS)}, got {extra}; side features and masking "
            "need the fusion model: use recdenoise.llmrec.build_llmrec_parts"
        )
    if "augment_dir" not in options:
        raise ConfigError("method 'llmrec' needs the option augment_dir (output of `recdenoise augment`)")
    opts = LLMRecOptions.from_dict({k: v for k, v in options.items() if k != "augment_dir"})
    data = load_augment_dir(options["augment_dir"], train)
    sampler = AugmentedSampler(
        train, data.users, data.pos_items, data.neg_items,
        aug_rate=opts.aug_rate, batch_size=batch_size, device=device, seed=seed,
    )  # fmt: skip
    reducer = PruneAugmented(opts.prune_rate, opts.prune_scope, opts.prune_keep) if opts.prune_rate > 0 else MeanReducer()
    return MethodParts(sampler, PairwiseObjective(opts.loss, reg_weight=reg_weight, reducer=reducer))
