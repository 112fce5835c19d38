"""Accounts, sessions and API tokens (no Flask here; ``viewer/web/auth.py`` is the web side).

* **Passwords**: Argon2id (``argon2-cffi``'s defaults, RFC 9106's second recommendation), rehashed
  at login when the parameters change. A history author without an account cannot log in.
* **Throttling**: at most ``max_failures`` failed logins per (name, address) within ``window_s``;
  the next attempt, right or wrong, is :class:`~viewer.errors.ThrottledError` until the oldest
  failure leaves the window. Unknown names cost a hash too (no timing oracle for who exists).
* **Sessions**: a random id (``secrets.token_urlsafe(32)``) the browser keeps in a cookie, stored as
  its sha256, with a CSRF token; a login form's *pre-session* has no user (it carries the form's
  CSRF token) and is ended at login, which makes a new session (rotation).
* **API tokens**: ``wsv_`` + 32 random bytes, shown once, stored as sha256, revocable by id.
"""

from __future__ import annotations

import builtins
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, cast, get_args

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from viewer.errors import AuthenticationError, NotFoundError, ThrottledError, ValidationError

if TYPE_CHECKING:
    from viewer.store import Store
    from viewer.store.accounts import UserRow

Role = Literal["viewer", "annotator", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)
TOKEN_PREFIX = "wsv_"
#: A pre-session (the login form's) lasts this long, in seconds.
PRE_SESSION_S = 3600.0
_MAX_PASSWORD = 1024  # bytes hashed at most: a longer "password" is a denial of service


@dataclass(frozen=True)
class User:
    """Who makes a request: ``id`` is ``users.id`` (None for the anonymous user of AUTH=none)."""

    id: int | None
    name: str
    role: Role


@dataclass(frozen=True)
class Session:
    """A login session (``user_id`` None: a login form's pre-session). ``id`` is the secret the
    cookie carries (the database has its sha256 only)."""

    id: str
    user_id: int | None
    csrf_token: str
    expires_at: float


@dataclass(frozen=True)
class TokenInfo:
    """An API token as listed (never its secret)."""

    id: int
    label: str
    created_at: float
    revoked: bool


def sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def check_role(role: str) -> Role:
    """:raises ValidationError: *role* is not one of :data:`ROLES`."""
    if role not in ROLES:
        raise ValidationError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    return role


def check_name(name: str) -> str:
    """A user name: 1-200 printable characters without spaces at either end.
    :raises ValidationError: otherwise (or the reserved ``sidecar`` / ``anonymous``)."""
    from viewer.store import ANONYMOUS, SIDECAR_USER

    if not isinstance(name, str) or not name.strip() or name != name.strip() or len(name) > 200:
        raise ValidationError("a user name is 1-200 characters, without spaces at either end")
    if not name.isprintable():
        raise ValidationError("a user name has no control characters")
    if name.lower() in (ANONYMOUS, SIDECAR_USER):
        raise ValidationError(f"{name!r} is reserved (the history uses it)")
    return name


def _user(row: UserRow) -> User:
    return User(row.id, row.name, cast(Role, row.role))


