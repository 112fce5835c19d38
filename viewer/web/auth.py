"""Who makes each request (``AUTH``), checked before every route, the tile fast path included.

* ``none`` (a workstation): everyone is ``User(None, <X-User or "anonymous">, "admin")``, as before.
* ``builtin``: the session cookie :data:`COOKIE` (HttpOnly, SameSite=Lax, Secure over https) made
  at ``POST /login``, or ``Authorization: Bearer wsv_...`` (an API token of ``wsi-viewer users
  token``). Every cookie-authenticated write needs ``X-CSRF-Token`` (the JSON API; the pages carry
  it in ``data-config`` as ``csrfToken``) or the form field ``csrf_token`` (login, logout) equal to
  the session's: 403 otherwise. Bearer requests need none (no browser sends them by itself).
* ``proxy``: :data:`PROXY_USER_HEADER` names the user, believed only from ``TRUSTED_PROXIES``
  (``REMOTE_ADDR``); a name without an account gets one with ``PROXY_DEFAULT_ROLE``. Bearer tokens
  work too.

Unauthenticated requests: API, tiles and overlays ``401`` JSON; pages redirect to
``/login?next=<page>`` (``builtin``; behind a proxy they are ``401`` too: the proxy logs people
in). Public: static files, the login page and :data:`PUBLIC_ENDPOINTS` (others add theirs:
``/healthz``...). Outside ``none`` the history's author (:func:`author`) is the
authenticated name; a client's ``X-User`` or body ``user`` is ignored.
"""

from __future__ import annotations

import hmac
import ipaddress
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Flask, Response, current_app, g, redirect, render_template, request
from werkzeug.exceptions import Forbidden, NotFound
from werkzeug.wrappers import Response as BaseResponse

from viewer.auth import Accounts, User
from viewer.auth.trust_cache import TrustCache
from viewer.config import cidrs
from viewer.errors import AuthenticationError, ThrottledError
from viewer.store import ANONYMOUS

COOKIE = "wsi_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Endpoints answered without authentication (others add theirs, e.g. health checks).
PUBLIC_ENDPOINTS: set[str] = {
    "static",
    "auth.login_page",
    "auth.login",
    "auth.logout",
    "auth.check",  # /auth/check: answers 401 itself
    "health.healthz",
    "health.readyz",
    "health.metrics_text",  # /metrics: by METRICS_ALLOW instead
}
#: Endpoints taking an HTML form (``application/x-www-form-urlencoded``) body, CSRF-checked here.
FORM_ENDPOINTS = frozenset({"auth.login", "auth.logout"})
#: Seconds the tile fast path trusts a session/token → user it has seen (ended sessions and revoked
#: tokens stop opening tiles that much later; every other route asks the database each time).
FAST_CACHE_S = 5.0
#: An entry used during its life is renewed this long before it ends, off the request threads
#: (:class:`viewer.auth.trust_cache.TrustCache`).
FAST_RENEW_S = 1.0
_FAST_CACHE_MAX = 10_000
_API_PREFIXES = ("/api/", "/deepzoom/", "/overlays/")

bp = Blueprint("auth", __name__)


