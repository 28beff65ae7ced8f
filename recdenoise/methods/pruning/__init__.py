"""Data pruning and pruning-adjacent regularisers as denoising methods (registered on import).

- ``random``, ``el2n``, ``grand``, ``prototype`` (:mod:`.builders`): a score per training
  interaction before training, a keep-set, plain training on it;
- ``elr`` (:mod:`.elr`): early-learning regularisation towards per-interaction running targets;
- ``kd`` (:mod:`.distill`): a student on the pruned set distilled from a full-data teacher.

Scores and their closed forms live in :mod:`.scores` and :mod:`.kmeans`; the scoring pass's
own short training loop in :mod:`.short_runs` (methods sit below ``training``).
"""

from . import builders, distill, elr  # noqa: F401  (registers the methods)
from .builders import PrototypeOptions, RandomPruneOptions, ScorePruneOptions
from .distill import DistillObjective, KDOptions
from .elr import ELRObjective, ELROptions
from .sampler import PrunedSampler

__all__ = [
    "RandomPruneOptions", "ScorePruneOptions", "PrototypeOptions", "ELROptions", "KDOptions",
    "PrunedSampler", "ELRObjective", "DistillObjective",
]
