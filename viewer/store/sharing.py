"""Who owns each annotation set and who else reads and edits it (revision 0007): the rows only; the
decisions are :mod:`viewer.auth.permissions`'. A set without an owner (made before, or under
AUTH=none) has sharing ``edit``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from viewer.errors import NotFoundError, ValidationError
from viewer.store.engine import Database
from viewer.store.names import clean_who
from viewer.store.schema import set_editors, sets, slides, users
from viewer.store.writes import Writer

Sharing = Literal["private", "read", "edit"]
SHARINGS: tuple[Sharing, ...] = get_args(Sharing)
#: Most users one set may grant editing to.
MAX_EDITORS = 200

_owner = users.alias("owner")
_ACCESS = (
    sa.select(sets.c.id, sets.c.owner_id, sets.c.sharing, _owner.c.name.label("owner_name"))
    .select_from(sets.outerjoin(_owner, _owner.c.id == sets.c.owner_id))
)
_EDITORS = (
    sa.select(set_editors.c.set_id, users.c.id, users.c.name)
    .select_from(set_editors.join(users, users.c.id == set_editors.c.user_id))
    .order_by(users.c.name)
)


@dataclass(frozen=True)
class SetAccess:
    """A set's owner (``users.id`` and name; None: nobody), its sharing and its granted editors."""

    set_id: int
    owner_id: int | None
    owner: str | None
    sharing: Sharing
    editors: tuple[str, ...] = ()
    editor_ids: frozenset[int] = frozenset()


def check_sharing(value: object) -> Sharing:
    """:raises ValidationError: *value* is not one of :data:`SHARINGS`."""
    if value not in SHARINGS:
        raise ValidationError(f"sharing must be one of {', '.join(SHARINGS)}, got {value!r}")
    return value


def _accesses(conn: Connection, set_ids: Sequence[int]) -> dict[int, SetAccess]:
    found: dict[int, SetAccess] = {}
    granted: dict[int, list[tuple[int, str]]] = {}
    for start in range(0, len(set_ids), 500):
        chunk = list(set_ids[start : start + 500])
        for e in conn.execute(_EDITORS.where(set_editors.c.set_id.in_(chunk))):
            granted.setdefault(int(e.set_id), []).append((int(e.id), str(e.name)))
        for r in conn.execute(_ACCESS.where(sets.c.id.in_(chunk))):
            editors = granted.get(int(r.id), [])
            found[int(r.id)] = SetAccess(
                int(r.id),
                r.owner_id,
                r.owner_name,
                check_sharing(r.sharing),
                tuple(name for _i, name in editors),
                frozenset(i for i, _n in editors),
            )
    return found


class SetSharing:
    """The store's statements on sets' owners, sharing and editors (mixed into the façade)."""

    _db: Database
    _writer: Writer

    def set_access(self, set_id: int) -> SetAccess:
        """:raises NotFoundError: no such set."""
        found = self.set_accesses([set_id]).get(set_id)
        if found is None:
            raise NotFoundError("no such annotation set")
        return found

    def set_accesses(self, set_ids: Iterable[int]) -> dict[int, SetAccess]:
        """set id -> its access, for those of *set_ids* that exist."""
        with self._db.read() as conn:
            return _accesses(conn, list(set_ids))

    def claim_set(self, set_id: int, owner_id: int, sharing: Sharing) -> SetAccess:
        """Make *owner_id* the owner of a set (just made by them) with *sharing*."""
        check_sharing(sharing)
        with self._db.write() as conn:
            done = conn.execute(
                sets.update().where(sets.c.id == set_id).values(owner_id=owner_id, sharing=sharing)
            )
            if not done.rowcount:
                raise NotFoundError("no such annotation set")
            return _accesses(conn, [set_id])[set_id]

    def share_set(
        self,
        set_id: int,
        sharing: Sharing | None = None,
        editors: Sequence[str] | None = None,
        who: str | None = None,
    ) -> SetAccess:
        """Change a set's sharing and/or its granted editors (the list replaces the old one); with
        *who*, the history keeps it as a change without objects (kind ``sharing``), as a rename.

        :raises ValidationError: a bad sharing, or an editor who has no account.
        :raises NotFoundError: no such set.
        """
        if sharing is not None:
            check_sharing(sharing)
        with self._db.write() as conn:
            info = self._writer.info(conn, set_id, lock=True)  # NotFoundError; writers of the set queue
            if sharing is not None:
                conn.execute(sets.update().where(sets.c.id == set_id).values(sharing=sharing))
            if editors is not None:
                ids = self._account_ids(conn, editors)
                conn.execute(set_editors.delete().where(set_editors.c.set_id == set_id))
                if ids:
                    conn.execute(set_editors.insert(), [{"set_id": set_id, "user_id": i} for i in ids])
            now = _accesses(conn, [set_id])[set_id]
            if who is not None:
                message = f"sharing {now.sharing!r}, editors: {', '.join(now.editors) or 'none'}"
                self._writer.commit(conn, info, [], clean_who(who), "sharing", message, allow_empty=True)
            return now

    def unreadable_counts(self, keys: Iterable[str], user_id: int | None) -> dict[str, tuple[int, int]]:
        """slide key -> (sets, annotations) of its private sets that *user_id* neither owns nor edits
        (what a non-admin may not read: :func:`viewer.auth.permissions.can_read_set`)."""
        wanted = set(keys)
        if not wanted:
            return {}
        granted = sa.select(set_editors.c.set_id).where(set_editors.c.user_id == user_id)
        q = (
            sa.select(slides.c.key, sa.func.count(), sa.func.sum(sets.c.annotation_count))
            .select_from(sets.join(slides, slides.c.id == sets.c.slide_id))
            .where(sets.c.sharing == "private", sets.c.id.not_in(granted))
            .where(sa.or_(sets.c.owner_id.is_(None), sets.c.owner_id != user_id) if user_id else sa.true())
            .group_by(slides.c.key)
        )
        with self._db.read() as conn:
            return {str(k): (int(n), int(a or 0)) for k, n, a in conn.execute(q) if k in wanted}

    @staticmethod
    def _account_ids(conn: Connection, names: Sequence[str]) -> list[int]:
        wanted = sorted(set(names))
        if len(wanted) > MAX_EDITORS:
            raise ValidationError(f"a set grants editing to at most {MAX_EDITORS} users")
        if not wanted:
            return []
        rows = conn.execute(
            sa.select(users.c.id, users.c.name).where(users.c.name.in_(wanted), users.c.role.is_not(None))
        )
        found = {str(r.name): int(r.id) for r in rows}
        missing = [n for n in wanted if n not in found]
        if missing:
            raise ValidationError(f"no user account named {', '.join(map(repr, missing))}")
        return sorted(found.values())
