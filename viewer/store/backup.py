"""Backups of a SQLite store with SQLite's online backup API (a consistent copy while servers keep
reading and writing), and the restore of one. PostgreSQL has its own tools: :func:`pg_dump_line`."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from viewer.errors import ConfigError
from viewer.store.engine import shown_url, sqlite_path
from viewer.store.migrate import SchemaStatus, database_status


def pg_dump_line(url: str, file: str) -> str:
    """The commands a PostgreSQL store is backed up and restored with (password not shown)."""
    shown = shown_url(url).replace("postgresql+psycopg://", "postgresql://")
    return (f"pg_dump --format=custom --file {file} '{shown}'\n"
            f"pg_restore --clean --if-exists --no-owner --dbname '{shown}' {file}")


def _sqlite_file(url: str, file: str | os.PathLike[str]) -> Path:
    path = sqlite_path(url)
    if path is None:
        raise ConfigError("this store is PostgreSQL: back it up with pg_dump and restore it with "
                          "pg_restore (the password from PGPASSWORD or ~/.pgpass, in place of ***):\n"
                          + pg_dump_line(url, str(file)))
    return path


def backup(url: str, file: str | os.PathLike[str], *, overwrite: bool = False) -> SchemaStatus:
    """Copy the SQLite store at *url* to *file* (written beside it, then renamed into place: an
    interrupted backup leaves no half file); returns the copy's schema status.

    :raises ConfigError: PostgreSQL (the message gives the pg_dump line), no database yet, or
        *file* exists and not *overwrite*.
    """
    source = _sqlite_file(url, file)
    target = Path(file)
    if not source.is_file():
        raise ConfigError(f"no database to back up at {source}")
    if target.exists() and not overwrite:
        raise ConfigError(f"{target} exists: choose another file, or --force to replace it")
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        finally:
            dst.close()
    finally:
        src.close()
    os.replace(partial, target)
    status = database_status(f"sqlite:///{target.resolve()}")
    assert status is not None
    return status


def restore(url: str, file: str | os.PathLike[str]) -> SchemaStatus:
    """Replace the SQLite store at *url* by the backup *file* (SQLite's backup API, into the live
    database, so open connections see the restored content); returns its schema status. Stop the
    servers first: writes they make during the restore are lost.

    :raises ConfigError: PostgreSQL, *file* missing, not a SQLite database, damaged, or not a store
        this version knows.
    """
    target = _sqlite_file(url, file)
    source = Path(file)
    if not source.is_file():
        raise ConfigError(f"no backup file {source}")
    try:
        src = sqlite3.connect(f"file:{source.resolve()}?mode=ro", uri=True)
        try:
            check = src.execute("PRAGMA integrity_check").fetchone()
        finally:
            src.close()
    except sqlite3.DatabaseError as exc:
        raise ConfigError(f"{source} is not a SQLite database: {exc}") from None
    if check is None or check[0] != "ok":
        found = check[0] if check else "no answer"
        raise ConfigError(f"{source} is damaged (SQLite integrity check: {found})")
    status = database_status(f"sqlite:///{source.resolve()}")
    if status is None or status.revision is None or not status.known:
        shown = status.describe() if status is not None else "nothing"
        raise ConfigError(f"{source} is not an annotation store this version can open ({shown})")
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{source.resolve()}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(target, timeout=30)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()
    return status