@dataclass
class AuthGate:
    """The app's authentication settings, its accounts (built on first use) and the fast path's cache."""

    mode: str
    settings: Mapping[str, Any]
    proxy_header: str = "X-Remote-User"
    trusted: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    _accounts: Accounts | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _trust: TrustCache[tuple[str, str, str], User] | None = None  # the fast path's (fast_lookup)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> AuthGate:
        return cls(
            str(settings["AUTH"]),
            settings,
            str(settings["PROXY_USER_HEADER"]),
            cidrs(str(settings["TRUSTED_PROXIES"])),
        )

    @property
    def proxy_environ(self) -> str:
        """The WSGI environ key of the proxy's user header."""
        return "HTTP_" + self.proxy_header.upper().replace("-", "_")

    def accounts(self, app: Flask) -> Accounts:
        if self._accounts is None:
            with self._lock:
                if self._accounts is None:
                    s = self.settings
                    self._accounts = Accounts(
                        app.extensions["wsi_viewer"].store,
                        session_hours=s["SESSION_HOURS"],
                        max_failures=s["LOGIN_MAX_FAILURES"],
                        window_s=s["LOGIN_WINDOW_S"],
                    )
        return self._accounts

    def trusts(self, address: str | None) -> bool:
        """Whether *address* (``REMOTE_ADDR``) is one of ``TRUSTED_PROXIES``."""
        if not address or not self.trusted:
            return False
        try:
            peer = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(peer in net for net in self.trusted)

    # -- the decision, from a WSGI environ (Flask's and the fast path's) ---------------------------

    def authenticate(self, app: Flask, environ: Mapping[str, Any]) -> tuple[User, str | None] | None:
        """(the user, the session's CSRF token when authenticated by cookie) or None."""
        accounts = self.accounts(app)
        bearer = _bearer(environ)
        if bearer is not None:
            user = accounts.token_user(bearer)
            return (user, None) if user is not None else None
        if self.mode == "proxy":
            name = str(environ.get(self.proxy_environ, "")).strip()
            if name and self.trusts(environ.get("REMOTE_ADDR")):
                return accounts.ensure(name, str(self.settings["PROXY_DEFAULT_ROLE"])), None
            return None
        secret = cookie_value(environ.get("HTTP_COOKIE", ""), COOKIE)
        found = accounts.session(secret) if secret else None
        return (found[0], found[1].csrf_token) if found is not None else None

    def fast_user(self, app: Flask, environ: Mapping[str, Any]) -> User | None:
        """The user of a tile request, from a cache of a few seconds; None: let Flask decide."""
        found = self.fast_lookup(app, environ)
        return found[0] if found is not None else None

    def fast_lookup(self, app: Flask, environ: Mapping[str, Any]) -> tuple[User, float] | None:
        """(the user, until when -- ``time.monotonic()`` -- the cache trusts that answer) or None."""
        if self.mode == "proxy":
            key = (environ.get("HTTP_AUTHORIZATION", ""), environ.get("REMOTE_ADDR", ""),
                   environ.get(self.proxy_environ, ""))
        else:
            key = (environ.get("HTTP_AUTHORIZATION", ""), environ.get("HTTP_COOKIE", ""), "")
        trust = self._trust if self._trust is not None else self._trust_cache(app)
        return trust.get(key)

    def _trust_cache(self, app: Flask) -> TrustCache[tuple[str, str, str], User]:
        with self._lock:
            if self._trust is None:
                self._trust = TrustCache(lambda key: self._key_user(app, key), FAST_CACHE_S, FAST_RENEW_S,
                                         max_entries=_FAST_CACHE_MAX)
            return self._trust

    def _key_user(self, app: Flask, key: tuple[str, str, str]) -> User | None:
        """The database's answer for a fast-path key (the request headers it was made of)."""
        if self.mode == "proxy":
            environ = {"HTTP_AUTHORIZATION": key[0], "REMOTE_ADDR": key[1], self.proxy_environ: key[2]}
        else:
            environ = {"HTTP_AUTHORIZATION": key[0], "HTTP_COOKIE": key[1]}
        found = self.authenticate(app, environ)
        return found[0] if found is not None else None

    def forget(self) -> None:
        """End the fast path's cache (a logout or revocation in this process)."""
        if self._trust is not None:
            self._trust.forget()


def _bearer(environ: Mapping[str, Any]) -> str | None:
    value = environ.get("HTTP_AUTHORIZATION", "")
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def cookie_value(header: str, name: str) -> str | None:
    """The value of cookie *name* in a ``Cookie`` header (the first one), or None."""
    if name not in header:
        return None
    for part in header.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value.strip().strip('"')
    return None


def gate(app: Flask | None = None) -> AuthGate:
    found: AuthGate = (app or current_app).extensions["wsi_viewer_auth"]
    return found


def mode() -> str:
    """``AUTH`` of the app serving this request."""
    return gate().mode


# --------------------------------------------------------------------------------------------------
# The request's user


