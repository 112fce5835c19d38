"""Scale-out, with real parts: Debian's nginx running the shipped ``deploy/nginx.conf`` (only its
addresses and paths changed) in front of two ``wsi-viewer serve`` instances on different ports that
share one PostgreSQL store (a fresh schema on ``WSI_VIEWER_TEST_DATABASE_URL``) and one slide
directory, as ``compose.yaml`` runs them.

Without logins, one story: a change saved through one instance is visible through the other at
once, and a stale write through the other is refused; concurrent edits through both keep every
change; tiles come from nginx's cache on a revisit (with credentials or without: one shared copy); a
mask job is polled through either instance; one instance killed (SIGKILL) while writes go through nginx
loses no acknowledged write, applies each write once when its client sends it again with the same
Idempotency-Key (the editor's save queue), and nginx sends everything to the other instance.
With logins (AUTH=builtin, then proxy): nginx asks the app's /auth/check before its tile cache, so a
tile fetched with one user's token comes from the cache for another's session or token, a request
without valid credentials is refused (401 JSON) even for a cached tile and its refusal is not cached,
a revoked token is refused within the check's cache of 5 s, and a client's own X-Remote-User never
gets past nginx.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests._server import Server, free_port, running_process, running_server
from tests._store_helpers import PG_ENV, pg_schema
from viewer.auth import Accounts
from viewer.store import Store, database_url

ROOT = Path(__file__).parent.parent
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
SLIDE = ROOT / "tests" / "data" / "slides" / "aperio" / "CMU-1-Small-Region.svs"
SLIDE_ID = SLIDE.name
#: Answers 200 with logins on or off, once a server (or nginx in front of one) serves.
PUBLIC_PATH = "/healthz"

# nginx and two servers with their own processes: kept on one xdist worker, away from the others.
pytestmark = [pytest.mark.xdist_group("scale_out"), pytest.mark.postgres]


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    assert found, "Debian's nginx is needed (tests/run-all.sh installs it: apt-get install nginx)"
    return found


def tls_lines(text: str) -> list[str]:
    """The lines the TLS comment at the top of the configuration says replace ``listen 80;``."""
    comment = text.split('replace the line "listen 80;" below with these lines', 1)[1].split("\n# mount")[0]
    return [line[len("#     "):] for line in comment.splitlines() if line.startswith("#     ")]


def templated_conf(root: Path, port: int, upstreams: tuple[int, int], tls: Path | None = None) -> str:
    """``deploy/nginx.conf`` with this machine's addresses and paths, every directive unchanged;
    with *tls* (a directory holding fullchain.pem and privkey.pem), served over TLS as its comment
    says."""
    text = NGINX_CONF.read_text()
    listen = f"listen 127.0.0.1:{port};"
    if tls is not None:
        lines = tls_lines(text)
        assert lines[0] == "listen 443 ssl http2;", lines
        lines[0] = f"listen 127.0.0.1:{port} ssl http2;"
        listen = "\n        ".join(lines).replace("/etc/nginx/tls/", f"{tls}/")
    replacements = {
        "server app1:8000 ": f"server 127.0.0.1:{upstreams[0]} ",
        "server app2:8000 ": f"server 127.0.0.1:{upstreams[1]} ",
        "        listen 80;": f"        {listen}",
        "/var/cache/nginx/": f"{root}/cache/",
        "/var/log/nginx/": f"{root}/log/",
        "pid /run/nginx.pid;": f"pid {root}/nginx.pid;",
    }
    for old, new in replacements.items():
        assert old in text, f"deploy/nginx.conf no longer has {old!r}"
        text = text.replace(old, new)
    return text


@dataclass
class Proxy:
    url: str
    access_log: Path

    def log_lines(self, until: str = "") -> list[str]:
        """The access log's lines, once one holds *until* (nginx writes a request's line just after
        its answer, so a client may read the answer first)."""
        deadline = time.monotonic() + 10
        while True:
            lines = self.access_log.read_text().splitlines()
            if any(until in line for line in lines) or time.monotonic() > deadline:
                return lines
            time.sleep(0.05)


@contextmanager
def running_nginx(upstreams: tuple[int, int], tls: Path | None = None) -> Iterator[Proxy]:
    """nginx with the shipped configuration in front of *upstreams*; over TLS with *tls* (see
    :func:`templated_conf`; requests must trust its certificate: REQUESTS_CA_BUNDLE)."""
    # nginx's workers run as nobody when the test runs as root: a directory they can enter.
    root = Path(tempfile.mkdtemp(prefix="wsi-nginx-"))
    root.chmod(0o755)
    for sub in ("cache", "log"):
        (root / sub).mkdir(mode=0o755)
    port = free_port()
    conf = root / "nginx.conf"
    conf.write_text(templated_conf(root, port, upstreams, tls))
    nginx = nginx_binary()
    checked = subprocess.run([nginx, "-t", "-q", "-p", str(root), "-c", str(conf)],
                             capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    try:
        with running_process([nginx, "-p", str(root), "-c", str(conf), "-g", "daemon off;"],
                             probe=url + PUBLIC_PATH, log_path=root / "nginx.out", env=dict(os.environ),
                             timeout=60):
            yield Proxy(url, root / "log" / "access.log")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def upstream(proxy: Proxy, request_id: str) -> str:
    """The instance that answered the request of *request_id*, from nginx's access log."""
    tag = f"rid={request_id}"
    found = [line for line in proxy.log_lines(until=tag) if line.endswith(tag)]
    assert len(found) == 1, (request_id, found)
    return re.search(r" upstream=(\S+) ", found[0])[1]  # type: ignore[index]


