"""Schema revisions with Alembic: databases the in-house runner wrote (tests/data/store) upgrade in
place keeping every row, read back exactly as that code read them, and take writes afterwards;
fresh databases get the same schema; concurrent starts upgrade once; a newer database is refused;
``wsi-viewer db current`` and ``wsi-viewer db upgrade [--sql]``."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest

from tests._store_fixtures import DUMP_SCHEMA, FIXTURES, expected, schema_of, summarize, table_digest
from tests._store_helpers import ENGINES, PG_ENV, database_setting
from viewer.annotations.model import Annotation, AnnotationSet, Group
from viewer.cli import main
from viewer.store import SCHEMA_VERSION, SchemaTooNewError, Store, database_url

EXPECTED = expected()
SQLITE_FIXTURES = sorted(name for name in EXPECTED["fixtures"] if name.endswith(".sqlite3"))
PG_DUMP = next(name for name in EXPECTED["fixtures"] if name.endswith(".sql"))
HEAD = f"{SCHEMA_VERSION:04d}"
#: PostgreSQL only (tests/run-all.sh always sets the server's URL, as for every store test).
PG_ONLY = [e for e in ENGINES if e == "postgresql"]
#: What the revisions after the fixtures' newest (0003) add: members of a set's info, with the value
#: every set of an upgraded database has, and columns per table.
ADDED_INFO: dict[str, Any] = {"sidecar_warnings": []}  # 0004
ADDED_COLUMNS = {
    "annotation_sets": ["owner_id", "sharing", "sidecar_warnings"],  # 0004, 0007 (sharing)
    "users": ["disabled", "password_hash", "role"],  # 0006 (accounts)
}
STRAY_XML = Path(__file__).parent / "data" / "asap" / "derived" / "tumor_111_stray_text.xml"


def sqlite_copy(name: str, tmp_path: Path) -> str:
    """A copy of a SQLite fixture (never the fixture itself), as a store URL."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    target = tmp_path / "annotations.sqlite3"
    shutil.copyfile(FIXTURES / name, target)
    return f"sqlite:///{target}"


def pg_url(schema: str) -> str:
    base = os.environ[PG_ENV]
    sep = "&" if "?" in base else "?"
    return database_url(f"{base}{sep}options={quote(f'-csearch_path={schema}')}", "")


@contextmanager
def pg_dump_loaded() -> Iterator[str]:
    """The PostgreSQL dump loaded into a schema of its own; yields the store URL that uses it."""
    schema = "t_" + uuid.uuid4().hex[:16]
    sql = (FIXTURES / PG_DUMP).read_text(encoding="utf-8").replace(DUMP_SCHEMA, schema)
    with psycopg.connect(os.environ[PG_ENV], autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql)
    try:
        yield pg_url(schema)
    finally:
        with psycopg.connect(os.environ[PG_ENV], autocommit=True, connect_timeout=10) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def assert_content_is_what_the_old_code_read(store: Store, entry: dict[str, Any]) -> None:
    stored, upgraded = entry["stored"], entry.get("upgraded_by_its_code", entry["stored"])
    got = plain(summarize(store))
    assert got["slides"] == stored["slides"]
    for mine, theirs in zip(got["sets"], stored["sets"], strict=True):
        for member, value in ADDED_INFO.items():  # what later revisions added, as a set without it has it
            assert mine["info"].pop(member) == value, (theirs["info"]["name"], member)
        assert mine == theirs, theirs["info"]["name"]
    assert got["annotation_counts"] == stored["annotation_counts"]
    with store.engine.connect() as conn:  # every row of every table, in the columns it had then
        for table, recorded in stored["tables"].items():
            assert table_digest(conn, table, recorded["columns"]) == recorded, table
    assert got["users"] == upgraded["users"]  # backfilled from the history when the schema had none
    assert got["users"]["changes_not_pointing_at_their_who"] == 0
    assert {t: d["columns"] for t, d in got["tables"].items()} == {
        t: sorted(d["columns"] + ADDED_COLUMNS.get(t, [])) for t, d in upgraded["tables"].items()
    }


