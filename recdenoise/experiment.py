"""One training run end to end, and loading it back.

:func:`run_experiment` is what ``recdenoise train`` and the benchmark grid call:
data (:func:`~recdenoise.data.pipeline.prepare_run_data`) -> seeded backbone ->
:func:`~recdenoise.methods.build_method` -> :class:`~recdenoise.training.Trainer` ->
:class:`~recdenoise.evaluation.Evaluator` -> run folder (:mod:`recdenoise.reporting.records`
lists its files). Every file is written atomically; ``run.json`` says ``"status": "running"``
until the run is complete. ``resume=True`` continues from ``checkpoint.pt`` and ends with
exactly the metrics of an uninterrupted run (sampler, model, optimiser, RNG and callback
states are all restored). :func:`load_run` rebuilds a run from its folder and evaluates it again.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Optional

import torch

from .config import RunConfig, config_to_dict
from .data.interactions import Interactions, Split
from .data.pipeline import prepare_run_data
from .errors import CheckpointError, ConfigError, DivergedError
from .evaluation import EvalResult, Evaluator
from .evaluation.sharded import ShardedEvaluator
from .graph import BipartiteGraph
from .methods import MethodParts, build_method
from .methods.registry import method_options, resolve_run_method
from .models import Recommender, build_model
from .reporting import records
from .reporting.lock import RunLock, check_output_path
from .reporting.records import CHECKPOINT_FILE, MODEL_FILE, topk_frame, versions
from .training import Trainer
from .training.callbacks import Callback, Checkpoint, EarlyStopping, LogMetrics
from .training.diagnostics import NoiseDiagnostics
from .training.distributed import DistContext, all_reduce_optimizer, distribute
from .training.preflight import check_memory
from .training.selection import ModelSelection, SelectionEarlyStopping
from .utils import resolve_device, seeded_rng

__all__ = ["RunResult", "run_experiment", "build_run", "load_run", "exclusions_for_test", "make_evaluator", "check_run", "topk_frame", "versions"]

logger = logging.getLogger(__name__)


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


def build_run(cfg: RunConfig, split: Split, device: torch.device) -> MethodParts:
    """The backbone (initialised from ``cfg.seed`` in a forked RNG: the caller's RNG is
    untouched) and the method's parts; ``parts.model`` / ``parts.graph`` are what to train."""
    train = split.train
    with seeded_rng(cfg.seed):
        model = build_model(
            cfg.model.name, train.num_users, train.num_items, embedding_dim=cfg.model.embedding_dim, num_layers=cfg.model.num_layers
        )
        init_rng = torch.get_rng_state()
    graph = BipartiteGraph.from_interactions(train, device=device)
    return build_method(cfg, train, model.to(device), graph=graph, device=device, init_rng=init_rng)


def exclusions_for_test(split: Split) -> list[Interactions]:
    """Items never ranked when testing: the user's training items and validation items, except
    validation pairs that are also test pairs (LLMRec's Netflix split ships ``val == test``;
    excluding them would hide every test target and report zero)."""
    valid = split.valid
    if valid.is_noise is not None:  # noisy validation: mask only the clean rows, so test metrics match the clean protocol's
        valid = valid.subset(~valid.is_noise)
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


def _method_summary(parts: MethodParts) -> Optional[dict]:
    """What the method's own parts report (e.g. a pruning pass: detection AUC, noisy share kept)."""
    out = {name: obj.summary() for name, obj in (("sampler", parts.sampler), ("objective", parts.objective)) if callable(getattr(obj, "summary", None))}
    return out or None


def _evaluate(cfg: RunConfig, evaluator: Evaluator, parts: MethodParts, split: Split) -> tuple[Optional[EvalResult], EvalResult]:
    scorer = parts.model.scorer(parts.graph)
    valid = evaluator.evaluate(scorer, split.valid, exclude=[split.train]) if len(split.valid) else None
    test = evaluator.evaluate(scorer, split.test, exclude=exclusions_for_test(split), return_per_user=True, return_topk=cfg.eval.topk)
    return valid, test


