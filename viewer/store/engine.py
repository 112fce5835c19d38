"""Connections to the annotation database: one engine per store, and its transactions.

Two engines, one code path:

* **SQLite** (the default: ``annotations.sqlite3`` in the data directory) in WAL mode, so readers
  never wait for the writer; writers queue on a lock beside the database (:class:`WriterQueue`),
  take SQLite's lock up front (``BEGIN IMMEDIATE``) and commit with ``synchronous=FULL``;
* **PostgreSQL** (a ``postgresql://`` URL) for several workers or hosts sharing one store, from a
  pool whose idle connections are checked before use (:func:`ping_idle_connections`).

A database that cannot be reached, or stays locked, is :class:`StoreUnavailableError` (503).
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from viewer.errors import ConfigError, UnavailableError

SQLITE_FILE_NAME = "annotations.sqlite3"
_UNAVAILABLE = "the annotation database is unavailable"


class StoreUnavailableError(UnavailableError):
    """The database cannot be reached (a PostgreSQL server down) or stays locked."""


def database_url(setting: str, data_dir: str | os.PathLike[str]) -> str:
    """The SQLAlchemy URL of the DATABASE setting: empty means SQLite in *data_dir*.

    :raises ConfigError: for anything but ``sqlite:///...`` and ``postgresql://...`` URLs.
    """
    if not setting:
        return f"sqlite:///{Path(data_dir) / SQLITE_FILE_NAME}"
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if setting.startswith(prefix):
            return "postgresql+psycopg://" + setting[len(prefix) :]
    if setting.startswith("sqlite:///"):
        return setting
    raise ConfigError(
        "DATABASE must be empty (SQLite in the data directory), a sqlite:///FILE or a "
        "postgresql://USER:PASSWORD@HOST/DB URL"
    )


def shown_url(url: str) -> str:
    """*url* fit for a terminal or a log: the password replaced by ``***``."""
    return sa.make_url(url).render_as_string(hide_password=True)


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL (None for PostgreSQL)."""
    return Path(url[len("sqlite:///") :]) if url.startswith("sqlite:///") else None


class WriterQueue:
    """SQLite writers of this database, one at a time, in the order they came.

    SQLite lets one writer in and has the others poll with growing sleeps (up to 100 ms), so under
    concurrent saves a writer can wait far longer than the writes ahead of it take. Here writers
    queue on a lock that wakes the next one as soon as the previous commits: a thread lock within
    the process, and an ``flock`` on a file beside the database across worker processes (the
    kernel drops it if a process dies). SQLite's own locking still guards against anyone else.
    """

    def __init__(self, database: Path) -> None:
        self._path = database.with_name(database.name + ".writers")
        self._threads = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    @contextmanager
    def turn(self) -> Iterator[None]:
        with self._threads:
            self._depth += 1
            try:
                if self._depth == 1:
                    if self._fd is None:
                        self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
                    fcntl.flock(self._fd, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    if self._depth == 1:
                        fcntl.flock(self._fd, fcntl.LOCK_UN)  # type: ignore[arg-type]
            finally:
                self._depth -= 1

    def close(self) -> None:
        with self._threads:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def ping_idle_connections(engine: Engine, idle_after: float) -> None:
    """Check a pooled connection before use only when it sat idle for *idle_after* seconds.

    A server restart or a proxy's idle timeout drops connections; SQLAlchemy's ``pool_pre_ping``
    finds them with a round trip on every checkout, which under a write load was a tenth of a
    worker's time. A connection used moments ago is not checked: if the server dropped it since,
    that one request fails as unavailable (503) and SQLAlchemy replaces the whole pool."""

    @sa.event.listens_for(engine, "checkin")
    def _checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")  # None: connected just now (info ends with it)
        if idle_since is None or time.monotonic() - idle_since < idle_after:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as exc:
            if engine.dialect.is_disconnect(exc, dbapi_conn, None):
                raise sa.exc.DisconnectionError(str(exc)) from exc  # the pool connects again
            raise


def ping(engine: Engine) -> None:
    """One ``SELECT 1`` on a connection of *engine* (``/readyz``); raises what the database raises."""
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))


