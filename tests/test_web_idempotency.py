"""Idempotency-Key on annotation and group writes, through the real app on SQLite and PostgreSQL: a
replay is answered with the stored answer (status, body, ETag, Location) and writes nothing; another
request under a used key is 422; refused writes keep no key; racing replays apply once; old keys are
pruned after IDEMPOTENCY_RETENTION_S."""

from __future__ import annotations

import shutil
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests._store_helpers import ENGINES, database_setting

SLIDES = Path(__file__).parent / "data" / "slides" / "aperio"
SLIDE_ID = "CMU-1-Small-Region.svs"


def feature(name: str, x: float = 10.0) -> dict[str, Any]:
    ring = [[x, 10.0], [x + 50, 10.0], [x + 50, 60.0], [x, 10.0]]
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": {"name": name, "asap": {"type": "Polygon", "group": None, "color": "#F4FA58"}}}


@pytest.fixture(params=ENGINES)
def app(request: pytest.FixtureRequest, tmp_path: Path, make_app: Callable[..., Flask]) -> Iterator[Flask]:
    slides = tmp_path / "slides"
    slides.mkdir()
    shutil.copy(SLIDES / SLIDE_ID, slides / SLIDE_ID)
    with database_setting(request.param, tmp_path) as database:
        app = make_app(SLIDE_DIR=str(slides), DATABASE=database, SIDECAR_IMPORT=False)
        yield app
        app.extensions["wsi_viewer"].store.close()  # before its PostgreSQL schema is dropped


def new_set(client: FlaskClient) -> dict[str, Any]:
    created = client.post(f"/api/annotations/{SLIDE_ID}", json={"name": f"s-{uuid.uuid4().hex[:6]}"})
    assert created.status_code == 201, created.get_json()
    return created.get_json()["set"]  # type: ignore[no-any-return]


def history(client: FlaskClient, s: dict[str, Any]) -> list[str]:
    return [c["kind"] for c in client.get(s["urls"]["history"]).get_json()["changes"]]


def test_a_replayed_write_gets_the_stored_answer_and_is_applied_once(app: Flask) -> None:
    client = app.test_client()
    s = new_set(client)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = client.post(s["urls"]["annotations"], json=feature("a"), headers=key)
    assert first.status_code == 201, first.get_json()
    again = client.post(s["urls"]["annotations"], json=feature("a"), headers=key)
    assert again.status_code == 201
    assert again.get_json() == first.get_json()
    for header in ("ETag", "Location"):
        assert again.headers[header] == first.headers[header]
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    state = client.get(s["urls"]["self"]).get_json()
    assert [f["properties"]["name"] for f in state["features"]] == ["a"]
    url = first.headers["Location"]
    # an update and a delete, each replayed: one change each in the history
    put_key = {"Idempotency-Key": str(uuid.uuid4()), "If-Match": first.headers["ETag"]}
    put = client.put(url, json=feature("b"), headers=put_key)
    assert put.status_code == 200, put.get_json()
    assert client.put(url, json=feature("b"), headers=put_key).get_json() == put.get_json()
    delete_key = {"Idempotency-Key": str(uuid.uuid4()), "If-Match": put.headers["ETag"]}
    deleted = client.delete(url, headers=delete_key)
    assert deleted.status_code == 200
    replay = client.delete(url, headers=delete_key)  # gone now: a fresh delete would be 404
    assert replay.status_code == 200 and replay.get_json() == deleted.get_json()
    assert history(client, s) == ["delete", "update", "create", "create"]
    # the same key with another request (another body, another address) is refused
    other = client.post(s["urls"]["annotations"], json=feature("c"), headers=key)
    assert other.status_code == 422 and "Idempotency-Key" in other.get_json()["error"]
    elsewhere = new_set(client)
    assert client.post(elsewhere["urls"]["annotations"], json=feature("a"), headers=key).status_code == 422
    assert history(client, elsewhere) == ["create"]


