"""Small shared helpers: seeding, atomic file writes, device resolution."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator

import numpy as np
import torch

from .errors import ConfigError

__all__ = [
    "seed_everything",
    "seeded_rng",
    "resolve_device",
    "atomic_write",
    "atomic_write_text",
    "atomic_write_json",
    "atomic_torch_save",
    "sha256_file",
]


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch, and return a fresh CPU ``torch.Generator`` seeded with ``seed``.

    Library components never rely on the global RNG for their own sampling: they take a
    ``generator`` or ``seed`` argument. Seeding the globals only makes third-party code
    (e.g. ``nn.init``) repeatable too.
    """
    if not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    gen = torch.Generator()
    gen.manual_seed(seed)
    return gen


@contextlib.contextmanager
def seeded_rng(seed: int, state: "torch.Tensor | None" = None) -> Iterator[None]:
    """Run a block with torch's CPU default generator seeded with ``seed`` (or set to ``state``),
    inside :func:`torch.random.fork_rng`: third-party code that draws from the global generator
    (``nn.Module`` initialisation) becomes repeatable and the caller's RNG is left as it was."""
    with torch.random.fork_rng(devices=[]):
        if state is not None:
            torch.set_rng_state(state)
        else:
            torch.manual_seed(seed)
        yield


def adam(params, lr: float, optimizer: type[torch.optim.Optimizer] = torch.optim.Adam, **kwargs: Any) -> torch.optim.Optimizer:
    """The library's Adam (or ``optimizer=torch.optim.AdamW``): the fused kernel where every
    parameter is a dense floating tensor on CPU or CUDA.

    The fused step reads and writes each parameter and its two moments once, where the default
    one makes about six passes; on a Gowalla-sized table (71k x 64) on one CPU core a step takes
    12 ms instead of 55 ms. Results agree with the unfused step to rounding (the pinned ML-100K
    metrics are unchanged to 1e-6).
    """
    params = list(params)
    fused = bool(params) and all(
        p.device.type in ("cpu", "cuda") and p.is_floating_point() and not p.is_sparse for p in params
    )
    return optimizer(params, lr=lr, fused=fused or None, **kwargs)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """Turn ``"auto"``/``None``/``"cpu"``/``"cuda[:n]"`` into a ``torch.device``.

    ``"auto"`` picks CUDA when available. Asking for CUDA without it is a :class:`ConfigError`.
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"--device {device!r} is not a torch device; use 'cpu', 'cuda', 'cuda:0' or 'auto'") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: CUDA is not available on this machine; use --device cpu")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s); use cuda:0..cuda:{torch.cuda.device_count() - 1}")
    if dev.type not in ("cpu", "cuda"):
        raise ConfigError(f"--device {device}: only 'cpu', 'cuda', 'cuda:N' and 'auto' are supported")
    return dev


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO[Any]]:
    """Write ``path`` atomically: write a temporary file in the same folder, fsync, then rename.

    A crash (or SIGKILL) at any moment leaves either the old file or the new one, never a
    half-written file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        interrupt = _interrupt_behind(exc)
        if interrupt is not None:  # Ctrl-C / SIGTERM mid-write, masked by the writer's own error
            raise interrupt from None
        raise


def _interrupt_behind(exc: BaseException) -> BaseException | None:
    """The ``KeyboardInterrupt`` (or SIGTERM's subclass of it) that ``exc`` was raised while
    handling, if any: a signal that lands inside a C++ writer (torch's zip writer) makes its
    cleanup fail with a ``RuntimeError`` that would otherwise hide the interruption."""
    if isinstance(exc, KeyboardInterrupt):
        return None  # the interrupt itself: re-raised as it is
    seen: set[int] = set()
    cause = exc.__context__
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return cause
        seen.add(id(cause))
        cause = cause.__context__
    return None


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` through :func:`atomic_write`; an ``OSError`` that torch wraps in a
    ``RuntimeError`` (disk full inside its zip writer) is raised as that ``OSError`` for ``path``."""
    try:
        with atomic_write(path, "wb") as fh:
            torch.save(obj, fh)
    except RuntimeError as exc:
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, OSError) and cause.errno:
            raise OSError(cause.errno, os.strerror(cause.errno), str(path)) from exc
        if "unexpected pos" in str(exc) or "write" in str(exc).lower():  # torch's zip writer lost bytes
            free = _free_bytes(Path(path).parent)
            if free is not None and free < 1 << 20:
                import errno as _errno

                raise OSError(_errno.ENOSPC, os.strerror(_errno.ENOSPC), str(path)) from exc
        raise


def _free_bytes(folder: Path) -> int | None:
    try:
        st = os.statvfs(folder)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def atomic_write_text(path: str | Path, text: str) -> None:
    """Atomically replace ``path`` with ``text``."""
    with atomic_write(path) as fh:
        fh.write(text)


def atomic_write_json(path: str | Path, obj: Any, indent: int = 2) -> None:
    """Atomically replace ``path`` with ``obj`` as JSON (non-JSON types go through ``str``)."""
    atomic_write_text(path, json.dumps(obj, indent=indent, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, torch.Tensor):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    return str(obj)


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file, streamed in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(chunk_size), b""):
            h.update(chunk)
    return h.hexdigest()
