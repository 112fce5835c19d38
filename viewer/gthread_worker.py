"""gunicorn's threaded worker, hardened against hostile clients and keeping busy connections on
their thread.

**Request heads are read in the poller.** gunicorn's ``gthread`` worker hands a connection to a
thread as soon as it is readable, and the thread then reads the request head with no deadline: 16
connections that send ``G`` and then nothing hold every thread of a worker for as long as they stay
open, and connections that send nothing hold a thread for 5 s each. Here the worker's main thread
reads every head itself, non-blocking, into a buffer per connection, under a deadline
(:attr:`KeepAliveThreadWorker.header_timeout`, from the connection's start or from the first byte
after a keep-alive pause). A connection reaches a thread only when its whole head has arrived (or
when what has arrived is already an error the parser reports without reading more); an idle or
half-sent one costs a file descriptor and a few bytes, never a thread. A head not complete by its
deadline is answered ``408`` and closed; a head over :data:`HEAD_MAX_BYTES` is ``431``; idle
kept-alive connections close after gunicorn's ``keepalive``.

**Bodies and responses** are read and written on the thread, with a socket timeout per read and
per write (:attr:`KeepAliveThreadWorker.io_timeout`, ``SO_RCVTIMEO``/``SO_SNDTIMEO``, set once per
connection so a request pays no extra system call) and a deadline for the whole body
(:attr:`KeepAliveThreadWorker.body_timeout`, checked before every receive of a body);
:mod:`viewer.web.transport` turns what the app sees of them into ``408``, ``400`` and ``413``.

**Closing never blocks the poller.** gunicorn's graceful close (half-close, then read until the
peer closes, up to 2 s) runs on the main thread, so every client that keeps its end open after a
``Connection: close`` answer froze accepting and dispatching for 2 s. Here the drain is one more
poller registration.

**The next request on the same thread.** A viewer sends its next tile request the moment a
response arrives; gthread hands every kept-alive connection back to its main thread between two
requests (a pipe write, poller registration and unregistration, a hand-off to the pool -- two thread
switches, more than sending a cached tile: 0.63 ms of server CPU per tile against 0.29 ms kept on
its thread). A thread answers the next request itself when it is already read or arrives within
:data:`NEXT_REQUEST_WAIT` and no other connection waits for a thread -- and only when that read (one
non-blocking ``recv``, the one the parser would have made) holds the whole head; a half-sent head
goes to the poller with its bytes.

Errors gunicorn raises itself before the app runs (bad request line ``400``, request line too long
``414``, header fields too large ``431``, ...) are answered in the API's JSON error shape. Only
``wsi-viewer serve`` imports this module (gunicorn is not needed to import the app). TLS and
HTTP/2 are not supported here (the poller reads plain HTTP/1.x heads): they belong to the reverse
proxy in front.
"""

from __future__ import annotations

import errno
import json
import select
import selectors
import socket
import struct
import time
from collections import deque
from functools import partial
from typing import Any

from gunicorn import util
from gunicorn.http.errors import (
    ConfigurationProblem,
    ExpectationFailed,
    ForbiddenProxyRequest,
    InvalidResponseHeader,
    InvalidResponseHeaderName,
    LimitRequestHeaders,
    LimitRequestLine,
    ParseException,
    UnsupportedTransferCoding,
)
from gunicorn.workers.gthread import TConn, ThreadWorker

#: How long a thread waits for the next request of the connection it has just answered (s): a
#: client on the same machine or LAN sends it well within this; an idle one costs at most this.
NEXT_REQUEST_WAIT = 0.002

#: Largest request head (request line and header fields) the poller buffers for one connection.
#: gunicorn's own bound is ~800 KiB (100 fields of 8 KiB); browsers send well under 16 KiB, nginx
#: accepts 32 KiB by default. The bound is what a thousand half-open connections may cost.
HEAD_MAX_BYTES = 64 * 1024

#: One read of a head (gunicorn's parser reads 8 KiB at a time too).
HEAD_READ_BYTES = 8192

#: After a final response, how long the server reads (and drops) what the client still sends
#: before closing, so the kernel does not reset the connection under the response (RFC 9112
#: section 9.6), and how much it reads at most. gunicorn's values.
LINGER_SECONDS = 2.0
LINGER_MAX_BYTES = 64 * 1024

#: gunicorn's own cap on the request line (``Request.limit_request_line``).
_GUNICORN_MAX_REQUEST_LINE = 8190

