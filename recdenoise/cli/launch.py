"""``torchrun ... -m recdenoise train``: join the process group that torchrun describes.

torchrun (single- or multi-node) sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the
rendezvous address; :func:`distributed_session` initialises the default process group from
them (gloo on CPU, NCCL on CUDA with one GPU per local rank), runs the body and destroys the
group. Without torchrun it does nothing.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from typing import Iterator

__all__ = ["distributed_session"]


@contextlib.contextmanager
def distributed_session(cfg) -> Iterator[tuple[object, bool]]:
    """Yields ``(config, is_main)``: under torchrun the config's device is this rank's device."""
    from ..training.distributed import torchrun_env

    env = torchrun_env()
    if env is None:
        yield cfg, True
        return
    import torch
    import torch.distributed as dist

    from ..errors import ConfigError
    from ..utils import resolve_device

    if not dist.is_available():
        raise ConfigError("this torch build has no torch.distributed; run without torchrun")
    device = resolve_device(cfg.train.device)
    if device.type == "cuda":
        device = torch.device("cuda", env["local_rank"] % torch.cuda.device_count())
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend, rank=env["rank"], world_size=env["world_size"])
    try:
        yield replace(cfg, train=replace(cfg.train, device=str(device))), env["rank"] == 0
    finally:
        dist.destroy_process_group()