def assert_writes_work(store: Store) -> None:
    """An upgraded store takes every kind of write and keeps its history going."""
    slides = {s["key"]: s["id"] for s in plain(summarize(store))["slides"]}
    camelyon = store.list_sets(slides["camelyon16/tumor_111.tif"])[0]
    first = store.state(camelyon.id).annotations[0]
    moved = Annotation(
        first.annotation.name,
        first.annotation.type,
        first.annotation.group,
        first.annotation.color,
        [(x + 1, y + 1) for x, y in first.annotation.coordinates],
    )
    result = store.update_annotation(camelyon.id, first.id, moved, "newcomer", if_version=first.version)
    assert result.info.version == camelyon.version + 1
    assert store.history(camelyon.id)[0].who == "newcomer"
    group = store.create_group(camelyon.id, Group("after the upgrade"), "newcomer")
    assert group.info.version == camelyon.version + 2
    assert store.restore(camelyon.id, camelyon.version, "newcomer").info.version == camelyon.version + 3
    assert store.state(camelyon.id).to_model() == store.state(camelyon.id, camelyon.version).to_model()
    empty = slides["empty.svs"]
    assert store.first_set_state(empty) is None
    made = store.replace_first_set(
        empty, AnnotationSet([Annotation("dot", "Dot", None, coordinates=[(1, 2)])]), "newcomer", if_version=0
    )
    assert made.info.version == 1 and made.change is not None and made.change.created == 1
    users = plain(summarize(store))["users"]
    assert "newcomer" in users["names"] and users["changes_not_pointing_at_their_who"] == 0


def fresh_schema(url: str) -> dict[str, Any]:
    """The schema of a database the store creates at *url*."""
    store = Store(url)
    try:
        return schema_of(store.engine)
    finally:
        store.close()


def alembic_versions(store: Store) -> list[str]:
    import sqlalchemy as sa

    with store.engine.connect() as conn:
        return [r[0] for r in conn.execute(sa.text("SELECT version_num FROM alembic_version"))]


def legacy_versions(store: Store) -> list[tuple[int, str]]:
    import sqlalchemy as sa

    with store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT version, description FROM wsi_schema_version ORDER BY version"))
        return [(int(v), str(d)) for v, d in rows]


# --------------------------------------------------------------------------------------------------
# Upgrades in place


