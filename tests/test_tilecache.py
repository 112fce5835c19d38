"""viewer/slides/tilecache.py: rendered tiles shared on disk by every worker (two SlideLibrary objects over
one data directory stand for two worker processes), stored tiles never copied, damaged files read
as misses, and the directory kept under its bound."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from tests._slide_helpers import make_test_slide
from viewer.slides import SlideLibrary
from viewer.slides.tilecache import DiskTileCache


def library(root: Path, cache_dir: Path, max_bytes: int = 64 << 20) -> SlideLibrary:
    return SlideLibrary(root, rendered_tiles=DiskTileCache(cache_dir, max_bytes))


def cache_bytes(cache_dir: Path) -> int:
    """Bytes of the files in *cache_dir* now (a background trim may remove some meanwhile)."""
    total = 0
    for path in files(cache_dir):
        try:
            total += path.stat().st_size
        except FileNotFoundError:
            continue
    return total


def slide_root(tmp_path: Path, width: int, height: int) -> Path:
    """A slide directory with one 256 px JPEG-tiled slide, s.tiff."""
    slides = tmp_path / "slides"
    slides.mkdir()
    make_test_slide(slides / "s.tiff", width, height, tile_size=256)
    return slides


def files(cache_dir: Path) -> list[Path]:
    return sorted(p for p in cache_dir.rglob("*") if p.is_file())


def test_a_tile_rendered_by_one_worker_is_read_by_another(tmp_path: Path) -> None:
    slides = slide_root(tmp_path, 1000, 700)
    first = library(slides, tmp_path / "tiles")
    geometry = first.geometry("s.tiff")
    top = geometry.level_count - 1
    edge = (top, 3, 2)  # 1000 x 700 in 256 px tiles: column 3 and row 2 are cropped edge tiles
    etag = first.tile_etag("s.tiff", *edge, "jpeg")
    rendered = first.tile("s.tiff", *edge, "jpeg").data
    assert len(files(tmp_path / "tiles")) == 1

    second = library(slides, tmp_path / "tiles")
    assert second.tile("s.tiff", *edge, "jpeg").data == rendered
    # The second worker takes the file, not a render of its own: a marker put there comes back.
    DiskTileCache(tmp_path / "tiles", 64 << 20).put(etag.strip('"'), b"from disk")
    third = library(slides, tmp_path / "tiles")
    assert third.tile("s.tiff", *edge, "jpeg").data == b"from disk"


def test_stored_tiles_are_not_copied_and_png_tiles_are(tmp_path: Path) -> None:
    slides = slide_root(tmp_path, 1024, 768)
    lib = library(slides, tmp_path / "tiles")
    top = lib.geometry("s.tiff").level_count - 1
    lib.tile("s.tiff", top, 1, 1, "jpeg")  # interior tile of a stored level: sent as stored
    assert files(tmp_path / "tiles") == []
    png = lib.tile("s.tiff", top, 1, 1, "png").data
    [stored] = files(tmp_path / "tiles")
    assert stored.read_bytes().endswith(png)


def test_a_damaged_file_is_a_miss_and_is_replaced(tmp_path: Path) -> None:
    slides = slide_root(tmp_path, 1000, 700)
    lib = library(slides, tmp_path / "tiles")
    top = lib.geometry("s.tiff").level_count - 1
    good = lib.tile("s.tiff", top, 3, 2, "jpeg").data
    [path] = files(tmp_path / "tiles")
    path.write_bytes(path.read_bytes()[:-100])  # as after a crash before the data reached the disk
    again = library(slides, tmp_path / "tiles").tile("s.tiff", top, 3, 2, "jpeg").data
    assert again == good
    assert path.read_bytes().endswith(good)


def test_the_directory_stays_under_its_bound_oldest_first(tmp_path: Path) -> None:
    writer = DiskTileCache(tmp_path, 1 << 30)  # a bound no write reaches: no background trim
    cache = DiskTileCache(tmp_path, 100_000)
    now = time.time()
    for i in range(30):
        key = f"{i:04x}" + "ab" * 8
        writer.put(key, bytes([i]) * 10_000)
        path = tmp_path / key[:2] / key
        os.utime(path, (now - 1000 + i, now - 1000 + i))  # written one after the other
    stale = tmp_path / "00" / ".tmp-1-2-0000abab"
    stale.write_bytes(b"x")
    os.utime(stale, (now - 3600, now - 3600))
    held = cache.trim()
    assert held <= 100_000
    kept = sorted(int(p.name[:4], 16) for p in files(tmp_path))
    assert kept and kept == list(range(kept[0], 30))  # the newest survive
    assert not stale.exists()
    assert cache.get(f"{29:04x}" + "ab" * 8) == bytes([29]) * 10_000
    assert cache.get(f"{0:04x}" + "ab" * 8) is None


def test_writes_past_the_bound_trim_in_the_background(tmp_path: Path) -> None:
    cache = DiskTileCache(tmp_path, 80_000)
    for i in range(40):
        cache.put(f"{i:04x}" + "cd" * 8, bytes([i]) * 10_000)
    deadline = time.monotonic() + 30
    while cache_bytes(tmp_path) > 80_000 + 20 * (10_000 + 12):
        assert time.monotonic() < deadline, "the cache was never trimmed"
        time.sleep(0.05)
    assert cache.get(f"{39:04x}" + "cd" * 8) == bytes([39]) * 10_000


def test_writes_made_while_a_trim_runs_are_trimmed_after_it(tmp_path: Path) -> None:
    """A trim lists the directory once: writes that land after its listing need another trim."""
    listed = threading.Event()
    release = threading.Event()

    class SlowFirstTrim(DiskTileCache):
        calls = 0

        def trim(self) -> int:
            held = super().trim()
            SlowFirstTrim.calls += 1
            if SlowFirstTrim.calls == 1:
                listed.set()
                release.wait(30)
            return held

    cache = SlowFirstTrim(tmp_path, 80_000)
    cache.put("0000" + "ef" * 8, b"\0" * 10_000)  # the first write checks the size: a trim starts
    assert listed.wait(30)
    for i in range(1, 40):  # all of these after that trim's listing
        cache.put(f"{i:04x}" + "ef" * 8, bytes([i]) * 10_000)
    release.set()
    deadline = time.monotonic() + 30
    while cache_bytes(tmp_path) > 80_000:
        assert time.monotonic() < deadline, "the writes made during a trim were never trimmed"
        time.sleep(0.05)
    assert SlowFirstTrim.calls >= 2
    assert cache.get(f"{39:04x}" + "ef" * 8) == bytes([39]) * 10_000
