"""What a store holds, as plain JSON: the oracle of the upgrade fixtures in ``tests/data/store``.

:func:`summarize` is run twice on the same database: by ``tests/data/store/make_fixtures.py`` with
the store code that wrote the fixture (recorded in ``expected.json``), and by the upgrade tests with
today's code after it upgraded a copy. It reads through the store's public methods (what callers
get: sets, history, every version's state and change, viewport queries) and, underneath, every row
of every table (so a row kept by the API but damaged on disk is noticed too). It imports nothing from
``viewer``: either generation of the code can be handed to it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

#: The tables of the schema and their primary keys (row order of the table hashes).
TABLES = ("slides", "annotation_sets", "annotation_groups", "annotations", "users", "changes", "change_items")
#: Columns not compared: when the users table is backfilled by an upgrade, its rows are dated by it.
UNCOMPARED = {("users", "created_at")}
#: Viewport boxes (slide space x0, y0, x1, y1) whose answers are recorded.
BOXES = ((0.0, 0.0, 1e9, 1e9), (40000.0, 100000.0, 60000.0, 140000.0), (-10.0, -10.0, -1.0, -1.0))


def digest(value: Any) -> str:
    """sha256 of the canonical JSON of *value*."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _plain(record: Any) -> Any:
    return dataclasses.asdict(record) if dataclasses.is_dataclass(record) else record


def table_rows(store: Any) -> dict[str, dict[str, Any]]:
    """Per table: its columns (sorted), row count and a hash of every row in id order."""
    import sqlalchemy as sa

    out: dict[str, dict[str, Any]] = {}
    with store.engine.connect() as conn:
        inspector = sa.inspect(conn)
        for table in TABLES:
            if not inspector.has_table(table):
                continue
            columns = sorted(
                c["name"] for c in inspector.get_columns(table) if (table, c["name"]) not in UNCOMPARED
            )
            out[table] = table_digest(conn, table, columns)
    return out


def table_digest(conn: Any, table: str, columns: list[str]) -> dict[str, Any]:
    """Columns, count and row hash of *table* restricted to *columns* (on an open connection)."""
    import sqlalchemy as sa

    listed = ", ".join(columns)
    rows = [list(r) for r in conn.execute(sa.text(f"SELECT {listed} FROM {table} ORDER BY id"))]
    return {"columns": columns, "rows": len(rows), "sha256": digest(rows)}


def users_of_changes(store: Any) -> dict[str, Any] | None:
    """The users table as names, and whether every change points at the user named by its ``who``
    (None before the schema had users)."""
    import sqlalchemy as sa

    with store.engine.connect() as conn:
        if not sa.inspect(conn).has_table("users"):
            return None
        names = sorted(r[0] for r in conn.execute(sa.text("SELECT name FROM users")))
        mismatched = conn.execute(
            sa.text(
                "SELECT count(*) FROM changes LEFT JOIN users ON users.id = changes.user_id"
                " WHERE users.name IS NULL OR users.name <> changes.who"
            )
        ).scalar_one()
    return {"names": names, "changes_not_pointing_at_their_who": int(mismatched)}


def summarize(store: Any) -> dict[str, Any]:
    """Everything *store* (a ``viewer.store.Store`` of any generation) holds, as JSON."""
    import sqlalchemy as sa

    with store.engine.connect() as conn:
        slides = [
            {"id": r[0], "key": r[1], "quickhash": r[2], "sidecar_error": r[3]}
            for r in conn.execute(sa.text("SELECT id, key, quickhash, sidecar_error FROM slides ORDER BY id"))
        ]
    sets = []
    for slide in slides:
        for info in store.list_sets(slide["id"]):
            sets.append(summarize_set(store, info))
    return {
        "slides": slides,
        "sets": sets,
        "annotation_counts": store.annotation_counts([s["key"] for s in slides]),
        "tables": table_rows(store),
        "users": users_of_changes(store),
    }


def summarize_set(store: Any, info: Any) -> dict[str, Any]:
    """One set: its info, its history, and a hash of its state and change at every version."""
    set_id = info.id
    versions = []
    for version in range(info.version + 1):
        state = store.state(set_id, version)
        entry: dict[str, Any] = {
            "version": version,
            "annotations": len(state.annotations),
            "groups": len(state.groups),
            "state_sha256": digest([_plain(r) for r in [*state.groups, *state.annotations]]),
        }
        if version:
            change, items = store.change(set_id, version)
            entry["change_sha256"] = digest([_plain(change), [_plain(i) for i in items]])
        versions.append(entry)
    queries = []
    for box in BOXES:
        _info, groups, rows = store.query(set_id, box)
        queries.append({"box": list(box), "groups": len(groups), "hits": [list(r) for r in rows]})
    return {
        "info": _plain(info),
        "history": [_plain(c) for c in store.history(set_id, limit=1000)],
        "versions": versions,
        "queries": queries,
    }


# --------------------------------------------------------------------------------------------------
# The fixtures themselves (tests/data/store)

FIXTURES = Path(__file__).parent / "data" / "store"
#: The schema name the PostgreSQL dump was taken in (replaced when it is loaded).
DUMP_SCHEMA = "wsi_store_fixture"
#: Tables of the bookkeeping of schema versions, not of the store's content.
BOOKKEEPING = {"alembic_version", "wsi_schema_version"}


def expected() -> dict[str, Any]:
    """``expected.json``: what the code that wrote each fixture read back from it."""
    loaded: dict[str, Any] = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))
    return loaded


def schema_of(engine: Any) -> dict[str, Any]:
    """The reflected structure of every table but the version bookkeeping: columns in order (name,
    type, nullable), primary key, indexes, unique constraints and foreign keys."""
    import sqlalchemy as sa

    out: dict[str, Any] = {}
    with engine.connect() as conn:
        inspector = sa.inspect(conn)
        for table in sorted(set(inspector.get_table_names()) - BOOKKEEPING):
            out[table] = {
                "columns": [[c["name"], str(c["type"]), c["nullable"]] for c in inspector.get_columns(table)],
                "primary_key": inspector.get_pk_constraint(table)["constrained_columns"],
                "indexes": sorted([i["name"], i["column_names"], bool(i["unique"])]
                                  for i in inspector.get_indexes(table)),
                "unique": sorted(
                    [u["name"] or "", u["column_names"]] for u in inspector.get_unique_constraints(table)
                ),
                "foreign_keys": sorted([f["name"] or "", f["constrained_columns"], f["referred_table"],
                                        f["referred_columns"]] for f in inspector.get_foreign_keys(table)),
            }
    return out
