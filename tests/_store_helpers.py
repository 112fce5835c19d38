"""Database fixtures shared by the store tests: SQLite in tmp_path, and a fresh PostgreSQL schema per
test when WSI_VIEWER_TEST_DATABASE_URL is set (tests/run-all.sh starts a server and always sets it).
An unreachable server with the variable set is a failure, never a skip."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import psycopg

PG_ENV = "WSI_VIEWER_TEST_DATABASE_URL"
#: The engines every store test runs on.
ENGINES = ["sqlite", "postgresql"] if os.environ.get(PG_ENV) else ["sqlite"]


@contextmanager
def pg_schema() -> Iterator[str]:
    """A new, empty schema on the test server; yields the DATABASE setting that uses it."""
    base = os.environ[PG_ENV]
    schema = "t_" + uuid.uuid4().hex[:16]
    with psycopg.connect(base, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(base, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@contextmanager
def database_setting(engine: str, tmp_path: Path) -> Iterator[str]:
    """The DATABASE setting for *engine*: a SQLite file in *tmp_path* or a fresh PostgreSQL schema."""
    if engine == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.sqlite3'}"
    else:
        with pg_schema() as url:
            yield url
