"""Start a real ``wsi-viewer serve`` process on a free port for tests, and stop it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_server(*args: str, data_dir: Path, timeout: float = 120.0,
                   env: dict[str, str] | None = None) -> Iterator[str]:
    """Run ``wsi-viewer serve ARGS --port P --data-dir D``; yield its base URL; SIGTERM it after."""
    port = free_port()
    command = [sys.executable, "-m", "viewer.cli", "serve", *args, "--port", str(port), "--data-dir", str(data_dir)]
    log = open(data_dir.parent / f"server-{port}.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                               start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}: "
                                   + (data_dir.parent / f"server-{port}.log").read_text(errors="replace"))
            try:
                if requests.get(base + "/api/slides", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("server did not start")
            time.sleep(0.2)
        yield base
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()
