"""The rows of accounts (``viewer/auth``): users with a role and a password hash, sessions, API
tokens and login failures. SQL only: hashing, secrets and rules live in :mod:`viewer.auth`.

A user row without a role is an author of the history (revision 0002 backfilled them) and no
account: it cannot log in, and adding an account of that name turns the row into one (the history
stays linked). Removing an account keeps the row (the history points at it) without role and hash,
and ends its sessions and tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from viewer.errors import ConflictError, NotFoundError
from viewer.store.engine import Database
from viewer.store.names import now
from viewer.store.schema import api_tokens, login_failures, sessions, users


@dataclass(frozen=True)
class UserRow:
    id: int
    name: str
    role: str | None
    password_hash: str | None
    disabled: bool


@dataclass(frozen=True)
class SessionRow:
    id: int
    user_id: int | None
    csrf_token: str
    expires_at: float


@dataclass(frozen=True)
class TokenRow:
    id: int
    user_id: int
    label: str
    created_at: float
    revoked_at: float | None


_USER_COLUMNS = (users.c.id, users.c.name, users.c.role, users.c.password_hash, users.c.disabled)


def _user(row: Any) -> UserRow | None:
    if row is None:
        return None
    return UserRow(int(row.id), str(row.name), row.role, row.password_hash, bool(row.disabled))


class AccountRows:
    """Account statements over one store's database (its engine and SQLite writers' queue)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- users ------------------------------------------------------------------------------------

    def user(self, name: str) -> UserRow | None:
        with self._db.read() as conn:
            return _user(conn.execute(sa.select(*_USER_COLUMNS).where(users.c.name == name)).first())

    def user_by_id(self, user_id: int) -> UserRow | None:
        with self._db.read() as conn:
            return _user(conn.execute(sa.select(*_USER_COLUMNS).where(users.c.id == user_id)).first())

    def accounts(self) -> list[UserRow]:
        with self._db.read() as conn:
            rows = conn.execute(
                sa.select(*_USER_COLUMNS).where(users.c.role.is_not(None)).order_by(users.c.name)
            )
            return [u for u in map(_user, rows) if u is not None]

    def add(self, name: str, role: str, password_hash: str | None) -> UserRow:
        """A new account, or the history author *name* made one. :raises ConflictError: an account
        of that name exists."""
        with self._db.write() as conn:
            found = _user(conn.execute(sa.select(*_USER_COLUMNS).where(users.c.name == name)).first())
            values = {"role": role, "password_hash": password_hash, "disabled": False}
            if found is None:
                new_id = conn.execute(
                    users.insert().values(name=name, created_at=now(), **values)
                ).inserted_primary_key
                user_id = int(new_id[0])  # type: ignore[index]
            elif found.role is not None:
                raise ConflictError(f"user {name!r} exists already")
            else:
                conn.execute(users.update().where(users.c.id == found.id).values(**values))
                user_id = found.id
        return UserRow(user_id, name, role, password_hash, False)

    def ensure(self, name: str, role: str) -> UserRow:
        """The account *name*, made with *role* if there is none (users a proxy names)."""
        found = self.user(name)
        if found is not None and found.role is not None:
            return found
        try:
            return self.add(name, role, None)
        except ConflictError:  # another worker made it meanwhile
            again = self.user(name)
            assert again is not None
            return again

    def update(self, name: str, **values: object) -> UserRow:
        """Set columns of the account *name*. :raises NotFoundError: no such account."""
        with self._db.write() as conn:
            result = conn.execute(
                users.update().where(users.c.name == name, users.c.role.is_not(None)).values(**values)
            )
            if result.rowcount != 1:
                raise NotFoundError(f"no user {name!r}")
        found = self.user(name)
        assert found is not None
        return found

    def remove(self, name: str) -> None:
        """The account *name* gone (its row stays an author of the history); its sessions and tokens
        end. :raises NotFoundError: no such account."""
        with self._db.write() as conn:
            found = _user(conn.execute(sa.select(*_USER_COLUMNS).where(users.c.name == name)).first())
            if found is None or found.role is None:
                raise NotFoundError(f"no user {name!r}")
            conn.execute(sessions.delete().where(sessions.c.user_id == found.id))
            conn.execute(
                api_tokens.update()
                .where(api_tokens.c.user_id == found.id, api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=_clock())
            )
            conn.execute(users.update().where(users.c.id == found.id).values(role=None, password_hash=None))

    # -- login failures ---------------------------------------------------------------------------

    def failures(self, name: str, address: str, since: float) -> tuple[int, float | None]:
        """(how many, the oldest time) of the failures of *name* from *address* after *since*."""
        c = login_failures.c
        with self._db.read() as conn:
            row = conn.execute(
                sa.select(sa.func.count(), sa.func.min(c.at)).where(
                    c.name == name, c.address == address, c.at > since
                )
            ).one()
        return int(row[0]), (float(row[1]) if row[1] is not None else None)

    def add_failure(self, name: str, address: str, at: float, prune_before: float) -> None:
        with self._db.write() as conn:
            conn.execute(login_failures.delete().where(login_failures.c.at <= prune_before))
            conn.execute(login_failures.insert().values(name=name, address=address, at=at))

    def clear_failures(self, name: str, address: str) -> None:
        c = login_failures.c
        with self._db.write() as conn:
            conn.execute(login_failures.delete().where(c.name == name, c.address == address))

    # -- sessions ---------------------------------------------------------------------------------

    def add_session(
        self, secret_sha256: str, user_id: int | None, csrf_token: str, expires_at: float
    ) -> None:
        at = _clock()
        with self._db.write() as conn:
            conn.execute(sessions.delete().where(sessions.c.expires_at <= at))
            conn.execute(
                sessions.insert().values(
                    secret_sha256=secret_sha256,
                    user_id=user_id,
                    csrf_token=csrf_token,
                    created_at=at,
                    expires_at=expires_at,
                )
            )

    def session(self, secret_sha256: str, at: float) -> tuple[SessionRow, UserRow | None] | None:
        """The live session of that secret and its user (None for a pre-session)."""
        s = sessions.c
        query = (
            sa.select(s.id, s.user_id, s.csrf_token, s.expires_at, *_USER_COLUMNS)
            .select_from(sessions.outerjoin(users, users.c.id == s.user_id))
            .where(s.secret_sha256 == secret_sha256, s.expires_at > at)
        )
        with self._db.read() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        found = SessionRow(int(row[0]), row[1], str(row[2]), float(row[3]))
        user = UserRow(int(row[4]), str(row[5]), row[6], row[7], bool(row[8])) if row[1] is not None else None
        return found, user

    def end_session(self, secret_sha256: str) -> None:
        with self._db.write() as conn:
            conn.execute(sessions.delete().where(sessions.c.secret_sha256 == secret_sha256))

    # -- API tokens -------------------------------------------------------------------------------

    def add_token(self, secret_sha256: str, user_id: int, label: str) -> int:
        with self._db.write() as conn:
            key = conn.execute(
                api_tokens.insert().values(
                    secret_sha256=secret_sha256,
                    user_id=user_id,
                    label=label,
                    created_at=_clock(),
                )
            ).inserted_primary_key
        return int(key[0])  # type: ignore[index]

    def token_user(self, secret_sha256: str) -> UserRow | None:
        t = api_tokens.c
        query = (
            sa.select(*_USER_COLUMNS)
            .select_from(api_tokens.join(users, users.c.id == t.user_id))
            .where(t.secret_sha256 == secret_sha256, t.revoked_at.is_(None))
        )
        with self._db.read() as conn:
            return _user(conn.execute(query).first())

    def revoke_token(self, token_id: int) -> None:
        """:raises NotFoundError: no such token in use."""
        t = api_tokens.c
        with self._db.write() as conn:
            result = conn.execute(
                api_tokens.update()
                .where(t.id == token_id, t.revoked_at.is_(None))
                .values(revoked_at=_clock())
            )
            if result.rowcount != 1:
                raise NotFoundError(f"no API token {token_id} in use")

    def tokens(self, user_id: int) -> list[TokenRow]:
        t = api_tokens.c
        with self._db.read() as conn:
            rows = conn.execute(
                sa.select(t.id, t.user_id, t.label, t.created_at, t.revoked_at)
                .where(t.user_id == user_id)
                .order_by(t.id)
            )
            return [TokenRow(int(r[0]), int(r[1]), str(r[2]), float(r[3]), r[4]) for r in rows]


def _clock() -> float:
    import time

    return time.time()
