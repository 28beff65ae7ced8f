"""Exact full-ranking evaluation, batched over users under a memory bound.

For every user with at least one target, the evaluator scores *all* items, masks the
user's excluded items (training items, and validation items when testing) to ``-inf``,
takes the top ``K = max(ks)`` and averages :mod:`~recdenoise.evaluation.metrics` over those
users. Scores are produced batch by batch by a caller-supplied ``scorer``, so the full
``U x I`` score matrix never exists; masking and target lookup are vectorised index
operations on users-as-rows CSR arrays that live on the evaluation device.
"""

from __future__ import annotations

import logging
import numbers
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from tqdm.auto import tqdm

from ..data import Interactions
from ..errors import ConfigError
from ..utils import resolve_device
from ..scoring import EmbeddingScorer
from ..types import Scorer
from .metrics import METRICS, MetricAccumulator, check_ks, check_metrics, per_user_metrics

__all__ = ["Scorer", "EvalResult", "Evaluator", "evaluate_embeddings"]

logger = logging.getLogger(__name__)

_BYTES_PER_CELL = 4 * 3  # float32 scores, the masked copy, and slack for top-k / the caller's temporaries


@dataclass
class EvalResult:
    """What :meth:`Evaluator.evaluate` returns.

    Attributes:
        metrics: mean over evaluated users, keyed ``"recall@20"``, ``"ndcg@10"``, ...
        num_users: users evaluated (those with at least one target).
        per_user: with ``return_per_user=True``, one row per evaluated user: ``user`` (contiguous
            index), ``user_id`` (raw id), ``num_targets`` and one column per metric key; the
            column means equal :attr:`metrics`.
        topk: with ``return_topk=k``, ``(users [B], items [B, k], scores [B, k])`` CPU tensors
            for the evaluated users, items best-first. When a user has fewer than ``k``
            non-excluded items, the tail holds excluded items with score ``-inf``.
    """

    metrics: dict[str, float]
    num_users: int
    per_user: pd.DataFrame | None = None
    topk: tuple[Tensor, Tensor, Tensor] | None = None

    def __getitem__(self, key: str) -> float:
        return self.metrics[key]

    def to_table(self, digits: int = 4) -> str:
        """A small text table: one row per metric, one column per cut-off."""
        rows: dict[str, dict[int, float]] = {}
        for key, value in self.metrics.items():
            name, _, k = key.rpartition("@")
            rows.setdefault(name, {})[int(k)] = value
        ks = sorted({k for row in rows.values() for k in row})
        name_width = max([len("metric")] + [len(name) for name in rows])
        col_width = max(digits + 3, max((len(f"@{k}") for k in ks), default=0))
        lines = ["metric".ljust(name_width) + "".join(f"  {'@' + str(k):>{col_width}}" for k in ks)]
        for name, row in rows.items():
            cells = "".join(
                f"  {row[k]:>{col_width}.{digits}f}" if k in row else "  " + "-".rjust(col_width) for k in ks
            )
            lines.append(name.ljust(name_width) + cells)
        lines.append(f"({self.num_users} users)")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_table()