def feature(name: str, x: float = 100.0) -> dict[str, Any]:
    ring = [[x, 100.0], [x + 50, 100.0], [x + 50, 150.0], [x, 100.0]]
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": {"name": name, "asap": {"type": "Polygon", "group": None, "color": "#F4FA58"}}}


def names(base: str, set_id: int) -> list[str]:
    answer = requests.get(f"{base}/api/sets/{set_id}", timeout=30)
    assert answer.status_code == 200, answer.text
    return [f["properties"]["name"] for f in answer.json()["features"]]


@dataclass
class Cluster:
    servers: list[Server]
    proxy: Proxy
    database: str
    data: Path


@contextmanager
def running_cluster(data: Path, *args: str, instances: int = 2, tls: Path | None = None,
                    env: dict[str, str] | None = None) -> Iterator[Cluster]:
    """*instances* ``wsi-viewer serve ARGS`` on one fresh PostgreSQL schema, one slide directory and
    one data directory (as compose.yaml's instances share them), nginx in front of them (one
    instance: both upstream lines name it; *tls*: see :func:`running_nginx`)."""
    assert os.environ.get(PG_ENV), f"{PG_ENV} is needed (tests/run-all.sh starts PostgreSQL)"
    slides = Path(tempfile.mkdtemp(prefix="wsi-slides-"))
    shutil.copy(SLIDE, slides / SLIDE_ID)
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, slides, True)
        database = stack.enter_context(pg_schema())
        data.mkdir()
        managers = [running_server(
            str(slides), "--database", database, "--workers", "1", "--threads", "4", *args,
            data_dir=data, env={"WSI_VIEWER_SIDECAR_IMPORT": "0", **(env or {})}, probe=PUBLIC_PATH)
            for _ in range(instances)]
        with ThreadPoolExecutor(instances) as pool:  # started together (each waits until it serves)
            starts = [pool.submit(manager.__enter__) for manager in managers]
        for manager, start in zip(managers, starts, strict=True):
            if start.exception() is None:
                stack.push(manager)  # stopped when the stack unwinds
        servers = [start.result() for start in starts]
        ports = [int(server.url.rsplit(":", 1)[1]) for server in servers]
        proxy = stack.enter_context(running_nginx((ports[0], ports[-1]), tls))
        yield Cluster(servers, proxy, database, data)