def test_group_writes_replay_too_and_refusals_keep_no_key(app: Flask) -> None:
    client = app.test_client()
    s = new_set(client)
    key = {"Idempotency-Key": "group-" + uuid.uuid4().hex}
    made = client.post(s["urls"]["groups"], json={"name": "tumor"}, headers=key)
    assert made.status_code == 201
    assert client.post(s["urls"]["groups"], json={"name": "tumor"}, headers=key).get_json() == made.get_json()
    group_url = made.headers["Location"]
    rename = {"Idempotency-Key": str(uuid.uuid4()), "If-Match": made.headers["ETag"]}
    body = {"name": "Tumor", "parent": None, "color": "#ff0000", "attributes": {}}
    renamed = client.put(group_url, json=body, headers=rename)
    assert renamed.status_code == 200
    assert client.put(group_url, json=body, headers=rename).get_json() == renamed.get_json()
    assert history(client, s) == ["update", "create", "create"]
    # a stale If-Match is refused: nothing written, no key kept, so the key may be sent again
    stale_key = str(uuid.uuid4())
    stale = client.put(group_url, json={**body, "name": "x"}, headers={"Idempotency-Key": stale_key,
                                                                         "If-Match": made.headers["ETag"]})
    assert stale.status_code == 412
    fresh = client.put(group_url, json={**body, "name": "x"}, headers={"Idempotency-Key": stale_key,
                                                                         "If-Match": renamed.headers["ETag"]})
    assert fresh.status_code == 200
    # a key no header can carry is 400
    bad = client.post(s["urls"]["groups"], json={"name": "n"}, headers={"Idempotency-Key": "x" * 201})
    assert bad.status_code == 400 and "Idempotency-Key" in bad.get_json()["error"]


def test_racing_replays_of_one_key_apply_once(app: Flask) -> None:
    s = new_set(app.test_client())
    key = {"Idempotency-Key": str(uuid.uuid4())}
    answers: list[Any] = []
    start = threading.Barrier(4)

    def send() -> None:
        client = app.test_client()
        start.wait()
        r = client.post(s["urls"]["annotations"], json=feature("race"), headers=key)
        answers.append((r.status_code, r.get_json()))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [a[0] for a in answers] == [201] * 4
    assert all(a[1] == answers[0][1] for a in answers)
    client = app.test_client()
    assert len(client.get(s["urls"]["self"]).get_json()["features"]) == 1
    assert history(client, s) == ["create", "create"]


def test_keys_are_pruned_after_the_retention(app: Flask) -> None:
    client = app.test_client()
    s = new_set(client)
    store = app.extensions["wsi_viewer"].store
    key = {"Idempotency-Key": str(uuid.uuid4())}
    assert client.post(s["urls"]["annotations"], json=feature("a"), headers=key).status_code == 201
    assert store.prune_idempotency_keys() == 0  # within the retention: kept
    store._keeper.retention_s = 0.0
    assert store.prune_idempotency_keys() == 1
    # pruned, the key is new again: the request is applied a second time
    assert client.post(s["urls"]["annotations"], json=feature("a"), headers=key).status_code == 201
    assert len(client.get(s["urls"]["self"]).get_json()["features"]) == 2


def test_one_key_racing_on_two_sets_applies_on_one_only(app: Flask) -> None:
    client = app.test_client()
    sets = [new_set(client), new_set(client)]
    key = {"Idempotency-Key": str(uuid.uuid4())}
    statuses: list[int] = []
    start = threading.Barrier(2)

    def send(s: dict[str, Any]) -> None:
        c = app.test_client()
        start.wait()
        statuses.append(c.post(s["urls"]["annotations"], json=feature("race"), headers=key).status_code)

    threads = [threading.Thread(target=send, args=(s,)) for s in sets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(statuses) == [201, 422]  # never a 500, whichever way the race went
    counts = [len(client.get(s["urls"]["self"]).get_json()["features"]) for s in sets]
    assert sorted(counts) == [0, 1]
