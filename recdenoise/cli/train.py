"""``recdenoise train`` and ``recdenoise evaluate``: flags -> a typed config -> the library."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..errors import RecDenoiseError
from .common import ints, kv

# ----------------------------------------------------------------------------- train
# flag -> dotted config path; flags default to None so a config file's values stand unless given.
# Types and ranges come from the config dataclasses (one home): the strings are converted there.
_TRAIN_FLAGS: dict[str, tuple[str, dict]] = {
    "--dataset": ("data.dataset", dict(help="registered dataset name (recdenoise datasets list) or a CSV/TSV/Parquet file")),
    "--data-dir": ("data.data_dir", dict(help="folder holding the dataset folders (default $RECDENOISE_DATA_DIR)")),
    "--split": ("data.split", dict(help="auto | ratio | leave_one_out | temporal | predefined")),
    "--rating-threshold": ("data.rating_threshold", dict(help="keep ratings >= this as positives")),
    "--split-seed": ("data.split_seed", dict(help="seed of the split (default --seed)")),
    "--k-core": ("data.k_core", dict(help="minimum interactions per user and item")),
    "--cache-dir": ("data.cache_dir", dict(help="download cache (default $RECDENOISE_CACHE_DIR)")),
    "--model": ("model.name", dict(choices=("mf", "lightgcn"), help="backbone")),
    "--embedding-dim": ("model.embedding_dim", dict()),
    "--num-layers": ("model.num_layers", dict(help="LightGCN propagation layers")),
    "--method": ("method.name", dict(help="a registered method (bpr, bce, pld, nbpo, tce, rce, llmrec, ...)")),
    "--noise-kind": ("noise.kind", dict(choices=("none", "injected", "natural"))),
    "--noise-ratio": ("noise.ratio", dict(help="injected noise: int(ratio*|train_u|) items per user")),
    "--noise-threshold": ("noise.threshold", dict(help="natural noise: ratings below it are noisy")),
    "--valid-noise": ("noise.valid", dict(choices=("clean", "noisy", "both"), help="validation protocol: clean (default), noisy (noise planted/kept in validation too), or both (train once on clean, also record the noisy protocol's picks)")),
    "--batch-size": ("train.batch_size", dict()),
    "--lr": ("train.lr", dict()),
    "--weight-decay": ("train.weight_decay", dict(help="L2 on the batch's layer-0 embeddings")),
    "--epochs": ("train.epochs", dict()),
    "--patience": ("train.patience", dict(help="early-stopping patience in evaluations (0 = off)")),
    "--monitor": ("train.monitor", dict(help="validation metric selecting the epoch (default recall@20)")),
    "--eval-every": ("train.eval_every", dict()),
    "--select": ("train.select", dict(choices=("metric", "loss", "trimmed_loss"), help="criterion that picks the reported epoch (all are recorded)")),
    "--select-trim": ("train.select_trim", dict(help="share of largest validation losses trimmed by --select trimmed_loss (ERM_RE, default 0.2)")),
    "--edge-dropout": ("train.edge_dropout", dict()),
    "--device": ("train.device", dict(help="auto | cpu | cuda | cuda:N")),
    "--seed": ("seed", dict()),
    "--output": ("output_dir", dict(help="run folder (default runs/<dataset>-<model>-<method>-seed<k>)")),
    "--augment": ("augment.dir", dict(help="LLMRec: an output folder of `recdenoise augment`")),
}
# shorthand flags for method options: flag -> (method, option, help); types and defaults come
# from the method's options dataclass (recdenoise.methods.METHODS[method].options)
_METHOD_FLAGS: dict[str, tuple[str, str, str]] = {
    "--pld-k": ("pld", "k", "PLD candidate pool size"),
    "--pld-tau": ("pld", "tau", "PLD temperature"),
    "--pld-warmup": ("pld", "warmup", "PLD warm-up epochs of plain sampling"),
    "--pld-loss": ("pld", "loss", "PLD loss, bpr or bce"),
    "--nbpo-negatives": ("nbpo", "num_negatives", "unvoted items per positive"),
    "--tce-max-drop": ("tce", "max_drop_rate", "T-CE maximum drop rate"),
    "--tce-gradual-epochs": ("tce", "gradual_epochs", "epochs to reach the maximum"),
    "--rce-beta": ("rce", "beta", "R-CE exponent"),
}
_AUGMENT_FLAGS: dict[str, tuple[str, str]] = {
    "--aug-rate": ("aug_rate", "augmented triples per original triple"),
    "--prune-rate": ("prune_rate", "share of largest-loss augmented triples dropped per batch"),
    "--prune-keep": ("prune_keep", "smallest (paper) or largest (reference code)"),
    "--mask-rate": ("mask_rate", "MAE feature mask share (0 = off)"),
}


def _option_help(method: str, option: str, text: str) -> str:
    from ..methods import get_method

    default = getattr(get_method(method).options, option)
    return f"{text} (default {default})"


def _dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def _add_train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="TOML config file (command-line flags override it)")
    groups = {"data": p.add_argument_group("data and noise"), "model": p.add_argument_group("model and training")}
    for flag, (path, kw) in _TRAIN_FLAGS.items():
        group = groups["data"] if path.split(".")[0] in ("data", "noise") else groups["model"]
        group.add_argument(flag, dest=_dest(flag), default=None, **kw)
    m = p.add_argument_group("method options (also --option key=value)")
    for flag, (method, option, text) in _METHOD_FLAGS.items():
        m.add_argument(flag, dest=_dest(flag), default=None, help=_option_help(method, option, text))
    m.add_argument("--option", action="append", type=kv, default=[], metavar="KEY=VALUE", help="any option of the method")
    a = p.add_argument_group("LLMRec recipe (with --augment)")
    for flag, (option, text) in _AUGMENT_FLAGS.items():
        a.add_argument(flag, dest=_dest(flag), default=None, help=_option_help("llmrec", option, text))
    a.add_argument("--augment-option", action="append", type=kv, default=[], metavar="KEY=VALUE")
    p.add_argument("--data-option", action="append", type=kv, default=[], metavar="KEY=VALUE",
                   help="reader option, e.g. fold=\"u1\" (ml-100k), or user_col=uid for a table file")
    p.add_argument("--ks", type=ints, default=None, help="cut-offs, e.g. 10,20")
    p.add_argument("--set", action="append", type=kv, default=[], metavar="PATH=VALUE", help="any config value, e.g. train.eval_every=5")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --output")
    p.add_argument("--overwrite", action="store_true", help="replace the run already in --output (default: refuse)")
    p.add_argument("--download", action="store_true", default=None, help="download missing dataset files")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def config_from_args(args: argparse.Namespace):
    """RunConfig from ``--config`` plus the flags that were given."""
    from ..config import load_config

    overrides: dict[str, Any] = {}
    for flag, (path, _kw) in _TRAIN_FLAGS.items():
        value = getattr(args, _dest(flag))
        if value is not None:
            overrides[path] = value
    base = load_config(args.config)
    method = overrides.get("method.name", base.method.name)
    options = dict(base.method.options)
    for flag, (owner, option, _help) in _METHOD_FLAGS.items():
        value = getattr(args, _dest(flag))
        if value is None:
            continue
        if owner != method:
            raise RecDenoiseError(f"{flag} is an option of method {owner!r}, but the method is {method!r}; add --method {owner}")
        options[option] = _typed_option(owner, option, value, flag)
    options.update(dict(args.option))
    if options != base.method.options:
        overrides["method.options"] = options
    aug_options = dict(base.augment.options)
    for flag, (option, _help) in _AUGMENT_FLAGS.items():
        value = getattr(args, _dest(flag))
        if value is not None:
            aug_options[option] = _typed_option("llmrec", option, value, flag)
    aug_options.update(dict(args.augment_option))
    if aug_options != base.augment.options:
        overrides["augment.options"] = aug_options
    if args.data_option:
        overrides["data.options"] = {**base.data.options, **dict(args.data_option)}
    if args.ks is not None:
        overrides["eval.ks"] = args.ks
    if args.download:
        overrides["data.download"] = True
    if args.no_progress:
        overrides["train.progress"] = False
    overrides.update(dict(args.set))
    cfg = load_config(args.config, overrides)
    check_run_config(cfg)
    if cfg.output_dir is None:
        from dataclasses import replace

        name = Path(cfg.data.dataset).stem if "/" in cfg.data.dataset else cfg.data.dataset
        tag = "-aug" if cfg.augment.dir else ""
        cfg = replace(cfg, output_dir=Path("runs") / f"{name}-{cfg.model.name}-{cfg.method.name}{tag}-seed{cfg.seed}")
    return cfg


def _typed_option(method: str, option: str, value: str, flag: str) -> Any:
    """A shorthand flag's string converted to the option's type (so run.json records ``3``, not ``"3"``)."""
    from ..methods import get_method
    from ..schema import coerce_field

    return coerce_field(get_method(method).options, option, value, flag)


def check_run_config(cfg) -> None:
    """Validate what the config schema cannot see on its own (the method and its options)
    before anything runs: an unknown method or option is an error naming it."""
    from ..errors import ConfigError
    from ..methods.registry import method_options, resolve_run_method

    split_seed = cfg.data.split_seed
    if split_seed is not None and not 0 <= split_seed < 2**63:
        raise ConfigError(f"--split-seed {split_seed}: a seed must be an integer in [0, 2**63)")

    name, options = resolve_run_method(cfg)
    method_options(name, options)


def check_output_free(out: Path) -> None:
    """Refuse to replace the run already in ``out`` (finished, interrupted or another process's):
    the default folder names dataset, model, method and seed only, so a second run with another
    learning rate would silently take the first one's place."""
    from ..errors import ConfigError
    from ..reporting.lock import check_not_locked
    from ..reporting.records import record_status

    status = record_status(out)
    if status is None:
        return
    check_not_locked(out, "train")  # a live run: exit 5 "in use", as when it holds the lock
    what = {"complete": "a finished run", "running": "a run that is running or was killed"}.get(status, f"a run with status {status!r}")
    raise ConfigError(
        f"--output {out} already holds {what}; pass --resume to continue (or re-evaluate) it, "
        "--overwrite to replace it, or choose another --output"
    )


def _print_result(result) -> None:
    out = sys.stdout
    rec = result.record
    select = result.config.train.select
    if result.valid is not None:
        on = result.config.train.monitor if select == "metric" else f"validation {select}"
        out.write(f"validation (epoch {rec['best_epoch']} of {rec['epochs_run']}, selected on {on}):\n")
        out.write(result.valid.to_table() + "\n")
    out.write("test:\n" + result.test.to_table() + "\n")
    selection = rec.get("selection") or {}
    for protocol, criteria in (("", selection.get("criteria")), ("noisy valid, ", (selection.get("shadow") or {}).get("criteria"))):
        for criterion, chosen in (criteria or {}).items():
            test = ", ".join(f"{k} {chosen['test_metrics'][k]:.4f}" for k in ("recall@20", "ndcg@20") if k in chosen["test_metrics"])
            out.write(f"selected by {protocol}{criterion}: epoch {chosen['epoch']}, test {test}\n")


def cmd_train(args: argparse.Namespace) -> int:
    from ..experiment import run_experiment

    from ..utils import seed_everything

    from .launch import distributed_session

    cfg = config_from_args(args)
    if not (args.resume or args.overwrite):
        check_output_free(Path(cfg.output_dir))
    with distributed_session(cfg) as (cfg, is_main):  # torchrun: N ranks, rank 0 writes and prints
        seed_everything(cfg.seed)  # third-party code drawing from the global RNGs; the library takes seeds
        result = run_experiment(cfg, resume=args.resume)
    if not is_main:
        return 0
    sys.stdout.write(
        f"{cfg.data.dataset}: {result.split.train.num_users} users, {result.split.train.num_items} items, "
        f"{len(result.split.train)} train interactions; model {cfg.model.name}, method {cfg.method.name}, seed {cfg.seed}\n"
    )
    noise = result.record.get("noise") or {}
    if noise.get("kind", "none") != "none":
        sys.stdout.write(f"noise: {noise['kind']}, {noise.get('num_noisy', '?')} noisy training interactions\n")
    _print_result(result)
    sys.stdout.write(f"run record: {cfg.output_dir}/run.json\n")
    return 0


# -------------------------------------------------------------------------- evaluate
def cmd_evaluate(args: argparse.Namespace) -> int:
    import contextlib
    import os

    from ..errors import ConfigError
    from ..experiment import load_run, topk_frame
    from ..reporting.lock import RunLock
    from ..utils import atomic_write

    for flag, value in (("--per-user", args.per_user), ("--topk", args.topk)):  # before the (slow) evaluation
        if value is not None and (Path(value).is_dir() or str(value).endswith(os.sep)):
            raise ConfigError(f"{flag} {value} is a folder; give a CSV file path")
        if value is not None and Path(value).parent.is_file():
            raise ConfigError(f"{flag} {value}: {Path(value).parent} is a file, not a folder")
    folder = Path(args.checkpoint)
    folder = folder if folder.is_dir() else folder.parent
    writes = args.topk or args.per_user
    lock = RunLock(folder, "evaluate") if writes and folder.is_dir() and os.access(folder, os.W_OK) else contextlib.nullcontext()
    with lock:
        result = load_run(args.checkpoint, device=args.device, data_dir=args.data_dir, label="--checkpoint")
        if args.json:
            payload = {"valid": result.valid.metrics if result.valid else {}, "test": result.test.metrics}
            sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        else:
            _print_result(result)
        if args.per_user:
            with atomic_write(args.per_user, "w") as fh:
                result.test.per_user.to_csv(fh, index=False)
        if args.topk:
            with atomic_write(args.topk, "w") as fh:
                topk_frame(result.test, result.split.train).to_csv(fh, index=False)
    return 0