@pytest.fixture()
def cluster(tmp_path: Path) -> Iterator[tuple[Server, Server, Proxy]]:
    with running_cluster(tmp_path / "data") as found:
        yield found.servers[0], found.servers[1], found.proxy


def test_two_instances_behind_nginx_share_every_change_and_survive_one_killed(
    cluster: tuple[Server, Server, Proxy],
) -> None:
    a, b, proxy = cluster

    # --- a change through one instance is visible through the other at once ---------------------
    created = requests.post(f"{a.url}/api/annotations/{SLIDE_ID}", json={"name": "shared"}, timeout=30)
    assert created.status_code == 201, created.text
    s = created.json()["set"]
    set_id, add_url = s["id"], a.url + s["urls"]["annotations"]
    first = requests.post(add_url, json=feature("first"), timeout=30)
    assert first.status_code == 201, first.text
    assert names(b.url, set_id) == ["first"]
    location, etag = first.headers["Location"], first.headers["ETag"]
    moved = requests.put(b.url + location, json=feature("moved", 400), headers={"If-Match": etag}, timeout=30)
    assert moved.status_code == 200, moved.text
    assert names(a.url, set_id) == ["moved"]
    stale = requests.put(a.url + location, json=feature("stale"), headers={"If-Match": etag}, timeout=30)
    assert stale.status_code == 412, stale.text  # one row version for both instances
    assert names(b.url, set_id) == ["moved"]

    # --- concurrent edits through both keep every change ------------------------------------------
    def add_direct(base: str, name: str) -> int:
        with requests.Session() as http:
            return http.post(base + s["urls"]["annotations"], json=feature(name), timeout=60).status_code

    wanted = [(base, f"{tag}{i}") for i in range(12) for base, tag in ((a.url, "a"), (b.url, "b"))]
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda job: add_direct(*job), wanted))
    assert statuses == [201] * len(wanted)
    assert sorted(names(a.url, set_id)) == sorted(["moved", *(n for _, n in wanted)])
    history = requests.get(f"{b.url}/api/sets/{set_id}/history", timeout=30).json()["changes"]
    assert len(history) == 1 + 2 + len(wanted)  # the set, first + moved, each concurrent one

    # --- tiles: from nginx's cache on a revisit, one copy for everyone ----------------------------
    tile = f"{proxy.url}/deepzoom/{SLIDE_ID}_files/10/0_0.jpeg"
    miss = requests.get(tile, timeout=30)
    assert miss.status_code == 200 and miss.headers["X-Cache-Status"] == "MISS"
    assert miss.content[:2] == b"\xff\xd8"
    hit = requests.get(tile, timeout=30, headers={"X-Request-Id": "revisit-1"})
    assert hit.status_code == 200 and hit.headers["X-Cache-Status"] == "HIT"
    assert hit.content == miss.content and hit.headers["ETag"] == miss.headers["ETag"]
    assert hit.headers["X-Request-Id"] == "revisit-1"  # this request's, not the one cached with it
    assert upstream(proxy, "revisit-1") == "-"  # no instance was asked
    fresh = requests.get(tile, headers={"If-None-Match": miss.headers["ETag"]}, timeout=30)
    assert fresh.status_code == 304 and fresh.headers["X-Cache-Status"] == "HIT"
    for credentials in ({"Cookie": "wsi_session=x"}, {"Authorization": "Bearer wsv_x"}):  # AUTH=none
        shared = requests.get(tile, headers=credentials, timeout=30)
        assert shared.status_code == 200 and shared.headers["X-Cache-Status"] == "HIT"
        assert shared.content == miss.content
    assert requests.get(f"{proxy.url}/metrics", timeout=30).status_code == 403  # per instance only
    # nginx's request id (none came with the request) is the one the instance logged and answered with
    listed = requests.get(f"{proxy.url}/api/slides", timeout=30)
    request_id = listed.headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id), request_id  # nginx's $request_id, not the app's
    assert upstream(proxy, request_id) in (a.url.split("//")[1], b.url.split("//")[1])
    for _ in range(2):  # overlay tiles take the same way; an error is never cached
        missing = requests.get(f"{proxy.url}/overlays/{'0' * 32}_files/10/0_0.png", timeout=30)
        assert missing.status_code == 404 and missing.headers["X-Cache-Status"] == "MISS", missing.text
        assert "error" in missing.json()
    dzi = requests.get(f"{proxy.url}/deepzoom/{SLIDE_ID}.dzi", timeout=30)
    assert dzi.status_code == 200 and "X-Cache-Status" not in dzi.headers  # only tiles are cached

    # --- nginx's own refusals are JSON as the app's are; its body limits are the app's --------------
    host, port = proxy.url.split("//")[1].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.putrequest("POST", s["urls"]["annotations"])
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str((64 << 20) + 1))  # MAX_UPLOAD_MB + 1 byte: refused at once
    connection.endheaders()
    too_large = connection.getresponse()
    assert too_large.status == 413 and "MAX_UPLOAD_MB" in json.loads(too_large.read())["error"]
    connection.close()
    # 65 MiB (a file the app reads whole, then refuses) pass on the overlay upload route
    upload = requests.post(f"{proxy.url}/api/slides/{SLIDE_ID}/overlays", timeout=60,
                           files={"file": ("heat.npy", bytes(65 << 20))}, headers={"X-Requested-With": "t"})
    assert upload.status_code == 422 and "error" in upload.json(), upload.text  # the app's answer

    # --- a mask job, polled through nginx: whichever instance answers knows it (shared DATA_DIR) ---
    started = requests.post(f"{proxy.url}{s['urls']['export']}?format=mask&downsample=8",
                            headers={"Content-Type": "application/json"}, data="{}", timeout=30)
    assert started.status_code == 202, started.text
    job = started.json()
    states: list[str] = []
    answered_by: set[str] = set()
    # polled until done, and on until both instances have answered (each nginx worker alternates)
    while len(states) < 300 and (states[-1:] != ["done"] or len(answered_by) < 2):
        rid = f"poll-{len(states):03d}"
        polled = requests.get(proxy.url + job["urls"]["self"], headers={"X-Request-Id": rid}, timeout=30)
        assert polled.status_code == 200, polled.text
        states.append(polled.json()["state"])
        answered_by.add(upstream(proxy, rid))
        time.sleep(0 if states[-1] == "done" else 0.1)
    assert states[-1] == "done" and len(answered_by) == 2, (states, answered_by)
    mask = requests.get(proxy.url + job["urls"]["result"], timeout=30)
    assert mask.status_code == 200 and mask.content[:4] in (b"II*\0", b"II+\0"), mask.text[:200]

    # --- one instance killed mid-write: nothing acknowledged lost, each write applied once ---------
    acknowledged: list[str] = []
    lock = threading.Lock()
    ten_acknowledged = threading.Event()
    failures_seen: list[int] = []

    def add_through_nginx(name: str) -> None:
        """The editor's save queue: the same request and Idempotency-Key until it is answered."""
        key = str(uuid.uuid4())
        with requests.Session() as http:
            for _ in range(50):
                answer = http.post(proxy.url + s["urls"]["annotations"], json=feature(name),
                                   headers={"Idempotency-Key": key}, timeout=60)
                if answer.status_code == 201:
                    with lock:
                        acknowledged.append(name)
                        if len(acknowledged) >= 10:
                            ten_acknowledged.set()
                    return
                assert answer.status_code in (502, 503, 504), answer.text
                assert "error" in answer.json()  # nginx's own 502 too
                failures_seen.append(answer.status_code)
                time.sleep(0.1)
        raise AssertionError(f"{name} was never acknowledged")

    through_nginx = [f"n{i}" for i in range(40)]
    with ThreadPoolExecutor(6) as pool:
        writers = pool.map(add_through_nginx, through_nginx)
        assert ten_acknowledged.wait(60)
        # A stops answering (SIGSTOP; its kernel still accepts connections), so the writes nginx
        # hands it from now on are in flight there, unanswered, when it is killed a second later
        os.killpg(a.process.pid, signal.SIGSTOP)
        time.sleep(1)
        os.killpg(a.process.pid, signal.SIGKILL)
        list(writers)
    assert a.process.wait(10) == -signal.SIGKILL
    # nginx did not send those writes on to B itself (POST: A might have applied them); their
    # clients got 502 and sent them again with their keys
    assert failures_seen and set(failures_seen) == {502}, failures_seen
    assert sorted(acknowledged) == sorted(through_nginx)
    stored = names(b.url, set_id)
    assert sorted(n for n in stored if n.startswith("n")) == sorted(through_nginx)  # each exactly once

    # nginx sends every request to the survivor now, reads and writes, with no error on the way
    for i in range(6):
        read = requests.get(f"{proxy.url}/api/sets/{set_id}", timeout=30)
        assert read.status_code == 200, read.text
        wrote = requests.post(proxy.url + s["urls"]["annotations"], json=feature(f"after{i}"), timeout=30)
        assert wrote.status_code == 201, wrote.text
    assert sum(n.startswith("after") for n in names(proxy.url, set_id)) == 6


