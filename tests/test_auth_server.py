"""A real ``wsi-viewer serve`` with accounts: ``wsi-viewer users`` (password from a pipe, a token
printed once, revoked), a login over HTTP, tiles through gunicorn's fast path; and the bind rule of
AUTH=none (loopback; elsewhere exit 2, or a warning with --insecure-no-auth)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests._server import free_port, running_process
from viewer.auth import Accounts
from viewer.cli.serve import check_bind
from viewer.config import load_settings
from viewer.errors import AuthenticationError
from viewer.store import Store, database_url

DATA = Path(__file__).parent / "data"
SLIDE = "CMU-1-Small-Region.svs"
TILE = f"/deepzoom/{SLIDE}_files/11/1_1.jpeg"


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not k.startswith("WSI_VIEWER_") or k.startswith("WSI_VIEWER_TEST_")}


def users(data: Path, *args: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "viewer.cli", "users", *args, "--data-dir", str(data)]
    return subprocess.run(command, input=password, capture_output=True, text=True, env=_env(), timeout=120,
                          check=False)


def test_a_real_server_with_accounts_tokens_and_logins(tmp_path: Path) -> None:
    slides, data = tmp_path / "slides", tmp_path / "data"
    slides.mkdir()
    shutil.copy(DATA / "slides" / "aperio" / SLIDE, slides / SLIDE)
    added = users(data, "add", "ann", "--role", "annotator", password="s3cret pass\n")
    assert added.returncode == 0 and "added ann (annotator)" in added.stdout, added.stderr
    assert users(data, "add", "bob", "--role", "viewer", password="").returncode == 2  # no password
    assert users(data, "list").stdout == "ann\tannotator\n"
    made = users(data, "token", "ann", "--label", "nightly")
    token = made.stdout.strip()
    assert made.returncode == 0 and token.startswith("wsv_") and "shown once" in made.stderr
    listed = users(data, "token", "ann", "--list").stdout
    assert token not in listed and "\tnightly\t" in listed
    token_id = listed.split("\t")[0]

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "viewer.cli", "serve", str(slides), "--auth", "builtin",
               "--workers", "1", "--threads", "4", "--port", str(port), "--data-dir", str(data)]
    with running_process(command, probe=base + "/login", log_path=tmp_path / "server.log", env=_env()):
        assert requests.get(base + "/api/slides", timeout=30).status_code == 401
        assert requests.get(base + TILE, timeout=30).status_code == 401
        bearer = {"Authorization": f"Bearer {token}"}
        assert requests.get(base + TILE, headers=bearer, timeout=30).status_code == 200
        browser = requests.Session()
        form = browser.get(base + "/login", timeout=30).text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert csrf is not None
        fields = {"name": "ann", "password": "s3cret pass", "csrf_token": csrf[1]}
        logged = browser.post(base + "/login", data=fields, allow_redirects=False, timeout=60)
        assert logged.status_code == 303, logged.text
        tile = browser.get(base + TILE, timeout=30)
        assert tile.status_code == 200 and tile.headers["Content-Type"] == "image/jpeg"
        assert users(data, "token", "--revoke", token_id).returncode == 0  # another process
        assert requests.get(base + "/api/slides", headers=bearer, timeout=30).status_code == 401
        assert users(data, "remove", "ann").returncode == 0
        assert browser.get(base + "/api/slides", timeout=30).status_code == 401  # her session ended



def test_users_set_role_and_password_from_the_command_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert users(data, "add", "ann", "--role", "annotator", password="first pass\n").returncode == 0
    changed = users(data, "set-role", "ann", "admin")
    assert changed.returncode == 0 and "ann is now admin" in changed.stdout, changed.stderr
    assert users(data, "list").stdout == "ann\tadmin\n"
    assert users(data, "set-role", "ann", "overlord").returncode == 2  # not a role
    nobody = users(data, "set-role", "nobody", "viewer")
    assert nobody.returncode != 0 and "nobody" in nobody.stderr, nobody.stderr
    assert users(data, "password", "ann", password="").returncode == 2  # no password: nothing changed
    assert users(data, "password", "ann", password="second pass\n").returncode == 0
    store = Store(database_url("", data))
    try:
        accounts = Accounts(store)
        assert accounts.verify("ann", "second pass", "127.0.0.1").role == "admin"
        with pytest.raises(AuthenticationError):
            accounts.verify("ann", "first pass", "127.0.0.1")
    finally:
        store.close()

def test_auth_none_binds_loopback_and_elsewhere_needs_insecure_no_auth(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    assert check_bind(load_settings(environ={})) == 0
    assert "binding 127.0.0.1 only" in capsys.readouterr().err
    assert check_bind(load_settings(environ={}, overrides={"HOST": "::1"})) == 0
    assert check_bind(load_settings(environ={}, overrides={"HOST": "10.0.0.5", "AUTH": "builtin"})) == 0
    assert check_bind(load_settings(environ={}, overrides={"HOST": "10.0.0.5", "AUTH": "proxy"})) == 0
    assert "AUTH=proxy without TRUSTED_PROXIES" in capsys.readouterr().err
    refused = subprocess.run([sys.executable, "-m", "viewer.cli", "serve", "--host", "0.0.0.0",  # noqa: S104
                              "--data-dir", str(tmp_path / "data")], capture_output=True, text=True,
                             env=_env(), timeout=120, check=False)
    assert refused.returncode == 2 and "--insecure-no-auth" in refused.stderr, refused.stderr
    port = free_port()
    command = [sys.executable, "-m", "viewer.cli", "serve", "--host", "0.0.0.0", "--insecure-no-auth",  # noqa: S104
               "--workers", "1", "--port", str(port), "--data-dir", str(tmp_path / "data")]
    log = tmp_path / "server.log"
    probe = f"http://127.0.0.1:{port}/api/openapi.json"
    with running_process(command, probe=probe, log_path=log, env=_env()):
        assert "warning: AUTH=none on 0.0.0.0" in log.read_text()