def time_write_transactions(observe: Callable[[float], None]) -> None:
    """Call *observe* with the seconds of every write transaction of every engine, begin to commit
    (a rollback is not a write): the store write latency the metrics report (``viewer.metrics``)."""

    # The timing must never change what a transaction does: on a connection the server dropped,
    # even reading conn.info reconnects and raises PendingRollbackError, which hid the
    # OperationalError the store turns into StoreUnavailableError (a 503 became a 500).
    def begin(conn: Connection) -> None:
        if not conn.invalidated and conn.get_execution_options().get("wsi_write"):
            conn.info["wsi_write_started"] = time.perf_counter()

    def commit(conn: Connection) -> None:
        started = None if conn.invalidated else conn.info.pop("wsi_write_started", None)
        if started is not None:
            observe(time.perf_counter() - started)

    def rollback(conn: Connection) -> None:
        if not conn.invalidated:
            conn.info.pop("wsi_write_started", None)

    sa.event.listen(Engine, "begin", begin)
    sa.event.listen(Engine, "commit", commit)
    sa.event.listen(Engine, "rollback", rollback)


def make_engine(url: str, ping_idle_after: float = 10.0) -> Engine:
    """The engine of *url* (a :func:`database_url`), configured for the store's transactions."""
    path = sqlite_path(url)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create the database directory {path.parent}: {exc.strerror}") from None
        engine = sa.create_engine(
            url, pool_size=16, max_overflow=16, connect_args={"timeout": 60, "check_same_thread": False}
        )

        @sa.event.listens_for(engine, "connect")
        def _connect(dbapi_conn: Any, _record: Any) -> None:
            # We issue BEGIN ourselves (below): the driver must not open transactions on its own.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA busy_timeout = 60000")
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = FULL")  # a saved change survives a power cut
            cur.execute("PRAGMA foreign_keys = ON")
            cur.close()

        @sa.event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            # Writers take the lock at BEGIN, so two writers never deadlock upgrading read locks.
            write = conn.get_execution_options().get("wsi_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine
    if url.startswith("postgresql+psycopg://"):
        engine = sa.create_engine(url, pool_size=8, max_overflow=16)
        ping_idle_connections(engine, ping_idle_after)
        return engine
    raise ConfigError("unsupported database URL")


def _close(engine: Engine, writers: WriterQueue | None) -> None:
    engine.dispose()
    if writers is not None:
        writers.close()


class Database:
    """The engine of one store and its read and write transactions."""

    def __init__(self, url: str, ping_idle_after: float = 10.0) -> None:
        self.url = url
        self.engine = make_engine(url, ping_idle_after)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        path = sqlite_path(url)
        self._writers = WriterQueue(path) if path is not None else None
        # Pooled connections are closed when the store goes away, even unclosed (sqlite3 and psycopg
        # warn about connections left to the garbage collector).
        self._finalizer = weakref.finalize(self, _close, self.engine, self._writers)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction (a snapshot on SQLite; READ COMMITTED statements on PostgreSQL)."""
        with self.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: on SQLite, this process's turn among the writers and the lock."""
        with self._writers.turn() if self._writers else nullcontext(), self.connect() as conn:
            conn.execution_options(wsi_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection whose operational errors are :class:`StoreUnavailableError`."""
        try:
            conn = self.engine.connect()
        except sa.exc.OperationalError as exc:
            raise StoreUnavailableError(_UNAVAILABLE, [str(exc.orig)]) from None
        with conn:
            try:
                yield conn
            except sa.exc.OperationalError as exc:
                # Server gone, connection dropped, or SQLite still locked after the busy timeout.
                raise StoreUnavailableError(_UNAVAILABLE, [str(exc.orig)]) from None

    def close(self) -> None:
        """Close every pooled connection."""
        self._finalizer()