_WAIT, _READY, _TOO_LARGE = 0, 1, 2


def head_state(data: bytes | bytearray, line_limit: int) -> int:
    """Whether the parser can handle *data* (the start of a request) without reading more.

    ``_READY`` when the head is complete (the blank line after the header fields has arrived), or
    when the bytes already make a request line over *line_limit* (gunicorn answers 414) or hold a
    bare LF (400): the parser reports those from what it holds. ``_TOO_LARGE`` when the head is
    (or will be) over :data:`HEAD_MAX_BYTES`, however it arrived; ``_WAIT`` otherwise.
    """
    end_of_head = data.find(b"\r\n\r\n")
    if end_of_head >= 0:
        return _READY if end_of_head < HEAD_MAX_BYTES else _TOO_LARGE
    start = 2 if data[:2] == b"\r\n" else 0  # one empty line before the request line is allowed
    end = data.find(b"\r\n", start)
    if line_limit and (end - start > line_limit or (end < 0 and len(data) - start - 2 > line_limit)):
        return _READY
    if data.count(b"\n") != data.count(b"\r\n"):
        return _READY
    return _TOO_LARGE if len(data) > HEAD_MAX_BYTES else _WAIT


def error_response_bytes(status: int, reason: str, message: str, details: list[str] | None = None) -> bytes:
    """A complete ``Connection: close`` HTTP/1.1 response in the API's JSON error shape."""
    body = json.dumps({"error": message, "status": status, "details": details or []}).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nX-Content-Type-Options: nosniff\r\n"
            "Cache-Control: no-store\r\n\r\n")
    return head.encode("latin-1") + body


#: Errors gunicorn raises before the app runs, most specific first: (class, status, reason,
#: message). Every other ParseException is the client's malformed request: 400.
_PARSE_ERRORS: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], int, str, str], ...] = (
    ((InvalidResponseHeader, InvalidResponseHeaderName), 500, "Internal Server Error", "internal error"),
    (ConfigurationProblem, 500, "Internal Server Error", "internal error"),
    (LimitRequestLine, 414, "URI Too Long", "request line too long"),
    (LimitRequestHeaders, 431, "Request Header Fields Too Large", "request header fields too large"),
    (UnsupportedTransferCoding, 501, "Not Implemented", "unsupported transfer coding"),
    (ExpectationFailed, 417, "Expectation Failed", "unsupported expectation"),
    (ForbiddenProxyRequest, 403, "Forbidden", "forbidden"),
    (ParseException, 400, "Bad Request", "malformed request"),
)


def _status_of(exc: BaseException) -> tuple[int, str, str]:
    for cls, status, reason, message in _PARSE_ERRORS:
        if isinstance(exc, cls):
            return status, reason, message
    return 500, "Internal Server Error", "internal error"


