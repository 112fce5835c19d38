"""Bringing a database to this code's schema revision, with Alembic (scripts in ``migrations/``).

Every store start reads the database's revision and, when it is behind, upgrades it in place,
keeping every row. The revisions are numbered ``0001``, ``0002``, ...: the schema versions of the
in-house runner the store had before Alembic, so a database it wrote (a ``wsi_schema_version``
table and no ``alembic_version``) is recognised, stamped with the revision of its version and
upgraded from there. Its ``wsi_schema_version`` table is left as it was.

Concurrent starts (several gunicorn workers, several hosts on one PostgreSQL server) queue on a
lock, re-read the revision once they hold it, and only the first one upgrades: the SQLite writers'
lock, or a PostgreSQL advisory lock (the in-house runner's number, so workers of both generations
queue together), held by the same transaction as the revisions and the version stamp. A database at
a revision this code does not know (written by a newer wsi-viewer) is refused, never changed.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from viewer.errors import ConfigError
from viewer.store.engine import Database, StoreUnavailableError, sqlite_path

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

#: The newest schema revision, as a number (revision ids are this number in four digits).
SCHEMA_VERSION = 8
HEAD = f"{SCHEMA_VERSION:04d}"
#: Held by every upgrade on PostgreSQL: the in-house runner's ``pg_advisory_xact_lock`` number.
ADVISORY_LOCK = 715517
SCRIPTS = Path(__file__).with_name("migrations")
_LEGACY_TABLE = "wsi_schema_version"


class SchemaTooNewError(StoreUnavailableError):
    """The database is at a schema revision this code does not know: a newer wsi-viewer wrote it."""


@dataclass(frozen=True)
class SchemaStatus:
    """Where a database stands: its revision (None: no schema yet) and who recorded it."""

    revision: str | None
    #: Recorded by the in-house runner (``wsi_schema_version``), not yet stamped for Alembic.
    legacy: bool = False

    @property
    def version(self) -> int:
        """The revision as a number (0: no schema)."""
        return int(self.revision) if self.revision is not None else 0

    @property
    def known(self) -> bool:
        """Whether this code knows the revision (else a newer wsi-viewer wrote the database)."""
        return self.revision is None or (
            self.revision.isdigit() and 1 <= int(self.revision) <= SCHEMA_VERSION
        )

    def describe(self) -> str:
        """One line for ``wsi-viewer db current``."""
        if self.revision is None:
            return f"no schema yet (empty database); the newest revision is {HEAD}"
        if not self.known:
            return f"revision {self.revision}, unknown to this wsi-viewer (it knows up to {HEAD})"
        text = f"revision {self.revision}"
        if self.legacy:
            text += f" (schema version {self.version} of the in-house runner, not yet stamped for Alembic)"
        return text + (" (head)" if self.revision == HEAD else f"; the newest is {HEAD}")


def revision_of(version: int) -> str:
    """The revision id of schema *version*."""
    return f"{version:04d}"


def read_status(conn: Connection) -> SchemaStatus:
    """The database's revision, from ``alembic_version`` or else the in-house runner's table."""
    inspector = sa.inspect(conn)
    if inspector.has_table("alembic_version"):
        found = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
        if len(found) == 1:
            return SchemaStatus(str(found[0]))
        if found:  # branches: none of ours has any
            return SchemaStatus(",".join(sorted(map(str, found))))
    if inspector.has_table(_LEGACY_TABLE):
        version = conn.execute(sa.text(f"SELECT max(version) FROM {_LEGACY_TABLE}")).scalar()
        if version:
            return SchemaStatus(revision_of(int(version)), legacy=True)
    return SchemaStatus(None)


def _refuse_unknown(status: SchemaStatus) -> None:
    if not status.known:
        raise SchemaTooNewError(
            f"the annotation database is at schema revision {status.revision}, newer than this "
            f"wsi-viewer knows (up to {HEAD}): run the wsi-viewer that wrote it, or a newer one",
            [status.describe()],
        )


def current(db: Database) -> SchemaStatus:
    """Where *db* stands, without changing it."""
    with db.read() as conn:
        return read_status(conn)


def database_exists(url: str) -> bool:
    """False for a SQLite file not created yet (so reading its status does not create it)."""
    path = sqlite_path(url)
    return path is None or path.exists()


def upgrade(db: Database, target_version: int | None = None) -> int:
    """Bring *db* to schema *target_version* (None: the newest); returns the version it is at.

    A database already there (or past *target_version*, which only tests ask for) is left alone
    after one read, without taking any lock.

    :raises SchemaTooNewError: the database is at a revision this code does not know.
    """
    target = SCHEMA_VERSION if target_version is None else target_version
    status = current(db)
    _refuse_unknown(status)
    if not status.legacy and status.version >= target:
        return status.version
    with db.write() as conn:
        if not db.is_sqlite:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK})
        status = read_status(conn)  # again: another worker may have upgraded while we waited
        _refuse_unknown(status)
        if status.legacy:
            _run(conn, "stamp", status.revision)
        if status.version < target:
            _run(conn, "upgrade", revision_of(target))
        return max(status.version, target)


def _run(conn: Connection, command_name: str, revision: str | None) -> None:
    from alembic import command

    script_directory()  # the scripts are the ones this code was written with
    getattr(command, command_name)(_config(connection=conn), revision)


def offline_sql(url: str, from_revision: str | None) -> str:
    """The SQL script that brings a database at *from_revision* (None: an empty one) to the newest
    revision, for the dialect of *url*, without connecting to it (Alembic's offline mode).

    On PostgreSQL the script takes the upgrade lock first, and refuses to run (raises) on a database
    at another revision; from a revision it also stamps a database the in-house runner wrote.
    """
    if from_revision is not None and not SchemaStatus(from_revision).known:
        raise ConfigError(f"no schema revision {from_revision!r}: they are 0001 to {HEAD}, or base (empty)")
    dialect = sa.make_url(url).get_backend_name()
    preamble: list[str] = []
    if dialect == "postgresql":
        preamble.append(f"SELECT pg_advisory_xact_lock({ADVISORY_LOCK})")
    if from_revision is not None:
        preamble += [
            "CREATE TABLE IF NOT EXISTS alembic_version (version_num VARCHAR(32) NOT NULL, "
            "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))",
            # a database the in-house runner wrote has no stamp yet
            f"INSERT INTO alembic_version (version_num) SELECT '{from_revision}' "
            "WHERE NOT EXISTS (SELECT 1 FROM alembic_version)",
        ]
        if dialect == "postgresql":
            preamble.append(
                "DO $$ BEGIN IF (SELECT version_num FROM alembic_version) <> "
                f"'{from_revision}' THEN RAISE EXCEPTION 'the database is not at revision "
                f"{from_revision}: see wsi-viewer db current'; END IF; END $$"
            )
    out = io.StringIO()
    config = _config(url=url, output=out)
    config.attributes["preamble"] = preamble
    from alembic import command

    span = HEAD if from_revision is None else f"{from_revision}:{HEAD}"
    command.upgrade(config, span, sql=True)
    return out.getvalue()


def _config(connection: Connection | None = None, url: str | None = None, output: Any = None) -> Config:
    """Alembic's configuration for this package's scripts (no ini file: everything is here)."""
    from alembic.config import Config

    config = Config(output_buffer=output, stdout=output or io.StringIO())
    config.set_main_option("script_location", str(SCRIPTS).replace("%", "%%"))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def script_directory() -> ScriptDirectory:
    """The revision scripts, read once per process; their head must be :data:`HEAD`."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory(str(SCRIPTS))
    head = scripts.get_current_head()
    if head != HEAD:
        raise RuntimeError(f"the newest migration script is {head}, but SCHEMA_VERSION names {HEAD}")
    return scripts


def database_status(url: str) -> SchemaStatus | None:
    """Where the database at *url* stands (None: a SQLite file that does not exist yet)."""
    if not database_exists(url):
        return None
    db = Database(url)
    try:
        return current(db)
    finally:
        db.close()


def upgrade_database(url: str) -> tuple[SchemaStatus | None, SchemaStatus]:
    """Bring the database at *url* to the newest revision (creating it when needed), as a store
    start does; returns where it stood before and where it stands now."""
    before = database_status(url)
    db = Database(url)
    try:
        upgrade(db)
        return before, current(db)
    finally:
        db.close()


def upgrade_script(url: str, from_revision: str | None = None) -> str:
    """The SQL script that brings the database at *url* to the newest revision, without running it.

    :param from_revision: the revision the database is at (``base``: an empty database); None:
        read from the database (which is not changed).
    """
    if from_revision is None:
        status = database_status(url)
        if status is not None and status.revision == HEAD and not status.legacy:
            return f"-- the database is at revision {HEAD}, the newest: nothing to do\n"
        _refuse_unknown(status or SchemaStatus(None))
        from_revision = status.revision if status is not None else None
    start = None if from_revision in (None, "base") else from_revision
    shown = "an empty database" if start is None else f"revision {start}"
    return f"-- wsi-viewer db upgrade --sql: from {shown} to revision {HEAD}\n" + offline_sql(url, start)
