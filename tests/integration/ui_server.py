"""Start and stop the real ``python app.py`` on a free loopback port, for the page's tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import CORPUS, REPO


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(
    tmp_path: Path, backend: str, extra_env: dict[str, str] | None = None, timeout: float = 300
) -> tuple[subprocess.Popen, str, Path]:
    """Start ``python app.py`` (index in ``tmp_path/index``); returns (process, url, log path).

    Waits until the page answers; fails with the app's log when it exits or never comes up.
    """
    port = free_port()
    env = {
        **os.environ,
        "ASSISTANT_INDEX_DIR": str(tmp_path / "index"),
        "ASSISTANT_CORPUS_DIR": str(CORPUS),
        "ASSISTANT_BACKEND": backend,
        "ASSISTANT_PORT": str(port),
        "ASSISTANT_HOST": "127.0.0.1",
        "GRADIO_TEMP_DIR": str(tmp_path / "gradio"),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "ANONYMIZED_TELEMETRY": "False",
        **(extra_env or {}),
    }
    log = tmp_path / "app.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, str(REPO / "app.py")], cwd=tmp_path, env=env,
            stdout=out, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"app.py exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url + "gradio_api/info", timeout=2).status_code == 200:
                return proc, url, log
        except httpx.HTTPError:
            pass
        time.sleep(1)
    stop_app(proc)
    raise AssertionError(f"app.py did not come up:\n{log.read_text()[-3000:]}")


def stop_app(proc: subprocess.Popen) -> None:
    """Stop the app by its PID: SIGTERM, then SIGKILL after 20 s."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
