"""/healthz and /readyz: the process answers; the store answers SELECT 1 and the slide directory can
be listed, else 503 naming what failed."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests._server import free_port


def test_healthz_and_readyz_when_all_is_well(make_app: object, slide_dir: Path) -> None:
    client = make_app(SLIDE_DIR=str(slide_dir)).test_client()  # type: ignore[operator]
    live = client.get("/healthz")
    assert live.status_code == 200 and live.json == {"status": "ok"}
    assert live.headers["Cache-Control"] == "no-store"
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.json
    assert ready.json == {"status": "ok", "checks": {"store": "ok", "slides": "ok"}}


def test_readyz_names_a_slide_directory_gone(make_app: object, slide_dir: Path, tmp_path: Path) -> None:
    slides = tmp_path / "slides"
    shutil.copytree(slide_dir / "generic-tiff", slides)
    client = make_app(SLIDE_DIR=str(slides)).test_client()  # type: ignore[operator]
    assert client.get("/readyz").status_code == 200
    shutil.rmtree(slides)  # an unmounted share
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json["checks"] == {"store": "ok", "slides": "failed"}
    error = ready.json["error"]
    assert error.startswith("not ready: slide directory ") and str(slides) in error
    assert client.get("/healthz").status_code == 200  # alive, only not ready


def test_readyz_names_a_store_that_does_not_answer(make_app: object, slide_dir: Path) -> None:
    port = free_port()  # nothing listens there
    client = make_app(SLIDE_DIR=str(slide_dir),  # type: ignore[operator]
                      DATABASE=f"postgresql://nobody:secret@127.0.0.1:{port}/none").test_client()
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json["checks"] == {"store": "failed", "slides": "ok"}
    assert ready.json["details"][0].startswith("store: ")
    assert "secret" not in ready.text  # the URL's password is not shown
    assert client.get("/healthz").status_code == 200


def test_probes_and_metrics_need_no_login_with_logins_on(make_app: object, slide_dir: Path) -> None:
    # a load balancer's probe and Prometheus carry no session: the probes are public, /metrics goes
    # by METRICS_ALLOW alone; the API beside them still wants a login
    for mode in ("builtin", "proxy"):
        client = make_app(SLIDE_DIR=str(slide_dir), AUTH=mode,  # type: ignore[operator]
                          METRICS_ALLOW="10.0.0.0/8").test_client()
        assert client.get("/healthz").status_code == 200, mode
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json["checks"] == {"store": "ok", "slides": "ok"}, mode
        scraped = client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"})
        assert scraped.status_code == 200 and b"wsi_viewer_tiles_served_total" in scraped.data, mode
        assert client.get("/metrics").status_code == 403, mode  # not by a login: 127.0.0.1 is not allowed
        assert client.get("/api/slides").status_code == 401, mode
