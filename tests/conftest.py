"""Shared fixtures and markers.

Real-data tests read the local dataset folder: ``$RECDENOISE_DATA_DIR`` or ``<repo>/../shared/datasets``.
They are skipped when it is missing. GPU tests are skipped without CUDA.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]

# The suite is many small tensors: one intra-op thread avoids oversubscribing small CI machines
# (and makes the run faster there); results do not depend on it.
torch.set_num_threads(1)


def _data_dir() -> Path:
    env = os.environ.get("RECDENOISE_DATA_DIR")
    return Path(env) if env else REPO.parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The local dataset folder (skips the test when it is absent)."""
    path = _data_dir()
    if not path.is_dir():
        pytest.skip(f"dataset folder {path} not found (set RECDENOISE_DATA_DIR)")
    return path


def pytest_collection_modifyitems(config, items):
    if not torch.cuda.is_available():
        skip_gpu = pytest.mark.skip(reason="CUDA is not available")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip_gpu)
