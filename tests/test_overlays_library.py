"""The overlay library on real files: the attached ``<stem>_likelihood_map.tif`` the demo writes,
listed, converted, sampled into value tiles on the slide's Deep Zoom grid and read back."""

from __future__ import annotations

import math
import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile
from _overlay_helpers import overlay_library
from _slide_helpers import make_test_slide

from viewer import demo
from viewer.config import load_settings
from viewer.errors import (
    ConfigError,
    ForbiddenError,
    OverlayNotFoundError,
    SlideNotFoundError,
    TileNotFoundError,
)
from viewer.overlays import AddOptions, attached_id, decode_png
from viewer.services import Services
from viewer.slides import SlideLibrary, TileOptions

SLIDE_W, SLIDE_H = 3000, 2200


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A slide with the demo's likelihood map beside it (uint8, 1/64, pyramidal, deflate), made once."""
    root = tmp_path_factory.mktemp("demo")
    make_test_slide(root / "tumor_x.tif", SLIDE_W, SLIDE_H)
    demo.write_likelihood_map(root / "tumor_x_likelihood_map.tif", SLIDE_W, SLIDE_H, seed=3)
    return root


@pytest.fixture()
def demo_pair(tmp_path: Path, demo_files: Path) -> tuple[SlideLibrary, np.ndarray]:
    """A copy of :func:`demo_files` each test may change, its library, and the map's values."""
    root = shutil.copytree(demo_files, tmp_path / "slides")
    values = tifffile.imread(root / "tumor_x_likelihood_map.tif", key=0)
    return SlideLibrary(root, options=TileOptions(tile_size=254, overlap=1)), values