def current_user() -> User:
    """The request's user (see the module docstring). Outside ``none`` only an authenticated
    request reaches a route, so this is always someone.

    :raises AuthenticationError: outside a route that required authentication, nobody is logged in.
    """
    found = g.get("wsi_user")
    if found is not None:
        user: User = found
        return user
    if gate().mode == "none":
        return User(None, request.headers.get("X-User", "").strip() or ANONYMOUS, "admin")
    raise AuthenticationError("log in first (or send Authorization: Bearer <API token>)")


def author(body: Any = None) -> str:
    """The name the history records for this request's change: outside ``none`` the authenticated
    user's; under ``none`` a JSON body's ``user``, else ``X-User`` (the sidecar's name refused)."""
    if gate().mode != "none":
        return current_user().name
    from viewer.web.security import check_author

    if isinstance(body, dict) and isinstance(body.get("user"), str):
        check_author(body["user"], "user")
        return str(body["user"])
    return request.headers.get("X-User", "")


def csrf_token() -> str | None:
    """The CSRF token of the request's session (None: no cookie session)."""
    token: str | None = g.get("wsi_csrf")
    return token


def page_config() -> dict[str, Any]:
    """What the pages' scripts need of the user: the mode, name, role and the CSRF token."""
    if gate().mode == "none":
        return {"auth": "none"}
    user = current_user()
    config: dict[str, Any] = {"auth": gate().mode, "user": user.name, "role": user.role}
    token = csrf_token()
    if token is not None:
        config["csrfToken"] = token
    return config


def _check_request() -> BaseResponse | None:
    found = gate()
    if found.mode == "none" or request.routing_exception is not None:
        return None
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    decided = found.authenticate(current_app, request.environ)
    if decided is None:
        if request.path.startswith(_API_PREFIXES) or request.method != "GET" or found.mode != "builtin":
            raise AuthenticationError("log in first (or send Authorization: Bearer <API token>)")
        target = request.full_path if request.query_string else request.path
        return redirect("/login?next=" + quote(target, safe="/"), 303)
    user, token = decided
    g.wsi_user, g.wsi_csrf = user, token
    if token is not None and request.method in WRITE_METHODS:
        _check_csrf(token, request.headers.get(CSRF_HEADER))
    return None


def _check_csrf(expected: str, sent: str | None) -> None:
    if not sent or not hmac.compare_digest(sent.encode("utf-8", "replace"), expected.encode("utf-8")):
        raise Forbidden(
            f"a write with the session cookie needs the {CSRF_HEADER} header of this session (the pages "
            f"send it; scripts use Authorization: Bearer <API token>)"
        )


def _unauthorized(response: Response) -> Response:
    if response.status_code == 401 and "WWW-Authenticate" not in response.headers:
        response.headers["WWW-Authenticate"] = 'Bearer realm="wsi-viewer"'
    if request.endpoint == "auth.check":  # its 401 (the error table's answer) too
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/auth/check")
def check() -> Response:
    """204 when the request is authenticated (any role; AUTH=none: always), 401 JSON otherwise;
    never stored by a browser (``no-store``). For nginx's ``auth_request`` in front of its tile cache
    (``deploy/nginx.conf``): the tile fast path's decision at its cost (the gate's cache of
    :data:`FAST_CACHE_S`), with ``X-Accel-Expires`` telling nginx how long it may keep the 204 so that
    its copy ends no later than the gate's entry: a revoked token or an ended session is refused
    within :data:`FAST_CACHE_S` of the last time the database was asked. nginx counts whole seconds
    and keeps an entry up to a second past them, hence the whole seconds that remain, less one.
    """
    response = Response(status=204)
    response.headers["Cache-Control"] = "no-store"
    found = gate()
    if found.mode != "none":
        decided = found.fast_lookup(current_app, request.environ)
        if decided is None:
            raise AuthenticationError("log in first (or send Authorization: Bearer <API token>)")
        response.headers["X-Accel-Expires"] = str(max(0, int(decided[1] - time.monotonic()) - 1))
    return response


# --------------------------------------------------------------------------------------------------
# Login and logout (builtin)


def client_address() -> str:
    """The browser's address: ``REMOTE_ADDR``, or behind one of ``TRUSTED_PROXIES`` the last
    ``X-Forwarded-For`` entry (the one the proxy added; earlier ones are the client's own claims)."""
    peer = request.remote_addr or ""
    forwarded = request.headers.get("X-Forwarded-For", "")
    if forwarded and gate().trusts(peer):
        return forwarded.split(",")[-1].strip()[:64] or peer
    return peer


