"""The slides the store knows: one row per library slide, found by its key (its path under the slide
root) or, when it was renamed or moved on disk, by its quickhash; made on first use.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from viewer.errors import NotFoundError
from viewer.store.names import now
from viewer.store.schema import sets, slides

_BY_KEY = sa.select(slides.c.id, slides.c.quickhash).where(slides.c.key == sa.bindparam("b_key"))
_BY_QUICKHASH = (
    sa.select(slides.c.id, slides.c.key)
    .where(slides.c.quickhash == sa.bindparam("b_hash"))
    .order_by(slides.c.id)
)
_LOCK = sa.select(slides.c.id).where(slides.c.id == sa.bindparam("b_slide"))
_COUNTS = (
    sa.select(slides.c.key, sa.func.coalesce(sa.func.sum(sets.c.annotation_count), 0))
    .select_from(slides.outerjoin(sets, sets.c.slide_id == slides.c.id))
    .group_by(slides.c.key)
)
_SET_COUNTS = (
    sa.select(slides.c.key, sa.func.count(sets.c.id))
    .select_from(slides.outerjoin(sets, sets.c.slide_id == slides.c.id))
    .group_by(slides.c.key)
)


def by_key(conn: Connection, key: str) -> Any:
    """The slide's row (id, quickhash), or None."""
    return conn.execute(_BY_KEY, {"b_key": key}).first()


def find_or_insert(
    conn: Connection,
    key: str,
    quickhash: str | None,
    known_keys: Iterable[str] | None,
    sidecar_error: str | None,
) -> tuple[int, bool]:
    """The id of slide *key* and whether it was created now (in a write transaction).

    A slide seen before under another key with the same *quickhash*, whose old key is not in
    *known_keys* (it was renamed or moved), takes the new key and keeps its annotations.

    :raises sqlalchemy.exc.IntegrityError: another writer created the key meanwhile.
    """
    found = by_key(conn, key)
    if found is not None:
        return int(found.id), False
    if quickhash and known_keys is not None:
        known = set(known_keys)
        for moved in conn.execute(_BY_QUICKHASH, {"b_hash": quickhash}):
            if moved.key not in known:
                conn.execute(slides.update().where(slides.c.id == moved.id).values(key=key))
                return int(moved.id), False
    inserted = conn.execute(
        slides.insert().values(key=key, quickhash=quickhash, created_at=now(), sidecar_error=sidecar_error)
    )
    return int(inserted.inserted_primary_key[0]), True  # type: ignore[index]


def set_quickhash(conn: Connection, slide_id: int, quickhash: str) -> None:
    """Record the slide's current quickhash (the file changed, or it was not known)."""
    conn.execute(slides.update().where(slides.c.id == slide_id).values(quickhash=quickhash))


def lock(conn: Connection, slide_id: int, is_sqlite: bool) -> None:
    """Lock the slide's row until the transaction ends (PostgreSQL; on SQLite the write transaction
    is the lock), so that the sets of one slide are created one at a time.

    :raises NotFoundError: no such slide.
    """
    statement = _LOCK if is_sqlite else _LOCK.with_for_update()
    if conn.execute(statement, {"b_slide": slide_id}).first() is None:
        raise NotFoundError("no such slide in the annotation store")


def sidecar_error(conn: Connection, slide_id: int) -> str | None:
    """Why the slide's sidecar was not imported at first use, if it was not."""
    error: str | None = conn.execute(
        sa.select(slides.c.sidecar_error).where(slides.c.id == slide_id)
    ).scalar()
    return error


def annotation_counts(conn: Connection, keys: Iterable[str]) -> dict[str, int]:
    """Annotations over every set of each slide in *keys* (slides never used are absent)."""
    wanted = set(keys)
    if not wanted:
        return {}
    return {k: int(n) for k, n in conn.execute(_COUNTS) if k in wanted}


def set_counts(conn: Connection, keys: Iterable[str]) -> dict[str, int]:
    """Annotation sets of each slide in *keys* (slides never used are absent)."""
    wanted = set(keys)
    if not wanted:
        return {}
    return {k: int(n) for k, n in conn.execute(_SET_COUNTS) if k in wanted}
