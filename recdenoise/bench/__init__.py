"""Benchmarks of denoising methods: the experiment grid, loss snapshots, and their report.

- :class:`DenoiseGrid`: datasets x noise x backbones x methods x seeds, one resumable
  ``run_experiment`` per cell.
- :func:`write_report`: ``table.md`` / ``table.csv`` and PNG figures from finished cells.
- :func:`loss_snapshots`: per-interaction training losses of clean vs noisy positives.
"""

from __future__ import annotations

from .grid import DenoiseGrid, GridRun, load_cells, parse_noise, write_report

__all__ = ["DenoiseGrid", "GridRun", "load_cells", "parse_noise", "write_report", "loss_snapshots"]


def __getattr__(name: str):
    if name == "loss_snapshots":  # imports the training stack; only when asked for
        from .snapshots import loss_snapshots

        return loss_snapshots
    raise AttributeError(name)
