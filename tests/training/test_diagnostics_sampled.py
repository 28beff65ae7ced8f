"""Sampled AUCs of NoiseDiagnostics: close to the exact ones, exact below the sample size."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recdenoise.data import Interactions
from recdenoise.training.diagnostics import NoiseDiagnostics


def _train(n: int, seed: int = 0) -> Interactions:
    rng = np.random.default_rng(seed)
    keys = np.sort(rng.choice(1000 * 5000, n, replace=False))
    return Interactions(keys // 5000, keys % 5000, 1000, 5000, is_noise=rng.random(n) < 0.2)


@pytest.mark.parametrize("sample, tol", [(None, 0.0), (20_000, 0.02), (10**9, 0.0)])
def test_sampled_auc_is_close_to_exact(sample, tol):
    n = 200_000
    train = _train(n)
    rows = torch.arange(n)
    noisy = torch.from_numpy(train.is_noise)
    losses = torch.randn(n, generator=torch.Generator().manual_seed(0)) + noisy.float()  # noisy: higher loss
    exact, sampled = NoiseDiagnostics(train, auc_sample=None), NoiseDiagnostics(train, auc_sample=sample)
    for diag in (exact, sampled):
        diag.update(rows, losses)
    a, b = exact.end_epoch(0), sampled.end_epoch(0)
    assert b["loss_auc"] == pytest.approx(a["loss_auc"], abs=tol)
    assert b["noisy_share_optimised"] == a["noisy_share_optimised"]  # shares use every example
    assert b["num_examples"] == n
