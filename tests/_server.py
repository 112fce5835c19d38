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
from dataclasses import dataclass
from pathlib import Path

import requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A running ``wsi-viewer serve``: its base URL, the gunicorn master process and its log."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def workers(self) -> list[int]:
        """Pids of the gunicorn workers (children of the master, which is our subprocess)."""
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.process.pid:
                    found.append(int(entry.name))
        return found


@contextmanager
def running_server(*args: str, data_dir: Path, timeout: float = 120.0,
                   env: dict[str, str] | None = None, port: int | None = None,
                   probe: str = "/api/openapi.json") -> Iterator[Server]:
    """Run ``wsi-viewer serve ARGS --port P --data-dir D``; yield it once it answers; SIGTERM it after.
    *port*: P (default a free one; a restart on the same port keeps the browser's origin, so its
    IndexedDB). *probe*: the path that answers 200 once it serves (with logins on, a public one).

    The developer's own WSI_VIEWER_* settings are not passed on (test settings are), so tests see
    only the settings they give in *args* and *env*.
    """
    port = port or free_port()
    command = [sys.executable, "-m", "viewer.cli", "serve", *args,
               "--port", str(port), "--data-dir", str(data_dir)]
    log_path = data_dir.parent / f"server-{port}.log"
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("WSI_VIEWER_") or k.startswith("WSI_VIEWER_TEST_")}
    base = f"http://127.0.0.1:{port}"
    with running_process(command, probe=base + probe, log_path=log_path,
                         env={**clean, **(env or {})}, timeout=timeout) as process:
        yield Server(base, process, log_path)


@contextmanager
def running_process(command: list[str], *, probe: str, log_path: Path, env: dict[str, str],
                    timeout: float = 120.0, cwd: Path | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """Run *command* (its own process group, output to *log_path*); yield it once GET *probe*
    answers 200; SIGTERM the group after (SIGKILL if it has not stopped within 20 s)."""
    log = open(log_path, "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}:\n"
                                   + log_path.read_text(errors="replace"))
            try:
                if requests.get(probe, timeout=5).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):  # not listening yet, or slow under load
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("server did not start:\n" + log_path.read_text(errors="replace"))
            time.sleep(0.2)
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()