@pytest.mark.parametrize("name", SQLITE_FIXTURES)
def test_a_sqlite_database_of_the_in_house_runner_upgrades_in_place(name: str, tmp_path: Path) -> None:
    entry = EXPECTED["fixtures"][name]
    url = sqlite_copy(name, tmp_path)
    store = Store(url)
    try:
        assert store.schema_version == SCHEMA_VERSION
        assert alembic_versions(store) == [HEAD]
        old_runner = legacy_versions(store)  # left as it was: the record of how the database began
        assert [v for v, _ in old_runner] == list(range(1, entry["schema_version"] + 1))
        assert_content_is_what_the_old_code_read(store, entry)
        assert schema_of(store.engine) == fresh_schema(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
        assert_writes_work(store)
    finally:
        store.close()
    again = Store(url)  # the next start finds it at the newest revision and changes nothing
    try:
        assert alembic_versions(again) == [HEAD] and again.schema_version == SCHEMA_VERSION
    finally:
        again.close()


@pytest.mark.parametrize("engine", PG_ONLY)
def test_the_postgresql_dump_of_the_in_house_runner_upgrades_in_place(engine: str) -> None:
    entry = EXPECTED["fixtures"][PG_DUMP]
    with pg_dump_loaded() as url:
        store = Store(url)
        try:
            assert alembic_versions(store) == [HEAD]
            assert [v for v, _ in legacy_versions(store)] == [1, 2, 3]
            assert_content_is_what_the_old_code_read(store, entry)
            assert_writes_work(store)
        finally:
            store.close()


@pytest.mark.parametrize("engine", ENGINES)
def test_fresh_and_upgraded_databases_have_the_runners_schema_and_the_runtime_tables(
    engine: str, tmp_path: Path
) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from viewer.store.migrate import script_directory
    from viewer.store.schema import metadata

    assert script_directory().get_current_head() == HEAD  # SCHEMA_VERSION names the newest script
    with database_setting(engine, tmp_path) as setting:
        fresh = Store(database_url(setting, tmp_path))
        try:
            with fresh.engine.connect() as conn:  # the revisions build what the runtime queries
                assert compare_metadata(MigrationContext.configure(conn), metadata) == []
            if engine == "sqlite":
                old = Store(sqlite_copy("sqlite-schema-3.sqlite3", tmp_path))
                upgraded = Store(sqlite_copy("sqlite-schema-1.sqlite3", tmp_path / "one"))
                try:
                    assert schema_of(fresh.engine) == schema_of(old.engine) == schema_of(upgraded.engine)
                finally:
                    old.close()
                    upgraded.close()
            else:
                with pg_dump_loaded() as url:
                    old = Store(url)
                    try:
                        assert schema_of(fresh.engine) == schema_of(old.engine)
                    finally:
                        old.close()
        finally:
            fresh.close()


def test_target_version_stops_early_and_later_starts_go_on(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.sqlite3'}"
    for version in range(1, SCHEMA_VERSION + 1):
        store = Store(url, target_version=version)
        try:
            assert store.schema_version == version and alembic_versions(store) == [f"{version:04d}"]
            slide = store.open_slide(f"s{version}.svs")
            store.create_set(
                slide, "x", f"user{version}", AnnotationSet([Annotation("a", "Dot", coordinates=[(0, 0)])])
            )
        finally:
            store.close()
    store = Store(url)
    try:
        users = plain(summarize(store))["users"]
        everyone = [f"user{v}" for v in range(1, SCHEMA_VERSION + 1)]
        assert users == {"names": everyone, "changes_not_pointing_at_their_who": 0}
    finally:
        store.close()


def sqlite_columns(url: str, table: str) -> list[str]:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]


def test_an_old_database_gains_the_sidecar_warnings_column_filled_at_the_next_import(tmp_path: Path) -> None:
    old = sqlite_copy("sqlite-schema-3.sqlite3", tmp_path / "old")
    assert "sidecar_warnings" not in sqlite_columns(old, "annotation_sets")
    Store(old).close()
    # 0004, then 0007's
    assert sqlite_columns(old, "annotation_sets")[-3:] == ["sidecar_warnings", "owner_id", "sharing"]
    # a sidecar imported before the column existed: no warnings kept, until it is read again
    root = tmp_path / "slides"
    root.mkdir()
    (root / "case.tif").write_bytes(b"not a slide")
    sidecar = root / "case.xml"
    sidecar.write_bytes(STRAY_XML.read_bytes())
    url = f"sqlite:///{tmp_path / 'at3.sqlite3'}"
    store = Store(url, target_version=3, slide_root=root)
    try:
        (info,) = store.list_sets(store.open_slide("case.tif", root / "case.tif", None))
        assert info.sidecar_warnings == []
        assert "sidecar_warnings" not in sqlite_columns(url, "annotation_sets")
    finally:
        store.close()
    from viewer.annotations.asap import read_asap

    expected_warnings: list[str] = []
    read_asap(STRAY_XML, warnings=expected_warnings)
    assert len(expected_warnings) == 2
    store = Store(url, slide_root=root)
    try:
        assert store.set_info(info.id).sidecar_warnings == []
        stamp = sidecar.stat().st_mtime_ns + 1_000_000_000
        os.utime(sidecar, ns=(stamp, stamp))  # touched, not changed: read again, no new change
        again = store.set_info(info.id)
        assert again.sidecar_warnings == expected_warnings and again.version == info.version
    finally:
        store.close()


# --------------------------------------------------------------------------------------------------
# Concurrent starts, newer databases

STARTER = """
import logging, os, sys, time
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s %(message)s")
from viewer.store import Store
print("ready", flush=True)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.002)
store = Store(sys.argv[1])
print(store.schema_version, flush=True)
store.close()
"""


def start_together(url: str, go: Path, count: int = 4) -> list[str]:
    """*count* processes opening a store on *url* at the same moment; their logs (stderr)."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", STARTER, url, str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(count)
    ]
    try:
        for p in procs:
            assert p.stdout is not None and p.stdout.readline() == "ready\n"
        go.touch()
        logs = []
        for p in procs:
            out, err = p.communicate(timeout=60)
            assert p.returncode == 0, err
            assert out.strip() == str(SCHEMA_VERSION)
            logs.append(err)
        return logs
    finally:
        for p in procs:
            p.kill()
            p.wait()


def ran(logs: list[str], step: str) -> int:
    return sum(log.count(step) for log in logs)


def test_concurrent_starts_upgrade_a_sqlite_database_once(tmp_path: Path) -> None:
    url = sqlite_copy("sqlite-schema-1.sqlite3", tmp_path)
    logs = start_together(url, tmp_path / "go")
    assert ran(logs, "Running stamp_revision  -> 0001") == 1
    assert ran(logs, "Running upgrade 0001 -> 0002") == 1 and ran(logs, "Running upgrade 0002 -> 0003") == 1
    store = Store(url)
    try:
        assert alembic_versions(store) == [HEAD]
        assert_content_is_what_the_old_code_read(store, EXPECTED["fixtures"]["sqlite-schema-1.sqlite3"])
    finally:
        store.close()


@pytest.mark.parametrize("engine", PG_ONLY)
def test_concurrent_starts_on_postgresql_upgrade_once(engine: str, tmp_path: Path) -> None:
    with database_setting("postgresql", tmp_path) as setting:
        url = database_url(setting, tmp_path)
        old = Store(url, target_version=1)
        set_id = old.create_set(
            old.open_slide("a.svs"),
            "x",
            "alice",
            AnnotationSet([Annotation("a", "Dot", coordinates=[(1, 1)])]),
        ).info.id
        old.close()
        logs = start_together(url, tmp_path / "go")
        assert (
            ran(logs, "Running upgrade 0001 -> 0002") == 1 and ran(logs, "Running upgrade 0002 -> 0003") == 1
        )
        store = Store(url)
        try:
            assert alembic_versions(store) == [HEAD]
            assert [c.who for c in store.history(set_id)] == ["alice"]
            assert plain(summarize(store))["users"]["names"] == ["alice"]  # backfilled once
        finally:
            store.close()
    with pg_dump_loaded() as url:  # the in-house runner's database: stamped once
        logs = start_together(url, tmp_path / "go2")
        assert ran(logs, "Running stamp_revision  -> 0003") == 1
        store = Store(url)
        try:
            assert alembic_versions(store) == [HEAD]
        finally:
            store.close()


@pytest.mark.parametrize("engine", ENGINES)
def test_a_database_newer_than_the_code_is_refused_and_left_alone(engine: str, tmp_path: Path) -> None:
    import sqlalchemy as sa

    with database_setting(engine, tmp_path) as setting:
        url = database_url(setting, tmp_path)
        Store(url).close()
        engine_ = sa.create_engine(url)
        with engine_.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = '0009'"))
        with pytest.raises(SchemaTooNewError) as refused:
            Store(url)
        assert "0009" in refused.value.message and HEAD in refused.value.message
        with engine_.connect() as conn:
            assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == "0009"
        engine_.dispose()
    legacy = sqlite_copy("sqlite-schema-2.sqlite3", tmp_path)  # the old runner's table: one past ours
    with sqlite3.connect(legacy[len("sqlite:///") :]) as con:
        con.execute("INSERT INTO wsi_schema_version VALUES (?, 'from the future', '2030-01-01T00:00:00Z')",
                    (SCHEMA_VERSION + 1,))
    with pytest.raises(SchemaTooNewError):
        Store(legacy)


# --------------------------------------------------------------------------------------------------
# wsi-viewer db


def db(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(["db", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_db_current_and_upgrade_on_sqlite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    status, out, _ = db(capsys, "current", "--data-dir", str(data))
    assert status == 0 and "no database yet" in out and HEAD in out
    assert not (data / "annotations.sqlite3").exists()  # looking did not create it
    data.mkdir()
    shutil.copyfile(FIXTURES / "sqlite-schema-1.sqlite3", data / "annotations.sqlite3")
    status, out, _ = db(capsys, "current", "--data-dir", str(data))
    assert status == 0 and out.splitlines() == [
        f"database: sqlite:///{data / 'annotations.sqlite3'}",
        "revision 0001 (schema version 1 of the in-house runner, not yet stamped for Alembic);"
        f" the newest is {HEAD}",
    ]
    status, out, _ = db(capsys, "upgrade", "--data-dir", str(data))
    assert status == 0 and out.splitlines()[1] == (
        "upgraded schema version 1 of the in-house runner (stamped as revision 0001)"
        f" to revision {HEAD} (head)"
    )
    assert db(capsys, "current", "--data-dir", str(data))[1].splitlines()[1] == f"revision {HEAD} (head)"
    assert (
        db(capsys, "upgrade", "--data-dir", str(data))[1].splitlines()[1]
        == f"nothing to do: revision {HEAD} (head)"
    )
    store = Store(f"sqlite:///{data / 'annotations.sqlite3'}")
    try:
        assert_content_is_what_the_old_code_read(store, EXPECTED["fixtures"]["sqlite-schema-1.sqlite3"])
    finally:
        store.close()
    status, _, err = db(capsys, "upgrade", "--from", "0002", "--data-dir", str(data))
    assert status == 2 and err.startswith("wsi-viewer db: error: --from goes with --sql")


def test_db_upgrade_sql_on_sqlite_is_the_upgrade_a_start_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    database = data / "annotations.sqlite3"
    shutil.copyfile(FIXTURES / "sqlite-schema-2.sqlite3", database)
    before = database.read_bytes()
    status, script, _ = db(capsys, "upgrade", "--sql", "--data-dir", str(data))
    assert status == 0 and database.read_bytes() == before  # printed, not run
    assert script.startswith(f"-- wsi-viewer db upgrade --sql: from revision 0002 to revision {HEAD}\n")
    assert "BEGIN;" in script and "DROP INDEX ix_annotations_bbox;" in script and "COMMIT;" in script
    assert "CREATE TABLE users" not in script  # revision 0002 is behind it
    with sqlite3.connect(database) as con:
        con.executescript(script)
    store = Store(f"sqlite:///{database}")
    try:
        assert alembic_versions(store) == [HEAD]
        assert_content_is_what_the_old_code_read(store, EXPECTED["fixtures"]["sqlite-schema-2.sqlite3"])
        assert schema_of(store.engine) == fresh_schema(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    finally:
        store.close()
    assert db(capsys, "upgrade", "--sql", "--data-dir", str(data))[1] == (
        f"-- the database is at revision {HEAD}, the newest: nothing to do\n"
    )
    status, _, err = db(capsys, "upgrade", "--sql", "--from", "0042", "--data-dir", str(data))
    assert status == 2 and "no schema revision '0042'" in err


@pytest.mark.parametrize("engine", PG_ONLY)
def test_db_upgrade_sql_on_postgresql(
    engine: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with database_setting("postgresql", tmp_path) as setting:  # an empty database, from base
        status, script, _ = db(capsys, "upgrade", "--sql", "--from", "base", "--database", setting)
        assert status == 0 and script.splitlines()[1:4] == [
            "BEGIN;",
            "",
            "SELECT pg_advisory_xact_lock(715517);",
        ]
        assert "CREATE TABLE slides" in script and script.rstrip().endswith("COMMIT;")
        status, out, _ = db(capsys, "current", "--database", setting)
        assert out.splitlines()[1].startswith("no schema yet")  # nothing ran
        with psycopg.connect(setting, autocommit=True) as conn:
            conn.execute(script)
        assert db(capsys, "current", "--database", setting)[1].splitlines()[1] == f"revision {HEAD} (head)"
        with database_setting("postgresql", tmp_path) as other:
            assert fresh_schema(database_url(setting, tmp_path)) == fresh_schema(
                database_url(other, tmp_path)
            )
    with pg_dump_loaded() as url:  # the in-house runner's database: read, and stamped by the script
        setting = url.replace("postgresql+psycopg://", "postgresql://")
        status, script, _ = db(capsys, "upgrade", "--sql", "--database", setting)
        # stamped at the runner's last version (0003), then upgraded by the revisions since
        assert script.startswith(f"-- wsi-viewer db upgrade --sql: from revision 0003 to revision {HEAD}\n")
        with psycopg.connect(setting, autocommit=True) as conn:
            conn.execute(script)
        stale = db(capsys, "upgrade", "--sql", "--from", "0002", "--database", setting)[1]
        with (
            psycopg.connect(setting, autocommit=True) as conn,
            pytest.raises(psycopg.errors.RaiseException) as no,
        ):
            conn.execute(stale)
        assert "the database is not at revision 0002" in str(no.value)  # the script's own guard
        store = Store(url)
        try:
            assert alembic_versions(store) == [HEAD]
            assert_content_is_what_the_old_code_read(store, EXPECTED["fixtures"][PG_DUMP])
        finally:
            store.close()


def test_db_refuses_a_newer_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    Store(database_url("", data)).close()
    with sqlite3.connect(data / "annotations.sqlite3") as con:
        con.execute("UPDATE alembic_version SET version_num = '0099'")
    status, out, _ = db(capsys, "current", "--data-dir", str(data))
    assert status == 2 and "revision 0099, unknown to this wsi-viewer" in out
    status, _, err = db(capsys, "upgrade", "--data-dir", str(data))
    assert status == 2 and len(err.splitlines()) == 1 and "newer than this wsi-viewer knows" in err
    with sqlite3.connect(data / "annotations.sqlite3") as con:
        assert con.execute("SELECT version_num FROM alembic_version").fetchall() == [("0099",)]