def _secure() -> bool:
    """Whether the browser reached us over https: directly, or through one of ``TRUSTED_PROXIES``
    saying so (``X-Forwarded-Proto: https``, as nginx terminating TLS sends it)."""
    if request.is_secure:
        return True
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return forwarded == "https" and gate().trusts(request.remote_addr)


def _set_cookie(response: BaseResponse, secret: str, max_age: float) -> None:
    response.set_cookie(
        COOKIE,
        secret,
        max_age=int(max_age),
        path="/",
        httponly=True,
        samesite="Lax",
        secure=_secure(),
    )


def _safe_next(target: str | None) -> str:
    """*target* if it is a path of this server, else ``/`` (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _login_form(message: str | None = None, status: int = 200, name: str = "") -> Response:
    if gate().mode != "builtin":
        raise NotFound()
    accounts = gate().accounts(current_app)
    secret = cookie_value(request.environ.get("HTTP_COOKIE", ""), COOKIE)
    session = accounts.pre_session(secret) if secret else None
    fresh = session is None
    if session is None:
        session = accounts.new_session(None)
    target = _safe_next(request.values.get("next"))
    body = render_template(
        "login.html", csrf_token=session.csrf_token, next=target, message=message, name=name
    )
    response = Response(body, status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    if fresh:
        from viewer.auth import PRE_SESSION_S

        _set_cookie(response, session.id, PRE_SESSION_S)
    return response


@bp.get("/login")
def login_page() -> Response:
    """The login form (AUTH=builtin; 404 otherwise); it starts a pre-session holding its CSRF token."""
    return _login_form()


@bp.post("/login")
def login() -> BaseResponse:
    """Form fields ``name``, ``password``, ``csrf_token``, ``next``: a new session (the pre-login
    one ended: the session rotates) and a 303 to *next*; 401 with the form again, 429 when throttled."""
    if gate().mode != "builtin":
        raise NotFound()
    accounts = gate().accounts(current_app)
    secret = cookie_value(request.environ.get("HTTP_COOKIE", ""), COOKIE)
    before = accounts.pre_session(secret) if secret else None
    if before is None:
        return _login_form("Your login form expired: please log in again.", 403)
    _check_csrf(before.csrf_token, request.form.get(CSRF_FIELD))
    name = request.form.get("name", "")
    try:
        user = accounts.verify(name, request.form.get("password", ""), client_address())
    except ThrottledError as exc:
        refused = _login_form(exc.message, 429, name)
        refused.headers["Retry-After"] = str(exc.retry_after)
        return refused
    except AuthenticationError as exc:
        return _login_form(exc.message, 401, name)
    accounts.end_session(before.id)
    session = accounts.new_session(user)
    response = redirect(_safe_next(request.form.get("next")), 303)
    _set_cookie(response, session.id, accounts.session_s)
    return response


@bp.post("/logout")
def logout() -> BaseResponse:
    """End the cookie's session (``csrf_token`` form field or ``X-CSRF-Token``) and go to the login page."""
    if gate().mode != "builtin":
        raise NotFound()
    accounts = gate().accounts(current_app)
    secret = cookie_value(request.environ.get("HTTP_COOKIE", ""), COOKIE)
    found = accounts.pre_session(secret) if secret else None
    if found is not None:
        _check_csrf(found.csrf_token, request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER))
        accounts.end_session(found.id)
        gate().forget()
    response = redirect("/login", 303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="Lax", secure=_secure())
    return response


def register(app: Flask) -> None:
    """Install the gate (after :func:`viewer.web.security.register`: Host and Origin come first),
    the login routes and the 401 header.

    :raises ConfigError: a malformed ``TRUSTED_PROXIES`` (checked with the settings).
    """
    app.extensions["wsi_viewer_auth"] = AuthGate.from_settings(app.config["WSI_VIEWER"])
    app.before_request(_check_request)
    app.after_request(_unauthorized)
    app.register_blueprint(bp)
