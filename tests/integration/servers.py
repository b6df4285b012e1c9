"""Start and stop local servers on a free 127.0.0.1 port: ``chroma run`` and llama.cpp's.

Shared by the server tests (``tests/integration/conftest.py``, ``test_scale_server.py``,
``test_openai_backend.py``) and ``bench/scale.py``, so it does not import pytest: a
server that exits or never answers raises :class:`ServerError` with the tail of its log, and
skip conditions stay with the callers. A server's stdout and stderr go to a log file; it is
stopped by PID (SIGTERM, then SIGKILL after a timeout). Never ``chroma update`` (it calls the
internet).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"


class ServerError(RuntimeError):
    """A server did not start: it exited, or did not answer before its deadline."""


@dataclass(frozen=True)
class Server:
    """A running server: its port and PID on loopback, and the file its output goes to."""

    port: int
    pid: int
    log: Path

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``, without a trailing slash."""
        return f"http://{HOST}:{self.port}"


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def log_tail(log: Path | None, chars: int = 2000) -> str:
    """The last ``chars`` characters of a log file ('' when there is none)."""
    if log is None or not log.exists():
        return ""
    return log.read_text(errors="replace")[-chars:]


def wait_http(
    url: str,
    proc: subprocess.Popen[bytes],
    timeout: float,
    *,
    log: Path | None = None,
    interval: float = 0.2,
    request_timeout: float = 1.0,
    name: str = "server",
) -> None:
    """Poll ``url`` until it answers 200; raise :class:`ServerError` (with the tail of
    ``log``) as soon as ``proc`` exits, or after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=request_timeout) as resp:
                if resp.status == 200:
                    return
        except (OSError, http.client.HTTPException):
            pass
        if proc.poll() is not None:
            raise ServerError(f"{name} exited with {proc.returncode}:\n{log_tail(log)}")
        if time.monotonic() > deadline:
            raise ServerError(f"{name} did not start in {timeout:g} s:\n{log_tail(log)}")
        time.sleep(interval)


def stop(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """Stop ``proc`` by its PID: SIGTERM, then SIGKILL if it still runs after ``timeout`` s."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@contextlib.contextmanager
def serve(
    cmd: Sequence[str],
    port: int,
    log: Path,
    ready_path: str,
    *,
    timeout: float,
    interval: float,
    request_timeout: float,
    stop_timeout: float,
    env: Mapping[str, str] | None = None,
    name: str = "server",
) -> Iterator[Server]:
    """Run ``cmd`` (which listens on ``port``) with its output in ``log``; yield once
    ``http://127.0.0.1:<port><ready_path>`` answers 200, and stop it by PID on exit."""
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            list(cmd), stdout=out, stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
        )
    try:
        server = Server(port=port, pid=proc.pid, log=log)
        wait_http(server.url + ready_path, proc, timeout, log=log, interval=interval,
                  request_timeout=request_timeout, name=name)
        yield server
    finally:
        stop(proc, stop_timeout)


@contextlib.contextmanager
def chroma_server(path: Path, log: Path | None = None) -> Iterator[Server]:
    """``chroma run --path <path>`` (the server in the chromadb wheel, next to this Python)
    on 127.0.0.1 and a free port, telemetry off; output in ``log`` (default
    ``<path>/../chroma.log``). Up within 60 s (``/api/v2/heartbeat``), SIGTERM with 20 s grace.
    """
    exe = Path(sys.executable).with_name("chroma")
    if not exe.exists():
        raise ServerError(f"chroma CLI not found next to {sys.executable}")
    port = free_port()
    cmd = [str(exe), "run", "--path", str(path), "--host", HOST, "--port", str(port)]
    with serve(
        cmd, port, log or path.parent / "chroma.log", "/api/v2/heartbeat",
        timeout=60, interval=0.2, request_timeout=1, stop_timeout=20,
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False"}, name="chroma server",
    ) as server:
        yield server


@contextlib.contextmanager
def llama_server(
    model: Path,
    log: Path,
    *,
    threads: int,
    alias: str | None = None,
    n_ctx: int = 4096,
    timeout: float = 180,
    stop_timeout: float = 30,
) -> Iterator[Server]:
    """``python -m llama_cpp.server`` (OpenAI-compatible API) with ``model`` on 127.0.0.1 and
    a free port, served as ``alias`` when given; output in ``log``. Up within ``timeout`` s
    (``/v1/models``), SIGTERM with ``stop_timeout`` s grace. Needs ``llama_cpp[server]``;
    callers decide whether its absence is a skip."""
    port = free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model)]
    if alias is not None:
        cmd += ["--model_alias", alias]
    cmd += ["--host", HOST, "--port", str(port), "--n_ctx", str(n_ctx),
            "--n_threads", str(threads)]
    with serve(
        cmd, port, log, "/v1/models", timeout=timeout, interval=0.5, request_timeout=2,
        stop_timeout=stop_timeout, name="llama_cpp.server",
    ) as server:
        yield server
