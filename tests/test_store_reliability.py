"""Reliability of the annotation store with real server processes (``wsi-viewer serve`` under
gunicorn) and real HTTP: conflicting writers, many concurrent writers, a worker killed in the middle
of a save, and an unwritable sidecar. Runs on SQLite and, when configured, PostgreSQL."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from tests._server import Server, running_server
from tests._store_helpers import ENGINES, database_setting
from viewer.annotations.asap import read_asap, write_asap

DATA = Path(__file__).parent / "data"
SLIDE = DATA / "slides" / "aperio" / "CMU-1-Small-Region.svs"
REAL = DATA / "asap" / "real"


@contextmanager
def serve(
    slides: Path, data: Path, database: str, workers: int = 2, writeback: bool = False,
    env: dict[str, str] | None = None,
) -> Iterator[Server]:
    args = [str(slides), "--workers", str(workers), "--threads", "8", "--database", database]
    if writeback:
        args.append("--sidecar-writeback")
    with running_server(*args, data_dir=data, env=env) as server:
        yield server


@pytest.fixture(params=ENGINES)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database_setting(request.param, tmp_path) as setting:
        yield setting


def slide_dir(tmp_path: Path, sidecar: str | None, stem: str = "CMU-1-Small-Region") -> Path:
    slides = tmp_path / "slides"
    slides.mkdir()
    shutil.copy(SLIDE, slides / f"{stem}.svs")
    if sidecar:
        shutil.copy(REAL / sidecar, slides / f"{stem}.xml")
    return slides


def first_set(server: Server) -> dict:  # type: ignore[type-arg]
    slide = requests.get(server.url + "/api/slides", timeout=120).json()["slides"][0]
    sets = requests.get(server.url + slide["urls"]["annotations"], timeout=120).json()["sets"]
    return sets[0]


def replay(server: Server, set_urls: dict[str, str], upto: int) -> tuple[dict[int, dict], list[dict]]:  # type: ignore[type-arg]
    """The set's annotations rebuilt from the history's before/after items alone."""
    history = requests.get(server.url + set_urls["history"], params={"limit": 1000}, timeout=30).json()[
        "changes"
    ]
    alive: dict[int, dict] = {}  # type: ignore[type-arg]
    for change in sorted(history, key=lambda c: c["version"]):
        if change["version"] > upto:
            break
        detail = requests.get(server.url + change["urls"]["change"], timeout=30).json()
        for item in detail["items"]:
            if item["kind"] != "annotation":
                continue
            if item["after"] is None:
                alive.pop(item["id"], None)
            else:
                alive[item["id"]] = item["after"]
    return alive, history


def square(x: float, y: float, name: str) -> dict:  # type: ignore[type-arg]
    ring = [[x, y], [x + 10, y], [x + 10, y + 10], [x, y + 10], [x, y]]
    return {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": {"name": name, "asap": {"type": "Polygon", "group": None, "color": "#F4FA58"}},
    }


def test_two_writers_from_one_version_one_gets_412_nothing_lost(tmp_path: Path, database: str) -> None:
    with serve(slide_dir(tmp_path, "tumor_111.xml"), tmp_path / "data", database) as server:
        s = first_set(server)
        got = requests.get(server.url + s["urls"]["self"], timeout=30)
        etag = got.headers["ETag"]
        docs = [read_asap(REAL / "patient_004_node_4.xml"), read_asap(REAL / "tumor_031.xml")]
        barrier = threading.Barrier(2)

        def put(i: int) -> requests.Response:
            barrier.wait()
            return requests.put(
                server.url + s["urls"]["asap_xml"],
                data=write_asap(docs[i]),
                timeout=60,
                headers={"If-Match": etag, "Content-Type": "application/xml", "X-User": f"u{i}",
                         "X-Requested-With": "tests"},
            )

        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(put, [0, 1]))
        assert sorted(r.status_code for r in results) == [200, 412]
        winner = next(i for i, r in enumerate(results) if r.status_code == 200)
        loser = results[1 - winner]
        assert loser.json()["current"] == results[winner].json()["set_version"]
        xml = requests.get(server.url + s["urls"]["asap_xml"], timeout=30).content
        assert read_asap(xml) == docs[winner]
        history = requests.get(server.url + s["urls"]["history"], timeout=30).json()["changes"]
        assert [c["who"] for c in history] == [f"u{winner}", "sidecar"]

        # The same race on one annotation: one update wins, the other gets 412 and the winner's object.
        feature = requests.get(server.url + s["urls"]["self"], timeout=30).json()["features"][0]
        url = f"{server.url}{s['urls']['annotations']}/{feature['id']}"
        version = f'"{feature["properties"]["version"]}"'
        barrier = threading.Barrier(2)

        def update(i: int) -> requests.Response:
            barrier.wait()
            return requests.put(
                url, json=square(i * 100, 0, f"by {i}"), headers={"If-Match": version}, timeout=60
            )

        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(update, [0, 1]))
        assert sorted(r.status_code for r in results) == [200, 412]
        winner = next(i for i, r in enumerate(results) if r.status_code == 200)
        assert results[1 - winner].json()["current"]["properties"]["name"] == f"by {winner}"


def test_fifty_concurrent_writers_every_accepted_change_is_in_the_history(
    tmp_path: Path, database: str
) -> None:
    with serve(slide_dir(tmp_path, None), tmp_path / "data", database, workers=3) as server:
        slide = requests.get(server.url + "/api/slides", timeout=30).json()["slides"][0]
        created = requests.post(server.url + slide["urls"]["annotations"], json={"name": "race"}, timeout=30)
        assert created.status_code == 201
        urls = created.json()["set"]["urls"]
        barrier = threading.Barrier(50)

        def writer(k: int) -> list[tuple[int, int]]:
            """Create an annotation, then edit it twice; returns (status, set_version) per request."""
            session = requests.Session()
            barrier.wait()
            out = []
            r = session.post(
                server.url + urls["annotations"],
                json=square(k * 20, 0, f"w{k}"),
                headers={"X-User": f"writer{k}"},
                timeout=120,
            )
            out.append((r.status_code, r.json().get("set_version", -1)))
            if r.status_code != 201:
                return out
            location = r.headers["Location"]
            etag = r.headers["ETag"]
            for n in range(2):
                r = session.put(
                    server.url + location,
                    json=square(k * 20, n + 1, f"w{k}.{n}"),
                    headers={"X-User": f"writer{k}", "If-Match": etag},
                    timeout=120,
                )
                out.append((r.status_code, r.json().get("set_version", -1)))
                etag = r.headers.get("ETag", etag)
            return out

        with ThreadPoolExecutor(50) as pool:
            outcomes = [o for result in pool.map(writer, range(50)) for o in result]
        accepted = [v for status, v in outcomes if status in (200, 201)]
        assert len(accepted) == 150, outcomes  # distinct annotations and their own versions: no conflicts
        assert len(set(accepted)) == len(accepted)  # each change got its own set version

        state = requests.get(server.url + urls["self"], timeout=60).json()
        final_version = state["version"]
        assert final_version == 1 + 150
        rebuilt, history = replay(server, urls, final_version)
        assert {c["version"] for c in history} >= set(accepted)
        assert {c["who"] for c in history if c["version"] in accepted} == {f"writer{k}" for k in range(50)}
        current = {f["id"]: f for f in state["features"]}
        assert set(rebuilt) == set(current)
        for obj_id, feature in current.items():
            assert rebuilt[obj_id]["geometry"] == feature["geometry"]
            assert rebuilt[obj_id]["properties"]["name"] == feature["properties"]["name"]
        assert sorted(f["properties"]["name"] for f in state["features"]) == sorted(
            f"w{k}.1" for k in range(50)
        )


def test_sigkill_during_save_leaves_store_and_sidecar_consistent(tmp_path: Path, database: str) -> None:
    slides = slide_dir(tmp_path, "tumor_039.xml")
    xml_path = slides / "CMU-1-Small-Region.xml"
    old_set = read_asap(xml_path)
    new_set = read_asap(xml_path)
    for a in new_set.annotations:
        a.coordinates = [(x + 1.0, y) for x, y in a.coordinates]
    body = write_asap(new_set)
    new_set = read_asap(body)  # as stored: ASAP keeps float32 coordinates
    with serve(slides, tmp_path / "data", database, workers=1, writeback=True) as server:
        s = first_set(server)
        timings = []
        for doc in (new_set, old_set):  # two real saves, to learn how long one takes
            start = time.monotonic()
            r = requests.put(
                server.url + s["urls"]["asap_xml"],
                data=write_asap(doc),
                headers={"Content-Type": "application/xml", "X-Requested-With": "tests"},
                timeout=120,
            )
            assert r.status_code == 200 and r.json()["change"] is not None
            timings.append(time.monotonic() - start)
        save_s = min(timings)
        outcomes = set()
        for attempt in range(4):
            # Always a real change: the other content than what is on disk now.
            data = body if read_asap(xml_path) == old_set else write_asap(old_set)
            done: list[requests.Response | BaseException] = []

            def save(data: bytes = data, done: list[requests.Response | BaseException] = done) -> None:
                try:
                    done.append(
                        requests.put(
                            server.url + s["urls"]["asap_xml"],
                            data=data,
                            timeout=120,
                            headers={"Content-Type": "application/xml", "X-Requested-With": "tests"},
                        )
                    )
                except requests.RequestException as exc:
                    done.append(exc)

            thread = threading.Thread(target=save)
            thread.start()
            time.sleep(save_s * (0.1 + 0.25 * attempt))  # from early in the request to the commit
            for pid in server.workers():
                os.kill(pid, signal.SIGKILL)
            thread.join(120)
            # gunicorn replaces the worker; the file is complete (old or new), and the store agrees.
            on_disk = read_asap(xml_path)
            assert on_disk in (old_set, new_set)
            deadline = time.monotonic() + 60
            while True:
                try:
                    got = requests.get(server.url + s["urls"]["asap_xml"], timeout=60)
                    if got.status_code == 200:
                        break
                except requests.ConnectionError:
                    pass
                assert time.monotonic() < deadline
                time.sleep(0.2)
            assert read_asap(got.content) == on_disk
            assert sorted(slides.glob(".*.tmp")) == []  # a write killed half-way left no temporary file
            outcomes.add("killed" if isinstance(done[0], BaseException) else "finished")
            history = requests.get(
                server.url + s["urls"]["history"], params={"limit": 1000}, timeout=30
            ).json()
            versions = [c["version"] for c in history["changes"]]
            assert versions == list(range(versions[0], 0, -1))  # no gap, no duplicate
        assert "killed" in outcomes


def test_unwritable_sidecar_is_a_clear_error_and_the_change_is_kept(tmp_path: Path, database: str) -> None:
    stem = "s" * 246 if os.geteuid() == 0 else "CMU-1-Small-Region"  # see tests/test_store.py
    slides = slide_dir(tmp_path, "patient_004_node_4.xml", stem=stem)
    xml_path = slides / f"{stem}.xml"
    original = xml_path.read_bytes()
    if os.geteuid() != 0:
        slides.chmod(0o555)
    try:
        with serve(slides, tmp_path / "data", database, workers=1, writeback=True) as server:
            s = first_set(server)
            r = requests.post(
                server.url + s["urls"]["annotations"],
                json=square(5, 5, "kept"),
                headers={"X-User": "alice"},
                timeout=30,
            )
            assert r.status_code == 201
            # what failed, named relative to the slide directory: never the server's absolute path
            reason = "File name too long" if os.geteuid() == 0 else "Permission denied"
            expected = f"could not write {stem}.xml: {reason}"
            assert r.json()["sidecar_error"] == expected
            assert r.headers["X-Sidecar-Error"] == expected
            history = requests.get(server.url + s["urls"]["history"], timeout=30).json()["changes"]
            assert history[0]["who"] == "alice" and history[0]["kind"] == "create"
            state = requests.get(server.url + s["urls"]["self"], timeout=30).json()
            assert state["features"][-1]["properties"]["name"] == "kept"
            assert state["sidecar"]["error"] == expected
            assert first_set(server)["sidecar"]["error"] == expected  # and every later listing
            assert xml_path.read_bytes() == original
    finally:
        slides.chmod(0o755)


def test_sigkill_between_sidecar_rename_and_commit_keeps_the_author(tmp_path: Path, database: str) -> None:
    """The worker dies after the sidecar holds alice's change and before the database commits it:
    the next access imports the file as alice's change (not an anonymous edit on disk), nothing is
    lost, the file and the store agree, and the new worker's start removed an abandoned temporary
    file beside the sidecar."""
    slides = slide_dir(tmp_path, "tumor_111.xml")
    xml_path = slides / "CMU-1-Small-Region.xml"
    paused = tmp_path / "paused-after-rename"
    env = {"WSI_VIEWER_TEST_PAUSE_AFTER_SIDECAR_RENAME": str(paused)}
    with serve(slides, tmp_path / "data", database, workers=1, writeback=True, env=env) as server:
        s = first_set(server)
        assert requests.get(server.url + s["urls"]["self"], timeout=30).status_code == 200
        abandoned = slides / ".CMU-1-Small-Region.xml.k1ll3d.tmp"  # a write killed long ago
        abandoned.write_bytes(b"x" * 100_000)
        os.utime(abandoned, (time.time() - 3600, time.time() - 3600))
        done: list[requests.Response | BaseException] = []

        def save() -> None:
            try:
                done.append(requests.post(
                    server.url + s["urls"]["annotations"], json=square(7, 7, "by alice"),
                    headers={"X-User": "alice"}, timeout=120,
                ))
            except requests.RequestException as exc:
                done.append(exc)

        thread = threading.Thread(target=save)
        thread.start()
        deadline = time.monotonic() + 60
        while not paused.exists():
            assert time.monotonic() < deadline, "the save never reached the rename"
            time.sleep(0.05)
        assert read_asap(xml_path).annotations[-1].name == "by alice"  # renamed, not committed
        for pid in server.workers():
            os.kill(pid, signal.SIGKILL)
        thread.join(120)
        assert isinstance(done[0], BaseException)  # the client never got an answer

        deadline = time.monotonic() + 60
        while True:
            try:
                got = requests.get(server.url + s["urls"]["asap_xml"], timeout=60)
                if got.status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert read_asap(got.content) == read_asap(xml_path)
        history = requests.get(server.url + s["urls"]["history"], timeout=30).json()["changes"]
        assert [(c["who"], c["kind"]) for c in history] == [("alice", "create"), ("sidecar", "import")]
        assert [c["version"] for c in history] == [2, 1]
        state = requests.get(server.url + s["urls"]["self"], timeout=30).json()
        assert [f["properties"]["name"] for f in state["features"]][-1] == "by alice"
        assert len(state["features"]) == len(read_asap(REAL / "tumor_111.xml").annotations) + 1

        # Later writes work as usual; the file and the store agree after each.
        r = requests.post(server.url + s["urls"]["annotations"], json=square(9, 9, "by bob"),
                          headers={"X-User": "bob"}, timeout=60)
        assert r.status_code == 201 and "sidecar_error" not in r.json()
        got = requests.get(server.url + s["urls"]["asap_xml"], timeout=30)
        assert read_asap(got.content) == read_asap(xml_path)
        assert read_asap(xml_path).annotations[-1].name == "by bob"
        history = requests.get(server.url + s["urls"]["history"], timeout=30).json()["changes"]
        assert [c["who"] for c in history] == ["bob", "alice", "sidecar"]
        deadline = time.monotonic() + 30
        while abandoned.exists():  # swept when the replacement worker opened the store
            assert time.monotonic() < deadline, "the abandoned temporary file is still there"
            time.sleep(0.1)
        assert sorted(p.name for p in slides.iterdir() if p.name.startswith(".")) == []
