"""``recdenoise`` command line: train, evaluate, datasets, augment, serve-mock, bench.

Every deliberate error (bad data file, bad config, missing dataset...) is printed as one line,
``recdenoise <command>: error: <what, where, how to fix>``, with exit status 2; no traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import warnings
from pathlib import Path
from typing import Any, Optional, Sequence

from .errors import RecDenoiseError

__all__ = ["main", "build_parser"]

EXIT_USAGE = 2

logger = logging.getLogger("recdenoise.cli")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``--help`` still prints the full usage)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _kv(text: str) -> tuple[str, Any]:
    """``key=value`` with the value read as TOML (``3``, ``0.1``, ``true``, ``"x"``, ``[1, 2]``), else a string."""
    import tomllib

    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key.strip(), value


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _ints(text: str) -> list[int]:
    try:
        return [int(t) for t in _csv(text)]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from exc


# ----------------------------------------------------------------------------- train
# flag -> dotted config path; flags default to None so a config file's values stand unless given
_TRAIN_FLAGS: dict[str, tuple[str, dict]] = {
    "--dataset": ("data.dataset", dict(help="registered dataset name (recdenoise datasets list) or a CSV/TSV/Parquet file")),
    "--data-dir": ("data.data_dir", dict(help="folder holding the dataset folders (default $RECDENOISE_DATA_DIR)")),
    "--split": ("data.split", dict(help="auto | ratio | leave_one_out | temporal | predefined")),
    "--rating-threshold": ("data.rating_threshold", dict(type=float, help="keep ratings >= this as positives")),
    "--split-seed": ("data.split_seed", dict(type=int, help="seed of the split (default --seed)")),
    "--k-core": ("data.k_core", dict(type=int, help="minimum interactions per user and item")),
    "--cache-dir": ("data.cache_dir", dict(help="download cache (default $RECDENOISE_CACHE)")),
    "--model": ("model.name", dict(choices=("mf", "lightgcn"), help="backbone")),
    "--embedding-dim": ("model.embedding_dim", dict(type=int)),
    "--num-layers": ("model.num_layers", dict(type=int, help="LightGCN propagation layers")),
    "--method": ("method.name", dict(help="bpr | bce | pld | nbpo | tce | rce")),
    "--noise-kind": ("noise.kind", dict(choices=("none", "injected", "natural"))),
    "--noise-ratio": ("noise.ratio", dict(type=float, help="injected noise: int(ratio*|train_u|) items per user")),
    "--noise-threshold": ("noise.threshold", dict(type=float, help="natural noise: ratings below it are noisy")),
    "--batch-size": ("train.batch_size", dict(type=int)),
    "--lr": ("train.lr", dict(type=float)),
    "--weight-decay": ("train.weight_decay", dict(type=float, help="L2 on the batch's layer-0 embeddings")),
    "--epochs": ("train.epochs", dict(type=int)),
    "--patience": ("train.patience", dict(type=int, help="early-stopping patience in evaluations (0 = off)")),
    "--monitor": ("train.monitor", dict(help="validation metric selecting the epoch (default recall@20)")),
    "--eval-every": ("train.eval_every", dict(type=int)),
    "--edge-dropout": ("train.edge_dropout", dict(type=float)),
    "--device": ("train.device", dict(help="auto | cpu | cuda | cuda:N")),
    "--seed": ("seed", dict(type=int)),
    "--output": ("output_dir", dict(help="run folder (default runs/<dataset>-<model>-<method>-seed<k>)")),
    "--augment": ("augment.dir", dict(help="LLMRec: an output folder of `recdenoise augment`")),
}
# method option flags -> (method, option)
_METHOD_FLAGS: dict[str, tuple[str, str, dict]] = {
    "--pld-k": ("pld", "k", dict(type=int, help="PLD candidate pool size (5)")),
    "--pld-tau": ("pld", "tau", dict(type=float, help="PLD temperature (0.1)")),
    "--pld-warmup": ("pld", "warmup", dict(type=int, help="PLD warm-up epochs of plain sampling (5)")),
    "--pld-loss": ("pld", "loss", dict(choices=("bpr", "bce"))),
    "--nbpo-negatives": ("nbpo", "num_negatives", dict(type=int, help="unvoted items per positive (4)")),
    "--tce-max-drop": ("tce", "max_drop_rate", dict(type=float, help="T-CE maximum drop rate (0.2)")),
    "--tce-gradual-epochs": ("tce", "gradual_epochs", dict(type=int, help="epochs to reach the maximum (10)")),
    "--rce-beta": ("rce", "beta", dict(type=float, help="R-CE exponent (0.25)")),
}
_AUGMENT_FLAGS: dict[str, tuple[str, dict]] = {
    "--aug-rate": ("aug_rate", dict(type=float, help="augmented triples per original triple (0.1)")),
    "--prune-rate": ("prune_rate", dict(type=float, help="share of largest-loss augmented triples dropped per batch")),
    "--prune-keep": ("prune_keep", dict(choices=("smallest", "largest"), help="smallest (paper) or largest (reference code)")),
    "--mask-rate": ("mask_rate", dict(type=float, help="MAE feature mask share (0 = off)")),
}


def _dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def _add_train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="TOML config file (command-line flags override it)")
    groups = {"data": p.add_argument_group("data and noise"), "model": p.add_argument_group("model and training")}
    for flag, (path, kw) in _TRAIN_FLAGS.items():
        group = groups["data"] if path.split(".")[0] in ("data", "noise") else groups["model"]
        group.add_argument(flag, dest=_dest(flag), default=None, **kw)
    m = p.add_argument_group("method options (also --option key=value)")
    for flag, (_method, _opt, kw) in _METHOD_FLAGS.items():
        m.add_argument(flag, dest=_dest(flag), default=None, **kw)
    m.add_argument("--option", action="append", type=_kv, default=[], metavar="KEY=VALUE", help="any option of the method")
    a = p.add_argument_group("LLMRec recipe (with --augment)")
    for flag, (_opt, kw) in _AUGMENT_FLAGS.items():
        a.add_argument(flag, dest=_dest(flag), default=None, **kw)
    a.add_argument("--augment-option", action="append", type=_kv, default=[], metavar="KEY=VALUE")
    p.add_argument("--data-option", action="append", type=_kv, default=[], metavar="KEY=VALUE",
                   help="reader option, e.g. fold=\"u1\" (ml-100k), or user_col=uid for a table file")
    p.add_argument("--ks", type=_ints, default=None, help="cut-offs, e.g. 10,20")
    p.add_argument("--set", action="append", type=_kv, default=[], metavar="PATH=VALUE", help="any config value, e.g. train.eval_every=5")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --output")
    p.add_argument("--download", action="store_true", default=None, help="download missing dataset files")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def config_from_args(args: argparse.Namespace):
    """RunConfig from ``--config`` plus the flags that were given."""
    from .config import load_config

    overrides: dict[str, Any] = {}
    for flag, (path, _kw) in _TRAIN_FLAGS.items():
        value = getattr(args, _dest(flag))
        if value is not None:
            overrides[path] = value
    base = load_config(args.config)
    method = overrides.get("method.name", base.method.name)
    options = dict(base.method.options)
    for flag, (owner, option, _kw) in _METHOD_FLAGS.items():
        value = getattr(args, _dest(flag))
        if value is None:
            continue
        if owner != method:
            raise RecDenoiseError(f"{flag} is an option of method {owner!r}, but the method is {method!r}; add --method {owner}")
        options[option] = value
    options.update(dict(args.option))
    if options != base.method.options:
        overrides["method.options"] = options
    aug_options = dict(base.augment.options)
    for flag, (option, _kw) in _AUGMENT_FLAGS.items():
        value = getattr(args, _dest(flag))
        if value is not None:
            aug_options[option] = value
    aug_options.update(dict(args.augment_option))
    if aug_options != base.augment.options:
        if not overrides.get("augment.dir", base.augment.dir):
            raise RecDenoiseError("LLMRec options (--aug-rate, --prune-rate, --mask-rate, ...) need --augment DIR")
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
    if cfg.output_dir is None:
        from dataclasses import replace

        name = Path(cfg.data.dataset).stem if "/" in cfg.data.dataset else cfg.data.dataset
        tag = "-aug" if cfg.augment.dir else ""
        cfg = replace(cfg, output_dir=Path("runs") / f"{name}-{cfg.model.name}-{cfg.method.name}{tag}-seed{cfg.seed}")
    return cfg


def _print_result(result) -> None:
    out = sys.stdout
    rec = result.record
    if result.valid is not None:
        out.write(f"validation (epoch {rec['best_epoch']} of {rec['epochs_run']}, selected on {result.config.train.monitor}):\n")
        out.write(result.valid.to_table() + "\n")
    out.write("test:\n" + result.test.to_table() + "\n")


def cmd_train(args: argparse.Namespace) -> int:
    from .experiment import run_experiment

    cfg = config_from_args(args)
    result = run_experiment(cfg, resume=args.resume)
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
    from .experiment import load_run, topk_frame
    from .utils import atomic_write

    result = load_run(args.checkpoint, device=args.device, data_dir=args.data_dir)
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


# -------------------------------------------------------------------------- datasets
def cmd_datasets(args: argparse.Namespace) -> int:
    from .data.registry import describe_dataset, list_datasets, verify_dataset

    if args.action == "list":
        for name in list_datasets():
            info = describe_dataset(name)
            sys.stdout.write(f"{name:22s} {info.get('description', '')}\n")
        return 0
    if not args.name:
        raise RecDenoiseError(f"`recdenoise datasets {args.action}` needs a dataset name; see `recdenoise datasets list`")
    if args.action == "describe":
        sys.stdout.write(json.dumps(describe_dataset(args.name), indent=2, default=str) + "\n")
        return 0
    report = verify_dataset(args.name, args.data_dir, args.cache_dir)
    if report.folder is None and not report.files:
        sys.stdout.write(f"{args.name}: generated on the fly, nothing to verify\n")
        return 0
    sys.stdout.write(f"{args.name}: {report.folder or 'not found'}\n")
    for f in report.files:
        sys.stdout.write(f"  {f.status:8s} {f.path}{'' if f.required else ' (optional)'}\n")
    sys.stdout.write("all checksums match\n" if report.ok else "verification FAILED\n")
    return 0 if report.ok else 1


# --------------------------------------------------------------------------- augment
def cmd_augment(args: argparse.Namespace) -> int:
    from .llm.commands import options_from_args, run_augment

    scorer = None
    if args.base_run:
        from .experiment import load_run

        base = load_run(args.base_run, data_dir=args.data_dir)
        if base.split.train.checksum() != _augment_split_checksum(args):
            raise RecDenoiseError(
                f"--base-run {args.base_run} was trained on another split than --dataset {args.dataset} --seed {args.seed} "
                f"--split {args.split}; train the base model with the same dataset, split and seed"
            )
        scorer = _numpy_scorer(base)
    return run_augment(options_from_args(args), scorer=scorer)


def _augment_split_checksum(args: argparse.Namespace) -> str:
    from .data.registry import prepare_data

    split, _ = prepare_data(args.dataset, args.data_dir, split=args.split, seed=args.seed)
    return split.train.checksum()


def _numpy_scorer(result):
    import numpy as np
    import torch

    scorer = result.model.scorer(result.graph)

    def score(users: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return scorer(torch.as_tensor(users, dtype=torch.long, device=result.graph.device)).float().cpu().numpy()

    return score


def cmd_serve_mock(args: argparse.Namespace) -> int:
    from .llm.commands import run_serve_mock

    return run_serve_mock(args)


# ----------------------------------------------------------------------------- bench
def cmd_bench_denoise(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from .bench.grid import DenoiseGrid, parse_noise, write_report
    from .config import load_config

    overrides: dict[str, Any] = dict(args.set)
    for name, path in (("data_dir", "data.data_dir"), ("epochs", "train.epochs"), ("patience", "train.patience"), ("device", "train.device")):
        if getattr(args, name) is not None:
            overrides[path] = getattr(args, name)
    base = load_config(args.config, overrides)
    base = replace(base, train=replace(base.train, progress=False))
    method_options: dict[str, dict] = {}
    for key, value in args.option:
        method, dot, option = key.partition(".")
        if not dot:
            raise RecDenoiseError(f"--option {key}={value}: write METHOD.OPTION=VALUE, e.g. pld.k=5")
        method_options.setdefault(method, {})[option] = value
    grid = DenoiseGrid(
        args.datasets,
        base,
        args.output,
        backbones=args.backbones,
        methods=args.methods,
        noise=[parse_noise(s) for s in args.noise],
        seeds=args.seeds,
        method_options=method_options,
        progress=not args.no_progress,
        keep_going=args.keep_going,
    )
    run = grid.run()
    report_dir = Path(args.report_dir) if args.report_dir else Path(args.output)
    written = write_report(run.cells, report_dir)
    sys.stdout.write((report_dir / "table.md").read_text(encoding="utf-8"))
    sys.stdout.write(
        f"\n{len(run.computed)} cells computed, {len(run.reused)} reused, {len(run.failed)} failed; "
        f"wrote {', '.join(sorted(written))} to {report_dir}\n"
    )
    return 0 if not run.failed else 1


# ---------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(prog="recdenoise", description="Robust recommender training on noisy implicit feedback.")
    parser.add_argument("--version", action="version", version=f"recdenoise {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log progress (-v) or debug details (-vv)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("train", help="train and evaluate one model (no arguments: a built-in synthetic dataset)")
    _add_train_arguments(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="evaluate a trained run again (full ranking on valid and test)")
    p.add_argument("--checkpoint", required=True, help="a run folder, or its model.pt / checkpoint.pt")
    p.add_argument("--device", default=None)
    p.add_argument("--data-dir", default=None, help="where the dataset lives now (same files)")
    p.add_argument("--per-user", default=None, metavar="CSV", help="write per-user test metrics")
    p.add_argument("--topk", default=None, metavar="CSV", help="write user,rank,item,score (raw ids)")
    p.add_argument("--json", action="store_true", help="print metrics as JSON")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("datasets", help="list, describe or verify the registered datasets")
    p.add_argument("action", choices=("list", "describe", "verify"))
    p.add_argument("name", nargs="?")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--cache-dir", default=None)
    p.set_defaults(func=cmd_datasets)

    from .llm.commands import add_augment_arguments, add_serve_mock_arguments

    p = sub.add_parser("augment", help="LLMRec-style augmentation with an OpenAI-compatible LLM (offline job)")
    add_augment_arguments(p)
    p.add_argument("--base-run", default=None, help="a `recdenoise train` run whose model picks the candidates (default: popularity)")
    p.set_defaults(func=cmd_augment)

    p = sub.add_parser("serve-mock", help="a loopback OpenAI-compatible server with deterministic answers (demos, tests)")
    add_serve_mock_arguments(p)
    p.set_defaults(func=cmd_serve_mock)

    p = sub.add_parser("bench", help="benchmarks")
    bench = p.add_subparsers(dest="bench", metavar="BENCH", parser_class=_Parser, required=True)
    b = bench.add_parser("denoise", help="grid of datasets x noise x backbones x methods x seeds (resumable)")
    b.add_argument("--config", help="TOML base config shared by every cell")
    b.add_argument("--datasets", type=_csv, default=["ml-100k"])
    b.add_argument("--data-dir", default=None)
    b.add_argument("--backbones", type=_csv, default=["mf", "lightgcn"])
    b.add_argument("--methods", type=_csv, default=["bpr", "bce", "pld", "nbpo", "tce", "rce"])
    b.add_argument("--noise", type=_csv, default=["injected:0.2", "natural"], help="e.g. injected:0.1,injected:0.2,natural")
    b.add_argument("--seeds", type=_ints, default=[0, 1, 2])
    b.add_argument("--epochs", type=int, default=None)
    b.add_argument("--patience", type=int, default=None)
    b.add_argument("--device", default=None)
    b.add_argument("--option", action="append", type=_kv, default=[], metavar="METHOD.OPTION=VALUE")
    b.add_argument("--set", action="append", type=_kv, default=[], metavar="PATH=VALUE")
    b.add_argument("--output", default="runs/denoise-grid", help="grid folder (rerun to resume)")
    b.add_argument("--report-dir", default=None, help="where table.md/csv and PNGs go (default --output)")
    b.add_argument("--keep-going", action="store_true", help="report failing cells and continue")
    b.add_argument("--no-progress", action="store_true")
    b.set_defaults(func=cmd_bench_denoise)
    return parser


def _setup_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("recdenoise").setLevel(level)
    for noisy in ("httpx", "httpcore", "openai", "urllib3", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    _setup_logging(args.verbose)
    prog = f"recdenoise {args.command}"

    def show_warning(message, category, filename, lineno, file=None, line=None):  # one line, no source excerpt
        sys.stderr.write(f"{prog}: warning: {_one_line(message)}\n")

    try:
        with warnings.catch_warnings():
            warnings.showwarning = show_warning
            warnings.simplefilter("ignore", DeprecationWarning)  # third-party deprecations are not the user's concern
            return int(args.func(args) or 0)
    except RecDenoiseError as exc:
        sys.stderr.write(f"{prog}: error: {_one_line(exc)}\n")
        return EXIT_USAGE
    except FileNotFoundError as exc:
        sys.stderr.write(f"{prog}: error: {exc.strerror or 'file not found'}: {exc.filename}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write(f"{prog}: interrupted (rerun with --resume to continue)\n")
        return 130


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
