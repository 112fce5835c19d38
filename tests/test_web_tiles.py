"""The tile fast path of viewer/web/tiles.py: the same answer as the Flask tile route, for a miss and
for a cached tile, and everything it does not answer itself (conditional requests, errors, other
URLs) reaches Flask."""

from __future__ import annotations

from pathlib import Path

from flask import request
from werkzeug.test import Client

from viewer.web.tiles import serve_tiles_directly

SLIDE = "aperio/CMU-1-Small-Region.svs"


def test_tiles_answered_like_the_route(make_app, slide_dir: Path) -> None:
    plain = make_app(SLIDE_DIR=str(slide_dir)).test_client()
    app = make_app(SLIDE_DIR=str(slide_dir))
    reached_flask: list[str] = []
    app.before_request(lambda: reached_flask.append(request.path))
    serve_tiles_directly(app)
    fast = Client(app)
    library = app.extensions["wsi_viewer"].slides
    for url in (f"/deepzoom/{SLIDE}_files/12/1_1.jpeg", f"/deepzoom/{SLIDE}_files/9/0_0.jpeg",
                f"/deepzoom/{SLIDE}_files/11/2_3.png"):
        expected = plain.get(url)
        assert expected.status_code == 200
        etag = expected.headers["ETag"]
        assert library.cached_tile(etag) is None
        first = fast.get(url)  # a miss: read (or rendered), cached and answered before Flask
        assert library.cached_tile(etag) is not None
        second = fast.get(url)  # a hit
        for response in (first, second):
            assert response.status_code == 200
            assert response.data == expected.data
            for name in ("Content-Type", "Content-Length", "ETag", "Cache-Control"):
                assert response.headers[name] == expected.headers[name], name
        assert reached_flask == []
        # conditional requests still get Flask's 304
        assert fast.get(url, headers={"If-None-Match": etag}).status_code == 304
        assert reached_flask == [url]
        reached_flask.clear()


def test_everything_else_reaches_flask(make_app, slide_dir: Path) -> None:
    app = make_app(SLIDE_DIR=str(slide_dir))
    serve_tiles_directly(app)
    fast = Client(app)
    assert fast.get(f"/deepzoom/{SLIDE}_files/12/1_1.jpeg").status_code == 200
    for url, status in [
        (f"/deepzoom/{SLIDE}_files/12/999_1.jpeg", 404),  # outside the grid
        (f"/deepzoom/{SLIDE}_files/99/0_0.jpeg", 404),
        ("/deepzoom/nope.svs_files/12/1_1.jpeg", 404),
        (f"/deepzoom/../{SLIDE}_files/12/1_1.jpeg", 404),
        ("/deepzoom/aperio//CMU-1-Small-Region.svs_files/12/1_1.jpeg", 404),
        (f"/deepzoom/{SLIDE}_files/12/1_1.gif", 404),
    ]:
        response = fast.get(url)
        assert response.status_code == status, url
        assert response.get_json()["status"] == status  # Flask's error shape
    assert fast.get(f"/deepzoom/{SLIDE}.dzi").status_code == 200
    assert fast.head(f"/deepzoom/{SLIDE}_files/12/1_1.jpeg").status_code == 200
