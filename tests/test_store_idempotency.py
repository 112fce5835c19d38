"""The store's idempotent writes (viewer/store/idempotency.py) on SQLite and PostgreSQL, without the
web layer: the answer is kept in the write's own transaction (a write that fails keeps no key), a
replay skips the write, another request under a used key is refused, and a database upgraded from
schema 4 gains the table and starts keeping keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._store_helpers import ENGINES, database_setting
from viewer.annotations.model import Annotation
from viewer.errors import PreconditionFailedError, ValidationError
from viewer.store import Store, WriteResult, database_url
from viewer.store.idempotency import Answer, Idempotent


@pytest.fixture(params=ENGINES)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database_setting(request.param, tmp_path) as setting:
        yield database_url(setting, tmp_path)


def dot(name: str, x: float = 1.0) -> Annotation:
    return Annotation(name, "Dot", coordinates=[(x, 2.0)])


def job(key: str, set_id: int, fingerprint: str = "f1") -> Idempotent:
    def answer(result: WriteResult) -> Answer:
        assert result.annotation is not None
        body = f'{{"id": {result.annotation.id}, "v": {result.info.version}}}'
        return Answer(201, body, f'"{result.info.version}"')

    return Idempotent(key, set_id, fingerprint, answer)


def test_a_key_applies_its_write_once_and_names_one_request(url: str) -> None:
    store = Store(url)
    try:
        s = store.create_set(store.open_slide("a.svs"), "s", "ann").info.id
        first = job("k1", s)
        with store.idempotent(first):
            store.create_annotation(s, dot("a"))
        assert not first.replayed and first.answer is not None and first.answer.status == 201
        again = job("k1", s)
        with store.idempotent(again):
            store.create_annotation(s, dot("a"))
            pytest.fail("a replayed write does not return")  # the store raised Replayed, caught above
        assert again.replayed and again.answer == first.answer
        assert [r.annotation.name for r in store.state(s).annotations] == ["a"]
        with pytest.raises(ValidationError, match="used by another request"), \
                store.idempotent(job("k1", s, fingerprint="other")):
            store.create_annotation(s, dot("b"))
        assert len(store.state(s).annotations) == 1
        # a write that fails keeps no key: the same key may then carry the corrected request
        rec = store.state(s).annotations[0]
        with pytest.raises(PreconditionFailedError), store.idempotent(job("k2", s)):
            store.update_annotation(s, rec.id, dot("c"), if_version=rec.version + 5)
        fixed = job("k2", s)
        with store.idempotent(fixed):
            store.update_annotation(s, rec.id, dot("c"), if_version=rec.version)
        assert not fixed.replayed and store.annotation(s, rec.id).annotation.name == "c"
        # without a job, writes are as they always were
        store.create_annotation(s, dot("d"))
        assert len(store.state(s).annotations) == 2
    finally:
        store.close()


def test_a_database_of_schema_4_upgrades_and_starts_keeping_keys(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    old = Store(url, target_version=4)
    try:
        s = old.create_set(old.open_slide("a.svs"), "s", "ann").info.id
        ignored = job("k", s)
        with old.idempotent(ignored):  # no table yet: the write goes through, nothing is kept
            old.create_annotation(s, dot("a"))
        assert ignored.answer is None and not ignored.replayed
    finally:
        old.close()
    store = Store(url)
    try:
        assert store.schema_version >= 5  # upgraded past idempotency_keys (0005)
        kept = job("k", s)
        with store.idempotent(kept):
            store.create_annotation(s, dot("b"))
        replay = job("k", s)
        with store.idempotent(replay):
            store.create_annotation(s, dot("b"))
        assert replay.replayed and replay.answer == kept.answer
        assert [r.annotation.name for r in store.state(s).annotations] == ["a", "b"]
    finally:
        store.close()
