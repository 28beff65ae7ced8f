"""Vectorised uniform negative sampling that never returns a user's training positive."""

from __future__ import annotations

import torch

from ..data.interactions import Interactions
from ..errors import ConfigError

__all__ = ["NegativeSampler"]


class NegativeSampler:
    r"""Uniform negatives :math:`j \sim \mathcal{U}(\{0..I-1\} \setminus \mathcal{I}_u^{+})` by rejection.

    All draws of a batch are made at once; slots that hit a positive are redrawn (the whole
    batch is redrawn and kept only where needed, so no round waits for the host) until none
    is left; the host checks once every :attr:`rounds_per_check` rounds. Membership is a
    binary search in the sorted keys ``user * I + item`` of the training positives, on the
    sampler's device. The expected number of rounds is ``1 / (1 - density_u)``: a handful
    even for the densest users.

    Args:
        positives: interactions that must never be returned as negatives.
        device: where keys live and samples are drawn.

    Shapes:
        sample(users [B], n) -> ``[B, n]``.
    """

    max_rounds = 1000
    compact_on_cpu = True  # on CPU, check membership of the still-bad slots only (same draws, same result)
    rounds_per_check = 3

    def __init__(self, positives: Interactions, device: torch.device | str = "cpu"):
        self.num_items = positives.num_items
        self.keys = torch.from_numpy(positives.sorted_keys()).to(device)
        full = positives.user_counts >= positives.num_items
        if full.any():
            raise ConfigError(
                f"{int(full.sum())} users interacted with every item (e.g. user index {int(full.argmax())}); "
                "no negative can be sampled for them: drop them (k-core) before training"
            )

    def is_positive(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """``bool``, same shape as ``items``: whether (user, item) is a training positive."""
        query = users * self.num_items + items
        if self.keys.numel() == 0:
            return torch.zeros_like(query, dtype=torch.bool)
        pos = torch.searchsorted(self.keys, query).clamp_(max=self.keys.numel() - 1)
        return self.keys[pos] == query

    def sample(self, users: torch.Tensor, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        users = users.reshape(-1, 1).expand(-1, n)
        out = torch.randint(self.num_items, users.shape, device=users.device, generator=generator)
        bad = self.is_positive(users, out)
        compact = self.compact_on_cpu and users.device.type == "cpu"  # reading the mask costs the host nothing there
        for _ in range(0, self.max_rounds, self.rounds_per_check):
            for _ in range(self.rounds_per_check):
                # Redraw every slot, keep the new draw where the old one is a positive: full-size,
                # mask-free ops, so a GPU never waits for the host between rounds.
                redraw = torch.randint(self.num_items, users.shape, device=users.device, generator=generator)
                if compact:  # the same draws and result; membership is checked for the slots still bad only
                    slots = bad.nonzero(as_tuple=True)
                    if slots[0].numel():
                        out[slots] = redraw[slots]
                        bad[slots] = self.is_positive(users[slots], redraw[slots])
                    continue
                out = torch.where(bad, redraw, out)
                bad = bad & self.is_positive(users, redraw)
            if not bool(bad.any()):  # the only host synchronisation, once per `rounds_per_check` rounds
                return out
        raise RuntimeError("negative sampling did not converge; a user has (almost) no unseen item")
