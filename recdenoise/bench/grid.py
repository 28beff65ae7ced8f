"""The denoising benchmark grid: datasets x noise settings x backbones x methods x seeds.

:class:`DenoiseGrid` composes one :class:`~recdenoise.config.RunConfig` per cell from a base
config and runs it with :func:`~recdenoise.experiment.run_experiment` in its own folder::

    <output_dir>/<dataset>/<noise>-<ratio>/<backbone>/<method>/seed<k>/run.json

(``natural`` noise has no ratio: ``<dataset>/natural/...``). Cells run under the noisy
validation protocol (``valid_noise=("clean", "noisy")``, config ``noise.valid``) live under
``<output_dir>/valid-noisy/...`` with the same layout, so a clean-validation grid keeps its
folders. The grid is resumable: a cell
whose ``run.json`` is complete is read back, not recomputed; an interrupted cell resumes from
its checkpoint (``run_experiment(..., resume=True)``). Each run selects its epoch on
validation only and reports test metrics at that epoch, so the tables never look at test
to choose anything.

:func:`write_report` turns the finished cells into ``table.md`` / ``table.csv``
(:mod:`recdenoise.reporting.summary`) and figures (:mod:`recdenoise.reporting.plots`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from tqdm.auto import tqdm

from ..errors import ConfigError
from ..reporting.summary import CellKey, collect_rows, record_metrics, summarize, to_csv, to_markdown
from ..utils import atomic_write_text

__all__ = ["DenoiseGrid", "GridRun", "parse_noise", "load_cells", "write_report", "DEFAULT_METHOD_OPTIONS"]

logger = logging.getLogger(__name__)

NoiseSetting = tuple[str, "float | None"]

DEFAULT_METHOD_OPTIONS: dict[str, dict[str, Any]] = {}
"""Method options the grid passes unless the caller overrides them (none by default)."""


def parse_noise(spec: str) -> NoiseSetting:
    """``"injected:0.2"`` -> ``("injected", 0.2)``; ``"natural"`` -> ``("natural", None)``.

    ``"natural:3"`` keeps natural noise with the base config's threshold (the number is the
    rating threshold, not a ratio) and is written ``("natural", None)`` too; set the threshold
    in the base config.
    """
    kind, _, value = spec.partition(":")
    kind = kind.strip()
    if kind == "injected":
        if not value:
            raise ConfigError(f"noise {spec!r}: injected noise needs a ratio, e.g. 'injected:0.2'")
        try:
            ratio = float(value)
        except ValueError as exc:
            raise ConfigError(f"noise {spec!r}: ratio {value!r} is not a number") from exc
        if not 0 <= ratio:
            raise ConfigError(f"noise {spec!r}: ratio must be >= 0")
        return ("injected", ratio)
    if kind in ("natural", "none"):
        return (kind, None)
    raise ConfigError(f"noise {spec!r}: kind must be 'injected:<ratio>', 'natural' or 'none'")


# ------------------------------------------------------------------------ config
def _replace(obj: Any, path: str, value: Any) -> Any:
    """``dataclasses.replace`` along a dotted path (``"train.method"``) of nested dataclasses."""
    head, _, rest = path.partition(".")
    if not dataclasses.is_dataclass(obj) or head not in {f.name for f in dataclasses.fields(obj)}:
        raise ConfigError(f"config {type(obj).__name__} has no field {head!r} (setting {path!r})")
    return dataclasses.replace(obj, **{head: _replace(getattr(obj, head), rest, value) if rest else value})


# Dotted RunConfig paths the grid sets per cell; kept in one place so a config change is a
# one-line change here.
CONFIG_PATHS = {
    "dataset": "data.dataset",
    "noise": "noise.kind",
    "ratio": "noise.ratio",
    "backbone": "model.name",
    "method": "method.name",
    "method_options": "method.options",
    "seed": "seed",
    "output": "output_dir",
    "valid_noise": "noise.valid",
}
VALID_PROTOCOLS = ("clean", "noisy", "both")
"""``both`` trains each cell once (selected on clean validation) and records the noisy protocol's picks too."""


