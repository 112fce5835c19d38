"""Mask exports as jobs, against real server processes (gunicorn, 2 workers): the lifecycle and the
result's bytes, the queue (one job at a time, the rest wait in order, a full queue is 503), cancel
and abandonment actually stopping the CPU work, a crashed worker or runner leaving the job failed,
polls answered by a worker other than the one that took the job, the up-front cost bound (413) and
the direct GET's bound (409), retention, and bad parameters."""

from __future__ import annotations

import io
import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
import tifffile

from tests._server import Server, running_server
from viewer.annotations.asap import read_asap
from viewer.annotations.masks import write_mask_tiff

DATA = Path(__file__).parent / "data"
SLIDE = "CMU-1-Small-Region.svs"  # 2220 x 2967 px
JSON = {"Content-Type": "application/json"}
FINISHED = {"done", "failed", "cancelled"}


def _star(vertices: int, seed: int = 0, group: str | None = None) -> dict[str, Any]:
    """A set upload: one star polygon (its long radial edges make a large one take seconds)."""
    rng = np.random.default_rng(seed)
    angles = np.sort(rng.uniform(0, 2 * np.pi, vertices))
    radii = rng.uniform(50, 1400, vertices)
    ring = [[float(np.float32(1110 + r * np.cos(a))), float(np.float32(1480 + r * np.sin(a)))]
            for r, a in zip(radii, angles, strict=True)]
    feature = {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring + ring[:1]]},
               "properties": {"asap": {"type": "Polygon", "group": group, "color": "#F4FA58"}}}
    groups = [] if group is None else [{"name": group, "color": "#ff0000"}]
    return {"type": "FeatureCollection", "features": [feature], "asapGroups": groups}


def _slides(tmp_path_factory: pytest.TempPathFactory) -> Path:
    slides = tmp_path_factory.mktemp("job-slides")
    shutil.copy(DATA / "slides" / "aperio" / SLIDE, slides / SLIDE)
    return slides


def _upload(server: Server, slide: dict[str, Any], name: str, doc: dict[str, Any]) -> dict[str, Any]:
    created = requests.post(f"{server.url}{slide['urls']['annotations']}?name={name}",
                            json={"name": name, **doc}, timeout=120)
    assert created.status_code == 201, created.text
    aset: dict[str, Any] = created.json()["set"]
    return aset


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """2 workers, one job at a time, at most 3 jobs, abandoned after 3 s without a poll."""
    data = tmp_path_factory.mktemp("job-server") / "data"
    data.mkdir()
    with running_server(str(_slides(tmp_path_factory)), "--workers", "2", "--mask-jobs", "1",
                        "--mask-job-queue", "3", "--mask-job-abandon-s", "3", data_dir=data) as running:
        yield running


@pytest.fixture(scope="module")
def sets(server: Server) -> dict[str, dict[str, Any]]:
    """A 1,000-vertex star in group "tumour" (a mask GET answers directly) and a 100,000-vertex
    one (a job of a few seconds at level 0)."""
    slide = requests.get(f"{server.url}/api/slides/{SLIDE}", timeout=30).json()
    small = _upload(server, slide, "small", _star(1000, seed=1, group="tumour"))
    heavy = _upload(server, slide, "heavy", _star(100_000))
    assert heavy["vertex_count"] == 100_000
    return {"small": small, "heavy": heavy, "slide": slide}


def _start(server: Server, aset: dict[str, Any], query: str = "") -> requests.Response:
    return requests.post(f"{server.url}{aset['urls']['export']}?format=mask{query}", headers=JSON,
                         data="{}", timeout=30)


