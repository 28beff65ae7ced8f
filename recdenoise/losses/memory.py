"""Per-interaction loss memory across epochs (DCF's loss mean over time, UDT's loss ranks)."""

from __future__ import annotations

import torch

from ..errors import ConfigError

__all__ = ["LossMemory"]


class LossMemory:
    r"""The last ``window`` losses of every training row, in a ring buffer on the device.

    ``update(rows, losses)`` writes one loss per row (rows of a batch are distinct, as the
    samplers draw a permutation); :meth:`mean` and :meth:`variance` are over the
    :math:`n_r = \min(\text{seen}_r, W)` stored values.

    Shapes:
        values ``[N, W]``, count ``[N]``; ``update(rows [B], losses [B])``; ``mean(rows [B]) -> [B]``.
    """

    def __init__(self, num_rows: int, window: int, device: torch.device | str = "cpu"):
        if not isinstance(window, int) or window < 1:
            raise ConfigError(f"window must be a positive integer (epochs of loss memory), got {window!r}")
        self.window = window
        self.values = torch.zeros(num_rows, window, device=device)
        self.count = torch.zeros(num_rows, dtype=torch.long, device=device)

    def update(self, rows: torch.Tensor, losses: torch.Tensor) -> None:
        slot = self.count[rows] % self.window
        self.values[rows, slot] = losses.detach().to(self.values.dtype)
        self.count[rows] += 1

    def seen(self, rows: torch.Tensor) -> torch.Tensor:
        """``[B]`` number of stored values :math:`n_r` (0 for rows never seen)."""
        return self.count[rows].clamp(max=self.window)

    def _stored(self, rows: torch.Tensor, transform=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(n [B], values [B, W] (transformed), mask [B, W] of the stored slots)``."""
        n = self.seen(rows)
        vals = self.values[rows] if transform is None else transform(self.values[rows])
        return n, vals, torch.arange(self.window, device=vals.device).unsqueeze(0) < n.unsqueeze(1)

    def mean(self, rows: torch.Tensor, transform=None) -> torch.Tensor:
        """``[B]`` mean of the stored (optionally ``transform`` ed) losses; unused slots are ignored."""
        n, vals, mask = self._stored(rows, transform)
        return (vals * mask).sum(1) / n.clamp_min(1)

    def variance(self, rows: torch.Tensor, transform=None) -> torch.Tensor:
        """``[B]`` unbiased variance of the stored values (0 with fewer than two)."""
        n, vals, mask = self._stored(rows, transform)
        mean = (vals * mask).sum(1, keepdim=True) / n.clamp_min(1).unsqueeze(1)
        return (((vals - mean) ** 2) * mask).sum(1) / (n - 1).clamp_min(1)

    def state_dict(self) -> dict:
        return {"values": self.values, "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        self.values = state["values"].to(self.values.device)
        self.count = state["count"].to(self.count.device)