class Evaluator:
    """Full-ranking top-k evaluator (every item is a candidate; seen items are excluded).

    Args:
        ks: cut-offs, e.g. ``(10, 20)``.
        metrics: names from :data:`~recdenoise.evaluation.metrics.METRICS`.
        batch_size: users scored at once; ``None`` derives it from ``max_batch_bytes``.
        max_batch_bytes: memory budget of one batch when ``batch_size`` is ``None``:
            ``batch_size = max(1, max_batch_bytes // (I * 12))`` (float32 scores, their masked
            copy, and slack).
        device: where scores are masked and ranked (``"cpu"``, ``"cuda"``, ``"auto"``).
        show_progress: a tqdm bar over batches.

    Example::

        evaluator = Evaluator(ks=(10, 20), device="cuda")
        result = evaluator.evaluate(lambda users: user_emb[users] @ item_emb.T, split.test,
                                    exclude=(split.train, split.valid))
        print(result)  # table; result["recall@20"]
    """

    def __init__(
        self,
        ks: Sequence[int] = (10, 20),
        metrics: Sequence[str] = tuple(METRICS),
        batch_size: int | None = None,
        max_batch_bytes: int = 256 * 2**20,
        device: str | torch.device = "cpu",
        show_progress: bool = False,
    ) -> None:
        self.ks = check_ks(ks)
        self.metrics = check_metrics(metrics)
        if batch_size is not None and not _is_positive_int(batch_size):
            raise ConfigError(f"batch_size must be a positive integer or None, got batch_size={batch_size!r}")
        if not _is_positive_int(max_batch_bytes):
            raise ConfigError(f"max_batch_bytes must be a positive integer, got max_batch_bytes={max_batch_bytes!r}")
        self.batch_size = batch_size
        self.max_batch_bytes = max_batch_bytes
        self.device = device
        self.show_progress = show_progress

    def __repr__(self) -> str:
        return (
            f"Evaluator(ks={self.ks}, metrics={self.metrics}, batch_size={self.batch_size}, "
            f"max_batch_bytes={self.max_batch_bytes}, device={str(self.device)!r})"
        )

    def batch_size_for(self, num_items: int) -> int:
        """Users per batch for a catalogue of ``num_items`` items."""
        if self.batch_size is not None:
            return self.batch_size
        return max(1, self.max_batch_bytes // (max(num_items, 1) * _BYTES_PER_CELL))

    @torch.no_grad()
    def evaluate(
        self,
        scorer: Scorer,
        targets: Interactions,
        exclude: Sequence[Interactions] | Interactions = (),
        return_per_user: bool = False,
        return_topk: int | None = None,
    ) -> EvalResult:
        """Rank all items for every user with targets and average the metrics.

        Args:
            scorer: ``scorer(users)`` returns ``[B, I]`` scores for a ``LongTensor[B]`` of user
                indices on the evaluator's device. Its output is not modified, unless the
                scorer declares ``fresh_scores = True`` (a new tensor per call, as
                :class:`~recdenoise.scoring.EmbeddingScorer`): then it is masked in place.
            targets: the held-out interactions (validation or test).
            exclude: interactions whose items are never recommended to their user (train, and
                valid when testing); masked to ``-inf`` before ranking.
            return_per_user: also return a per-user :class:`pandas.DataFrame`.
            return_topk: also return each user's top ``return_topk`` items and scores.

        Shapes:
            - targets, exclude: over the same ``(U, I)`` id space
            - scorer output: ``[B, I]``
        """
        exclude = (exclude,) if isinstance(exclude, Interactions) else tuple(exclude)
        _check_inputs(targets, exclude)
        if return_topk is not None and not _is_positive_int(return_topk):
            raise ConfigError(f"return_topk must be a positive integer or None, got return_topk={return_topk!r}")
        num_items = targets.num_items
        depth = max(self.ks[-1], return_topk or 0)
        if depth > num_items:
            raise ConfigError(
                f"cannot rank the top {depth} of only {num_items} items; lower ks={self.ks}"
                + (f" or return_topk={return_topk}" if return_topk else "")
            )
        device = resolve_device(self.device)
        accumulator = MetricAccumulator(self.ks, self.metrics)

        eval_users = torch.from_numpy(np.flatnonzero(targets.user_counts > 0)).to(device)
        if eval_users.numel() == 0:
            logger.warning("no user has a target in %r; metrics are nan", targets)
        target_indptr, _ = _to_device_csr([targets], device)
        exclude_indptr, exclude_indices = _to_device_csr(exclude, device)
        # Target keys user * I + item are sorted (Interactions rows are sorted by (user, item)),
        # so hits are found by binary search, with no dense [B, I] target mask.
        target_keys = torch.from_numpy(targets.sorted_keys()).to(device)

        batch_size = self.batch_size_for(num_items)
        num_batches = -(-eval_users.numel() // batch_size)
        logger.debug("evaluating %d users in %d batches of %d", eval_users.numel(), num_batches, batch_size)
        per_user_parts: list[Tensor] = []
        topk_parts: list[tuple[Tensor, Tensor, Tensor]] = []
        nan_users = torch.zeros((), dtype=torch.long, device=device)
        # A scorer that returns a new tensor per call (EmbeddingScorer) is masked in place; any
        # other may return memory it keeps (a cached matrix), so it gets a masked copy.
        in_place = bool(getattr(scorer, "fresh_scores", False))
        minus_inf = torch.tensor(-torch.inf, device=device)
        for start in tqdm(
            range(0, eval_users.numel(), batch_size),
            total=num_batches,
            desc="evaluate",
            unit="batch",
            disable=not self.show_progress,
        ):
            users = eval_users[start : start + batch_size]
            scores = _checked_scores(scorer(users), users.numel(), num_items, device)
            rows, cols = _batch_entries(exclude_indptr, exclude_indices, users)
            mask = minus_inf.to(scores.dtype)
            scores = scores.index_put_((rows, cols), mask) if in_place else scores.index_put((rows, cols), mask)
            # Each pass over the [B, I] block costs as much as the matmul that made it (memory
            # bound), so NaN is looked for in the top-k only: topk ranks NaN above +inf, so a
            # row with a NaN among its candidates has one at rank 0.
            top_scores, top_items = torch.topk(scores, depth, dim=1)
            del scores
            nan_users += torch.isnan(top_scores[:, 0]).sum()

            pred_keys = users.unsqueeze(1) * num_items + top_items
            pos = torch.searchsorted(target_keys, pred_keys).clamp_(max=target_keys.numel() - 1)
            # An excluded item only reaches the top when a user has fewer than `depth`
            # candidates; it never counts as a hit.
            hits = (target_keys[pos] == pred_keys) & (top_scores > -torch.inf)
            hits = hits[:, : self.ks[-1]]
            num_targets = target_indptr[users + 1] - target_indptr[users]
            accumulator.update(hits, num_targets)
            if return_per_user:
                values = per_user_metrics(hits, num_targets, self.ks, self.metrics)
                columns = [num_targets, *values.values()]
                per_user_parts.append(torch.stack([c.cpu().double() for c in columns]))
            if return_topk:
                topk_parts.append((users.cpu(), top_items[:, :return_topk].cpu(), top_scores[:, :return_topk].cpu()))

        if (n := int(nan_users)) > 0:
            logger.warning(
                "scorer returned NaN scores among the candidates of %d of %d users; their rankings are arbitrary", n, len(eval_users)
            )
        return EvalResult(
            metrics=accumulator.compute(),
            num_users=accumulator.num_users,
            per_user=_per_user_frame(per_user_parts, eval_users.cpu(), targets, accumulator.keys)
            if return_per_user
            else None,
            topk=_concat_topk(topk_parts, return_topk) if return_topk else None,
        )

    def evaluate_embeddings(
        self,
        user_emb: Tensor,
        item_emb: Tensor,
        targets: Interactions,
        exclude: Sequence[Interactions] | Interactions = (),
        return_per_user: bool = False,
        return_topk: int | None = None,
    ) -> EvalResult:
        r"""Evaluate dot-product scores :math:`s_{ui} = e_u^\top e_i` of fixed embeddings.

        Shapes:
            - user_emb: ``[U, D]``
            - item_emb: ``[I, D]``
        """
        scorer = embedding_scorer(user_emb, item_emb, targets, resolve_device(self.device))
        return self.evaluate(scorer, targets, exclude, return_per_user=return_per_user, return_topk=return_topk)


def embedding_scorer(user_emb: Tensor, item_emb: Tensor, targets: Interactions, device: torch.device) -> Scorer:
    """A scorer ``users -> user_emb[users] @ item_emb.T`` with both tables moved to ``device`` once."""
    tables = (("user_emb", user_emb, targets.num_users, "U"), ("item_emb", item_emb, targets.num_items, "I"))
    for name, emb, n, what in tables:
        if not isinstance(emb, Tensor) or emb.dim() != 2 or emb.shape[0] != n:
            shape = list(emb.shape) if isinstance(emb, Tensor) else type(emb).__name__
            raise ConfigError(f"{name} must be a [{what}={n}, D] tensor for the targets' id space, got {shape}")
    if user_emb.shape[1] != item_emb.shape[1]:
        raise ConfigError(
            f"user_emb and item_emb must share the embedding dimension, got {user_emb.shape[1]} and {item_emb.shape[1]}"
        )
    return EmbeddingScorer(user_emb.detach().to(device), item_emb.detach().to(device))


def evaluate_embeddings(
    user_emb: Tensor,
    item_emb: Tensor,
    targets: Interactions,
    exclude: Sequence[Interactions] | Interactions = (),
    *,
    ks: Sequence[int] = (10, 20),
    metrics: Sequence[str] = tuple(METRICS),
    batch_size: int | None = None,
    max_batch_bytes: int = 256 * 2**20,
    device: str | torch.device | None = None,
    show_progress: bool = False,
    return_per_user: bool = False,
    return_topk: int | None = None,
) -> EvalResult:
    r"""One-call full-ranking evaluation of dot-product scores :math:`s_{ui} = e_u^\top e_i`.

    ``device=None`` evaluates where ``user_emb`` lives. Other arguments as in :class:`Evaluator`.

    Shapes:
        - user_emb: ``[U, D]``
        - item_emb: ``[I, D]``
    """
    evaluator = Evaluator(
        ks=ks,
        metrics=metrics,
        batch_size=batch_size,
        max_batch_bytes=max_batch_bytes,
        device=user_emb.device if device is None and isinstance(user_emb, Tensor) else (device or "cpu"),
        show_progress=show_progress,
    )
    return evaluator.evaluate_embeddings(
        user_emb, item_emb, targets, exclude, return_per_user=return_per_user, return_topk=return_topk
    )


# --------------------------------------------------------------------------- helpers
def _is_positive_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value > 0


def _check_inputs(targets: Interactions, exclude: tuple[Interactions, ...]) -> None:
    if not isinstance(targets, Interactions):
        raise ConfigError(f"targets must be an Interactions table, got {type(targets).__name__}")
    for j, part in enumerate(exclude):
        if not isinstance(part, Interactions):
            raise ConfigError(f"exclude[{j}] must be an Interactions table, got {type(part).__name__}")
        if part.shape != targets.shape:
            raise ConfigError(
                f"exclude[{j}] is over the id space (U, I)={part.shape} but targets over {targets.shape}; "
                "split parts must share one id space"
            )


def _to_device_csr(parts: Sequence[Interactions], device: torch.device) -> tuple[Tensor, Tensor]:
    """Users-as-rows ``(indptr [U+1], indices [N])`` of the union of ``parts`` (duplicates harmless)."""
    if len(parts) == 0:
        return torch.zeros(1, dtype=torch.long, device=device), torch.zeros(0, dtype=torch.long, device=device)
    num_users = parts[0].num_users
    if len(parts) == 1:
        users, items = parts[0].users, parts[0].items  # already sorted by user
    else:
        users = np.concatenate([p.users for p in parts])
        order = np.argsort(users, kind="stable")
        users, items = users[order], np.concatenate([p.items for p in parts])[order]
    indptr = np.zeros(num_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(users, minlength=num_users), out=indptr[1:])
    return torch.from_numpy(indptr).to(device), torch.from_numpy(np.ascontiguousarray(items)).to(device)


def _batch_entries(indptr: Tensor, indices: Tensor, users: Tensor) -> tuple[Tensor, Tensor]:
    """``(rows, cols)`` of the CSR entries of ``users``; ``rows`` index the batch (0..B-1).

    Vectorised: each user's slice ``indptr[u]:indptr[u+1]`` is expanded with
    ``repeat_interleave`` over the row lengths.
    """
    starts = indptr[users]
    lengths = indptr[users + 1] - starts
    total = int(lengths.sum())
    if total == 0:
        empty = torch.zeros(0, dtype=torch.long, device=users.device)
        return empty, empty
    rows = torch.repeat_interleave(torch.arange(users.numel(), device=users.device), lengths, output_size=total)
    # position of entry j in `indices` = j - (entries of earlier batch rows) + start of its row
    shift = starts - (lengths.cumsum(0) - lengths)
    flat = torch.arange(total, device=users.device) + shift[rows]
    return rows, indices[flat]


def _checked_scores(scores: Tensor, batch: int, num_items: int, device: torch.device) -> Tensor:
    if not isinstance(scores, Tensor) or scores.shape != (batch, num_items):
        shape = list(scores.shape) if isinstance(scores, Tensor) else type(scores).__name__
        raise ConfigError(f"scorer must return a [B={batch}, I={num_items}] score tensor, got {shape}")
    if not scores.is_floating_point():
        raise ConfigError(f"scorer must return floating-point scores, got dtype {scores.dtype}")
    return scores.detach().to(device)


def _per_user_frame(parts: list[Tensor], users: Tensor, targets: Interactions, keys: list[str]) -> pd.DataFrame:
    values = torch.cat(parts, dim=1).numpy() if parts else np.zeros((1 + len(keys), 0))
    user_index = users.numpy()
    frame = pd.DataFrame(
        {"user": user_index, "user_id": targets.user_ids[user_index], "num_targets": values[0].astype(np.int64)}
    )
    for j, key in enumerate(keys, start=1):
        frame[key] = values[j]
    return frame


def _concat_topk(parts: list[tuple[Tensor, Tensor, Tensor]], k: int) -> tuple[Tensor, Tensor, Tensor]:
    if not parts:
        return torch.zeros(0, dtype=torch.long), torch.zeros(0, k, dtype=torch.long), torch.zeros(0, k)
    users, items, scores = zip(*parts)
    return torch.cat(users), torch.cat(items), torch.cat(scores)