def _job(server: Server, job: dict[str, Any], session: requests.Session | None = None) -> dict[str, Any]:
    response = (session or requests).get(server.url + job["urls"]["self"], timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


def _wait(server: Server, job: dict[str, Any], states: set[str], timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        current = _job(server, job)
        if current["state"] in states:
            return current
        assert time.monotonic() < deadline, current
        time.sleep(0.2)


def _runner_pids(job_id: str) -> list[int]:
    """Live (not zombie) processes running the job (``python -m viewer.jobs <job dir> ...``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        mine = any(arg.endswith(job_id.encode()) for arg in cmdline)
        if b"viewer.jobs" in cmdline and mine and state != "Z":
            found.append(int(entry.name))
    return found


def _cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    return total


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _gone_within(job_id: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _runner_pids(job_id):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_job_lifecycle_and_result_bytes_equal_write_mask_tiff(
    server: Server, sets: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    small, slide = sets["small"], sets["slide"]
    query = "&downsample=2&labels=tumour=3&version=" + str(small["version"])
    started = _start(server, small, query)
    assert started.status_code == 202, started.text
    job = started.json()
    assert started.headers["Location"] == job["urls"]["self"] and started.headers["Retry-After"] == "1"
    assert job["state"] in ("queued", "running") and job["kind"] == "mask"
    assert job["rows_total"] == 1484 and set(job["urls"]) == {"self", "result", "cancel"}
    done = _wait(server, job, FINISHED)
    assert done["state"] == "done" and done["percent"] == 100 and done["rows_done"] == 1484, done
    assert done["expires_at"] and done["finished_at"] and done["error"] is None
    result = requests.get(server.url + done["urls"]["result"], timeout=30)
    assert result.status_code == 200 and result.headers["Content-Type"] == "image/tiff"
    direct = requests.get(f"{server.url}{small['urls']['export']}?format=mask{query}", timeout=60)
    assert direct.status_code == 200
    assert result.headers["Content-Disposition"] == direct.headers["Content-Disposition"]
    assert f'filename="{done["filename"]}"' in result.headers["Content-Disposition"]
    assert result.content == direct.content
    # The same bytes as write_mask_tiff called directly on the set's own ASAP XML.
    xml = requests.get(server.url + small["urls"]["asap_xml"], timeout=30).content
    expected = tmp_path / "expected.tif"
    write_mask_tiff(read_asap(xml), expected, 1110, 1484, {"tumour": 3}, None, level_downsample=2.0,
                    mpp=(slide["mpp_x"], slide["mpp_y"]))
    assert result.content == expected.read_bytes()
    with tifffile.TiffFile(io.BytesIO(result.content)) as tif:
        assert tif.pages[0].shape == (1484, 1110) and int(tif.pages[0].asarray().max()) == 3
    # DELETE forgets it with its result.
    assert requests.delete(server.url + job["urls"]["self"], timeout=30).status_code == 204
    assert requests.get(server.url + job["urls"]["self"], timeout=30).status_code == 404
    assert requests.get(server.url + job["urls"]["result"], timeout=30).status_code == 404


@contextmanager
def _kept_alive(server: Server, jobs: list[dict[str, Any]]) -> Iterator[None]:
    """Poll every job of *jobs* (as it is appended) twice a second, as a waiting client does: on a
    loaded machine the next POSTs of a test can take longer than the 3 s abandonment, and a job
    nobody polls meanwhile would be cancelled under it."""
    stop = threading.Event()

    def poll() -> None:
        with requests.Session() as session:
            while not stop.wait(0.5):
                for job in list(jobs):
                    with suppress(requests.RequestException):
                        session.get(server.url + job["urls"]["self"], timeout=30).close()

    poller = threading.Thread(target=poll, name="job-poller", daemon=True)
    poller.start()
    try:
        yield
    finally:
        stop.set()
        poller.join(35)


def test_one_job_runs_at_a_time_the_others_wait_in_order_and_a_full_queue_is_503(
    server: Server, sets: dict[str, dict[str, Any]]
) -> None:
    heavy = sets["heavy"]
    query = f"&downsample=1&labels=&order=&version={heavy['version']}"
    started: list[dict[str, Any]] = []
    with _kept_alive(server, started):
        jobs = []
        for _ in range(3):
            jobs.append(_start(server, heavy, query))
            if jobs[-1].status_code == 202:
                started.append(jobs[-1].json())
        assert [r.status_code for r in jobs] == [202, 202, 202], [r.text for r in jobs]
        first, second, third = started
        full = _start(server, heavy)
        running = _wait(server, first, {"running"})
        queued = [_job(server, second), _job(server, third)]
    assert full.status_code == 503 and full.headers["Retry-After"], full.text
    assert "at most 3" in full.json()["error"] and full.json()["details"] == [{"jobs": 3, "limit": 3}]
    assert running["started_at"] and running["queue_position"] is None
    assert [j["state"] for j in queued] == ["queued", "queued"]
    assert [j["queue_position"] for j in queued] == [1, 2]
    assert requests.delete(server.url + third["urls"]["self"], timeout=30).status_code == 204
    seen_running: list[set[str]] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        states = {j["id"]: _job(server, j)["state"] for j in (first, second)}
        seen_running.append({k for k, v in states.items() if v == "running"})
        if set(states.values()) <= FINISHED:
            break
        time.sleep(0.2)
    assert all(len(r) <= 1 for r in seen_running)  # never both at once
    assert [r for r in seen_running if r][0] == {first["id"]} and {second["id"]} in seen_running
    for job in (first, second):
        final = _job(server, job)
        assert final["state"] == "done" and final["percent"] == 100, final


def test_cancel_stops_the_cpu_work_within_a_second(server: Server, sets: dict[str, dict[str, Any]]) -> None:
    job = _start(server, sets["heavy"]).json()
    running = _wait(server, job, {"running"})
    time.sleep(0.5)
    runners = _runner_pids(job["id"])
    assert len(runners) == 1 and _cpu_seconds(runners) > 0
    assert _parent(runners[0]) in server.workers()  # a child of the worker that took the job
    cancelled = requests.post(server.url + running["urls"]["cancel"], headers=JSON, data="{}", timeout=30)
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert cancelled.json()["error"] == "cancelled by request"
    assert _gone_within(job["id"], 1.5)
    before = _cpu_seconds(server.workers())
    time.sleep(1.0)
    assert _cpu_seconds(server.workers()) - before < 0.3  # nobody keeps working on it
    assert _job(server, job)["state"] == "cancelled"
    result = requests.get(server.url + job["urls"]["result"], timeout=30)
    assert result.status_code == 409 and result.json()["details"][0]["state"] == "cancelled"
    # DELETE of a running job stops it too.
    other = _start(server, sets["heavy"]).json()
    _wait(server, other, {"running"})
    assert requests.delete(server.url + other["urls"]["self"], timeout=30).status_code == 204
    assert _gone_within(other["id"], 1.5)


def test_a_job_nobody_polls_is_cancelled(server: Server, sets: dict[str, dict[str, Any]]) -> None:
    # 400,000 vertices: a job of ~10 s on a quiet machine, well past the 3 s of abandonment (the
    # 100,000-vertex one finished first once: the rasteriser is fast when the machine is idle)
    heavier = _upload(server, sets["slide"], "heavier", _star(400_000, seed=2))
    job = _start(server, heavier).json()
    deadline = time.monotonic() + 20
    while not _runner_pids(job["id"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _runner_pids(job["id"])
    assert _gone_within(job["id"], 3 + 2)  # MASK_JOB_ABANDON_S is 3 here; no poll meanwhile
    abandoned = _job(server, job)
    assert abandoned["state"] == "cancelled" and abandoned["error"].startswith("abandoned"), abandoned


def test_polls_answered_by_another_worker_while_the_one_that_took_the_job_is_stopped(
    server: Server, sets: dict[str, dict[str, Any]]
) -> None:
    job = _start(server, sets["heavy"]).json()
    _wait(server, job, {"running"})
    (runner,) = _runner_pids(job["id"])
    owner = _parent(runner)
    assert owner in server.workers() and len(server.workers()) == 2
    os.kill(owner, signal.SIGSTOP)  # the worker that took the job can neither accept nor answer now
    try:
        polls = []
        for _ in range(20):  # a fresh connection each time: only the other worker accepts it
            with requests.Session() as fresh:
                polls.append(_job(server, job, fresh))
            time.sleep(0.1)
    finally:
        os.kill(owner, signal.SIGCONT)
    assert {p["state"] for p in polls} <= {"running", "done"}
    rows = [p["rows_done"] for p in polls]
    assert rows == sorted(rows) and rows[-1] > rows[0], rows  # live progress from the other worker
    assert _wait(server, job, FINISHED)["state"] == "done"
    assert requests.get(server.url + job["urls"]["result"], timeout=30).status_code == 200


def test_a_killed_worker_or_runner_leaves_the_job_failed(
    server: Server, sets: dict[str, dict[str, Any]]
) -> None:
    job = _start(server, sets["heavy"]).json()
    _wait(server, job, {"running"})
    (runner,) = _runner_pids(job["id"])
    os.kill(_parent(runner), signal.SIGKILL)  # the worker that took the job dies; gunicorn restarts one
    assert _gone_within(job["id"], 2)
    failed = _wait(server, job, FINISHED, timeout=20)
    assert failed["state"] == "failed" and failed["error"].startswith("interrupted"), failed
    other = _start(server, sets["heavy"]).json()  # retry: a new job
    _wait(server, other, {"running"})
    (runner,) = _runner_pids(other["id"])
    os.kill(runner, signal.SIGKILL)  # the runner itself dies (out of memory, ...)
    failed = _wait(server, other, FINISHED, timeout=10)
    assert failed["state"] == "failed" and failed["error"].startswith("interrupted"), failed


def test_direct_get_answers_small_masks_and_sends_large_ones_to_post(
    server: Server, sets: dict[str, dict[str, Any]]
) -> None:
    heavy = sets["heavy"]
    refused = requests.get(f"{server.url}{heavy['urls']['export']}?format=mask", timeout=30)
    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert "POST the same URL" in body["error"] and "100,000 vertices x 2,967 rows" in body["error"]
    assert body["details"][0]["method"] == "POST" and body["details"][0]["limit"] == 100_000_000
    small = requests.get(f"{server.url}{sets['small']['urls']['export']}?format=mask", timeout=60)
    assert small.status_code == 200 and small.content[:4] == b"II+\x00"  # BigTIFF


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("?format=asap", 400, "only masks are export jobs"),
        ("?format=mask&downsample=0", 400, "downsample must be an integer"),
        ("?format=mask&downsample=%C2%B2", 400, "downsample"),
        ("?format=mask&labels=tumour", 400, "is not NAME=LABEL"),
        ("?format=mask&labels=nothing=1", 400, "no group is called 'nothing'"),
        ("?format=mask&order=tumour", 400, "an order needs a label map"),
        ("?format=mask&version=999", 404, ""),
    ],
)
def test_bad_parameters_are_refused_before_any_job(
    server: Server, sets: dict[str, dict[str, Any]], query: str, status: int, message: str
) -> None:
    jobs = server.log.parent / "data" / "jobs"

    def job_names() -> list[str]:  # the directory appears with the server's first job
        return sorted(p.name for p in jobs.iterdir()) if jobs.exists() else []

    before = job_names()
    response = requests.post(server.url + sets["small"]["urls"]["export"] + query, headers=JSON, data="{}",
                             timeout=30)
    assert response.status_code == status, response.text
    assert message in response.json()["error"] and response.json()["status"] == status
    assert job_names() == before  # no job was made


def test_unknown_jobs_are_404(server: Server) -> None:
    for path in ("/api/jobs/0123456789abcdef", "/api/jobs/..%2F..%2Fetc", "/api/jobs/x/result"):
        assert requests.get(server.url + path, timeout=30).status_code == 404
    assert requests.post(server.url + "/api/jobs/0123456789abcdef/cancel", headers=JSON, data="{}",
                         timeout=30).status_code == 404


def test_cost_bound_and_retention(tmp_path_factory: pytest.TempPathFactory) -> None:
    data = tmp_path_factory.mktemp("job-server-small") / "data"
    data.mkdir()
    with running_server(str(_slides(tmp_path_factory)), "--workers", "1", "--mask-max-cost", "500000",
                        "--mask-job-retention-s", "1", data_dir=data) as small:
        slide = requests.get(f"{small.url}/api/slides/{SLIDE}", timeout=30).json()
        aset = _upload(small, slide, "small", _star(1000, seed=1, group="tumour"))
        vertices = 1000
        refused = _start(small, aset)
        assert refused.status_code == 413, refused.text
        body = refused.json()
        assert f"{vertices:,} vertices x 2,967 output rows = {vertices * 2967:,}" in body["error"]
        assert body["details"] == [{"vertices": vertices, "rows": 2967, "cost": vertices * 2967,
                                    "limit": 500_000}]
        assert requests.get(f"{small.url}{aset['urls']['export']}?format=mask", timeout=30).status_code == 413
        job = _start(small, aset, "&downsample=16").json()  # 186 rows: 186,000, within the bound
        done = _wait(small, job, FINISHED)
        assert done["state"] == "done"
        time.sleep(1.5)  # past MASK_JOB_RETENTION_S: the next request sweeps it away
        assert requests.get(small.url + job["urls"]["self"], timeout=30).status_code == 404
        assert not [p for p in (data / "jobs").iterdir() if p.name != "slots" and not p.name.startswith(".")]
