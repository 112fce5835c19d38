"""The Dockerfile's recipe, replayed step by step without a container engine (none runs on the
machines this suite runs on): its COPY lines carry everything a plain install needs, the install
works with the sources removed, its ENV values are settings the server accepts, the server runs as
a user other than root with a data directory that user owns and logins on (an account added with
the image's ``wsi-viewer users`` reads), and its HEALTHCHECK command (``/healthz``) fails before the
server is up and passes once it serves. ``compose.yaml`` is read as Compose reads it (its
``${VAR}`` substitution and YAML merges) and checked against the Dockerfile, the settings table and
the nginx configuration it mounts, ``deploy/nginx.conf``."""

from __future__ import annotations

import ipaddress
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
from typing import Any

import pytest
import requests
import yaml

from tests._server import free_port
from viewer.config import ENV_PREFIX, SETTINGS, load_settings

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
    assert re.fullmatch(r"python:3\.\d+-slim", steps[0][1]), steps[0]  # slim: no compilers, no docs
    assert set(json.loads(dict(steps)["VOLUME"])) == {"/slides", "/data"}

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
                [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--ignore-installed",
                 "--prefix", str(prefix), "."],
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
    assert "/healthz'" in healthcheck[-1]  # liveness: no login, no slide scan, no database
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
        # Logins are on: nothing is served to a stranger; an account made with the image's own
        # command (as `docker exec` runs it, the server running) reads with its API token.
        base = f"http://127.0.0.1:{port}"
        refused = requests.get(f"{base}/api/slides", timeout=30)
        assert refused.status_code == 401 and "error" in refused.json()
        users = [*as_viewer, "wsi-viewer", "users"]
        added = subprocess.run([*users, "add", "ann", "--role", "viewer"], input="correct horse\n",
                               env=env, cwd=local(workdir), capture_output=True, text=True, timeout=60)
        assert added.returncode == 0, added.stderr
        made = subprocess.run([*users, "token", "ann"], env=env, cwd=local(workdir), capture_output=True,
                              text=True, timeout=60)
        assert made.returncode == 0, made.stderr
        bearer = {"Authorization": f"Bearer {made.stdout.strip()}"}
        slides = requests.get(f"{base}/api/slides", headers=bearer, timeout=30).json()["slides"]
        assert [s["id"] for s in slides] == [SLIDE.name] and "error" not in slides[0]
        status = Path(f"/proc/{server.pid}/status").read_text()
        assert int(re.search(r"^Uid:\s+(\d+)", status, re.M)[1]) != 0  # type: ignore[index]
        # Served from the installed package (the sources are gone), writing only under /data.
        page = requests.get(f"{base}/login", timeout=30)
        assert page.status_code == 200 and b"<html" in page.content
        assert not local("/src").exists() and any(local("/data").iterdir())
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
        log.close()


# --------------------------------------------------------------------------------------------------
# compose.yaml, replayed as far as it goes without a container engine (tests/test_scale_out.py runs
# its nginx configuration for real)

COMPOSE_VARIABLES = {"WSI_DB_PASSWORD": "s3cret", "WSI_SLIDES": "/srv/slides", "WSI_HOSTNAME": "viewer.lab"}


def interpolate(value: Any, variables: dict[str, str]) -> Any:
    """Compose's ``${NAME}`` / ``${NAME:?message}`` / ``${NAME:-default}`` substitution, recursively;
    a required variable that is unset raises ValueError with its message."""
    def one(match: re.Match[str]) -> str:
        name, op, arg = match[1], match[2], match[3]
        if variables.get(name):
            return variables[name]
        if op == ":?":
            raise ValueError(f"{name}: {arg}")
        return arg if op == ":-" else ""

    if isinstance(value, str):
        return re.sub(r"\$\{([A-Z0-9_]+)(?:(:\?|:-)([^}]*))?\}", one, value)
    if isinstance(value, list):
        return [interpolate(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: interpolate(v, variables) for k, v in value.items()}
    return value


def compose(variables: dict[str, str] = COMPOSE_VARIABLES) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())  # merges <<: *app
    return dict(interpolate(loaded, variables))


