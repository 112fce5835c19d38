"""viewer/web/auth.py over HTTP (the Flask test client, through the tile fast path as the server runs
it): each AUTH mode, login, logout, wrong passwords, throttling, session rotation, CSRF, API tokens,
the proxy header, every route refused without authentication, and the history's author."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests._store_helpers import ENGINES, database_setting
from viewer.auth import Accounts
from viewer.web.auth import COOKIE, FAST_CACHE_S, FAST_RENEW_S, PUBLIC_ENDPOINTS, gate
from viewer.web.tiles import serve_tiles_directly

SLIDE = "aperio/CMU-1-Small-Region.svs"
TILE = f"/deepzoom/{SLIDE}_files/11/1_1.jpeg"
JSON = {"Content-Type": "application/json"}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture()
def make(make_app: Callable[..., Flask], slide_dir: Path) -> Callable[..., Flask]:
    """An app over the fixture slides, wrapped by the tile fast path (as ``wsi-viewer serve`` runs it)."""

    def factory(**settings: Any) -> Flask:
        app = make_app(SLIDE_DIR=str(slide_dir), **settings)
        serve_tiles_directly(app)
        return app

    return factory


def accounts(app: Flask) -> Accounts:
    return Accounts(app.extensions["wsi_viewer"].store)


def login_form(client: FlaskClient) -> tuple[str, str]:
    """(the pre-session cookie, the form's CSRF token) of GET /login."""
    page = client.get("/login")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None
    found = CSRF.search(page.get_data(as_text=True))
    assert found is not None
    return cookie.value, found[1]


def log_in(client: FlaskClient, name: str, password: str, headers: dict[str, str] | None = None,
           next: str = "/") -> Any:
    _, token = login_form(client)
    return client.post("/login", data={"name": name, "password": password, "csrf_token": token, "next": next},
                       headers=headers or {})


def page_csrf(client: FlaskClient) -> str:
    page = client.get("/").get_data(as_text=True)
    found = re.search(r'"csrfToken": ?"([^"]+)"', page)
    assert found is not None, page
    return found[1]


@pytest.mark.parametrize("engine", ENGINES)
def test_builtin_login_rotation_csrf_author_and_logout(
    make: Callable[..., Flask], engine: str, tmp_path: Path,
) -> None:
    with database_setting(engine, tmp_path) as database:
        app = make(AUTH="builtin", DATABASE=database, TRUSTED_PROXIES="10.1.0.0/16")
        accounts(app).add("ann", "annotator", "correct horse")
        client = app.test_client()
        # nobody logged in: the API and tiles are 401 JSON, pages go to the login page
        refused = client.get("/api/slides")
        assert refused.status_code == 401 and refused.json is not None and "log in" in refused.json["error"]
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
        assert client.get(TILE).status_code == 401
        page = client.get(f"/view/{SLIDE}?x=1")
        assert page.status_code == 303 and page.headers["Location"] == f"/login?next=/view/{SLIDE}%3Fx%3D1"

        pre, token = login_form(client)
        without = client.post("/login", data={"name": "ann", "password": "correct horse"})
        assert without.status_code == 403  # the form's CSRF token is required
        wrong = client.post("/login", data={"name": "ann", "password": "nope", "csrf_token": token})
        assert wrong.status_code == 401 and "wrong user name or password" in wrong.get_data(as_text=True)
        good = client.post("/login", data={"name": "ann", "password": "correct horse", "csrf_token": token,
                                           "next": f"/view/{SLIDE}"})
        assert good.status_code == 303 and good.headers["Location"] == f"/view/{SLIDE}"
        cookie = good.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
        session = client.get_cookie(COOKIE)
        assert session is not None and session.value != pre  # rotated at login
        assert client.get("/api/slides").status_code == 200
        tile = client.get(TILE)
        assert tile.status_code == 200 and tile.mimetype == "image/jpeg"

        stale = app.test_client()  # the pre-login cookie value no longer works, not even for the form
        stale.set_cookie(COOKIE, pre, domain="localhost")
        assert stale.get("/api/slides").status_code == 401
        assert stale.post("/login", data={"name": "ann", "password": "correct horse",
                                          "csrf_token": token}).status_code == 403

        csrf = page_csrf(client)
        slide_sets = f"/api/annotations/{SLIDE}"
        body = '{"name": "reader 2", "user": "mallory"}'
        assert client.post(slide_sets, data=body, headers=JSON).status_code == 403
        wrong_token = client.post(slide_sets, data=body, headers={**JSON, "X-CSRF-Token": "x" + csrf})
        assert wrong_token.status_code == 403
        made = client.post(slide_sets, data=body, headers={**JSON, "X-CSRF-Token": csrf, "X-User": "mallory"})
        assert made.status_code == 201, made.json
        history = client.get(f"/api/sets/{made.json['set']['id']}/history").json
        assert [c["who"] for c in history["changes"]] == ["ann"]  # not what the client claimed
        # every write method of the JSON API needs the token with a cookie, not POST alone
        set_url = f"/api/sets/{made.json['set']['id']}"
        dot = '{"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]}, "properties": {}}'
        writes = [("PATCH", set_url, '{"name": "renamed"}'),
                  ("PUT", set_url + "/sharing", '{"sharing": "edit"}'),
                  ("POST", set_url + "/annotations", dot), ("DELETE", set_url + "/annotations/1", None)]
        for method, url, data in writes:
            refused = client.open(url, method=method, data=data, headers=JSON)
            assert refused.status_code == 403 and "CSRF" in refused.json["error"], (method, url, refused.json)
        unchanged = client.get(set_url).json
        assert unchanged["name"] == "reader 2" and unchanged["features"] == []
        renamed = client.patch(set_url, data='{"name": "renamed"}', headers={**JSON, "X-CSRF-Token": csrf})
        assert renamed.status_code == 200, renamed.json
        assert "correct horse" not in repr(history) and "argon2" not in client.get("/").get_data(as_text=True)

        assert client.post("/logout").status_code == 403  # logout needs the token too
        out = client.post("/logout", data={"csrf_token": csrf})
        assert out.status_code == 303 and out.headers["Location"] == "/login"
        again = app.test_client()
        again.set_cookie(COOKIE, session.value, domain="localhost")
        assert again.get("/api/slides").status_code == 401
        assert again.get(TILE).status_code == 401  # this process forgot it at once

        secure = app.test_client()
        _, token = login_form(secure)
        over_tls = secure.post("/login", base_url="https://localhost",
                               data={"name": "ann", "password": "correct horse", "csrf_token": token})
        assert over_tls.status_code == 303 and "Secure" in over_tls.headers["Set-Cookie"]
        for peer, secure in (("10.1.0.9", True), ("10.2.0.9", False)):  # TLS ended by a trusted proxy
            proxied = app.test_client()
            proxied.environ_base["REMOTE_ADDR"] = peer
            _, token = login_form(proxied)
            answer = proxied.post("/login", headers={"X-Forwarded-Proto": "https"},
                                  data={"name": "ann", "password": "correct horse", "csrf_token": token})
            assert ("Secure" in answer.headers["Set-Cookie"]) is secure, peer


def test_login_is_throttled_then_allowed_after_the_window(make: Callable[..., Flask]) -> None:
    app = make(AUTH="builtin", LOGIN_MAX_FAILURES=2, LOGIN_WINDOW_S=4, TRUSTED_PROXIES="10.1.0.1/32")
    accounts(app).add("ann", "viewer", "pw")
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "10.1.0.1"  # nginx: the browser's address in X-Forwarded-For
    first = {"X-Forwarded-For": "192.0.2.1, 203.0.113.7"}  # the last entry is the one nginx added
    for _ in range(2):
        assert log_in(client, "ann", "bad", headers=first).status_code == 401
    throttled = log_in(client, "ann", "pw", headers=first)  # the right password too, while throttled
    assert throttled.status_code == 429 and 1 <= int(throttled.headers["Retry-After"]) <= 5
    assert "too many failed logins" in throttled.get_data(as_text=True)
    direct = app.test_client()  # from elsewhere X-Forwarded-For is ignored: no way around the count
    direct.environ_base["REMOTE_ADDR"] = "10.9.9.9"
    for n in range(2):
        assert log_in(direct, "ann", "bad", headers={"X-Forwarded-For": f"198.51.100.{n}"}).status_code == 401
    assert log_in(direct, "ann", "pw", headers={"X-Forwarded-For": "198.51.100.9"}).status_code == 429
    other = app.test_client()  # another browser behind the same proxy is not throttled
    other.environ_base["REMOTE_ADDR"] = "10.1.0.1"
    behind = {"X-Forwarded-For": "203.0.113.8"}
    elsewhere = log_in(other, "ann", "pw", headers=behind, next="//evil.example/x")
    assert elsewhere.status_code == 303 and elsewhere.headers["Location"] == "/"  # no open redirect
    time.sleep(int(throttled.headers["Retry-After"]))  # the oldest failure has left the window then
    assert log_in(client, "ann", "pw", headers=first).status_code == 303


def test_a_read_only_server_still_takes_logins(make: Callable[..., Flask]) -> None:
    app = make(AUTH="builtin", READ_ONLY=True)
    accounts(app).add("ann", "viewer", "pw")
    client = app.test_client()
    assert log_in(client, "ann", "pw").status_code == 303
    assert client.get("/api/slides").status_code == 200
    refused = client.post(f"/api/annotations/{SLIDE}", data='{"name": "x"}',
                          headers={**JSON, "X-CSRF-Token": page_csrf(client)})
    assert refused.status_code == 403 and "read-only" in refused.json["error"]
    assert client.post("/logout", data={"csrf_token": page_csrf(client)}).status_code == 303


def test_api_tokens_need_no_csrf_and_stop_working_when_revoked(make: Callable[..., Flask]) -> None:
    app = make(AUTH="builtin")
    found = accounts(app)
    found.add("bot", "annotator", "pw")
    token = found.new_token("bot", "import")
    client = app.test_client()
    bearer = {"Authorization": f"Bearer {token}"}
    made = client.post(f"/api/annotations/{SLIDE}", data='{"name": "by script"}', headers={**JSON, **bearer})
    assert made.status_code == 201  # no CSRF token: no browser sends a Bearer header by itself
    history = client.get(f"/api/sets/{made.json['set']['id']}/history", headers=bearer).json
    assert history["changes"][0]["who"] == "bot"
    assert client.get(TILE, headers=bearer).status_code == 200
    assert client.get(TILE, headers={"Authorization": f"Bearer {token}x"}).status_code == 401
    found.revoke_token(found.tokens("bot")[0].id)  # as `wsi-viewer users token --revoke` does
    assert client.get("/api/slides", headers=bearer).status_code == 401  # every route: at once
    time.sleep(FAST_CACHE_S + 0.5)
    assert client.get(TILE, headers=bearer).status_code == 401  # the tile fast path: within seconds


def test_the_fast_paths_cache_is_renewed_off_the_request_thread(make: Callable[..., Flask]) -> None:
    """A cached session -> user that tiles use is renewed before it ends by a thread of its own while
    the tile requests go on with it (none waits for the database); a session ended meanwhile is
    dropped by that renewal, and the next tile is refused."""
    app = make(AUTH="builtin")
    found = accounts(app)
    user = found.add("reader", "viewer", "pw")
    session = found.new_session(user)
    client = app.test_client()
    client.set_cookie(COOKIE, session.id)
    assert client.get(TILE).status_code == 200  # the first: asked in the request's thread, cached
    trust = gate(app)._trust
    assert trust is not None
    [key] = trust._entries
    asked_in: list[str] = []
    lookup = trust.lookup

    def recording(*args: Any) -> Any:
        asked_in.append(threading.current_thread().name)
        return lookup(*args)

    trust.lookup = recording  # type: ignore[method-assign]

    def ending_soon() -> float:  # the entry made to end in 1.3 s: its renewal is due in 0.3 s
        until = time.monotonic() + FAST_RENEW_S + 0.3
        trust._entries[key] = (user, until)
        return until

    def wait_for(condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 10
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert condition()

    until = ending_soon()
    assert client.get(TILE).status_code == 200  # answered from the entry; its renewal scheduled
    assert asked_in == [], "an entry in its life: no database"
    wait_for(lambda: trust._entries[key][1] > until)
    assert trust._entries[key][1] > time.monotonic() + FAST_CACHE_S - 1, "renewed for FAST_CACHE_S"
    assert asked_in == ["wsi-auth-renew"], asked_in

    found.end_session(session.id)  # another worker's logout: this one's cache still has it
    ending_soon()
    assert client.get(TILE).status_code == 200  # trusted until the renewal says otherwise
    wait_for(lambda: key not in trust._entries)  # the renewal dropped the ended session
    assert client.get(TILE).status_code == 401
    assert asked_in == ["wsi-auth-renew", "wsi-auth-renew", threading.current_thread().name], asked_in


def test_proxy_header_is_believed_from_trusted_proxies_only(make: Callable[..., Flask]) -> None:
    app = make(AUTH="proxy", TRUSTED_PROXIES="10.1.0.0/16, ::1/128", PROXY_DEFAULT_ROLE="annotator")
    trusted = app.test_client()
    trusted.environ_base["REMOTE_ADDR"] = "10.1.2.3"
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "10.2.0.1"
    pat = {"X-Remote-User": "pat"}
    assert elsewhere.get("/api/slides", headers=pat).status_code == 401
    assert elsewhere.get(TILE, headers=pat).status_code == 401
    assert trusted.get("/api/slides").status_code == 401  # a trusted peer naming nobody
    assert trusted.get("/api/slides", headers=pat).status_code == 200
    assert trusted.get(TILE, headers=pat).status_code == 200
    made = trusted.post(f"/api/annotations/{SLIDE}", data='{"name": "sso", "user": "mallory"}',
                        headers={**JSON, **pat, "X-User": "mallory"})
    assert made.status_code == 201
    history = trusted.get(f"/api/sets/{made.json['set']['id']}/history", headers=pat).json
    assert history["changes"][0]["who"] == "pat"
    assert [(u.name, u.role) for u in accounts(app).list()] == [("pat", "annotator")]
    assert trusted.get("/login").status_code == 404  # the proxy logs people in, not this server


def _url(rule: Any) -> str:
    """A URL of *rule* with a plausible value for each variable."""
    samples = {"slide_id": SLIDE, "set_id": "1", "annotation_id": "1", "group_id": "1", "version": "1",
               "level": "11", "col": "1", "row": "1", "fmt": "jpeg", "overlay_id": "x", "job_id": "x",
               "name": "label", "filename": "css/app.css"}
    path = rule.rule
    for name in rule.arguments:
        path = re.sub(r"<(?:[^:<>]+:)?%s>" % name, samples[name], path)  # noqa: UP031
    return path


@pytest.mark.parametrize("mode", ["builtin", "proxy"])
def test_every_route_is_refused_without_authentication(make: Callable[..., Flask], mode: str) -> None:
    app = make(AUTH=mode, TRUSTED_PROXIES="10.1.0.0/16")
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "10.9.9.9"  # with the proxy's header, but not from the proxy
    headers = {"X-Remote-User": "pat", "X-User": "pat", "X-Requested-With": "t", **JSON}
    rules = [r for r in app.url_map.iter_rules() if r.endpoint not in PUBLIC_ENDPOINTS]
    token = None
    if mode == "builtin":
        found = accounts(app)
        found.add("root", "admin", "pw")
        token = found.new_token("root", "")
    assert len(rules) > 40
    for rule in rules:
        url = _url(rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            answer = client.open(url, method=method, data="{}", headers=headers)
            api = rule.rule.startswith(("/api/", "/deepzoom/", "/overlays/"))
            if api or method != "GET" or mode == "proxy":  # behind a proxy no page has a login form
                assert answer.status_code == 401, (method, url, answer.status_code)
                assert answer.is_json and answer.json["status"] == 401, (method, url)
            else:
                assert answer.status_code == 303, (url, answer.status_code)
                assert answer.headers["Location"].startswith("/login?next="), url
    if token is not None:  # and the OpenAPI document lists no route the loop missed
        spec = client.get("/api/openapi.json", headers={"Authorization": f"Bearer {token}"}).json
        patterns = [re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", r.rule) for r in rules]
        assert set(spec["paths"]) <= set(patterns)


def test_auth_none_is_as_before(make: Callable[..., Flask]) -> None:
    app = make()
    client = app.test_client()
    assert client.get("/api/slides").status_code == 200 and client.get(TILE).status_code == 200
    assert client.get("/login").status_code == 404
    made = client.post(f"/api/annotations/{SLIDE}", data='{"name": "mine"}',
                       headers={**JSON, "X-User": "kim"})
    assert made.status_code == 201
    assert client.get(f"/api/sets/{made.json['set']['id']}/history").json["changes"][0]["who"] == "kim"
    assert '"auth": "none"' in client.get("/").get_data(as_text=True).replace("&#34;", '"')


def test_no_response_leaks_a_password_hash_a_token_or_a_session(make: Callable[..., Flask]) -> None:
    """Every GET route, as an admin by session and by token, with a set, its history and a failed
    login in the store: no body and no header (but the session's own Set-Cookie) carries a password,
    its Argon2 hash, a token, a session id or their sha256 (what the database keeps)."""
    from viewer.auth import sha256
    from viewer.store.accounts import AccountRows

    app = make(AUTH="builtin")
    found = accounts(app)
    found.add("root", "admin", "root's pw!")
    found.add("ann", "annotator", "ann's pw!")
    token = found.new_token("root", "nightly")
    client = app.test_client()
    assert log_in(client, "ann", "wrong pw!").status_code == 401
    assert log_in(client, "root", "root's pw!").status_code == 303
    session = client.get_cookie(COOKIE)
    assert session is not None
    bearer = {"Authorization": f"Bearer {token}"}
    made = client.post(f"/api/annotations/{SLIDE}", data='{"name": "mine"}',
                       headers={**JSON, "X-CSRF-Token": page_csrf(client)})
    assert made.status_code == 201
    rows = AccountRows(app.extensions["wsi_viewer"].store._db)  # noqa: SLF001 - what the database keeps
    hashes = [row.password_hash for row in rows.accounts()]
    assert all(h and h.startswith("$argon2id$") for h in hashes)
    secrets_ = [*hashes, "root's pw!", "ann's pw!", "wrong pw!", token, sha256(token), session.value,
                sha256(session.value)]
    set_id = str(made.json["set"]["id"])
    # the answers of writes and of logins, right and wrong, too
    written = [made, client.patch(f"/api/sets/{set_id}", data='{"name": "ours"}',
                                  headers={**JSON, "X-CSRF-Token": page_csrf(client)}),
               client.put(f"/api/sets/{set_id}/sharing", data='{"sharing": "private"}',
                          headers={**JSON, **bearer}),
               log_in(app.test_client(), "root", "wrong pw!"), log_in(app.test_client(), "ann", "ann's pw!")]
    for answer in written:
        text = answer.get_data().decode("latin-1") + repr(
            [(k, v) for k, v in answer.headers.items() if k != "Set-Cookie"])
        assert answer.status_code < 500 and not [s for s in secrets_ if s in text], (answer.status_code, text)
    assert [a.status_code for a in written] == [201, 200, 200, 401, 303]
    seen = 0
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods:
            continue
        url = _url(rule).replace("/sets/1/", f"/sets/{set_id}/")
        for headers in ({}, bearer):
            answer = client.get(url, headers=headers)
            text = answer.get_data().decode("latin-1") + repr(
                [(k, v) for k, v in answer.headers.items() if k != "Set-Cookie"])
            answer.close()  # a static file's body is an open file
            leaked = [s for s in secrets_ if s in text]
            assert not leaked, (url, answer.status_code, leaked)
            seen += answer.status_code == 200
    assert seen > 20  # the routes answered, not only refused
