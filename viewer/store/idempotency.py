"""Writes that apply once: the answer of a write sent with an ``Idempotency-Key`` is kept with the
key in the write's own transaction, so a client replaying a request whose answer it lost (a network
cut, a closed tab's queue sent again) gets the stored answer and nothing is written twice.

The web layer describes the request (:class:`Idempotent`: key, fingerprint of method, path,
preconditions and body, and how to turn the write's result into its answer) and runs the store's
write inside :meth:`~viewer.store.transactions.StoreTransactions.idempotent`
(``Store.idempotent``). The store's write checks the key after taking the set's lock (so two
requests racing with one key queue on the lock: the second finds the first's answer), and stores
the answer before committing. A key already used with another request is
:class:`~viewer.errors.ValidationError` (422). Only writes that succeed are kept: a refused one
(412, 409, 422) changed nothing and may be sent again. Keys older than the retention are pruned.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from viewer.errors import InvalidInputError, ValidationError
from viewer.store.names import now
from viewer.store.records import WriteResult
from viewer.store.schema import idempotency_keys

#: The schema version that added the ``idempotency_keys`` table.
IDEMPOTENCY_SINCE = 5
#: The longest key taken (the column's width).
MAX_KEY = 200

_t = idempotency_keys.c
_FIND = sa.select(_t.set_id, _t.fingerprint, _t.status, _t.etag, _t.location, _t.body).where(
    _t.key == sa.bindparam("b_key")
)
_INSERT = idempotency_keys.insert()
_USED_MESSAGE = "this Idempotency-Key was used by another request: a key names one request"
_USED_DETAIL = "Idempotency-Key: already used with a different method, address, precondition or body"
_PRUNE = idempotency_keys.delete().where(_t.created_at < sa.bindparam("b_before"))


@dataclass(frozen=True)
class Answer:
    """A write's answer as the client got it: status, JSON body, ETag and Location headers."""

    status: int
    body: str
    etag: str | None = None
    location: str | None = None


@dataclass
class Idempotent:
    """One write sent with an ``Idempotency-Key``: what the store needs to keep its answer.

    After the write, :attr:`answer` holds the answer (stored or replayed) and :attr:`replayed` says
    whether the write was skipped because the key had been used.
    """

    key: str
    set_id: int
    fingerprint: str
    make_answer: Callable[[WriteResult], Answer]
    answer: Answer | None = None
    replayed: bool = False


class Replayed(Exception):  # noqa: N818 - a control-flow signal, not an error
    """The key was used by an earlier write: the transaction is rolled back, its answer is given."""


def check_key(key: str) -> str:
    """:raises InvalidInputError: an empty key, one over 200 characters or with non-printable ASCII."""
    if not key or len(key) > MAX_KEY or not all(" " < ch <= "~" for ch in key):
        raise InvalidInputError(
            "Idempotency-Key must be 1 to 200 printable ASCII characters (a UUID)",
            ["Idempotency-Key: 1 to 200 characters from ! to ~"],
        )
    return key


def find(conn: Connection, job: Idempotent) -> Answer | None:
    """The stored answer of *job*'s key, if any.

    :raises ValidationError: the key was used by another request (other set, path or body).
    """
    row = conn.execute(_FIND, {"b_key": job.key}).first()
    if row is None:
        return None
    if row.set_id != job.set_id or row.fingerprint != job.fingerprint:
        raise ValidationError(_USED_MESSAGE, [_USED_DETAIL])
    return Answer(row.status, row.body, row.etag, row.location)


class Keeper:
    """Checks and keeps the answers of one store's idempotent writes, pruning old keys."""

    def __init__(self, retention_s: float) -> None:
        self.retention_s = retention_s
        self._pruned_at = 0.0
        self._lock = threading.Lock()

    def before(self, conn: Connection, job: Idempotent) -> None:
        """In the write's transaction, holding the set's lock: :raises Replayed: the key was used."""
        found = find(conn, job)
        if found is not None:
            job.answer, job.replayed = found, True
            raise Replayed(job.key)

    def after(self, conn: Connection, job: Idempotent, result: WriteResult) -> None:
        """In the write's transaction, before it commits: keep the answer with the key."""
        answer = job.make_answer(result)
        try:
            conn.execute(_INSERT, {
                "key": job.key, "set_id": job.set_id, "fingerprint": job.fingerprint, "status": answer.status,
                "etag": answer.etag, "location": answer.location, "body": answer.body, "created_at": now(),
            })
        except sa.exc.IntegrityError:
            # The same key, at the same moment, on another set (whose lock this write does not hold):
            # another request. Raised out of the transaction, the write is rolled back.
            raise ValidationError(_USED_MESSAGE, [_USED_DETAIL]) from None
        job.answer = answer
        with self._lock:  # pruned along with writes, at most once a minute per store
            due = time.monotonic() - self._pruned_at >= 60.0
            if due:
                self._pruned_at = time.monotonic()
        if due:
            self.prune(conn)

    def prune(self, conn: Connection) -> int:
        """Delete the keys older than the retention; returns how many."""
        before = datetime.now(UTC) - timedelta(seconds=self.retention_s)
        stamp = before.isoformat(timespec="microseconds").replace("+00:00", "Z")
        return conn.execute(_PRUNE, {"b_before": stamp}).rowcount
