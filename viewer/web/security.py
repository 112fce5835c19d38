"""What a hostile client or a hostile web page in the user's browser may not do, checked in one place.

On a workstation the server runs without authentication, so the browser's same-origin policy is
the user's only protection; these checks keep it whole:

* **Host** (every request, the tile fast path included): the ``Host`` header must name this server
  (``ALLOWED_HOSTS``; the localhost names and a specific ``HOST`` always). A DNS-rebinding page
  (``attacker.example`` resolving to 127.0.0.1) sends its own name, so it reads nothing: ``421
  Misdirected Request``, the status RFC 9110 gives to a request for an authority this server is not
  configured to answer (400 would say the request is malformed, which it is not).
* **Writes** (POST, PUT, PATCH, DELETE): an ``Origin`` other than the server's own or one of
  ``ALLOWED_ORIGINS`` is ``403``. A body must be declared as JSON (``application/json`` or
  ``application/geo+json``), which no cross-site form can send without a CORS preflight that this
  server never grants; other bodies are ``415``. Uploads (``application/xml``, ``text/xml``,
  ``multipart/form-data``; a form can send the last without a preflight) and writes without a body
  also need the page's own ``Origin`` or an ``X-Requested-With`` header, which only a same-origin
  script or a non-browser client (curl) can add: ``403`` otherwise. DELETE carries no body and
  always needs a preflight.
* **Read-only** (``READ_ONLY``): every write is ``403`` ``{"error": "read-only: ..."}``, before any
  other check of the write; reads are served as always.
* **Authors**: ``X-User`` (and a JSON body's ``user``) may not claim the reserved author of changes
  read from sidecar files (:data:`viewer.store.SIDECAR_USER`): ``403``.
* **Numbers in URLs and headers** are ASCII digits: ``str.isdigit``, ``int`` and Werkzeug's ``int``
  converter (``\\d``) also take ``²`` or Arabic-Indic digits. :func:`ascii_int`,
  :func:`ascii_float` and the ``int`` URL converter replaced here are the only parsers.
* **Response headers**: :data:`SECURITY_HEADERS` on every response (a CSP without
  ``unsafe-inline``: the pages have no inline script or style), ``Cache-Control: no-cache`` on API
  JSON that sets none (it changes with every write and carries ETags; the annotation blueprint sets
  ``private, no-cache`` on its own answers).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import Forbidden, MisdirectedRequest, UnsupportedMediaType
from werkzeug.routing import IntegerConverter

from viewer.errors import ConfigError
from viewer.store import SIDECAR_USER
from viewer.web.auth import FORM_ENDPOINTS

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
JSON_TYPES = frozenset({"application/json", "application/geo+json"})
#: Body types a cross-site page cannot send without a preflight except multipart: all need proof.
UPLOAD_TYPES = frozenset({"application/xml", "text/xml", "multipart/form-data"})
#: HTML forms' bodies: taken only by :data:`viewer.web.auth.FORM_ENDPOINTS` (login, logout).
FORM_TYPE = "application/x-www-form-urlencoded"
#: A header no cross-site form can send and a cross-site script can send only after a preflight.
PREFLIGHT_HEADER = "X-Requested-With"
LOCAL_HOST_NAMES = ("localhost", "127.0.0.1", "[::1]")
_UNSPECIFIC_BIND = frozenset({"", "0.0.0.0", "::", "[::]", "*"})  # noqa: S104 - names, not binds

#: Sent on every response (the tile fast path appends the same tuples). ``data:`` images: the
#: favicon; ``blob:`` images: tiles OpenSeadragon may load through ``fetch``; the PNG screenshot is a
#: ``blob:`` download link, which no directive restricts.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'"
)
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("X-Content-Type-Options", "nosniff"),
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("Referrer-Policy", "same-origin"),
)


# --------------------------------------------------------------------------------------------------
# Numbers from URLs and headers: ASCII digits only


_ASCII_INT = re.compile(r"[0-9]{1,18}")  # 18 digits: always below 2**63, never the int() digit limit
_ASCII_FLOAT = re.compile(r"[+-]?(?:[0-9]{1,40}(?:\.[0-9]{0,40})?|\.[0-9]{1,40})(?:[eE][+-]?[0-9]{1,4})?")


def ascii_int(text: str) -> int | None:
    """*text* as a non-negative integer if it is 1-18 ASCII digits (nothing else, no sign or
    space), else None. ``"²".isdigit()`` is true and ``int("١٢")`` is 12: neither is a number here."""
    return int(text) if _ASCII_INT.fullmatch(text) else None


def ascii_float(text: str) -> float | None:
    """*text* as a float if it is a plain ASCII decimal (``-1.5``, ``2e3``), else None (no ``nan``,
    ``inf``, ``1_000`` or non-ASCII digits, all of which ``float`` takes)."""
    return float(text) if _ASCII_FLOAT.fullmatch(text) else None


class AsciiIntegerConverter(IntegerConverter):
    """Werkzeug's ``int`` URL converter with ``[0-9]`` for ``\\d`` (which is Unicode): ``/api/sets/٣``
    is no route (404). Registered under the name ``int``, so every route, new ones included, uses it."""

    regex = r"[0-9]+"


# --------------------------------------------------------------------------------------------------
# Hosts and origins


_HOST_NAME = re.compile(r"(?:[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?\.)*[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?"
                        r"|\[[0-9a-f:.]+\]")
_ORIGIN = re.compile(r"(https?)://([^/?#@\s]+)")


def _split_host(value: str) -> tuple[str, str | None]:
    """(name, port) of a lower-case Host value; port None when absent (``[::1]`` has none)."""
    name, sep, port = value.rpartition(":")
    if sep and port.isascii() and port.isdigit() and not name.endswith(":"):
        return name, port
    return value, None


def _bind_name(host: str) -> str | None:
    """The Host name of a bind address, or None when it is every interface."""
    host = host.strip().lower()
    if host in _UNSPECIFIC_BIND:
        return None
    if ":" in host and not host.startswith("["):
        return f"[{host}]"  # an IPv6 address: Host headers bracket it
    return host


@dataclass(frozen=True)
class SecurityPolicy:
    """The Host values this server answers to and the foreign origins it takes writes from."""

    #: Host header values accepted as they are (names with the server's port precomputed, so the
    #: usual request costs one frozenset lookup).
    exact_hosts: frozenset[str]
    #: Names accepted with any port (or none).
    any_port_names: frozenset[str]
    any_host: bool
    allowed_origins: frozenset[str]
    #: ``READ_ONLY``: every write is refused (403).
    read_only: bool = False

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> SecurityPolicy:
        """The policy of ``ALLOWED_HOSTS``, ``ALLOWED_ORIGINS``, ``HOST`` and ``PORT``.

        :raises ConfigError: for an entry that is not a host name / address (with optional port)
            or not an origin ``scheme://host[:port]``.
        """
        names = set(LOCAL_HOST_NAMES)
        exact: set[str] = set()
        any_host = False
        bind = _bind_name(str(settings.get("HOST", "")))
        if bind is not None:
            names.add(bind)
        problems = []
        for entry in _entries(settings.get("ALLOWED_HOSTS", "")):
            if entry == "*":
                any_host = True
                continue
            name, port = _split_host(entry)
            if not _HOST_NAME.fullmatch(name):
                problems.append(f"ALLOWED_HOSTS: {entry!r} is not a host name or address (optional :port)")
            elif port is None:
                names.add(name)
            else:
                exact.add(entry)
        origins = set()
        for entry in _entries(settings.get("ALLOWED_ORIGINS", "")):
            entry = entry.rstrip("/")
            match = _ORIGIN.fullmatch(entry)
            if match is None or not _HOST_NAME.fullmatch(_split_host(match[2])[0]):
                problems.append(f"ALLOWED_ORIGINS: {entry!r} is not an origin like https://viewer.example.org")
            else:
                origins.add(entry)
        if problems:
            raise ConfigError("; ".join(problems), details=problems)
        port = settings.get("PORT")
        exact.update(names)
        if port:
            exact.update(f"{name}:{port}" for name in names)
        read_only = bool(settings.get("READ_ONLY", False))
        return cls(frozenset(exact), frozenset(names), any_host, frozenset(origins), read_only)

    def allows_host(self, host: str | None) -> bool:
        """Whether this server answers to the ``Host`` header *host* (None: no header, which no
        browser sends, so no rebinding page either)."""
        if host is None or self.any_host or host in self.exact_hosts:
            return True
        host = host.lower()
        return host in self.exact_hosts or _split_host(host)[0] in self.any_port_names

    def allows_origin(self, origin: str, host: str | None) -> bool:
        """Whether a write from a page of *origin* is taken: the server's own origin (the one the
        browser reached, *host*, already checked) or one of ``ALLOWED_ORIGINS``. ``null`` (sandboxed
        frames, privacy redirects) is nobody's. The scheme is not compared: behind a TLS proxy the
        page is https while this server sees http, and no other site can serve the same host and
        port under another scheme."""
        origin = origin.strip().lower()
        match = _ORIGIN.fullmatch(origin)
        if match is None:
            return False
        if host is not None and match[2] == host.lower():
            return True
        return origin in self.allowed_origins


def _entries(text: object) -> list[str]:
    return [part.strip().lower() for part in str(text or "").split(",") if part.strip()]


def policy(app: Flask) -> SecurityPolicy:
    """The app's policy (built by :func:`register`)."""
    found: SecurityPolicy = app.extensions["wsi_viewer_security"]
    return found