class Accounts:
    """Accounts over a store's database (every instance on the same database sees the same rows)."""

    def __init__(
        self,
        store: Store,
        *,
        session_hours: float = 12,
        max_failures: int = 5,
        window_s: float = 900,
        hasher: PasswordHasher | None = None,
    ) -> None:
        from viewer.store.accounts import AccountRows

        self._rows = AccountRows(store._db)  # noqa: SLF001 - the store's engine and writers' queue
        self.session_s = session_hours * 3600.0
        self.max_failures = max_failures
        self.window_s = window_s
        self._hasher = hasher or PasswordHasher()
        self._dummy: str | None = None  # hashed at the first login, not at start (it costs a hash)

    # -- users ------------------------------------------------------------------------------------

    def add(self, name: str, role: Role | str, password: str) -> User:
        """:raises ConflictError: an account *name* exists. :raises ValidationError: bad name, role
        or an empty password."""
        row = self._rows.add(check_name(name), check_role(role), self._hash(password))
        return _user(row)

    def ensure(self, name: str, role: Role | str) -> User:
        """The account *name* (made with *role*, without a password, if there is none)."""
        return _user(self._rows.ensure(check_name(name), check_role(role)))

    def get(self, name: str) -> User | None:
        row = self._rows.user(name)
        return _user(row) if row is not None and row.role is not None else None

    def list(self) -> list[User]:  # noqa: A003 - the contract's name
        return [_user(row) for row in self._rows.accounts()]

    def remove(self, name: str) -> None:
        self._rows.remove(name)

    def set_role(self, name: str, role: Role | str) -> User:
        return _user(self._rows.update(name, role=check_role(role)))

    def set_password(self, name: str, password: str) -> None:
        self._rows.update(name, password_hash=self._hash(password))

    def _hash(self, password: str) -> str:
        if not password:
            raise ValidationError("the password is empty")
        if len(password.encode("utf-8")) > _MAX_PASSWORD:
            raise ValidationError(f"the password is longer than {_MAX_PASSWORD} bytes")
        return self._hasher.hash(password)

    # -- login ------------------------------------------------------------------------------------

    def verify(self, name: str, password: str, address: str) -> User:
        """The user *name* if *password* is theirs and they may log in.

        :raises ThrottledError: too many failures of *name* from *address* in the window.
        :raises AuthenticationError: a wrong name or password (the same message for both).
        """
        clock = time.time()
        count, oldest = self._rows.failures(name, address, clock - self.window_s)
        if count >= self.max_failures:
            wait = int((oldest or clock) + self.window_s - clock) + 1
            raise ThrottledError(
                f"too many failed logins for this name from this address: try again in {wait} s", wait
            )
        row = self._rows.user(name) if len(name) <= 200 else None
        stored = row.password_hash if row is not None and row.role and not row.disabled else None
        good = False
        if len(password.encode("utf-8")) <= _MAX_PASSWORD:
            try:
                good = self._hasher.verify(stored or self._dummy_hash(), password) and stored is not None
            except (VerificationError, InvalidHashError):
                good = False
        if not good or row is None or stored is None:
            self._rows.add_failure(name[:200], address[:64], clock, clock - self.window_s)
            raise AuthenticationError("wrong user name or password")
        if self._hasher.check_needs_rehash(stored):
            self._rows.update(row.name, password_hash=self._hasher.hash(password))
        if count:
            self._rows.clear_failures(name, address)
        return _user(row)

    def _dummy_hash(self) -> str:
        """A hash no password matches, verified for unknown names (they take as long as known ones)."""
        if self._dummy is None:
            self._dummy = self._hasher.hash(secrets.token_urlsafe(16))
        return self._dummy

    # -- sessions ---------------------------------------------------------------------------------

    def new_session(self, user: User | None) -> Session:
        """A new session of *user* (None: a login form's pre-session, short-lived)."""
        if user is not None and user.id is None:
            raise ValidationError("the anonymous user has no sessions")
        secret, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        expires = time.time() + (self.session_s if user is not None else PRE_SESSION_S)
        user_id = user.id if user is not None else None
        self._rows.add_session(sha256(secret), user_id, csrf, expires)
        return Session(secret, user_id, csrf, expires)

    def session(self, session_id: str) -> tuple[User, Session] | None:
        """The user and session of a session id; None when unknown, expired, ended, a pre-session,
        or its user was removed or disabled."""
        found = self._lookup(session_id)
        if found is None or found[1] is None:
            return None
        return found[1], found[0]

    def pre_session(self, session_id: str) -> Session | None:
        """The session (pre-session or not) of *session_id*, for the login form's CSRF check."""
        found = self._lookup(session_id)
        return found[0] if found is not None else None

    def _lookup(self, session_id: str) -> tuple[Session, User | None] | None:
        if not session_id or len(session_id) > 100:
            return None
        found = self._rows.session(sha256(session_id), time.time())
        if found is None:
            return None
        row, user_row = found
        session = Session(session_id, row.user_id, row.csrf_token, row.expires_at)
        if user_row is None:
            return (session, None) if row.user_id is None else None
        if user_row.role is None or user_row.disabled:
            return None
        return session, _user(user_row)

    def end_session(self, session_id: str) -> None:
        self._rows.end_session(sha256(session_id))

    # -- API tokens -------------------------------------------------------------------------------

    def new_token(self, name: str, label: str) -> str:
        """A new API token of the account *name*: the secret, shown once (only its sha256 is kept).
        :raises NotFoundError: no such account."""
        row = self._rows.user(name)
        if row is None or row.role is None:
            raise NotFoundError(f"no user {name!r}")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        self._rows.add_token(sha256(token), row.id, label[:200])
        return token

    def token_user(self, token: str) -> User | None:
        """The user of an API token in use (None: unknown or revoked, or the user removed/disabled)."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
            return None
        row = self._rows.token_user(sha256(token))
        if row is None or row.role is None or row.disabled:
            return None
        return _user(row)

    def revoke_token(self, token_id: int) -> None:
        self._rows.revoke_token(token_id)

    def tokens(self, name: str) -> builtins.list[TokenInfo]:
        row = self._rows.user(name)
        if row is None or row.role is None:
            raise NotFoundError(f"no user {name!r}")
        return [
            TokenInfo(t.id, t.label, t.created_at, t.revoked_at is not None)
            for t in self._rows.tokens(row.id)
        ]


__all__ = ["ROLES", "TOKEN_PREFIX", "Accounts", "Role", "Session", "TokenInfo", "User", "check_role"]
