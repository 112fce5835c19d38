"""Request bodies whose failures are precise 4xx, and a size cap on chunked ones.

The server (:mod:`viewer.gthread_worker`) reads request heads itself and ends every body read at
the body deadlines (a pause over ``BODY_IDLE_TIMEOUT``, the whole body over ``BODY_TIMEOUT``); what
the app sees of that, and of a malformed or endless body, is decided here.
:func:`guard_request_bodies` wraps ``wsgi.input`` of every request that has a body, so that

- a body that did not arrive in time is a ``408`` (not a "client disconnected" 400, nor the 500 of
  a socket error reaching the app);
- a chunked body over ``MAX_UPLOAD_MB`` (``OVERLAY_UPLOAD_MAX_MB`` on the overlay upload) is a
  ``413`` (Werkzeug's limit on a stream of unknown length stops reading at the limit and hands the
  app a truncated body);
- a malformed chunked body (``zz`` for a chunk size, a missing CRLF) is a ``400``: the reader raises
  the server's framing error, which would otherwise reach the app's catch-all as a 500.

The errors are Werkzeug HTTP exceptions, so the app answers them in its one JSON error shape. After
any of them the rest of the body is unread and where the next request starts is unknown: the
stream is marked failed (gunicorn's ``Body.failed``) and the response ``Connection: close``
(gunicorn's ``Response.force_close``), so the server closes the connection instead of draining it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from werkzeug.exceptions import (
    BadRequest,
    ClientDisconnected,
    HTTPException,
    RequestEntityTooLarge,
    RequestTimeout,
)


class GuardedInput:
    """``wsgi.input`` whose read failures are HTTP errors, with a size cap for bodies of unknown
    length (chunked)."""

    def __init__(self, stream: Any, *, max_bytes: int | None,
                 close_connection: Callable[[], Any] | None = None) -> None:
        self._stream = stream
        self._max_bytes = max_bytes
        self._close_connection = close_connection
        self._received = 0

    def _fail(self, exc: HTTPException) -> HTTPException:
        # The server must not read on from here: it closes the connection, and says so.
        if hasattr(self._stream, "failed"):
            self._stream.failed = True
        if self._close_connection is not None:
            self._close_connection()
        return exc

    def _call(self, read: Callable[..., Any], *args: Any) -> Any:
        try:
            data = read(*args)
        except HTTPException:
            raise
        except (TimeoutError, BlockingIOError):  # the server's per-read timeout or body deadline
            raise self._fail(RequestTimeout("the request body did not arrive in time")) from None
        except OSError:  # gone (gunicorn's NoMoreData is an OSError too)
            raise self._fail(ClientDisconnected()) from None
        except Exception as exc:  # noqa: BLE001 - the server's framing errors (chunk size, CRLF)
            raise self._fail(BadRequest(f"malformed request body: {exc}")) from None
        if self._max_bytes is not None:
            self._received += sum(map(len, data)) if isinstance(data, list) else len(data)
            # Werkzeug reads a stream of unknown length up to the limit and stops there, so "more
            # than the limit" shows as one byte past it.
            if self._received >= self._max_bytes and (
                self._received > self._max_bytes or self._more_after_limit()
            ):
                raise self._fail(RequestEntityTooLarge(
                    f"request bodies are limited to {self._max_bytes >> 20} MiB"))
        return data

    def _more_after_limit(self) -> bool:
        limit, self._max_bytes = self._max_bytes, None  # the cap lifted for this one byte
        try:
            return bool(self._call(self._stream.read, 1))
        finally:
            self._max_bytes = limit

    def read(self, size: int | None = -1) -> bytes:
        data: bytes = self._call(self._stream.read, size)
        return data

    def readline(self, size: int | None = -1) -> bytes:
        data: bytes = self._call(self._stream.readline, size)
        return data

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        data: list[bytes] = self._call(self._stream.readlines, hint)
        return data

    def __iter__(self) -> Iterator[bytes]:
        while True:
            line = self.readline()
            if not line:
                return
            yield line


#: Where an outer WSGI layer that wraps ``start_response`` (``viewer.web.observe``) leaves the
#: server's own way to close the connection, which its wrapper function no longer carries.
CLOSE_CONNECTION_KEY = "wsi_viewer.close_connection"


def connection_closer(start_response: Callable[..., Any]) -> Callable[[], Any] | None:
    """gunicorn's start_response is its Response's bound method: ``force_close()`` makes the answer
    ``Connection: close``; None under servers without it."""
    closer: Callable[[], Any] | None = getattr(getattr(start_response, "__self__", None), "force_close", None)
    return closer


def guard_request_bodies(
    wsgi_app: Callable[..., Iterable[bytes]], *, max_body_bytes: int,
    larger: Sequence[tuple[re.Pattern[str], int]] = (),
) -> Callable[..., Iterable[bytes]]:
    """*wsgi_app* with :class:`GuardedInput` around every request body; chunked ones are capped
    at *max_body_bytes*, or at the limit of the first of *larger* (path pattern, bytes) whose
    pattern matches the whole path (the overlay upload). Requests without a body (every tile) pass
    with two dictionary look-ups."""

    def chunked_limit(environ: dict[str, Any]) -> int:
        path = environ.get("PATH_INFO", "")
        return next((limit for pattern, limit in larger if pattern.fullmatch(path)), max_body_bytes)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = environ.get("CONTENT_LENGTH")
        if length or "HTTP_TRANSFER_ENCODING" in environ:
            environ["wsgi.input"] = GuardedInput(
                environ["wsgi.input"], max_bytes=None if length else chunked_limit(environ),
                close_connection=environ.get(CLOSE_CONNECTION_KEY) or connection_closer(start_response),
            )
        return wsgi_app(environ, start_response)

    return app