def test_compose_file_runs_postgresql_two_instances_of_the_image_and_the_shipped_nginx() -> None:
    for missing in COMPOSE_VARIABLES:  # nothing starts with an empty password, slide path or name
        with pytest.raises(ValueError, match=missing):
            compose({k: v for k, v in COMPOSE_VARIABLES.items() if k != missing})
    spec = compose()
    services = spec["services"]
    assert set(services) == {"db", "app1", "app2", "nginx"}
    db, apps, nginx = services["db"], [services["app1"], services["app2"]], services["nginx"]

    # PostgreSQL: its data on a volume, a health check the apps wait for.
    assert db["image"].startswith("postgres:") and "pg_isready" in db["healthcheck"]["test"]
    assert any(v.endswith(":/var/lib/postgresql/data") for v in db["volumes"])
    db_env = db["environment"]

    # The apps: this Dockerfile's image (its HEALTHCHECK, user and CMD), the settings it reads.
    image_env = dict(
        item.split("=", 1) for op, arg in instructions((ROOT / "Dockerfile").read_text()) if op == "ENV"
        for item in shlex.split(arg)
    )
    for app in apps:
        assert app["build"] == "." and app["depends_on"]["db"]["condition"] == "service_healthy"
        env = {**image_env, **{k: str(v) for k, v in app["environment"].items()}}
        assert all(name[len(ENV_PREFIX):] in {s.name for s in SETTINGS} for name in env
                   if name.startswith(ENV_PREFIX)), sorted(env)
        settings = load_settings(environ=env)
        user, password, host, database = re.fullmatch(
            r"postgresql://(\w+):(\w+)@(\w+):5432/(\w+)", settings["DATABASE"]).groups()  # type: ignore[union-attr]
        assert (user, password, database) == (db_env["POSTGRES_USER"], db_env["POSTGRES_PASSWORD"],
                                              db_env["POSTGRES_DB"]) and host == "db"
        mounts = {v.split(":")[1]: v for v in app["volumes"]}
        assert mounts[settings["SLIDE_DIR"]] == "/srv/slides:/slides:ro"
        assert mounts[settings["DATA_DIR"]].split(":")[0] in spec["volumes"]
        assert settings["ALLOWED_HOSTS"] == "viewer.lab" and settings["HOST"] == "0.0.0.0"
    assert apps[0]["volumes"] == apps[1]["volumes"]  # one slide mount, one data volume (jobs, overlays)

    # nginx: the shipped configuration, in front of both apps on the port their settings give.
    assert nginx["volumes"][0] == "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro"
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    port = load_settings(environ=image_env)["PORT"]
    assert re.findall(r"^\s*server (\S+) max_fails", conf, re.M) == [f"app1:{port}", f"app2:{port}"]
    listen = re.search(r"^\s*listen (\d+);", conf, re.M)[1]  # type: ignore[index]
    assert nginx["ports"] == [f"80:{listen}"]
    assert any(v.endswith(":/var/cache/nginx") for v in nginx["volumes"])  # the tile cache kept
    address = nginx["networks"]["wsi"]["ipv4_address"]
    subnet = spec["networks"]["wsi"]["ipam"]["config"][0]["subnet"]
    assert ipaddress.ip_address(address) in ipaddress.ip_network(subnet)
    trusted = load_settings(environ={**image_env, **apps[0]["environment"]})["TRUSTED_PROXIES"]
    assert [ipaddress.ip_network(c) for c in trusted.split(",")] == [ipaddress.ip_network(f"{address}/32")]
    assert set(spec["volumes"]) >= {v.split(":")[0] for s in services.values() for v in s.get("volumes", [])
                                    if not v.startswith(("/", "."))}


def test_nginx_limits_are_the_apps_default_settings() -> None:
    """deploy/nginx.conf's limits and timeouts say the same as the settings they stand in front of
    (a change of a default is a change of both)."""
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    defaults = load_settings(environ={})

    def value(directive: str, within: str = conf) -> str:
        found = re.findall(rf"^\s*{directive} (\S+);", within, re.M)
        assert len(found) == 1, (directive, found)
        return str(found[0])

    overlay_location = conf.split("location ~ ^/api/slides/.+/overlays$ {", 1)[1].split("}", 1)[0]
    server = conf.replace(overlay_location, "")
    assert value("client_max_body_size", server) == f"{defaults['MAX_UPLOAD_MB']}m"
    assert value("client_max_body_size", overlay_location) == f"{defaults['OVERLAY_UPLOAD_MAX_MB']}m"
    assert value("client_header_timeout") == f"{defaults['HEADER_TIMEOUT']}s"
    assert value("client_body_timeout") == f"{defaults['BODY_IDLE_TIMEOUT']}s"
    assert value("send_timeout") == f"{defaults['BODY_IDLE_TIMEOUT']}s"
    assert value("proxy_read_timeout") == f"{defaults['WORKER_TIMEOUT']}s"
    # gunicorn closes a kept-alive connection idle for its keepalive (serve keeps the default): nginx
    # lets go of one before, so that no request is sent on a connection being closed
    from gunicorn.config import Config

    assert int(value("keepalive_timeout").rstrip("s")) < Config().keepalive
