"""``recdenoise bench denoise``: the resumable benchmark grid."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import RecDenoiseError

# ----------------------------------------------------------------------------- bench
def cmd_bench_denoise(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from ..bench.grid import DenoiseGrid, parse_noise, write_report
    from ..config import load_config

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
    from ..methods.registry import method_options as typed_options

    for method, options in method_options.items():  # unknown methods/options and bad values: before any cell runs
        if method not in args.methods:
            raise RecDenoiseError(f"--option {method}.…: method {method!r} is not in --methods {','.join(args.methods)}")
        try:
            typed_options(method, options)
        except (ValueError, TypeError) as exc:
            if isinstance(exc, RecDenoiseError):
                raise
            raise RecDenoiseError(f"--option {method}.{','.join(options)}: {exc}") from exc
    from ..bench.executors import make_executor

    executor = make_executor(args.executor, args.workers, args.threads_per_worker, args.ray_address)
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
        executor=executor,
    )
    from ..reporting.lock import RunLock, check_output_path

    report_dir = Path(args.report_dir) if args.report_dir else Path(args.output)
    check_output_path(report_dir, "--report-dir")
    with RunLock(args.output, "bench"):
        run = grid.run()
        written = write_report(run.cells, report_dir)
    sys.stdout.write((report_dir / "table.md").read_text(encoding="utf-8"))
    sys.stdout.write(
        f"\n{len(run.computed)} cells computed, {len(run.reused)} reused, {len(run.failed)} failed; "
        f"wrote {', '.join(sorted(written))} to {report_dir}\n"
    )
    return 0 if not run.failed else 1
