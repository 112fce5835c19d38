"""``GET /auth/check`` (nginx's ``auth_request`` in front of its tile cache) over HTTP in each AUTH
mode (the Flask test client, through the tile fast path as the server runs it): 204 when the request
is authenticated, any role; 401 JSON otherwise; never stored (``no-store``); and how long nginx may
keep a 204 (``X-Accel-Expires``) is less than what remains of the gate's own cache of it."""

from __future__ import annotations

import time
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient

from tests.test_auth_web import make  # noqa: F401, F811 - the app fixture (with the tile fast path)
from viewer.auth import Accounts
from viewer.web.auth import COOKIE, FAST_CACHE_S

SLIDE = "aperio/CMU-1-Small-Region.svs"


def with_cookie(app: Flask, secret: str) -> FlaskClient:
    client = app.test_client()
    client.set_cookie(COOKIE, secret)  # the test client sends its jar's cookies, not a Cookie header
    return client


def allowed(client: FlaskClient, headers: dict[str, str] | None = None) -> int:
    """The seconds nginx may keep the 204 (-1 under AUTH=none: nginx's own proxy_cache_valid)."""
    answer = client.get("/auth/check", headers=headers or {})
    assert answer.status_code == 204, answer.get_data(as_text=True)
    assert answer.headers["Cache-Control"] == "no-store" and answer.get_data() == b""
    return int(answer.headers.get("X-Accel-Expires", "-1"))


def refused(client: FlaskClient, headers: dict[str, str] | None = None) -> None:
    answer = client.get("/auth/check", headers=headers or {})
    assert answer.status_code == 401 and answer.is_json and answer.json["status"] == 401, answer.data
    assert "log in" in answer.json["error"]
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="wsi-viewer"'
    assert "X-Accel-Expires" not in answer.headers


def test_auth_none_always_allows(make: Callable[..., Flask]) -> None:  # noqa: F811
    client = make().test_client()
    assert allowed(client) == -1
    assert allowed(client, {"Authorization": "Bearer wsv_x"}) == -1
    client.set_cookie(COOKIE, "nonsense")
    assert allowed(client) == -1
    assert client.post("/auth/check").status_code == 405


def test_builtin_allows_every_role_by_session_or_token_until_revoked(make: Callable[..., Flask]) -> None:  # noqa: F811
    app = make(AUTH="builtin")
    accounts = Accounts(app.extensions["wsi_viewer"].store)
    refused(app.test_client())
    refused(with_cookie(app, "nonsense"))
    refused(app.test_client(), {"Authorization": "Bearer wsv_nonsense"})
    for role in ("viewer", "annotator", "admin"):
        accounts.add(role, role, "pw")
        session = accounts.new_session(accounts.get(role))
        assert 0 <= allowed(with_cookie(app, session.id)) <= FAST_CACHE_S
    browser = app.test_client()  # a pre-login session (the login form's) is nobody yet
    assert browser.get("/login").status_code == 200
    refused(browser)

    token = accounts.new_token("viewer", "tiles")
    bearer = {"Authorization": f"Bearer {token}"}
    first = allowed(app.test_client(), bearer)
    # a fresh entry of the cache: its whole seconds less one (nginx keeps an entry up to a second more)
    assert first in (int(FAST_CACHE_S) - 2, int(FAST_CACHE_S) - 3), first
    time.sleep(1.2)
    assert allowed(app.test_client(), bearer) < first  # the same entry: nginx keeps it what remains
    accounts.revoke_token(accounts.tokens("viewer")[0].id)
    time.sleep(FAST_CACHE_S)
    refused(app.test_client(), bearer)  # the gate asked the database again


def test_proxy_allows_the_trusted_proxys_user_only(make: Callable[..., Flask]) -> None:  # noqa: F811
    app = make(AUTH="proxy", TRUSTED_PROXIES="10.1.0.0/16", PROXY_DEFAULT_ROLE="viewer")
    trusted = app.test_client()
    trusted.environ_base["REMOTE_ADDR"] = "10.1.2.3"
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "10.2.0.1"
    pat = {"X-Remote-User": "pat"}
    assert 0 <= allowed(trusted, pat) <= FAST_CACHE_S
    refused(trusted)  # a trusted peer naming nobody
    refused(elsewhere, pat)
    token = Accounts(app.extensions["wsi_viewer"].store).new_token("pat", "script")
    assert allowed(elsewhere, {"Authorization": f"Bearer {token}"}) >= 0  # tokens work from anywhere
