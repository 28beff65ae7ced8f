"""Checks of a whole :class:`~recdenoise.bench.grid.DenoiseGrid` before its first cell runs.

A grid of ``ml-100k,ml-1m`` whose ML-1M files are missing, or whose last method has a typo or
an out-of-range option, would otherwise stop hours in, after every cell before it. Here each
distinct cell is checked in well under a second per method:

- each dataset is registered, has ratings if natural noise is asked for, and its files are found
  (unless ``data.download`` may fetch them);
- each cell's :class:`~recdenoise.config.RunConfig` is built (so its own validation runs) and its
  method's typed options are read;
- each (backbone, method, options) is built on a 16 × 24 synthetic problem, so every component
  validates its options as it would in the run (``tau > 0``, fractions in ``[0, 1)``, ...). Methods
  whose options point at data-bound files (LLMRec's augment folder, a ``*_dir`` teacher run)
  are left to their run; they check those files when they load them.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:
    from .grid import DenoiseGrid

_TINY = {"num_users": 16, "num_items": 24}
"""Size of the synthetic problem the methods are built on."""


def check_grid(grid: "DenoiseGrid") -> None:
    """Raise on the first invalid dataset, config or method option of ``grid``; run nothing.

    A base config that is not a :class:`~recdenoise.config.RunConfig` (a custom runner's) is left
    to that runner.

    Raises:
        ConfigError: naming the dataset or cell and what to change.
        DatasetNotFoundError: a dataset's files are nowhere (the message says where to put them).
    """
    from ..config import RunConfig
    from ..data.registry import get_manifest, has_ratings, locate_dataset

    if not isinstance(grid.base_config, RunConfig):
        return
    for dataset in grid.datasets:
        if ("natural", None) in grid.noise and not has_ratings(dataset):
            raise ConfigError(
                f"grid: natural noise needs ratings, and dataset {dataset!r} has none (its files hold "
                "interactions only); run it with injected noise (--noise injected:0.2) in a grid of its own"
            )
    built: set[tuple] = set()
    seen: set[tuple] = set()
    for key in grid.cells():
        combo = (key.dataset, key.noise, key.ratio, key.backbone, key.method)
        if combo in seen:
            continue
        seen.add(combo)
        try:
            cfg = grid.config_for(key, grid.valid_noise[0])
            build = (key.backbone, key.method, repr(sorted(cfg.method.options.items())))
            if build not in built:
                built.add(build)
                _dry_build(cfg)
        except (ValueError, TypeError) as exc:  # ConfigError is a ValueError
            raise ConfigError(f"grid cell {key.relpath()}: {exc}") from exc
    data = grid.base_config.data
    for dataset in grid.datasets:
        if get_manifest(dataset).format != "synthetic" and not data.download:
            locate_dataset(dataset, data.data_dir, cache_dir=data.cache_dir)


def _dry_build(cfg: Any) -> None:
    """Build ``cfg``'s backbone and method on a tiny synthetic split, on the CPU, RNG untouched."""
    import torch

    from ..data import prepare_data
    from ..experiment import build_run
    from ..methods.registry import method_options, resolve_run_method
    from ..utils import seeded_rng

    name, options = resolve_run_method(cfg)
    method_options(name, options)  # unknown names and options, typed values
    if name.startswith("llmrec") or any(k.endswith("_dir") and v is not None for k, v in options.items()):
        return
    split, _ = prepare_data("synthetic", options=_TINY)
    tiny = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, dataset="synthetic", options=dict(_TINY)))
    with seeded_rng(0):
        build_run(tiny, split, torch.device("cpu"))
