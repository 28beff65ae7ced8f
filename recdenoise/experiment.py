"""One training run end to end: data -> noise -> graph -> model + method -> trainer -> evaluation -> record.

:func:`run_experiment` is what ``recdenoise train`` and the benchmark grid call. With an
``output_dir`` it writes::

    run.json            resolved config, seed, versions, data checksums, noise summary,
                        per-epoch history, diagnostics, final valid/test metrics
    split/train.csv     the split with raw user/item ids (train has ``is_noise`` when labelled)
    split/valid.csv
    split/test.csv
    test_topk.csv       user,rank,item,score (raw ids): the lists behind the test metrics
    test_per_user.csv   per-user test metrics
    checkpoint.pt       resumable trainer state (written every epoch, atomically)
    model.pt            weights of the selected (best-validation) epoch

Every file is written atomically; ``run.json`` says ``"status": "running"`` until the run is
complete. ``resume=True`` continues from ``checkpoint.pt`` and ends with exactly the metrics of
an uninterrupted run (sampler, model, optimiser, RNG and callback states are all restored).
"""

from __future__ import annotations

import logging
import platform
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pandas as pd
import torch

from .config import RunConfig, config_from_dict, config_to_dict
from .data.interactions import Interactions, Split
from .data.noise import add_noise
from .data.registry import prepare_data
from .errors import CheckpointError, ConfigError
from .evaluation import EvalResult, Evaluator
from .graph import BipartiteGraph
from .methods import MethodParts, build_method
from .models import Recommender, build_model
from .training import Trainer
from .training.callbacks import Callback, Checkpoint, EarlyStopping, LogMetrics
from .utils import atomic_write, atomic_write_json, resolve_device, seed_everything

__all__ = ["RunResult", "run_experiment", "prepare_run_data", "build_run", "load_run", "versions"]

logger = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.pt"
MODEL_FILE = "model.pt"
RECORD_FILE = "run.json"

# Config fields that may differ between an interrupted run and its resumption.
_RESUMABLE_CHANGES = {("train", "epochs"), ("train", "progress"), ("train", "device"), ("train", "patience")}


@dataclass
class RunResult:
    """What :func:`run_experiment` returns (``record`` is what ``run.json`` holds)."""

    config: RunConfig
    record: dict
    split: Split
    model: Recommender
    graph: BipartiteGraph
    valid: Optional[EvalResult]
    test: EvalResult
    output_dir: Optional[Path]

    @property
    def test_metrics(self) -> dict[str, float]:
        return self.test.metrics


def versions() -> dict[str, str]:
    """Versions of Python and the libraries a result depends on."""
    import scipy
    import torch_geometric

    from . import __version__

    return {
        "recdenoise": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_geometric": torch_geometric.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "pandas": pd.__version__,
    }


# ------------------------------------------------------------------------------ data
def prepare_run_data(cfg: RunConfig) -> tuple[Split, dict[str, Any], dict[str, Any]]:
    """``(split, data_info, noise_summary)`` for a config: load, split and apply noise (seeded)."""
    d = cfg.data
    if cfg.noise.kind == "injected" and cfg.noise.ratio <= 0:
        raise ConfigError("noise kind 'injected' needs a ratio > 0 (e.g. --noise-ratio 0.2)")
    if cfg.noise.kind == "natural" and d.rating_threshold is not None:
        raise ConfigError(
            "natural noise keeps low ratings as noisy positives: it cannot be combined with "
            f"data.rating_threshold={d.rating_threshold}; set noise.threshold instead"
        )
    dataset: Any = d.dataset
    options = dict(d.options)
    if _is_table_path(d.dataset):  # any CSV/TSV/Parquet with a column mapping in data.options
        from .data.readers import read_table

        table_options = {k: options.pop(k) for k in list(options) if k in _TABLE_OPTIONS}
        table_options.setdefault("user_col", "user")
        table_options.setdefault("item_col", "item")
        dataset = read_table(d.dataset, **table_options)
    split, info = prepare_data(
        dataset,
        d.data_dir,
        split=d.split,
        ratios=d.ratios,
        rating_threshold=d.rating_threshold,
        k_core=d.k_core,
        seed=cfg.seed if d.split_seed is None else d.split_seed,
        download=d.download,
        cache_dir=d.cache_dir,
        options=options,
    )
    if cfg.noise.kind == "natural" and split.train.ratings is None:
        raise ConfigError(f"natural noise needs ratings, and dataset {d.dataset!r} has none; use --noise-kind injected")
    split, noise = add_noise(split, cfg.noise.kind, cfg.noise.ratio, cfg.noise.threshold, cfg.seed)
    return split, info, noise


_TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".pq", ".dat")
_TABLE_OPTIONS = ("user_col", "item_col", "rating_col", "timestamp_col", "sep", "format", "names", "encoding", "name")


def _is_table_path(dataset: str) -> bool:
    """A file path (``data/ratings.csv``) rather than a registered dataset name."""
    return Path(dataset).suffix.lower() in _TABLE_SUFFIXES or "/" in dataset or "\\" in dataset


# ----------------------------------------------------------------------------- parts
def build_run(cfg: RunConfig, split: Split, device: torch.device) -> tuple[Recommender, BipartiteGraph, MethodParts]:
    """Model (seeded init), training graph and method parts for a config."""
    train = split.train
    if cfg.augment.dir is not None:
        from .llmrec import build_llmrec_parts  # local: only LLMRec runs need it

        if cfg.method.name not in ("bpr", "bce"):
            raise ConfigError(
                f"--augment trains the LLMRec recipe with a bpr or bce loss; method {cfg.method.name!r} cannot be combined with it"
            )
        options = {"loss": cfg.method.name, **cfg.augment.options}
        model, parts, graph = build_llmrec_parts(
            cfg.augment.dir,
            split,
            model=cfg.model.name,
            embedding_dim=cfg.model.embedding_dim,
            num_layers=cfg.model.num_layers,
            batch_size=cfg.train.batch_size,
            reg_weight=cfg.train.weight_decay,
            device=device,
            seed=cfg.seed,
            options=options,
        )
        if train.is_noise is not None:
            from .diagnostics import NoiseDiagnostics

            parts.callbacks.append(NoiseDiagnostics(train))
        return model, graph, parts
    graph = BipartiteGraph.from_interactions(train, device=device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = build_model(
            cfg.model.name, train.num_users, train.num_items, embedding_dim=cfg.model.embedding_dim, num_layers=cfg.model.num_layers
        )
    parts = build_method(
        cfg.method.name,
        train,
        batch_size=cfg.train.batch_size,
        reg_weight=cfg.train.weight_decay,
        device=device,
        seed=cfg.seed,
        options=cfg.method.options,
    )
    return model.to(device), graph, parts


def exclusions_for_test(split: Split) -> list[Interactions]:
    """Items never ranked when testing: the user's training items and validation items, except
    validation pairs that are also test pairs (LLMRec's Netflix split ships ``val == test``;
    excluding them would hide every test target and report zero)."""
    valid = split.valid
    if len(valid) and len(split.test):
        also_test = split.test.contains(valid.users, valid.items)
        if also_test.any():
            valid = valid.subset(~also_test)
    return [split.train, valid]


def make_evaluator(cfg: RunConfig, device: torch.device, progress: bool = False) -> Evaluator:
    e = cfg.eval
    return Evaluator(
        ks=e.ks, metrics=e.metrics, batch_size=e.batch_size, max_batch_bytes=e.max_batch_mib * 2**20, device=device, show_progress=progress
    )


# ---------------------------------------------------------------------------- output
def _write_csv(path: Path, frame: pd.DataFrame) -> None:
    with atomic_write(path, "w") as fh:
        frame.to_csv(fh, index=False)


def _write_split(out: Path, split: Split) -> None:
    for name in ("train", "valid", "test"):
        part: Interactions = getattr(split, name)
        frame = part.to_dataframe(raw_ids=True)
        if "is_noise" in frame:
            frame["is_noise"] = frame["is_noise"].astype(np.int8)
        _write_csv(out / "split" / f"{name}.csv", frame)


def topk_frame(result: EvalResult, train: Interactions) -> pd.DataFrame:
    """``user,rank,item,score`` (raw ids, rank from 1) from an :class:`EvalResult` with ``topk``."""
    users, items, scores = (t.numpy() for t in result.topk)
    k = items.shape[1]
    return pd.DataFrame(
        {
            "user": np.repeat(train.user_ids[users], k),
            "rank": np.tile(np.arange(1, k + 1), len(users)),
            "item": train.item_ids[items.reshape(-1)],
            "score": scores.reshape(-1).astype(np.float64),
        }
    )


def _check_resumable(out: Path, cfg: RunConfig) -> None:
    """The run in ``out`` must have been started with the same config (epochs etc. may differ)."""
    import json

    path = out / RECORD_FILE
    if not path.is_file():
        return
    try:
        old = json.loads(path.read_text(encoding="utf-8")).get("config")
    except ValueError as exc:
        raise CheckpointError(f"{path} is not valid JSON ({exc}); delete the folder or choose another --output") from exc
    if old is None:
        return
    new = config_to_dict(cfg)
    diffs = []
    for section, values in new.items():
        if isinstance(values, dict):
            for key, value in values.items():
                before = (old.get(section) or {}).get(key)
                if (section, key) not in _RESUMABLE_CHANGES and before != value:
                    diffs.append(f"{section}.{key}: {before!r} -> {value!r}")
        elif section != "output_dir" and old.get(section) != values:
            diffs.append(f"{section}: {old.get(section)!r} -> {values!r}")
    if diffs:
        raise CheckpointError(
            f"cannot resume {out}: it was started with another config ({'; '.join(diffs)}); "
            "use the same settings or a new --output"
        )


# ------------------------------------------------------------------------------- run
def run_experiment(
    config: RunConfig,
    *,
    resume: bool = False,
    progress: Optional[bool] = None,
    callbacks: tuple[Callback, ...] = (),
) -> RunResult:
    """Train and evaluate one configuration.

    Args:
        config: the run's :class:`~recdenoise.config.RunConfig`; ``config.output_dir=None``
            keeps everything in memory (no files, no resume).
        resume: continue from ``output_dir/checkpoint.pt`` when it exists (a finished run is
            only re-evaluated). Without it an existing checkpoint is overwritten.
        progress: tqdm bars; ``None`` = ``config.train.progress``.
        callbacks: extra trainer callbacks (run before the checkpoint is written).

    Returns:
        a :class:`RunResult`. The model holds the weights of the best validation epoch, so test
        metrics are selected on validation only.
    """
    cfg = config
    show = cfg.train.progress if progress is None else progress
    started = time.time()
    seed_everything(cfg.seed)
    device = resolve_device(cfg.train.device)
    out = Path(cfg.output_dir) if cfg.output_dir is not None else None

    split, data_info, noise = prepare_run_data(cfg)
    model, graph, parts = build_run(cfg, split, device)
    evaluator = make_evaluator(cfg, device)

    cbs: list[Callback] = list(parts.callbacks) + list(callbacks)
    if cfg.train.patience > 0:
        cbs.append(EarlyStopping(cfg.train.monitor, cfg.train.patience))
    cbs.append(LogMetrics())
    if out is not None:
        cbs.append(Checkpoint(out / CHECKPOINT_FILE, every=cfg.train.checkpoint_every))
    trainer = Trainer(
        model,
        graph,
        parts.sampler,
        parts.objective,
        lr=cfg.train.lr,
        evaluator=evaluator,
        valid=split.valid if len(split.valid) else None,
        train=split.train,
        monitor=cfg.train.monitor,
        eval_every=cfg.train.eval_every,
        callbacks=cbs,
        edge_dropout=cfg.train.edge_dropout,
        show_progress=show,
        seed=cfg.seed,
    )

    record: dict[str, Any] = {
        "status": "running",
        "config": config_to_dict(cfg),
        "seed": cfg.seed,
        "versions": versions(),
        "device": str(device),
        "data": data_info,
        "data_checksum": data_info.get("data_checksum"),
        "noise": noise,
    }
    resumed_from = None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        if resume and (out / CHECKPOINT_FILE).is_file():
            _check_resumable(out, cfg)
            trainer.load_checkpoint(out / CHECKPOINT_FILE)
            resumed_from = trainer.epoch
            logger.info("resuming %s from epoch %d", out, trainer.epoch)
        record["resumed_from_epoch"] = resumed_from
        atomic_write_json(out / RECORD_FILE, record)
        _write_split(out, split)

    fit = trainer.fit(cfg.train.epochs)
    train_time = time.time() - started

    scorer = model.scorer(graph)
    valid = evaluator.evaluate(scorer, split.valid, exclude=[split.train]) if len(split.valid) else None
    test = evaluator.evaluate(
        scorer, split.test, exclude=exclusions_for_test(split), return_per_user=True, return_topk=cfg.eval.topk
    )
    diagnostics = next((cb.summary() for cb in cbs if type(cb).__name__ == "NoiseDiagnostics" and cb.enabled), None)
    record.update(
        status="complete",
        history=fit.history,
        epochs_run=trainer.epoch,
        best_epoch=fit.best_epoch,
        stopped_early=fit.stopped_early,
        valid_metrics=valid.metrics if valid is not None else {},
        test_metrics=test.metrics,
        num_test_users=test.num_users,
        diagnostics=diagnostics,
        time_seconds=round(train_time, 3),
    )
    if out is not None:
        with atomic_write(out / MODEL_FILE, "wb") as fh:
            torch.save(model.state_dict(), fh)
        _write_csv(out / "test_topk.csv", topk_frame(test, split.train))
        _write_csv(out / "test_per_user.csv", test.per_user)
        atomic_write_json(out / RECORD_FILE, record)
    return RunResult(cfg, record, split, model, graph, valid, test, out)


# ----------------------------------------------------------------------- evaluation
def load_run(path: str | Path, *, device: str | None = None, data_dir: str | None = None) -> RunResult:
    """Rebuild a finished (or interrupted) run from its folder, ``model.pt`` or ``checkpoint.pt``
    and evaluate it again: the data are prepared from the recorded config and must have the
    recorded checksum.

    Args:
        path: a run folder, or a ``model.pt`` / ``checkpoint.pt`` inside one.
        device: override the recorded device.
        data_dir: override the recorded data folder (the files must be the same).
    """
    import json

    path = Path(path)
    folder = path if path.is_dir() else path.parent
    record_path = folder / RECORD_FILE
    if not record_path.is_file():
        raise CheckpointError(f"{folder} has no {RECORD_FILE}; pass the --output folder of a `recdenoise train` run")
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        cfg = config_from_dict(record["config"])
    except (ValueError, KeyError) as exc:
        raise CheckpointError(f"{record_path} is not a run record: {exc}") from exc
    if device is not None:
        cfg = replace(cfg, train=replace(cfg.train, device=device))
    if data_dir is not None:
        cfg = replace(cfg, data=replace(cfg.data, data_dir=data_dir))
    dev = resolve_device(cfg.train.device)

    split, data_info, noise = prepare_run_data(cfg)
    if record.get("data_checksum") and data_info["data_checksum"] != record["data_checksum"]:
        raise CheckpointError(
            f"the data prepared for {folder} differ from those it was trained on (checksum "
            f"{data_info['data_checksum'][:12]} != {record['data_checksum'][:12]}); check --data-dir and the dataset files"
        )
    model, graph, _parts = build_run(cfg, split, dev)
    weights = path if path.is_file() else folder / MODEL_FILE
    if not weights.is_file():
        weights = folder / CHECKPOINT_FILE
    if not weights.is_file():
        raise CheckpointError(f"{folder} has neither {MODEL_FILE} nor {CHECKPOINT_FILE}")
    try:
        state = torch.load(weights, map_location=dev, weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"cannot read {weights}: {exc}") from exc
    if "version" in state and "model" in state:  # a trainer checkpoint: use its selected epoch
        state = state.get("best_state") or state["model"]
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(f"{weights} does not match the model in {record_path}: {exc}") from exc
    model.eval()
    evaluator = make_evaluator(cfg, dev)
    scorer = model.scorer(graph)
    valid = evaluator.evaluate(scorer, split.valid, exclude=[split.train]) if len(split.valid) else None
    test = evaluator.evaluate(scorer, split.test, exclude=exclusions_for_test(split), return_per_user=True, return_topk=cfg.eval.topk)
    return RunResult(cfg, record, split, model, graph, valid, test, folder)