def _timeval(seconds: float) -> bytes:
    """A ``struct timeval`` for SO_RCVTIMEO/SO_SNDTIMEO. Zero means no timeout at all, so a
    positive time is at least a microsecond; zero or less is none."""
    if seconds <= 0:
        return struct.pack("ll", 0, 0)
    micros = max(1, round(seconds * 1_000_000))
    return struct.pack("ll", micros // 1_000_000, micros % 1_000_000)


class _BodyDeadlineSocket:
    """The connection's socket as the request parser sees it while a body is read: no receive goes
    past the body deadline. (The parser loops over ``recv`` until it has what the app asked for,
    so a deadline checked between the app's reads would let a byte a second run for ever.)"""

    def __init__(self, sock: Any, deadline: float, io_timeout: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self.io_timeout = io_timeout
        self.shortened = False  # SO_RCVTIMEO lowered to the time left: put back after the request

    def recv(self, size: int, *flags: int) -> bytes:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the request body deadline passed")
        if not self.io_timeout or remaining < self.io_timeout:
            # Receives only (SO_SNDTIMEO, the response's, stays): one setsockopt per read, and only
            # in the last io_timeout seconds before the deadline.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(remaining))
            self.shortened = True
        data: bytes = self.sock.recv(size, *flags)
        return data

    def __getattr__(self, name: str) -> Any:  # settimeout, gettimeout... for gunicorn's body drain
        return getattr(self.sock, name)


class KeepAliveThreadWorker(ThreadWorker):  # type: ignore[misc]
    """``gthread`` with request heads read in the poller, deadlines on every connection, JSON
    errors, and back-to-back requests of one connection served on its thread."""

    #: Seconds a connection has to send a whole request head (``HEADER_TIMEOUT``).
    header_timeout: float = 10.0
    #: Longest pause, in seconds, in reading a request body or writing a response
    #: (``BODY_IDLE_TIMEOUT``); 0: none.
    io_timeout: float = 30.0
    #: Seconds a whole request body may take (``BODY_TIMEOUT``).
    body_timeout: float = 300.0

    @classmethod
    def configured(cls, header_timeout: float, io_timeout: float,
                   body_timeout: float) -> type[KeepAliveThreadWorker]:
        """This worker class with these deadlines (gunicorn takes a class; workers are forked)."""
        return type(cls.__name__, (cls,), {"header_timeout": float(header_timeout),
                                           "io_timeout": float(io_timeout),
                                           "body_timeout": float(body_timeout)})

    @classmethod
    def check_config(cls, cfg: Any, log: Any) -> None:
        super().check_config(cfg, log)
        if cfg.is_ssl or getattr(cfg, "http2_cleartext", "off") != "off":
            raise RuntimeError("KeepAliveThreadWorker serves plain HTTP/1.x: terminate TLS and HTTP/2 "
                               "in the reverse proxy")

    def init_process(self) -> None:
        # Connections whose head is arriving, as (deadline, conn) in deadline order (every entry
        # gets the same delay, so appending keeps the order). An entry is stale, and skipped, once
        # its connection's head_deadline is no longer that deadline. Idle kept-alive connections
        # stay in gunicorn's own keepalived_conns (closed after `keepalive` by murder_keepalived).
        self._heading: deque[tuple[float, Any]] = deque()
        # Connections being closed: (deadline, conn), drained by the poller until then.
        self._lingering: deque[tuple[float, Any]] = deque()
        limit = self.cfg.limit_request_line
        self._line_limit = (_GUNICORN_MAX_REQUEST_LINE if limit < 0 or limit >= _GUNICORN_MAX_REQUEST_LINE
                            else limit)
        super().init_process()

    # -- main thread: accepting, reading heads, deadlines, closing -------------------------------

    def accept(self, listener: Any) -> None:
        try:
            client_sock, client_addr = listener.accept()
        except OSError as exc:
            if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                # Out of descriptors: stop accepting until the loop's next turn (gunicorn's run()
                # enables it again) instead of dying, or spinning on a listener that stays readable.
                self.log.warning("cannot accept a connection: %s", exc)
                self.set_accept_enabled(False)
                return
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        conn = TConn(self.cfg, client_sock, client_addr, listener.getsockname())  # non-blocking
        if self.io_timeout > 0:
            try:  # once per connection: every blocking read and write of its thread is bounded
                client_sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(self.io_timeout))
                client_sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _timeval(self.io_timeout))
            except OSError:
                self._close(conn)
                return
        conn.head = bytearray()
        self._await_head(conn)

    def _await_head(self, conn: Any, register: bool = True) -> None:
        """Put *conn*, whose head has started (``conn.head``), under the header deadline (and on
        the poller, unless it is there already)."""
        deadline = time.monotonic() + self.header_timeout
        if not self.alive:
            deadline = min(deadline, time.monotonic() + LINGER_SECONDS)
        conn.head_deadline = deadline
        self._heading.append((deadline, conn))
        if register:
            self._register(conn, self._on_head_readable)

    def _await_idle(self, conn: Any) -> None:
        """Register kept-alive *conn* between requests (gunicorn's keep-alive timeout)."""
        conn.head = None
        conn.head_deadline = None
        conn.set_timeout()
        if not self.alive:  # a stopping worker lingers briefly, as gthread does
            conn.timeout = min(conn.timeout, time.monotonic() + LINGER_SECONDS)
        self.keepalived_conns.append(conn)
        self._register(conn, self._on_head_readable)

    def _register(self, conn: Any, callback: Any) -> None:
        try:
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(callback, conn))
        except (OSError, ValueError, KeyError):
            self._forget(conn)
            self._close(conn)

    def _unregister(self, conn: Any) -> None:
        try:
            self.poller.unregister(conn.sock)
        except (OSError, ValueError, KeyError):
            pass

    def _forget(self, conn: Any) -> None:
        """Take *conn* off the idle list and the header deadline (its entries become stale)."""
        if getattr(conn, "head", None) is None and conn in self.keepalived_conns:
            self.keepalived_conns.remove(conn)
        conn.head_deadline = None

    def _close(self, conn: Any) -> None:
        self.nr_conns -= 1
        conn.close()

    def _on_head_readable(self, conn: Any, _sock: Any) -> None:
        try:
            data = conn.sock.recv(HEAD_READ_BYTES, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client went away (or reset) before sending a whole head
            self._unregister(conn)
            self._forget(conn)
            self._close(conn)
            return
        idle = conn.head is None
        if idle:  # a kept-alive connection's next head (usually all of it in this one read)
            self.keepalived_conns.remove(conn)
            head: bytes | bytearray = data
        else:
            conn.head += data
            head = conn.head
        state = head_state(head, self._line_limit)
        if state == _WAIT:
            if idle:  # it has started: its header deadline runs from now
                conn.head = bytearray(data)
                self._await_head(conn, register=False)
            return
        self._unregister(conn)
        conn.head_deadline = None  # its entry in _heading, if any, is stale now
        conn.head = None
        if state == _TOO_LARGE:
            self._refuse(conn, 431, "Request Header Fields Too Large", "request header fields too large",
                         [f"a request head may hold at most {HEAD_MAX_BYTES} bytes"])
            return
        try:
            conn.init()  # plain HTTP/1.x: makes the parser, blocking socket
        except Exception:  # noqa: BLE001 - a socket already gone
            self._close(conn)
            return
        conn.parser.unreader.unread(bytes(head))
        conn.data_ready = True
        self.enqueue_req(conn)

    def _refuse(self, conn: Any, status: int, reason: str, message: str, details: list[str]) -> None:
        """Answer *conn* (not on the poller) with an error, without blocking, and close it."""
        try:
            conn.sock.send(error_response_bytes(status, reason, message, details), socket.MSG_DONTWAIT)
        except OSError:
            pass
        self._linger_close(conn)

    def _linger_close(self, conn: Any) -> None:
        """Half-close *conn*, then let the poller drain it until the peer closes or the linger ends."""
        try:
            conn.sock.setblocking(False)
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._close(conn)
            return
        conn.linger_deadline = deadline = time.monotonic() + LINGER_SECONDS
        conn.lingered = 0
        self._lingering.append((deadline, conn))
        try:
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_linger_readable, conn))
        except (OSError, ValueError, KeyError):
            conn.linger_deadline = None
            self._close(conn)

    def _on_linger_readable(self, conn: Any, _sock: Any) -> None:
        try:
            data = conn.sock.recv(65536, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        conn.lingered += len(data)
        if data and conn.lingered < LINGER_MAX_BYTES:
            return
        self._unregister(conn)
        conn.linger_deadline = None
        self._close(conn)

    def finish_request(self, conn: Any, fs: Any) -> None:
        """A thread is done with *conn*: back to the poller for its next head, or closed."""
        try:
            result = fs.result() if not fs.cancelled() else False
            if result is not True:
                self._linger_close(conn)
                return
            leftover = conn.parser.unreader.buf.getvalue()
            state = head_state(leftover, self._line_limit) if leftover else _WAIT
            if state == _READY:
                self.enqueue_req(conn)  # pipelined: the next head is already here
            elif state == _TOO_LARGE:
                self._refuse(conn, 431, "Request Header Fields Too Large", "request header fields too large",
                             [f"a request head may hold at most {HEAD_MAX_BYTES} bytes"])
            else:
                conn.sock.setblocking(False)  # the poller's reads must never wait
                if leftover:  # a half-sent head, read ahead by the thread
                    conn.parser.unreader.take_buffered()
                    conn.head = bytearray(leftover)
                    self._await_head(conn)
                else:
                    self._await_idle(conn)
        except Exception:  # noqa: BLE001 - gthread's own last resort
            self._close(conn)

    def murder_keepalived(self, force: bool = False) -> None:
        """Close idle connections past keep-alive (gthread), heads past their deadline (408) and
        lingering closes past their linger; everything when *force*."""
        super().murder_keepalived(force)
        now = time.monotonic()
        while self._heading and (force or self._heading[0][0] <= now):
            deadline, conn = self._heading.popleft()
            if conn.head_deadline != deadline:
                continue  # stale: the head completed, or the connection was closed or re-registered
            self._unregister(conn)
            conn.head_deadline = None
            if force or not conn.head:
                self._close(conn)  # nothing sent: close quietly, as an idle kept-alive connection
            else:
                self._refuse(conn, 408, "Request Timeout", "request head not received in time",
                             [f"the request line and header fields must arrive within "
                              f"{self.header_timeout:g} s"])
        while self._lingering and (force or self._lingering[0][0] <= now):
            deadline, conn = self._lingering.popleft()
            if conn.linger_deadline == deadline:
                self._unregister(conn)
                conn.linger_deadline = None
                self._close(conn)

    def _cap_keepalive(self, deadline: float) -> None:
        """A stopping worker: kept-alive connections and arriving heads end by *deadline*."""
        super()._cap_keepalive(deadline)
        capped: deque[tuple[float, Any]] = deque()
        for old, conn in self._heading:
            if conn.head_deadline == old:
                conn.head_deadline = min(old, deadline)
                capped.append((conn.head_deadline, conn))
        self._heading = capped

    # -- request threads -----------------------------------------------------------------------

    def handle(self, conn: Any) -> Any:
        # True: the connection stays open (gunicorn 27).
        result = super().handle(conn)
        while result is True and self.alive:
            ready = self._next_request_soon(conn)
            if ready is None:
                return False  # the client closed its end
            if not ready:
                break
            result = super().handle(conn)
        return result

    def _next_request_soon(self, conn: Any) -> bool | None:
        """Whether this thread should answer *conn*'s next request itself: its whole head is
        buffered, or arrives within NEXT_REQUEST_WAIT (None: the client closed the connection)."""
        if getattr(conn, "is_http2", False) or self.tpool._work_queue.qsize():
            return False  # HTTP/2 has its own loop; or another connection is waiting for a thread
        unreader = conn.parser.unreader
        buffered = unreader.buf.getvalue()
        if not buffered:
            if conn.sock.gettimeout() is not None:
                return False  # in timeout mode even a MSG_DONTWAIT recv would poll and wait first
            poller = select.poll()
            poller.register(conn.sock, select.POLLIN)
            if not poller.poll(NEXT_REQUEST_WAIT * 1000):
                return False
            try:  # the recv the parser would make, but never waiting for the rest of a head
                buffered = conn.sock.recv(HEAD_READ_BYTES, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return False
            except OSError:
                return None
            if not buffered:
                return None
            unreader.unread(buffered)
        return head_state(buffered, self._line_limit) == _READY

    def _keepalive_after(self, conn: Any, keepalive: bool) -> bool:
        if keepalive:
            body = conn.parser.mesg.body
            if getattr(getattr(body, "reader", None), "length", None) == 0 and not body.failed:
                # Nothing of the body is left on the socket (every GET): gthread's drain would
                # only set and reset a socket timeout, two system calls per request.
                return True
        return bool(super()._keepalive_after(conn, keepalive))

    def handle_request(self, req: Any, conn: Any) -> Any:
        reader = getattr(req.body, "reader", None)
        if getattr(reader, "length", None) == 0:  # no body (every GET): nothing to bound
            return self._serve(req, conn)
        unreader = conn.parser.unreader
        guarded = _BodyDeadlineSocket(unreader.sock, time.monotonic() + self.body_timeout, self.io_timeout)
        unreader.sock = guarded
        try:
            return self._serve(req, conn)
        finally:
            unreader.sock = guarded.sock
            if guarded.shortened:
                try:
                    guarded.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(self.io_timeout))
                except OSError:
                    pass

    def _serve(self, req: Any, conn: Any) -> Any:
        try:
            return super().handle_request(req, conn)
        except (BlockingIOError, TimeoutError) as exc:
            # SO_SNDTIMEO passed while writing the response: a client that stopped reading.
            self.log.debug("client stalled for %s s: %s", self.io_timeout, exc)
            return False

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        """gunicorn's error answer, in the API's JSON error shape instead of an HTML page."""
        status, reason, message = _status_of(exc)
        addr = addr or ("", -1)
        if status < 500:
            self.log.warning("Invalid request from ip=%s: %s", addr[0], exc)
            details = [str(exc)[:300]]
        else:
            self.log.exception("Error handling request %s", getattr(req, "uri", "(no URI read)"))
            details = []
        try:
            util.write_nonblock(client, error_response_bytes(status, reason, message, details))
        except Exception:  # noqa: BLE001 - the client may be gone
            self.log.debug("Failed to send error message.")
