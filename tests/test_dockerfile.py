"""The Dockerfile's recipe, replayed step by step without a container engine (none runs on the
machines this suite runs on): its COPY lines carry everything a plain install needs, the install
works with the sources removed, its ENV values are settings the server accepts, the server runs as
a user other than root with a data directory that user owns, and its HEALTHCHECK command fails
before the server is up and passes once it serves."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests._server import free_port

ROOT = Path(__file__).parent.parent
SLIDE = ROOT / "tests" / "data" / "slides" / "aperio" / "CMU-1-Small-Region.svs"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    lines = re.sub(r"\\\n", " ", re.sub(r"^\s*#.*\n", "", text, flags=re.M)).splitlines()
    found = []
    for line in lines:
        if line.strip():
            op, _, arg = line.strip().partition(" ")
            found.append((op.upper(), arg.strip()))
    return found


@pytest.fixture()
def root_dir() -> Iterator[Path]:
    """The container's file system: a directory every user can enter (pytest's are private)."""
    path = Path(tempfile.mkdtemp(prefix="wsi-docker-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_dockerfile_recipe_installs_and_serves_as_a_non_root_user_with_a_working_healthcheck(
    root_dir: Path,
) -> None:
    steps = instructions((ROOT / "Dockerfile").read_text())
    ops = [op for op, _ in steps]
    assert ops[0] == "FROM" and "CMD" in ops and "HEALTHCHECK" in ops

    def local(path: str) -> Path:  # a container path inside root_dir
        return root_dir / path.lstrip("/")

    # The image's python is the one on its PATH: here, this environment's.
    env = {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "HOME": str(root_dir)}
    workdir, user = "/", "root"
    prefix = local("/usr/local")
    for op, arg in steps:
        if op == "ENV":
            env.update(dict(item.split("=", 1) for item in shlex.split(arg)))
        elif op == "WORKDIR":
            workdir = arg
            local(arg).mkdir(parents=True, exist_ok=True)
        elif op == "COPY":
            *sources, dest = shlex.split(arg)
            target = local(workdir) / dest
            for source in sources:
                if (ROOT / source).is_dir():
                    shutil.copytree(ROOT / source, target, dirs_exist_ok=True)
                else:
                    target.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(ROOT / source, target / Path(source).name)
        elif op == "RUN" and arg.startswith("pip install ."):
            # The dependencies come from this environment (no index here); the package is built from
            # what COPY put in place only, then the sources go, as in the image.
            assert arg == "pip install . && rm -rf /src", arg
            subprocess.run(
                [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--prefix", str(prefix), "."],
                cwd=local(workdir), check=True, timeout=600, capture_output=True,
            )
            shutil.rmtree(local("/src"))
        elif op == "RUN":
            assert "useradd" in arg and "chown viewer:viewer /data" in arg, arg
            for path in re.findall(r"mkdir -p ([^&]+)", arg)[0].split():
                local(path).mkdir(parents=True, exist_ok=True)
        elif op == "USER":
            user = arg
    assert user == "viewer"
    assert env["WSI_VIEWER_SLIDE_DIR"] == "/slides" and env["WSI_VIEWER_DATA_DIR"] == "/data"

    # Container paths and the published port, mapped onto this machine.
    port = free_port()
    site = next(prefix.glob("lib/python3*/site-packages"))
    env.update(
        WSI_VIEWER_SLIDE_DIR=str(local("/slides")),
        WSI_VIEWER_DATA_DIR=str(local("/data")),
        WSI_VIEWER_PORT=str(port),
        PYTHONPATH=str(site),
        PATH=f"{prefix / 'bin'}:{env['PATH']}",
    )
    shutil.copy(SLIDE, local("/slides"))
    for path in root_dir.rglob("*"):
        path.chmod(path.stat().st_mode | 0o755 if path.is_dir() else path.stat().st_mode | 0o644)
    as_viewer: list[str] = []
    if os.geteuid() == 0:  # the image's "viewer" user: anyone but root, owning /data only
        os.chown(local("/data"), 65534, 65534)
        local("/data").chmod(0o755)
        as_viewer = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]

    healthcheck = shlex.split(dict(steps)["HEALTHCHECK"].split(" CMD ", 1)[1])
    assert subprocess.run(healthcheck, env=env, capture_output=True, timeout=30).returncode != 0

    command = json.loads(dict(steps)["CMD"])
    log = (root_dir / "server.log").open("wb")
    server = subprocess.Popen(as_viewer + command, env=env, cwd=local(workdir), stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60  # the HEALTHCHECK's start period
        while subprocess.run(healthcheck, env=env, capture_output=True, timeout=30).returncode != 0:
            assert server.poll() is None, (root_dir / "server.log").read_text()
            assert time.monotonic() < deadline, (root_dir / "server.log").read_text()
            time.sleep(0.5)
        slides = requests.get(f"http://127.0.0.1:{port}/api/slides", timeout=30).json()["slides"]
        assert [s["id"] for s in slides] == [SLIDE.name] and "error" not in slides[0]
        status = Path(f"/proc/{server.pid}/status").read_text()
        assert int(re.search(r"^Uid:\s+(\d+)", status, re.M)[1]) != 0  # type: ignore[index]
        # Served from the installed package (the sources are gone), writing only under /data.
        page = requests.get(f"http://127.0.0.1:{port}/", timeout=30)
        assert page.status_code == 200 and b"<html" in page.content
        assert not local("/src").exists() and any(local("/data").iterdir())
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
        log.close()