# ------------------------------------------------------------------------ records
def read_record(path: Path) -> dict | None:
    """The run record at ``path`` if it is complete (parses, has test metrics), else ``None``."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("status", "complete") not in ("complete", "finished", "done"):
        return None
    try:
        record_metrics(record, "test")
    except ConfigError:
        return None
    return record


@dataclass
class GridRun:
    """What :meth:`DenoiseGrid.run` did: the finished cells and how many were (re)computed."""

    cells: list[tuple[CellKey, dict]] = field(default_factory=list)
    computed: list[CellKey] = field(default_factory=list)
    reused: list[CellKey] = field(default_factory=list)
    failed: list[tuple[CellKey, str]] = field(default_factory=list)
    by_protocol: dict[str, list[tuple[CellKey, dict]]] = field(default_factory=dict)


class DenoiseGrid:
    """Every (dataset, noise, backbone, method, seed) cell, run with ``run_experiment``.

    Args:
        datasets: registered dataset names, e.g. ``["ml-100k"]``.
        base_config: a :class:`~recdenoise.config.RunConfig` holding everything the cells
            share (data dir, split, epochs, patience, lr, ...); the grid overrides dataset,
            noise kind / ratio, backbone, method (+ options), seed and output folder.
        output_dir: root folder of the grid.
        backbones: model names.
        methods: method names (``"bce"`` adds the baseline of the BCE-based T-CE / R-CE).
        noise: ``(kind, ratio)`` pairs; ``ratio`` is ``None`` for natural noise.
        seeds: run seeds (model init, sampler, noise draw and split use the cell's seed).
        method_options: method -> options merged over the base config's options.
        runner: ``runner(config, resume=..., progress=...) -> result``; default
            :func:`recdenoise.experiment.run_experiment` (injectable for tests).
        progress: a tqdm bar over cells.
        keep_going: log a failing cell and continue (it is reported in :class:`GridRun`).
        valid_noise: validation protocols (``"clean"``, ``"noisy"``, or ``"both"``: one run per cell
            that records both, in ``<output_dir>/valid-both/...``); each runs every cell.
        executor: run the unfinished cells in parallel (:mod:`recdenoise.bench.executors`:
            local processes or Ray); ``None`` runs them one after another in this process.
    """

    def __init__(
        self,
        datasets: Sequence[str],
        base_config: Any,
        output_dir: str | Path,
        *,
        backbones: Sequence[str] = ("mf", "lightgcn"),
        methods: Sequence[str] = ("bpr", "pld", "nbpo", "tce", "rce"),
        noise: Sequence[NoiseSetting] = (("injected", 0.2), ("natural", None)),
        seeds: Sequence[int] = (0, 1, 2),
        method_options: Mapping[str, Mapping[str, Any]] | None = None,
        runner: Callable[..., Any] | None = None,
        progress: bool = True,
        keep_going: bool = False,
        valid_noise: Sequence[str] = ("clean",),
        executor: Any = None,
    ):
        for name, values in (("datasets", datasets), ("backbones", backbones), ("methods", methods), ("noise", noise), ("seeds", seeds)):
            if not values:
                raise ConfigError(f"DenoiseGrid: {name} is empty; give at least one")
        self.datasets = list(datasets)
        self.base_config = base_config
        self.output_dir = Path(output_dir)
        self.backbones = list(backbones)
        self.methods = list(methods)
        self.noise = [(kind, None if ratio is None else float(ratio)) for kind, ratio in noise]
        self.seeds = [int(s) for s in seeds]
        self.method_options = {**DEFAULT_METHOD_OPTIONS, **{k: dict(v) for k, v in (method_options or {}).items()}}
        self.runner = runner
        self.progress = progress
        self.keep_going = keep_going
        bad = [p for p in valid_noise if p not in VALID_PROTOCOLS]
        if not valid_noise or bad:
            raise ConfigError(f"DenoiseGrid: valid_noise must be a non-empty subset of {list(VALID_PROTOCOLS)}, got {list(valid_noise)}")
        self.valid_noise = list(dict.fromkeys(valid_noise))
        self.executor = executor

    # ------------------------------------------------------------------ cells
    def cells(self) -> list[CellKey]:
        """All cells, seeds innermost (a partly run grid has whole seed groups early)."""
        return [
            CellKey(dataset, kind, ratio, backbone, method, seed)
            for dataset in self.datasets
            for kind, ratio in self.noise
            for backbone in self.backbones
            for method in self.methods
            for seed in self.seeds
        ]

    def cell_dir(self, key: CellKey, protocol: str = "clean") -> Path:
        root = self.output_dir if protocol == "clean" else self.output_dir / f"valid-{protocol}"
        return root / key.relpath()

    def record_path(self, key: CellKey, protocol: str = "clean") -> Path:
        return self.cell_dir(key, protocol) / "run.json"

    def is_complete(self, key: CellKey, protocol: str = "clean") -> bool:
        return read_record(self.record_path(key, protocol)) is not None

    def config_for(self, key: CellKey, protocol: str = "clean") -> Any:
        """The base config with this cell's dataset, noise, backbone, method, seed and folder."""
        cfg = self.base_config
        base_options = _get(cfg, CONFIG_PATHS["method_options"]) or {}
        options = {**base_options, **self.method_options.get(key.method, {})}
        values = {
            "dataset": key.dataset,
            "noise": key.noise,
            "ratio": 0.0 if key.ratio is None else key.ratio,
            "backbone": key.backbone,
            "method": key.method,
            "method_options": options,
            "seed": key.seed,
            "output": self.cell_dir(key, protocol),
        }
        if protocol != "clean" or _get(cfg, CONFIG_PATHS["valid_noise"]) is not None:  # (a config without the field is clean)
            values["valid_noise"] = protocol
        for name, value in values.items():
            cfg = _replace(cfg, CONFIG_PATHS[name], value)
        return cfg

    # ------------------------------------------------------------------ running
    def _runner(self) -> Callable[..., Any]:
        if self.runner is not None:
            return self.runner
        from ..experiment import run_experiment  # local: the experiment module imports everything

        return run_experiment

    def check(self) -> None:
        """Fail fast: every cell's config, method and dataset, before any cell runs
        (:func:`recdenoise.bench.check.check_grid`)."""
        from .check import check_grid

        check_grid(self)

    def run(self, check: bool = True) -> GridRun:
        """Run every unfinished cell (resuming interrupted ones); returns all finished cells.

        :meth:`check` runs first (unless ``check=False``: the caller has just run it), so a bad
        name or missing dataset stops the grid before any cell.
        """
        if check:
            self.check()
        if self.executor is not None:
            from .executors import run_grid_cells

            return run_grid_cells(self, self.executor)
        runner = self._runner()
        result = GridRun()
        keys = [(key, protocol) for key in self.cells() for protocol in self.valid_noise]
        bar = tqdm(keys, desc="grid cells", disable=not self.progress, unit="cell")
        for key, protocol in bar:
            bar.set_postfix_str(f"{key.relpath()} ({protocol} valid)", refresh=False)
            record = read_record(self.record_path(key, protocol))
            if record is None:
                try:
                    runner(self.config_for(key, protocol), resume=True, progress=False)
                except Exception as exc:  # noqa: BLE001 - keep_going reports and continues
                    if not self.keep_going:
                        raise
                    logger.error("cell %s failed: %s", key.relpath(), exc)
                    result.failed.append((key, f"{type(exc).__name__}: {exc}"))
                    continue
                record = read_record(self.record_path(key, protocol))
                if record is None:
                    raise ConfigError(
                        f"cell {key.relpath()}: the runner returned but {self.record_path(key, protocol)} is missing or "
                        "incomplete; check the experiment's output_dir handling"
                    )
                result.computed.append(key)
            else:
                result.reused.append(key)
            result.cells.append((key, record))
            result.by_protocol.setdefault(protocol, []).append((key, record))
        logger.info("grid: %d cells, %d computed, %d reused, %d failed", len(keys), len(result.computed), len(result.reused), len(result.failed))
        return result

    def load(self) -> list[tuple[CellKey, dict]]:
        """The finished cells of this grid (no running)."""
        return [(key, rec) for key in self.cells() if (rec := read_record(self.record_path(key, self.valid_noise[0]))) is not None]


def _get(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = getattr(obj, part, None)
    return obj


def load_cells(output_dir: str | Path) -> list[tuple[CellKey, dict]]:
    """Every complete ``run.json`` under a grid folder, keyed by its path (no config needed)."""
    root = Path(output_dir)
    cells = []
    for path in sorted(root.glob("*/*/*/*/seed*/run.json")):
        rel = path.relative_to(root).parts
        dataset, noise_label, backbone, method, seed_dir = rel[:5]
        kind, _, ratio = noise_label.partition("-")
        record = read_record(path)
        if record is None:
            continue
        key = CellKey(dataset, kind, float(ratio) if ratio else None, backbone, method, int(seed_dir[4:]))
        cells.append((key, record))
    return cells


# ------------------------------------------------------------------------ report
def write_report(
    cells: Iterable[tuple[CellKey, dict]],
    output_dir: str | Path,
    *,
    metrics: Sequence[str] = ("recall@20", "ndcg@20"),
    prefix: str = "denoise",
    snapshots: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
) -> dict[str, Path]:
    """Write ``table.md``, ``table.csv`` and the figures for finished grid cells.

    Figures (PNG, into ``output_dir``):

    - ``<prefix>_curves_<dataset>_<noise>_<backbone>.png``: validation Recall@20 per epoch,
      one line per method (mean over seeds);
    - ``<prefix>_ratio_<metric>.png`` when injected noise was run at several ratios;
    - ``<prefix>_losses_<name>.png`` for each entry of ``snapshots`` (name -> stage label ->
      ``{"losses", "is_noise", "users"}``, see :func:`recdenoise.bench.snapshots.loss_snapshots`).

    Returns:
        name -> path of every file written.
    """
    from ..reporting.plots import plot_loss_distributions, plot_metric_vs_ratio, plot_validation_curves

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    cells = list(cells)
    summary = summarize(collect_rows(cells, metrics), metrics)
    written = {"table.md": out / "table.md", "table.csv": out / "table.csv"}
    atomic_write_text(written["table.md"], to_markdown(summary, metrics) + _footnote(summary))
    atomic_write_text(written["table.csv"], to_csv(summary))

    groups: dict[tuple[str, str, str], dict[str, list]] = {}
    for key, record in cells:
        groups.setdefault((key.dataset, key.noise_label, key.backbone), {}).setdefault(key.method, []).append(record.get("history", []))
    for (dataset, noise_label, backbone), histories in groups.items():
        name = f"{prefix}_curves_{dataset}_{noise_label}_{backbone}.png"
        written[name] = plot_validation_curves(
            histories, out / name, metric=metrics[0], title=f"{dataset}, {noise_label} noise, {backbone}: validation"
        )
    injected = summary[(summary["noise"] == "injected") & summary["ratio"].notna()]
    if injected["ratio"].nunique() > 1:
        for m in metrics:
            name = f"{prefix}_ratio_{m.replace('@', '')}.png"
            written[name] = plot_metric_vs_ratio(summary, out / name, metric=m)
    for label, stages in (snapshots or {}).items():
        name = f"{prefix}_losses_{label}.png"
        written[name] = plot_loss_distributions(stages, out / name, title=f"training loss of clean vs noisy positives: {label}")
    return written


def _footnote(summary) -> str:
    bases = sorted({b for b in summary["baseline"] if b})
    lines = [
        "",
        "Test metrics at the epoch with the best validation Recall@20 (mean ± sample std over seeds).",
        "Δ: relative change of the mean vs the baseline in column `vs` (same dataset, noise, backbone): "
        "`bpr` for BPR-based methods (PLD, NBPO), `bce` for the BCE-based T-CE / R-CE when the grid has `bce` cells"
        + (", else `bpr`." if bases else "."),
        "Diagnostics (final epoch, mean over seeds): noisy share (train) = share of noisy training positives; "
        "noisy share (optimised) = weighted share of noisy examples among those optimised; "
        "loss AUC = P(loss of a noisy example > loss of a clean one) among optimised examples.",
    ]
    return "\n".join(lines) + "\n"
