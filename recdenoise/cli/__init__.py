"""``recdenoise`` command line: train, evaluate, datasets, augment, serve-mock, bench.

Thin: parse the flags, build the typed config, call the library, and turn every deliberate
error (bad data file, bad config, missing dataset...) and every environment fault (disk full,
read-only folder, permission) into one line, ``recdenoise <command>: error: <what, where, how
to fix>``, with a documented exit status (docs/faults.md); no traceback:

0 ok, 1 verification failed / some benchmark cells failed, 2 bad input, 3 partial LLM job,
4 training diverged, 5 environment fault (disk, permissions, locked folder, memory),
130 interrupted (SIGINT), 143 terminated (SIGTERM).
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import signal
import sys
import threading
import warnings
from typing import Optional, Sequence

from ..errors import EXIT_ENVIRONMENT, EXIT_INTERRUPTED, EXIT_TERMINATED, RecDenoiseError
from .augment import cmd_augment, cmd_serve_mock
from .bench import cmd_bench_denoise
from .common import EXIT_USAGE, Parser, csv_list, ints, kv
from .datasets import cmd_datasets
from .train import _add_train_arguments, cmd_evaluate, cmd_train, config_from_args

__all__ = ["main", "build_parser", "config_from_args"]

logger = logging.getLogger("recdenoise.cli")


# ---------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = Parser(prog="recdenoise", description="Robust recommender training on noisy implicit feedback.")
    parser.add_argument("--version", action="version", version=f"recdenoise {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log progress (-v) or debug details (-vv)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

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

    from ..llm.commands import add_augment_arguments, add_serve_mock_arguments

    p = sub.add_parser("augment", help="LLMRec-style augmentation with an OpenAI-compatible LLM (offline job)")
    add_augment_arguments(p)
    p.add_argument("--base-run", default=None, help="a `recdenoise train` run whose model picks the candidates (default: popularity)")
    p.set_defaults(func=cmd_augment)

    p = sub.add_parser("serve-mock", help="a loopback OpenAI-compatible server with deterministic answers (demos, tests)")
    add_serve_mock_arguments(p)
    p.set_defaults(func=cmd_serve_mock)

    p = sub.add_parser("bench", help="benchmarks")
    bench = p.add_subparsers(dest="bench", metavar="BENCH", parser_class=Parser, required=True)
    b = bench.add_parser("denoise", help="grid of datasets x noise x backbones x methods x seeds (resumable)")
    b.add_argument("--config", help="TOML base config shared by every cell")
    b.add_argument("--datasets", type=csv_list, default=["ml-100k"])
    b.add_argument("--data-dir", default=None)
    b.add_argument("--backbones", type=csv_list, default=["mf", "lightgcn"])
    b.add_argument("--methods", type=csv_list, default=["bpr", "bce", "pld", "nbpo", "tce", "rce"])
    b.add_argument("--noise", type=csv_list, default=["injected:0.2", "natural"], help="e.g. injected:0.1,injected:0.2,natural")
    b.add_argument("--seeds", type=ints, default=[0, 1, 2])
    b.add_argument("--valid-noise", type=csv_list, default=["clean"], help="validation protocols, e.g. clean,noisy (each runs every cell)")
    b.add_argument("--select", type=csv_list, default=["metric"],
                   help="selection criteria reported side by side: metric,loss,trimmed_loss (every run records all three)")
    b.add_argument("--epochs", type=int, default=None)
    b.add_argument("--patience", type=int, default=None)
    b.add_argument("--device", default=None)
    b.add_argument("--option", action="append", type=kv, default=[], metavar="METHOD.OPTION=VALUE")
    b.add_argument("--set", action="append", type=kv, default=[], metavar="PATH=VALUE")
    b.add_argument("--output", default="runs/denoise-grid", help="grid folder (rerun to resume)")
    b.add_argument("--report-dir", default=None, help="where table.md/csv and PNGs go (default --output)")
    b.add_argument("--keep-going", action="store_true", help="report failing cells and continue")
    b.add_argument("--no-progress", action="store_true")
    b.add_argument("--workers", type=int, default=1, help="cells run at once in local processes (default 1: in this process)")
    b.add_argument("--threads-per-worker", type=int, default=None, help="torch threads per worker (default: cores / workers)")
    b.add_argument("--executor", choices=("local", "ray"), default="local", help="local processes, or Ray tasks (pip install 'recdenoise[ray]')")
    b.add_argument("--ray-address", default=None, help="Ray cluster address (default: start a local Ray)")
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
        with warnings.catch_warnings(), _sigterm_as_interrupt():
            warnings.showwarning = show_warning
            warnings.simplefilter("ignore", DeprecationWarning)  # third-party deprecations are not the user's concern
            return int(args.func(args) or 0)
    except RecDenoiseError as exc:
        sys.stderr.write(f"{prog}: error: {_one_line(exc)}\n")
        return int(getattr(exc, "exit_status", EXIT_USAGE))
    except FileNotFoundError as exc:  # an input path that does not exist: bad input
        sys.stderr.write(f"{prog}: error: {exc.filename or ''}: {exc.strerror or _one_line(exc)}\n")
        return EXIT_USAGE
    except OSError as exc:  # disk full, read-only, permission, a file where a folder should be
        sys.stderr.write(f"{prog}: error: {_os_error(exc)}\n")
        return EXIT_ENVIRONMENT
    except MemoryError:
        sys.stderr.write(f"{prog}: error: out of memory; lower --batch-size, --embedding-dim or the method's pool sizes\n")
        return EXIT_ENVIRONMENT
    except _Terminated:
        sys.stderr.write(f"{prog}: terminated (SIGTERM; rerun with --resume to continue)\n")
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        sys.stderr.write(f"{prog}: interrupted (rerun with --resume to continue)\n")
        return EXIT_INTERRUPTED


_HINTS = {
    errno.ENOSPC: "free some space, then rerun with --resume",
    errno.EDQUOT: "free some space, then rerun with --resume",
    errno.EROFS: "choose a writable --output",
    errno.EACCES: "check the permissions or choose another path",
    errno.EPERM: "check the permissions or choose another path",
    errno.ENOTDIR: "a file stands where a folder is needed; choose another --output",
    errno.EEXIST: "a file stands where a folder is needed; choose another --output",
    errno.EISDIR: "give a file path, not a folder",
}


def _os_error(exc: OSError) -> str:
    """``<path>: <strerror> (<hint>)`` for an ``OSError`` (``os.strerror`` of its errno)."""
    path = exc.filename if exc.filename is not None else "?"
    if exc.filename2 is not None:
        path = f"{path} -> {exc.filename2}"
    reason = os.strerror(exc.errno) if exc.errno else (exc.strerror or _one_line(exc))
    detail = f"{reason}" if exc.strerror in (None, reason) else f"{reason}: {exc.strerror}"
    hint = _HINTS.get(exc.errno or -1)
    return f"{path}: {detail}" + (f"; {hint}" if hint else "")


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so the run is marked and its lock released."""


class _sigterm_as_interrupt:
    def __enter__(self):
        self._old = None
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGTERM, self._handler)
        return self

    @staticmethod
    def _handler(signum, frame):
        raise _Terminated()

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGTERM, self._old)
        return False


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
