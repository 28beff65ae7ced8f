"""``recdenoise bench denoise``: the resumable benchmark grid."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import RecDenoiseError

# ----------------------------------------------------------------------------- bench
def _write_reports(run, report_dir: Path, criteria: list, write_report) -> dict:
    """The standard report per validation protocol (clean in ``report_dir``, noisy in
    ``report_dir/valid-noisy``) and, when selection records exist, ``table_selection.md/csv``:
    protocols x criteria side by side."""
    from ..reporting.selection import selection_markdown, selection_rows, selection_summary
    from ..utils import atomic_write_text

    written: dict = {}
    for protocol, cells in run.by_protocol.items():
        main = protocol in ("clean", "both")  # `both` cells report their clean-protocol choice
        folder = report_dir if main else report_dir / f"valid-{protocol}"
        written.update({k if main else f"{folder.name}/{k}": v for k, v in write_report(cells, folder).items()})
    if "table.md" not in written and written:  # no clean cells: the first protocol's table is the main one
        first = report_dir / f"valid-{next(iter(run.by_protocol))}" / "table.md"
        atomic_write_text(report_dir / "table.md", first.read_text(encoding="utf-8"))
    rows = selection_rows(run.by_protocol, criteria)
    if not rows.empty:
        summary = selection_summary(rows)
        text = "\n\n".join(f"Test {m} (Δ vs baseline under the same protocol and criterion; @ = mean chosen epoch)\n\n"
                             + selection_markdown(summary, m) for m in ("recall@20", "ndcg@20"))  # fmt: skip
        written["table_selection.md"] = report_dir / "table_selection.md"
        written["table_selection.csv"] = report_dir / "table_selection.csv"
        atomic_write_text(written["table_selection.md"], text)
        atomic_write_text(written["table_selection.csv"], summary.to_csv(index=False, float_format="%.6g"))
    return written


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
    from ..training.selection import CRITERIA

    bad = [c for c in args.select if c not in CRITERIA]
    if bad:
        raise RecDenoiseError(f"--select {','.join(args.select)}: unknown criteria {bad}; choose from {list(CRITERIA)}")
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
        valid_noise=args.valid_noise,
        executor=executor,
    )
    from ..reporting.lock import RunLock, check_output_path

    report_dir = Path(args.report_dir) if args.report_dir else Path(args.output)
    check_output_path(report_dir, "--report-dir")
    grid.check()  # every cell's names, options and data, before the output folder is touched
    with RunLock(args.output, "bench"):
        run = grid.run(check=False)  # checked above, before the lock
        written = _write_reports(run, report_dir, args.select, write_report)
    sys.stdout.write((report_dir / "table.md").read_text(encoding="utf-8"))
    if "table_selection.md" in written:
        sys.stdout.write("\n" + written["table_selection.md"].read_text(encoding="utf-8"))
    sys.stdout.write(
        f"\n{len(run.computed)} cells computed, {len(run.reused)} reused, {len(run.failed)} failed; "
        f"wrote {', '.join(sorted(written))} to {report_dir}\n"
    )
    return 0 if not run.failed else 1
