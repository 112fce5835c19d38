"""Display tiles on disk (``DATA_DIR/cache/display``), shared by the server's workers: a second app
on the same data directory and store (another worker, its own memory caches) answers a tile from
the file the first wrote, byte for byte, without encoding a feature; a changed set (a new version)
is never answered from an older file. Real apps over the small Aperio slide with tumor_111.xml as
its sidecar (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests._store_helpers import ENGINES, database_setting
from viewer.app import create_app

DATA = Path(__file__).parent / "data"
SLIDE_ID = "CMU-1-Small-Region.svs"


@pytest.mark.parametrize("engine", ENGINES)
def test_a_display_tile_is_shared_on_disk_and_never_stale(engine: str, tmp_path: Path) -> None:
    (tmp_path / "slides").mkdir()
    shutil.copy(DATA / "slides" / "aperio" / SLIDE_ID, tmp_path / "slides" / SLIDE_ID)
    shutil.copy(DATA / "asap" / "real" / "tumor_111.xml", tmp_path / "slides" / "CMU-1-Small-Region.xml")
    with database_setting(engine, tmp_path) as database:
        settings = {"SLIDE_DIR": str(tmp_path / "slides"), "DATA_DIR": str(tmp_path / "data"),
                    "DATABASE": database}
        first, second = create_app(settings), create_app(settings)
        try:
            a, b = first.test_client(), second.test_client()
            s = a.get(f"/api/annotations/{SLIDE_ID}").get_json()["sets"][0]
            whole = a.get(s["urls"]["self"]).get_json()
            xs = [p[0] for f in whole["features"] for p in f["geometry"]["coordinates"][0]]
            ys = [p[1] for f in whole["features"] for p in f["geometry"]["coordinates"][0]]
            box = f"{min(xs) - 10:.0f},{min(ys) - 10:.0f},{max(xs):.0f},{max(ys):.0f}"
            tile = f"{s['urls']['self']}?bbox={box}"
            for query in (f"{tile}&simplify=4&clip=1", tile):
                made = a.get(query)
                assert made.status_code == 200 and made.get_json()["features"]
                assert len(list((tmp_path / "data" / "cache" / "display").iterdir())) >= 1
                shared = b.get(query)
                assert shared.data == made.data
            # the second app encoded nothing: both answers came from the first app's files
            assert len(second.extensions["wsi_viewer"].feature_cache.texts) == 0
            # a changed set: a new version, never the old file
            feature = whole["features"][0]
            ring = [[x + 5, y] for x, y in feature["geometry"]["coordinates"][0]]
            moved = {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                     "properties": feature["properties"]}
            assert a.put(f"{s['urls']['annotations']}/{feature['id']}", json=moved).status_code == 200
            after = b.get(f"{tile}&simplify=4&clip=1").get_json()
            got = {f["id"]: f for f in after["features"]}[feature["id"]]
            assert got["geometry"]["coordinates"][0][0] == ring[0]
            assert after["version"] > whole["version"]
        finally:
            for app in (first, second):
                app.extensions["wsi_viewer"].store.close()
