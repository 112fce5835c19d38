"""viewer/auth: accounts, passwords, throttling, sessions and API tokens, on SQLite and PostgreSQL
(the same database two servers share: two Accounts over two stores see the same rows)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from tests._store_helpers import ENGINES, database_setting
from viewer.auth import TOKEN_PREFIX, Accounts, User
from viewer.errors import AuthenticationError, ConflictError, NotFoundError, ThrottledError, ValidationError
from viewer.store import Store, database_url

#: Argon2id at its lowest cost: these tests are about the rules, not the hash's strength (the web
#: tests log in through the defaults).
CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(params=ENGINES)
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    """Two stores on one database (two servers sharing it)."""
    with database_setting(request.param, tmp_path) as setting:
        url = database_url(setting, tmp_path)
        first, second = Store(url), Store(url)
        try:
            yield first, second
        finally:
            first.close()
            second.close()


def rows(store: Store, table: str) -> list[dict[str, object]]:
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.text(f"SELECT * FROM {table}"))]  # noqa: S608


def test_accounts_passwords_roles_and_the_history_authors(stores: tuple[Store, Store]) -> None:
    store, other = stores
    accounts, elsewhere = Accounts(store, hasher=CHEAP), Accounts(other, hasher=CHEAP)
    slide = store.open_slide("a.svs")
    store.create_set(slide, "s", "carol")  # carol is an author of the history, with no account
    ann = accounts.add("ann", "annotator", "correct horse")
    assert ann == User(ann.id, "ann", "annotator") and ann.id is not None
    assert elsewhere.list() == [ann]  # the other server sees it at once
    with pytest.raises(ConflictError):
        elsewhere.add("ann", "admin", "x")
    with pytest.raises(AuthenticationError):  # an author without an account cannot log in
        accounts.verify("carol", "", "10.0.0.1")
    # the password holds characters outside base64, so it cannot turn up in the hash by chance
    # (a two-letter password did, in one CI run in a few hundred: "...Qpw...")
    carol = accounts.add("carol", "viewer", "carol's pw!")  # the author's row becomes the account
    carol_rows = [r for r in rows(store, "users") if r["name"] == "carol"]
    assert len(carol_rows) == 1 and carol_rows[0]["id"] == carol.id
    stored = str(carol_rows[0]["password_hash"])
    assert stored.startswith("$argon2id$") and "carol's pw!" not in stored
    assert elsewhere.verify("ann", "correct horse", "10.0.0.1") == ann
    assert elsewhere.set_role("ann", "admin").role == "admin"
    with pytest.raises(ValidationError):
        accounts.set_role("ann", "root")
    for bad in ("", " ann", "sidecar", "anonymous", "a\x00b", "x" * 201):
        with pytest.raises(ValidationError):
            accounts.add(bad, "viewer", "pw")
    with pytest.raises(ValidationError):
        accounts.add("dan", "viewer", "")
    accounts.set_password("ann", "new one")
    with pytest.raises(AuthenticationError):
        accounts.verify("ann", "correct horse", "10.0.0.1")
    assert accounts.verify("ann", "new one", "10.0.0.1").name == "ann"
    accounts.remove("carol")
    assert [u.name for u in elsewhere.list()] == ["ann"]
    assert any(r["name"] == "carol" for r in rows(store, "users"))  # the history still names her
    with pytest.raises(AuthenticationError):
        accounts.verify("carol", "carol's pw!", "10.0.0.1")
    with pytest.raises(NotFoundError):
        accounts.remove("carol")


def test_login_is_throttled_per_name_and_address_then_allowed_after_the_window(
    stores: tuple[Store, Store],
) -> None:
    store, other = stores
    accounts = Accounts(store, max_failures=3, window_s=3, hasher=CHEAP)
    elsewhere = Accounts(other, max_failures=3, window_s=3, hasher=CHEAP)
    accounts.add("ann", "annotator", "pw")
    for attempt in range(3):  # failures on both servers count together
        with pytest.raises(AuthenticationError):
            (accounts if attempt % 2 else elsewhere).verify("ann", "wrong", "10.0.0.1")
    with pytest.raises(ThrottledError) as refused:  # the right password is refused too now
        accounts.verify("ann", "pw", "10.0.0.1")
    assert 1 <= refused.value.retry_after <= 4
    assert accounts.verify("ann", "pw", "10.0.0.2").name == "ann"  # another address is not throttled
    for _ in range(3):  # unknown names are throttled the same way (no oracle of who exists)
        with pytest.raises(AuthenticationError):
            accounts.verify("nobody", "x", "10.0.0.1")
    with pytest.raises(ThrottledError):
        accounts.verify("nobody", "x", "10.0.0.1")
    time.sleep(3.2)
    assert elsewhere.verify("ann", "pw", "10.0.0.1").name == "ann"


def test_sessions_are_stored_hashed_expire_and_end(stores: tuple[Store, Store]) -> None:
    store, other = stores
    accounts, elsewhere = Accounts(store, session_hours=1, hasher=CHEAP), Accounts(other, hasher=CHEAP)
    ann = accounts.add("ann", "annotator", "pw")
    session = accounts.new_session(ann)
    assert len(session.id) >= 40 and session.csrf_token and session.id != session.csrf_token
    assert elsewhere.session(session.id) == (ann, session)
    stored = rows(store, "sessions")
    assert [r["secret_sha256"] for r in stored] == [hashlib.sha256(session.id.encode()).hexdigest()]
    assert session.id not in repr(stored)
    assert accounts.session(session.id + "x") is None and accounts.session("") is None
    pre = accounts.new_session(None)  # a login form's pre-session: not a login
    assert accounts.session(pre.id) is None and accounts.pre_session(pre.id) == pre
    elsewhere.end_session(session.id)
    assert accounts.session(session.id) is None
    short = Accounts(store, session_hours=1 / 3600, hasher=CHEAP)  # one second
    brief = short.new_session(ann)
    assert short.session(brief.id) is not None
    time.sleep(1.2)
    assert short.session(brief.id) is None
    kept = accounts.new_session(ann)
    accounts.remove("ann")  # a removed account's sessions end
    assert accounts.session(kept.id) is None


def test_api_tokens_are_shown_once_stored_hashed_and_revocable(stores: tuple[Store, Store]) -> None:
    store, other = stores
    accounts, elsewhere = Accounts(store, hasher=CHEAP), Accounts(other, hasher=CHEAP)
    ann = accounts.add("ann", "annotator", "pw")
    token = accounts.new_token("ann", "nightly import")
    assert token.startswith(TOKEN_PREFIX) and len(token) > 40
    assert elsewhere.token_user(token) == ann
    assert token not in repr(rows(store, "api_tokens"))
    digest = hashlib.sha256(token.encode()).hexdigest()
    assert [r["secret_sha256"] for r in rows(store, "api_tokens")] == [digest]
    (info,) = elsewhere.tokens("ann")
    assert info.label == "nightly import" and not info.revoked and token not in repr(info)
    assert accounts.token_user(token[:-1]) is None and accounts.token_user("x" + token) is None
    elsewhere.revoke_token(info.id)
    assert accounts.token_user(token) is None and accounts.tokens("ann")[0].revoked
    with pytest.raises(NotFoundError):
        accounts.revoke_token(info.id)
    with pytest.raises(NotFoundError):
        accounts.new_token("nobody", "")
    second = accounts.new_token("ann", "")
    accounts.remove("ann")  # a removed account's tokens stop working
    assert accounts.token_user(second) is None
