"""Shared helpers for the side-by-side benchmarks (data loading, PyG LightGCN training, timing).

Kept out of the library on purpose: PyG is only a *peer* here, to compare against.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Callable

import torch

from recdenoise.data import Interactions, Split
from recdenoise.evaluation import Evaluator
from recdenoise.samplers import TripletBatch

logger = logging.getLogger("benchmarks")

REPO = Path(__file__).resolve().parents[1]


def default_data_dir() -> Path:
    env = os.environ.get("RECDENOISE_DATA_DIR")
    return Path(env) if env else REPO.parent / "shared" / "datasets"


def load_split(name: str, data_dir: Path, seed: int = 0) -> tuple[Split, str]:
    """``(split, how it was obtained)``.

    ``"ml-100k"``: per-user random 80/10/10 split (seeded); ``"ml-1m-split"`` / ``"gowalla"``:
    LightGCN++'s published train/valid/test files. Uses the registry
    (:func:`recdenoise.data.registry.prepare_data`) when it exists, else the readers.
    """
    try:
        from recdenoise.data.registry import prepare_data
    except ImportError:
        prepare_data = None
    if prepare_data is not None:
        if name == "ml-100k":
            split, _info = prepare_data(name, data_dir, split="ratio", ratios=(0.8, 0.1, 0.1), seed=seed)
        else:
            registered = {"gowalla": "gowalla-lightgcnpp"}.get(name, name)
            split, _info = prepare_data(registered, data_dir, split="predefined", seed=seed)
        return split, "registry.prepare_data"
    from recdenoise.data.readers import read_lightgcn_split, read_movielens_100k
    from recdenoise.data.split import ratio_split

    if name == "ml-100k":
        loaded = read_movielens_100k(data_dir / "ml-100k")
        return ratio_split(loaded.interactions, (0.8, 0.1, 0.1), seed), "readers + ratio_split"
    folders = {"ml-1m-split": data_dir / "ml-1m" / "lightgcnpp_split", "gowalla": data_dir / "gowalla-lightgcnpp"}
    if name not in folders:
        raise SystemExit(f"unknown dataset {name!r}; choose ml-100k, ml-1m-split or gowalla")
    return read_lightgcn_split(folders[name], name=name).predefined, "readers (predefined split)"


def describe(split: Split) -> str:
    return (
        f"{split.train.num_users} users x {split.train.num_items} items, "
        f"train/valid/test {len(split.train):,}/{len(split.valid):,}/{len(split.test):,}"
    )


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device, repeats: int, warmup: int = 1) -> list[float]:
    """Wall-clock seconds of ``repeats`` calls after ``warmup`` calls (CUDA synchronised)."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return times


def median(xs: list[float]) -> float:
    return statistics.median(xs)


# ----------------------------------------------------------------- PyG LightGCN
class PygLightGCNRunner:
    """Trains ``torch_geometric.nn.models.LightGCN`` on our sampler's batches.

    Same protocol as :class:`recdenoise.training.Trainer` with BPR: one propagation per
    batch, BPR via PyG's ``recommendation_loss`` with L2 on the layer-0 embeddings of the
    batch rows (``lambda_reg = reg / 2`` makes PyG's ``lambda/B * ||E||^2`` equal to our
    ``reg/(2B) * ||E||^2``), Adam. ``adj`` is whatever ``LGConv`` accepts: an ``edge_index``
    ``[2, 2E]`` (items offset by ``U``) or a sparse ``(U+I) x (U+I)`` adjacency.
    """

    def __init__(self, model, adj, num_users: int, lr: float = 1e-3, reg_weight: float = 1e-4):
        self.model = model
        self.adj = adj
        self.num_users = num_users
        self.reg_weight = reg_weight
        self.optimizer = torch.optim.Adam(model.parameters(), lr=lr)

    def train_step(self, batch: TripletBatch) -> torch.Tensor:
        emb = self.model.get_embedding(self.adj)
        users, pos, neg = batch.users, batch.pos_items + self.num_users, batch.neg_items + self.num_users
        pos_rank = (emb[users] * emb[pos]).sum(-1)
        neg_rank = (emb[users] * emb[neg]).sum(-1)
        node_id = torch.cat([users, pos, neg])
        loss = self.model.recommendation_loss(pos_rank, neg_rank, node_id=node_id, lambda_reg=self.reg_weight / 2)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.detach()

    def train_epoch(self, sampler, epoch: int) -> float:
        self.model.train()
        total, count = 0.0, 0
        for batch in sampler.batches(epoch):
            total = total + self.train_step(batch) * len(batch)
            count += len(batch)
        return float(total) / max(count, 1)

    @torch.no_grad()
    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        self.model.eval()
        emb = self.model.get_embedding(self.adj)
        return emb[: self.num_users], emb[self.num_users :]


def evaluate_pair(
    evaluator: Evaluator, user_emb: torch.Tensor, item_emb: torch.Tensor, targets: Interactions, exclude
) -> dict:
    return evaluator.evaluate_embeddings(user_emb, item_emb, targets, exclude=exclude).metrics


def set_threads(threads: int | None) -> None:
    if threads:
        torch.set_num_threads(threads)


def env_line(device: torch.device) -> str:
    import torch_geometric

    where = (
        torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} torch threads"
    )
    return f"torch {torch.__version__}, torch_geometric {torch_geometric.__version__}, {where}, python {sys.version.split()[0]}"


@contextlib.contextmanager
def mock_server_process(*flags: str, wait_s: float = 20.0):
    """``recdenoise serve-mock FLAGS`` in its own process on a free loopback port; yields its
    base URL once ``/v1/models`` answers, and kills it on exit (a server never shares the
    measured client's process)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [sys.executable, "-m", "recdenoise", "serve-mock", "--port", str(port), *flags]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{url}/models", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        proc.kill()
        proc.wait(timeout=30)