def self_signed(directory: Path) -> Path:
    """fullchain.pem and privkey.pem for 127.0.0.1 in *directory* (made by openssl), returned."""
    directory.mkdir()
    made = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(directory / "privkey.pem"),
         "-out", str(directory / "fullchain.pem")], capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    return directory


def test_with_logins_tiles_are_cached_shared_behind_the_access_check_and_a_clients_user_header_is_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # AUTH=builtin (compose.yaml's), nginx serving TLS as its comment says: tiles need a session or
    # a token, checked by nginx (auth_request to /auth/check) before its shared cache; two accounts,
    # made once, are known to both instances (the shared database); the session cookie is Secure
    # although the app sees http.
    tls = self_signed(tmp_path / "tls")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls / "fullchain.pem"))
    # gunicorn believes X-Forwarded-Proto from loopback peers (its forwarded_allow_ips), which nginx
    # is here but not in compose.yaml: trust none, so the instances see plain http as there.
    untrusted = {"FORWARDED_ALLOW_IPS": "192.0.2.1"}
    with running_cluster(tmp_path / "builtin", "--auth", "builtin", tls=tls, env=untrusted) as found:
        proxy = found.proxy
        store = Store(database_url(found.database, found.data))  # as `wsi-viewer users add`, `token`
        try:
            accounts = Accounts(store)
            accounts.add("ann", "viewer", "correct horse")
            accounts.add("bob", "annotator", "battery staple")
            ann = {"Authorization": f"Bearer {accounts.new_token('ann', 'scale-out test')}"}
            bob = {"Authorization": f"Bearer {accounts.new_token('bob', 'scale-out test')}"}
        finally:
            store.close()
        tile = f"{proxy.url}/deepzoom/{SLIDE_ID}_files/10/0_0.jpeg"

        def refused(headers: dict[str, str] | None = None) -> None:
            """nginx's refusal (auth_request), before its cache: 401 JSON, no tile, not stored."""
            answer = requests.get(tile, headers=headers or {}, timeout=30)
            assert answer.status_code == 401 and "log in" in answer.json()["error"], answer.text
            assert answer.headers["Cache-Control"] == "no-store" and "X-Cache-Status" not in answer.headers
            assert answer.headers["WWW-Authenticate"] == 'Bearer realm="wsi-viewer"'

        for _ in range(2):  # a refusal is not stored either
            refused()
        refused({"Authorization": "Bearer wsv_nonsense"})
        first = requests.get(tile, headers=ann, timeout=30)
        assert first.status_code == 200 and first.headers["X-Cache-Status"] == "MISS", first.text
        assert first.content[:2] == b"\xff\xd8"
        assert first.headers["Cache-Control"].startswith("private")  # for the browser: still its own
        shared = requests.get(tile, headers={**bob, "X-Request-Id": "bob-hit"}, timeout=30)
        assert shared.status_code == 200 and shared.headers["X-Cache-Status"] == "HIT"  # another user
        assert shared.content == first.content
        refused()  # the tile is cached: still refused without credentials
        answered_by: set[str] = set()
        for i in range(200):  # until both instances have answered: each knows the token
            rid = f"bearer-{i:03d}"
            listed = requests.get(f"{proxy.url}/api/slides", headers={**ann, "X-Request-Id": rid}, timeout=30)
            assert listed.status_code == 200, listed.text
            answered_by.add(upstream(proxy, rid))
            if len(answered_by) == 2 and i >= 3:
                break
        assert len(answered_by) == 2, answered_by

        with requests.Session() as browser:  # a login over https: its cookies are Secure
            form = browser.get(f"{proxy.url}/login", timeout=30)
            assert form.status_code == 200 and form.headers["Strict-Transport-Security"]
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)[1]  # type: ignore[index]
            refused({"Cookie": f"wsi_session={browser.cookies['wsi_session']}"})  # a login form's: nobody
            logged_in = browser.post(f"{proxy.url}/login", allow_redirects=False, timeout=30, data={
                "name": "ann", "password": "correct horse", "csrf_token": csrf, "next": "/"})
            assert logged_in.status_code in (302, 303), logged_in.text
            for answer in (form, logged_in):
                cookie = answer.headers["Set-Cookie"]
                assert cookie.startswith("wsi_session=") and "; Secure" in cookie, cookie
            through_session = browser.get(tile, timeout=30)
            assert through_session.status_code == 200 and through_session.content == first.content
            assert through_session.headers["X-Cache-Status"] == "HIT"

        # bob's token revoked (`wsi-viewer users token --revoke`, another process): nginx's cached
        # check of it and the instances' own caches end within 5 s, then even a cached tile is refused
        assert requests.get(tile, headers=bob, timeout=30).status_code == 200  # the check: cached now
        revoked = time.monotonic()
        store = Store(database_url(found.database, found.data))
        try:
            accounts = Accounts(store)
            accounts.revoke_token(accounts.tokens("bob")[0].id)
        finally:
            store.close()
        time.sleep(max(0.0, revoked + 5.2 - time.monotonic()))
        for _ in range(4):  # through either instance (each of its nginx checks goes to the next one)
            refused(bob)
        assert requests.get(tile, headers=ann, timeout=30).headers["X-Cache-Status"] == "HIT"

    # AUTH=proxy trusting this machine's address, which is nginx's: a client's own X-Remote-User
    # sent through nginx is dropped there, while the instance itself would have believed it.
    with running_cluster(tmp_path / "proxy", "--auth", "proxy", "--trusted-proxies", "127.0.0.1/32",
                         instances=1) as found:
        claimed = {"X-Remote-User": "mallory"}
        direct = requests.get(f"{found.servers[0].url}/api/slides", headers=claimed, timeout=30)
        assert direct.status_code == 200, direct.text  # a trusted peer's header is believed
        through = requests.get(f"{found.proxy.url}/api/slides", headers=claimed, timeout=30)
        assert through.status_code == 401, through.text
        tile = f"{found.proxy.url}/deepzoom/{SLIDE_ID}_files/10/0_0.jpeg"
        assert requests.get(tile, headers=claimed, timeout=30).status_code == 401