def run_experiment(
    config: RunConfig,
    *,
    resume: bool = False,
    progress: Optional[bool] = None,
    callbacks: tuple[Callback, ...] = (),
    distributed: Optional[DistContext] = None,
) -> RunResult:
    """Train and evaluate one configuration.

    Args:
        config: the run's :class:`~recdenoise.config.RunConfig`; ``config.output_dir=None``
            keeps everything in memory (no files, no resume).
        resume: continue from ``output_dir/checkpoint.pt`` when it exists (a finished run is
            only re-evaluated). Without it an existing checkpoint is overwritten.
        progress: tqdm bars; ``None`` = ``config.train.progress``.
        callbacks: extra trainer callbacks (run before the checkpoint is written).
        distributed: train with the ranks of an initialised ``torch.distributed`` group
            (:mod:`recdenoise.training.distributed`); default: the default group when one is
            initialised with more than one rank. Rank 0 writes the run folder.

    Returns:
        a :class:`RunResult`. The model holds the weights of the best validation epoch, so test
        metrics are selected on validation only.
    """
    cfg = config
    show = cfg.train.progress if progress is None else progress
    started = time.time()
    # everything checkable is checked before the run folder exists (docs/faults.md)
    device = resolve_device(cfg.train.device)
    out = check_output_path(cfg.output_dir) if cfg.output_dir is not None else None
    split, data_info, noise = prepare_run_data(cfg.data, cfg.noise, cfg.seed)
    split, shadow_valid = protocol_views(cfg, split)
    check_run(cfg, split, device)
    parts = build_run(cfg, split, device)
    evaluator = make_evaluator(cfg, device)
    ctx = distributed if distributed is not None else DistContext.current()
    if ctx is not None:  # every rank trains; only rank 0 writes (training/distributed.py)
        parts = distribute(parts, ctx)
        evaluator = ShardedEvaluator(evaluator, ctx)
        out = out if ctx.is_main else None

    cbs: list[Callback] = list(parts.callbacks)
    diagnostics = NoiseDiagnostics(split.train) if split.train.is_noise is not None else None
    if diagnostics is not None:
        cbs.append(diagnostics)
    selection = make_selection(cfg, split) if len(split.valid) else None
    if selection is not None:
        cbs.append(selection)
        if shadow_valid is not None:
            selection.shadow = make_selection(cfg, Split(split.train, shadow_valid, split.test), evaluator)
            cbs.append(selection.shadow)
    cbs += list(callbacks)
    if cfg.train.patience > 0 and (cfg.train.select == "metric" or selection is None):
        cbs.append(EarlyStopping(cfg.train.monitor, cfg.train.patience))
    elif cfg.train.patience > 0:
        cbs.append(SelectionEarlyStopping(cfg.train.select, cfg.train.patience))
    cbs.append(LogMetrics())
    if out is not None:
        cbs.append(Checkpoint(out / CHECKPOINT_FILE, every=cfg.train.checkpoint_every))
    elif ctx is not None:
        cbs.append(Callback())  # stands for rank 0's Checkpoint: the ranks' callback states line up
    optimizer = parts.make_optimizer([*parts.model.parameters(), *parts.objective.parameters()], cfg.train.lr) if parts.make_optimizer else None
    if ctx is not None:  # gradients summed over the ranks before each step
        optimizer = all_reduce_optimizer(optimizer, parts, ctx, cfg.train.lr)
    trainer = Trainer(
        parts.model,
        parts.graph,
        parts.sampler,
        parts.objective,
        lr=cfg.train.lr,
        optimizer=optimizer,
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
    if out is None:
        return _fit_and_evaluate(cfg, trainer, evaluator, parts, split, diagnostics, record, started, None, selection)
    with RunLock(out, "train"):
        before = records.previous_failure(out) if resume else None
        if before:
            logger.warning("%s: resuming a run that stopped before: %s", out, before)
        if resume and (out / CHECKPOINT_FILE).is_file():
            records.check_resumable(out, cfg)
            trainer.load_checkpoint(out / CHECKPOINT_FILE)
            record["resumed_from_epoch"] = trainer.epoch
            logger.info("resuming %s from epoch %d", out, trainer.epoch)
        else:
            record["resumed_from_epoch"] = None
        try:
            records.write_record(out, record)
            records.write_split(out, split)
            return _fit_and_evaluate(cfg, trainer, evaluator, parts, split, diagnostics, record, started, out, selection)
        except BaseException as exc:
            records.mark_stopped(out, record, exc, trainer.epoch)
            raise


def check_run(cfg: RunConfig, split: Split, device: torch.device) -> None:
    """What the config alone cannot know: cut-offs and the monitored metric against the data,
    and the memory the run needs against what ``device`` has (:mod:`recdenoise.training.preflight`)."""
    train = split.train
    if len(train) == 0 or train.num_items == 0 or train.num_users == 0:
        raise ConfigError(
            f"no training interactions are left after preprocessing (--rating-threshold {cfg.data.rating_threshold}, "
            f"--k-core {cfg.data.k_core}); lower them or check the data"
        )
    ks = tuple(cfg.eval.ks)
    if ks and max(ks) > train.num_items:
        raise ConfigError(f"--ks {','.join(map(str, ks))}: a cut-off of {max(ks)} exceeds the {train.num_items} items of the data; lower --ks")
    if len(split.valid):
        names = {f"{m}@{k}" for m in cfg.eval.metrics for k in ks}
        if cfg.train.monitor not in names:
            raise ConfigError(f"--monitor {cfg.train.monitor!r} is not a validation metric of this run; choose one of {sorted(names)} (or add its cut-off to --ks)")
    name, options = resolve_run_method(cfg)
    check_memory(cfg, train.num_users, train.num_items, len(train), name, options, device)


def protocol_views(cfg: RunConfig, split: Split) -> tuple[Split, Optional[Interactions]]:
    """``noise.valid = "both"``: the run trains and selects on the clean validation rows and
    shadows the noisy validation set (returned second); otherwise ``(split, None)``."""
    if cfg.noise.valid != "both" or split.valid.is_noise is None:
        return split, None
    return Split(split.train, split.valid.subset(~split.valid.is_noise), split.test), split.valid


def make_selection(cfg: RunConfig, split: Split, evaluator: Optional[Evaluator] = None) -> ModelSelection:
    """The :class:`ModelSelection` callback of a run (``train.select*`` settings; ``select_loss =
    "auto"`` is ``bce`` for ``bce`` and methods whose ``loss`` option is ``bce``, else ``bpr``);
    with ``evaluator``: a shadow on ``split.valid`` (the noisy protocol of ``noise.valid = "both"``)."""
    loss = cfg.train.select_loss
    if loss == "auto":
        name, options = resolve_run_method(cfg)
        loss = "bce" if name == "bce" or getattr(method_options(name, options), "loss", None) == "bce" else "bpr"
    return ModelSelection(
        split.valid, split.train, monitor=cfg.train.monitor, primary=cfg.train.select, loss=loss,
        trim=cfg.train.select_trim, num_negatives=cfg.train.select_negatives, seed=cfg.seed,
        evaluator=evaluator, log_key="selection" if evaluator is None else "shadow_valid",
    )  # fmt: skip


def _criteria_results(
    evaluator: Evaluator, parts: MethodParts, split: Split, selection: ModelSelection, history: list,
    tested: dict | None = None,
) -> dict:  # fmt: skip
    """Per criterion: its epoch, the validation metrics and losses there, and test metrics of its
    weights; the model ends holding the primary criterion's weights. Criteria that pick the same
    epoch (under either protocol) share one test evaluation (``tested``: epoch -> test metrics)."""
    by_epoch = {logs["epoch"]: logs for logs in history}
    tested = {} if tested is None else tested
    out = {}
    for criterion, best in selection.best.items():
        if best["epoch"] not in tested:
            parts.model.load_state_dict(best["state"])
            scorer = parts.model.scorer(parts.graph)
            tested[best["epoch"]] = evaluator.evaluate(scorer, split.test, exclude=exclusions_for_test(split)).metrics
        view = selection.view(by_epoch.get(best["epoch"], {}))
        out[criterion] = {"epoch": best["epoch"], "valid_metrics": view.get("valid", {}),
                          "valid_losses": view.get("selection", {}), "test_metrics": dict(tested[best["epoch"]])}  # fmt: skip
    shadow = getattr(selection, "shadow", None)
    if shadow is not None:
        out = {"clean": out, "noisy": _criteria_results(evaluator, parts, split, shadow, history, tested)}
    if selection.primary in selection.best:
        parts.model.load_state_dict(selection.best[selection.primary]["state"])
    return out


def _fit_and_evaluate(cfg, trainer, evaluator, parts, split, diagnostics, record, started, out, selection=None) -> RunResult:
    fit = trainer.fit(cfg.train.epochs)
    train_time = time.time() - started
    criteria = _criteria_results(evaluator, parts, split, selection, fit.history) if selection is not None else {}
    shadow = criteria.pop("noisy", None) if "clean" in criteria else None
    criteria = criteria.get("clean", criteria)
    valid, test = _evaluate(cfg, evaluator, parts, split)
    if not all(math.isfinite(v) for v in test.metrics.values()):
        raise DivergedError(f"training diverged: test metrics are not finite ({test.metrics}); lower --lr", trainer.epoch)
    record.update(
        status="complete",
        history=fit.history,
        epochs_run=trainer.epoch,
        best_epoch=criteria[cfg.train.select]["epoch"] if cfg.train.select in criteria else fit.best_epoch,
        selection={"select": cfg.train.select, "loss": selection.loss, "trim": selection.trim, "criteria": criteria,
                   **({"shadow": {"protocol": "noisy", "criteria": shadow}} if shadow else {})} if selection else None,  # fmt: skip
        stopped_early=fit.stopped_early,
        valid_metrics=valid.metrics if valid is not None else {},
        test_metrics=test.metrics,
        num_test_users=test.num_users,
        diagnostics=diagnostics.summary() if diagnostics is not None else None,
        method_summary=_method_summary(parts),
        time_seconds=round(train_time, 3),
    )
    record.pop("error", None)
    if out is not None:
        records.write_model(out, parts.model)
        records.write_results(out, test, split.train)
        records.write_record(out, record)
    return RunResult(cfg, record, split, parts.model, parts.graph, valid, test, out)


def load_run(path: str | Path, *, device: str | None = None, data_dir: str | None = None, label: str = "run") -> RunResult:
    """Rebuild a finished (or interrupted) run from its folder, ``model.pt`` or ``checkpoint.pt``
    and evaluate it again: the data are prepared from the recorded config and must have the
    recorded checksum.

    Args:
        path: a run folder, or a ``model.pt`` / ``checkpoint.pt`` inside one.
        device: override the recorded device.
        data_dir: override the recorded data folder (the files must be the same).
        label: how error messages name ``path`` (the CLI passes its flag, e.g. ``"--base-run"``).
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{label} {path} has no run.json (no such file or folder); pass a run folder or its model.pt")
    folder = path if path.is_dir() else path.parent
    record, cfg = records.read_record(folder)
    if device is not None:
        cfg = replace(cfg, train=replace(cfg.train, device=device))
    if data_dir is not None:
        cfg = replace(cfg, data=replace(cfg.data, data_dir=data_dir))
    dev = resolve_device(cfg.train.device)

    split, data_info, _noise = prepare_run_data(cfg.data, cfg.noise, cfg.seed)
    split, _shadow = protocol_views(cfg, split)
    if record.get("data_checksum") and data_info["data_checksum"] != record["data_checksum"]:
        raise CheckpointError(
            f"the data prepared for {folder} differ from those it was trained on (checksum "
            f"{data_info['data_checksum'][:12]} != {record['data_checksum'][:12]}); check --data-dir and the dataset files"
        )
    parts = build_run(cfg, split, dev)
    weights = path if path.is_file() else folder / MODEL_FILE
    if not weights.is_file():
        weights = folder / CHECKPOINT_FILE
    if not weights.is_file():
        raise CheckpointError(f"{folder} has neither {MODEL_FILE} nor {CHECKPOINT_FILE}")
    try:
        state = torch.load(weights, map_location=dev, weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"cannot read {weights}: {exc}") from exc
    if isinstance(state, dict) and "version" in state and "model" in state:  # a trainer checkpoint: its selected epoch
        state = state.get("best_state") or state["model"]
    if not isinstance(state, dict):
        raise CheckpointError(f"{weights} holds a {type(state).__name__}, not model weights; pass the model.pt of a run")
    try:
        parts.model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"{weights} does not match the model in {folder / records.RECORD_FILE}: {exc}") from exc
    parts.model.eval()
    valid, test = _evaluate(cfg, make_evaluator(cfg, dev), parts, split)
    return RunResult(cfg, record, split, parts.model, parts.graph, valid, test, folder)