def test_attached_likelihood_map_listed_tiled_and_read(tmp_path: Path,
                                                       demo_pair: tuple[SlideLibrary, np.ndarray]) -> None:
    slides, values = demo_pair
    assert [s.id for s in slides.scan()] == ["tumor_x.tif"]  # the map is not a slide
    overlays = overlay_library(tmp_path, slides)
    [overlay] = overlays.list("tumor_x.tif")
    assert overlay.id == attached_id("tumor_x.tif") and overlay.id.startswith("lm-")
    assert overlay.attached and overlay.kind == "heatmap" and overlay.source_dtype == "uint8"
    assert (overlay.width, overlay.height) == (values.shape[1], values.shape[0]) == (47, 35)
    assert overlay.scale == 64 and (overlay.origin_x, overlay.origin_y) == (0, 0)
    assert (overlay.value_min, overlay.value_max, overlay.encoding) == (0, 255, "u8")
    geometry = slides.geometry("tumor_x.tif")
    assert overlay.native_level == geometry.level_count - 1 - 6
    assert not (tmp_path / "cache").exists()  # listing read the header only
    assert overlays.get(overlay.id) == overlay
    data = overlay.to_json()
    assert data["value_range"] == {"min": 0, "max": 255} and data["origin"] == {"x": 0, "y": 0}
    assert data["source"] == {"format": "tiff", "filename": "tumor_x_likelihood_map.tif",
                              "dtype": "uint8", "attached": True}

    # every px of a few tiles at the native level and one finer: the cell its centre falls in
    for level in (overlay.native_level, overlay.native_level + 3, geometry.level_count - 1):
        d = 2 ** (geometry.level_count - 1 - level)
        for col, row in ((0, 0), (1, 0), (0, 1)):
            if col * 254 >= -(-SLIDE_W // d) or row * 254 >= -(-SLIDE_H // d):
                continue
            png = overlays.tile(overlay.id, level, col, row)
            decoded, codes = decode_png(overlay, png)
            x0 = col * 254 - (1 if col else 0)
            y0 = row * 254 - (1 if row else 0)
            xs = ((x0 + np.arange(codes.shape[1]) + 0.5) * d // 64).astype(int)
            ys = ((y0 + np.arange(codes.shape[0]) + 0.5) * d // 64).astype(int)
            assert codes.shape == (min(-(-SLIDE_H // d), y0 + 256 - (0 if row else 1)) - y0,
                                   min(-(-SLIDE_W // d), x0 + 256 - (0 if col else 1)) - x0)
            np.testing.assert_array_equal(codes, values[ys][:, xs])
            assert not np.isnan(decoded).any()
    assert any(p.name.startswith(overlay.id) for p in (tmp_path / "cache" / "overlays").iterdir())
    assert overlays.list("tumor_x.tif") == [overlay]  # the converted copy describes it the same
    assert overlays.tile_etag(overlay.id, 3, 0, 0) == f'"{overlay.id}-{overlay.version}-3-0-0"'
    # the value at a slide point is the stored cell's
    assert overlays.value_at(overlay.id, 64 * 10 + 3, 64 * 7 + 63.5) == values[7, 10]
    assert overlays.value_at(overlay.id, -1, 5) is None
    assert overlays.value_at(overlay.id, SLIDE_W + 64 * 2, 5) is None
    field = overlays.field(overlay.id)
    assert field.level(0).shape == values.shape and field.level(0).dtype == np.float32
    assert field.level(field.levels - 1).shape == (1, 1)
    np.testing.assert_allclose(field.level(1)[0, 0], values[:2, :2].mean(), rtol=1e-6)

    with pytest.raises(TileNotFoundError):
        overlays.tile(overlay.id, geometry.level_count, 0, 0)
    with pytest.raises(TileNotFoundError):
        overlays.tile(overlay.id, geometry.level_count - 1, 99, 0)
    with pytest.raises(ForbiddenError):
        overlays.remove(overlay.id)
    with pytest.raises(OverlayNotFoundError):
        overlays.get("lm-0000000000")
    with pytest.raises(OverlayNotFoundError):
        overlays.get("../etc")
    with pytest.raises(SlideNotFoundError):
        overlays.list("nope.tif")


def test_attached_map_replaced_gets_a_new_version(tmp_path: Path,
                                                   demo_pair: tuple[SlideLibrary, np.ndarray]) -> None:
    slides, values = demo_pair
    overlays = overlay_library(tmp_path, slides)
    [before] = overlays.list("tumor_x.tif")
    first = overlays.tile(before.id, before.native_level, 0, 0)
    path = slides.root / "tumor_x_likelihood_map.tif"
    tifffile.imwrite(path, (255 - values).astype(np.uint8), tile=(256, 256), compression="zlib")
    [after] = overlays.list("tumor_x.tif")
    assert after.id == before.id and after.version != before.version
    _, codes = decode_png(after, overlays.tile(after.id, after.native_level, 0, 0))
    _, old_codes = decode_png(before, first)
    np.testing.assert_array_equal(codes, 255 - old_codes)
    assert math.isclose(overlays.value_at(after.id, 1, 1) or -1, 255 - values[0, 0])
    # only the current version stays converted
    assert [p.name for p in (tmp_path / "cache" / "overlays").iterdir()] == [f"{after.id}-{after.version}"]


def test_two_workers_converting_at_once_both_end_with_a_valid_cache(
        tmp_path: Path, demo_pair: tuple[SlideLibrary, np.ndarray]) -> None:
    slides, values = demo_pair
    # a float32 attached map: its range needs the data, so listing converts it
    path = slides.root / "tumor_x_likelihood_map.tif"
    probability = (values / 255).astype(np.float32)
    tifffile.imwrite(path, probability, tile=(16, 16))
    workers = [overlay_library(tmp_path, SlideLibrary(slides.root, options=slides.options)) for _ in range(4)]
    barrier = threading.Barrier(len(workers))
    results: list[object] = [None] * len(workers)

    def run(k: int) -> None:
        barrier.wait()
        try:
            [overlay] = workers[k].list("tumor_x.tif")
            results[k] = (overlay, workers[k].tile(overlay.id, overlay.native_level, 0, 0))
        except Exception as exc:  # noqa: BLE001 - reported below
            results[k] = exc

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(workers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(isinstance(r, tuple) for r in results), results
    overlays = {r[0] for r in results}  # type: ignore[index]
    tiles = {r[1] for r in results}  # type: ignore[index]
    assert len(overlays) == 1 and len(tiles) == 1
    [overlay] = overlays
    assert (overlay.source_dtype, overlay.encoding, overlay.value_min, overlay.value_max) == (
        "float32", "u16", 0, 1)
    decoded, _ = decode_png(overlay, next(iter(tiles)))
    np.testing.assert_allclose(decoded, probability[:decoded.shape[0], :decoded.shape[1]], atol=1e-5)
    cached = [p.name for p in (tmp_path / "cache" / "overlays").iterdir()]
    assert cached == [f"{overlay.id}-{overlay.version}"]  # no temporary copy left


def test_services_build_the_library_from_the_settings(tmp_path: Path) -> None:
    slides = tmp_path / "slides"
    slides.mkdir()
    make_test_slide(slides / "a.tif", 600, 400)
    dirs = {"DATA_DIR": str(tmp_path / "data"), "SLIDE_DIR": str(slides)}
    settings = load_settings(environ={}, overrides=dirs)
    assert [settings[f"OVERLAY_{n}"] for n in ("DIR", "MAX_MPX", "UPLOAD_MAX_MB")] == ["", 1000, 2048]
    library = Services(settings).overlays
    assert library.root == tmp_path / "data" / "overlays" and library.max_mpx == 1000
    assert library.cache_root == tmp_path / "data" / "cache" / "overlays"
    np.save(tmp_path / "m.npy", np.ones((25, 38), np.float32))
    added = library.add("a.tif", tmp_path / "m.npy", "m.npy", AddOptions())
    assert (tmp_path / "data" / "overlays" / added.id / "overlay.json").is_file()
    assert added.scale == 16
    chosen = load_settings(environ={"WSI_VIEWER_OVERLAY_DIR": str(tmp_path / "elsewhere"),
                                    "WSI_VIEWER_OVERLAY_MAX_MPX": "5"},
                           overrides=dirs)
    library = Services(chosen).overlays
    assert library.root == tmp_path / "elsewhere" and library.max_mpx == 5
    assert library.list("a.tif") == []
    with pytest.raises(ConfigError, match="OVERLAY_MAX_MPX must be at least 1"):
        load_settings(environ={}, overrides={"OVERLAY_MAX_MPX": 0})


def test_an_unusable_attached_map_is_not_listed_and_uploads_need_a_slide(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "slides"
    root.mkdir()
    make_test_slide(root / "b.svs.tif", 600, 400)
    make_test_slide(root / "c.tif", 600, 400)
    tifffile.imwrite(root / "b.svs_likelihood_map.tiff", np.zeros((30, 30), np.uint8))  # fits no ratio
    tifffile.imwrite(root / "c_likelihood_map.tiff", np.zeros((25, 38, 3), np.uint8), photometric="rgb")
    slides = SlideLibrary(root)
    assert sorted(s.id for s in slides.scan()) == ["b.svs.tif", "c.tif"]
    overlays = overlay_library(tmp_path, slides)
    with caplog.at_level("WARNING", logger="viewer.overlays.library"):
        assert overlays.list("b.svs.tif") == [] and overlays.list("c.tif") == []
    assert "size ratio fits no downsample" in caplog.text and "3 channels" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="viewer.overlays.library"):  # over OVERLAY_MAX_MPX
        assert overlay_library(tmp_path, slides, max_mpx=0).list("b.svs.tif") == []
    assert "over the 0 Mpx limit" in caplog.text
    with pytest.raises(OverlayNotFoundError):
        overlays.get(attached_id("c.tif"))
    # a good one with the .tiff extension is found
    tifffile.imwrite(root / "c_likelihood_map.tiff", np.zeros((25, 38), np.uint8))
    [found] = overlays.list("c.tif")
    assert found.id == attached_id("c.tif")
    assert (found.scale, found.source_filename) == (16, "c_likelihood_map.tiff")
    np.save(tmp_path / "m.npy", np.zeros((25, 38), np.float32))
    with pytest.raises(SlideNotFoundError):
        overlays.add("nope.tif", tmp_path / "m.npy", "m.npy", AddOptions())
    assert not (tmp_path / "overlays").exists()


def test_leftovers_of_a_killed_process_are_swept(tmp_path: Path,
                                                 demo_pair: tuple[SlideLibrary, np.ndarray]) -> None:
    slides, _ = demo_pair
    overlays = overlay_library(tmp_path, slides)
    root = tmp_path / "overlays"
    old_staging, old_trash = root / ".0123456789ab.tmp", root / ".ba9876543210.removed-1a2b3c4d"
    fresh = root / ".fresh.tmp"
    for d in (old_staging, old_trash, fresh):
        d.mkdir(parents=True)
        (d / "level-0.npy").write_bytes(b"x")
    old_decoding = root / ".decode-0a1b2c3d4e5f.tmp"  # a large TIFF's decoding file
    old_decoding.write_bytes(b"x")
    for d in (old_staging, old_trash, old_decoding):
        os.utime(d, (time.time() - 7200, time.time() - 7200))
    np.save(tmp_path / "m.npy", np.zeros((35, 47), np.float32))
    added = overlays.add("tumor_x.tif", tmp_path / "m.npy", "m.npy", AddOptions())
    assert sorted(p.name for p in root.iterdir()) == sorted([".fresh.tmp", added.id])  # a live one stays


def test_a_slide_whose_map_name_the_file_system_cannot_hold_lists_no_map(tmp_path: Path) -> None:
    # a 246-character stem is a valid slide name; stem + "_likelihood_map.tif" is over NAME_MAX
    slides = tmp_path / "slides"
    slides.mkdir()
    make_test_slide(slides / "short.tif", 600, 400, 128)
    (slides / "short.tif").rename(slides / ("s" * 246 + ".tif"))
    library = SlideLibrary(slides, options=TileOptions())
    [info] = library.scan()
    with pytest.raises(OSError):
        (slides / ("s" * 246 + "_likelihood_map.tif")).is_file()
    assert overlay_library(tmp_path, library).list(info.id) == []