# --------------------------------------------------------------------------------------------------
# Authors


def check_author(name: object, where: str = "X-User") -> None:
    """Refuse a request that claims the reserved author of sidecar imports.

    :raises werkzeug.exceptions.Forbidden: *name* is ``sidecar`` (in any case, padded or not).
    """
    if isinstance(name, str) and name.strip().lower() == SIDECAR_USER:
        raise Forbidden(
            f"{where}: {SIDECAR_USER!r} is reserved for changes read from sidecar XML files; "
            "send your own name (or none)"
        )


# --------------------------------------------------------------------------------------------------
# The hooks


def _check_request() -> None:
    found = policy_of_request()
    host = request.environ.get("HTTP_HOST")
    if not found.allows_host(host):
        raise MisdirectedRequest(
            f"this server does not answer to the host name {host!r}: open it by one of its own names, "
            "or add this name to ALLOWED_HOSTS"
        )
    if request.method not in WRITE_METHODS or request.routing_exception is not None:
        return  # a read, or no route (its 404 / 405 follows): nothing can be written
    if found.read_only and request.endpoint not in FORM_ENDPOINTS:  # logging in changes no data
        raise Forbidden(
            "read-only: this server serves slides and annotations for reading only (READ_ONLY is on); "
            "no change is accepted"
        )
    origin = request.headers.get("Origin")
    if origin is not None and not found.allows_origin(origin, host):
        raise Forbidden(
            f"cross-origin write refused: a page of {origin!r} may not change this server's data "
            "(add that origin to ALLOWED_ORIGINS if it is one of your own sites)"
        )
    check_author(request.headers.get("X-User"))
    if request.method == "DELETE":
        return
    mimetype = request.mimetype
    if mimetype in JSON_TYPES:
        return
    # No body at all (a POST that starts something): a cross-site fetch can send that without a
    # preflight too, so it needs the same proof as an upload.
    chunked = "HTTP_TRANSFER_ENCODING" in request.environ
    bodyless = not mimetype and not request.content_length and not chunked
    if mimetype in UPLOAD_TYPES or bodyless:
        if origin is None and PREFLIGHT_HEADER not in request.headers:
            what = f"an upload of {mimetype}" if mimetype else "a write without a body"
            raise Forbidden(
                f"{what} needs an {PREFLIGHT_HEADER} header (any value, e.g. "
                f"'{PREFLIGHT_HEADER}: curl'), which no cross-site form can send, or a JSON body"
            )
        return
    if mimetype == FORM_TYPE and request.endpoint in FORM_ENDPOINTS:
        return  # the login and logout forms: their CSRF token is checked by viewer/web/auth.py
    raise UnsupportedMediaType(
        f"a write needs Content-Type: application/json (got {mimetype or 'none'}); uploads may also "
        f"be application/xml, text/xml or multipart/form-data with an {PREFLIGHT_HEADER} header"
    )


def _add_headers(response: Response) -> Response:
    headers = response.headers
    for name, value in SECURITY_HEADERS:
        if name not in headers:
            headers[name] = value
    if "Cache-Control" not in headers and request.path.startswith("/api/"):
        # Annotation answers have set their own already ("private, no-cache": viewer/web/annotations.py).
        headers["Cache-Control"] = "no-cache"
    return response


def policy_of_request() -> SecurityPolicy:
    """The policy of the app serving the current request."""
    return policy(current_app)


def register(app: Flask) -> None:
    """Install the converter, the request checks and the response headers on *app*.

    Call before any blueprint is registered: rules compile their converters when added.

    :raises ConfigError: for a malformed ``ALLOWED_HOSTS`` or ``ALLOWED_ORIGINS``.
    """
    app.url_map.converters["int"] = AsciiIntegerConverter
    app.extensions["wsi_viewer_security"] = SecurityPolicy.from_settings(app.config["WSI_VIEWER"])
    app.before_request(_check_request)
    app.after_request(_add_headers)
