"""Our TIFF reading and writing, in-house against tifffile (issue 14), in the same run.

Both sides run alternately, *repeats* times each, and the medians are printed with the load
average before and after (the figures of a loaded machine are only comparable within one run).

(a) Stored-tile passthrough (``viewer.slides.stored``): a CAMELYON-like JPEG-tiled BigTIFF
    (default 100,000 x 80,000 px, 512 px tiles, abbreviated tiles with shared JPEGTables) written
    once; the open-time cost (``read_tiled_directories``: every directory and its tile offsets) and
    the per-tile cost of fetching N stored tiles' bytes merged with the tables (``StoredTiles.tile``).
    "in-house" is ``viewer.slides.tiffreader``, "tifffile" the same directories read with
    ``tifffile.TiffFile`` (``page.dataoffsets``, ``databytecounts``, ``jpegtables``;
    :func:`tifffile_directories` below): tifffile was slower at opening, so the viewer kept its own.
(b) Demo generation, the writer part: the demo slide's pyramid (61,440 x 40,960 px, 512 px JPEG
    tiles, YCbCr) and the likelihood map (uint8 deflate, 1/64) written from tiles encoded
    beforehand, so that only the writer is timed (wall time, fsync included, and CPU time).

    python benchmarks/tiff_io.py                       # the figures
    python benchmarks/tiff_io.py --tiny                # check that it runs (seconds)
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import openslide
import tifffile

from viewer import tiffwriter
from viewer.slides import tiffreader
from viewer.slides.stored import StoredTiles

ROOT = Path(__file__).resolve().parent.parent
BEFORE = "1dddac4"  # the last commit with the in-house writer


def load_old(rev: str, relative: str, name: str, into: Path) -> ModuleType:
    """The module at *relative* as it was at *rev*, imported under *name* from a file in *into*."""
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:{relative}"], check=True,
                            capture_output=True, text=True).stdout
    path = into / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def tifffile_directories(path: Path) -> list[tiffreader.TiledDirectory]:
    """``tiffreader.read_tiled_directories`` done with tifffile (the "tifffile" side of (a))."""
    result = []
    with tifffile.TiffFile(path) as tif:
        tif.pages.cache = False
        for page in tif.pages:
            if not isinstance(page, tifffile.TiffPage) or not page.is_tiled:
                continue
            tables = page.jpegtables
            result.append(tiffreader.TiledDirectory(
                width=page.imagewidth, height=page.imagelength, tile_width=page.tilewidth,
                tile_height=page.tilelength, compression=int(page.compression),
                photometric=int(page.photometric), samples_per_pixel=page.samplesperpixel,
                planar_config=int(page.planarconfig),
                tile_offsets=np.asarray(page.dataoffsets, dtype=np.int64),
                tile_byte_counts=np.asarray(page.databytecounts, dtype=np.int64),
                jpeg_tables=bytes(tables) if tables else None,
            ))
    return result


def tile_pool(tile_size: int, count: int, seed: int = 0) -> list[bytes]:
    """*count* self-contained JPEG tiles (q80 4:2:0) of smooth H&E-like colour with faint noise
    (~16 KB each at 512 px)."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:tile_size, 0:tile_size].astype(np.float32)
    pool = []
    for i in range(count):
        image = np.empty((tile_size, tile_size, 3), np.float32)
        image[..., 0] = 200 + 30 * np.sin(xs / (20 + i) + ys / 37)
        image[..., 1] = 140 + 40 * np.cos(ys / (25 + i) - xs / 53)
        image[..., 2] = 190 + 25 * np.sin((xs + ys) / 41)
        image += rng.normal(0, 2, image.shape)
        pixels = np.clip(image, 0, 255).astype(np.uint8)
        pool.append(tiffwriter.encode_tile(pixels, "jpeg", 80, "4:2:0"))
    return pool


def pooled_tiles(pool: list[bytes], sizes: list[tuple[int, int]], tile_size: int
                 ) -> Callable[[int], Iterator[bytes]]:
    """``tiles(level)`` cycling through *pool* for every tile of the level."""
    def tiles(level: int) -> Iterator[bytes]:
        width, height = sizes[level]
        count = -(-width // tile_size) * -(-height // tile_size)
        return (pool[i % len(pool)] for i in range(count))
    return tiles


def median_ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1e3:9.3f} ms"


def alternate(runs: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[tuple[float, float]]]:
    """(wall, cpu) seconds of each callable, *repeats* times, the callables taking turns."""
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            wall, cpu = time.perf_counter(), time.process_time()
            run()
            times[name].append((time.perf_counter() - wall, time.process_time() - cpu))
    return times


def report(title: str, times: dict[str, list[tuple[float, float]]], per: int = 1, unit: str = "") -> None:
    print(title)
    for name, samples in times.items():
        wall = median_ms([w / per for w, _ in samples])
        cpu = median_ms([c / per for _, c in samples])
        print(f"  {name:7s} median wall {wall}, cpu {cpu}{unit}  ({len(samples)} runs)")
    names = list(times)
    if len(names) == 2:
        a, b = (statistics.median(w for w, _ in times[n]) for n in names)
        print(f"  {names[1]} / {names[0]} (wall): {b / a:.2f}")


def passthrough(path: Path, tile_size: int, tiles: int, repeats: int) -> None:
    readers: dict[str, Callable[[Path], list[tiffreader.TiledDirectory]]] = {
        "in-house": tiffreader.read_tiled_directories, "tifffile": tifffile_directories}
    times = alternate({name: lambda r=r: r(path) for name, r in readers.items()}, repeats)
    directories = {name: r(path) for name, r in readers.items()}
    level0 = directories["in-house"][0]
    print(f"(a) {path.name}: {len(directories['in-house'])} levels, {len(level0.tile_offsets)} tiles at "
          f"level 0, {path.stat().st_size / 1e6:.0f} MB")
    report("  open: read_tiled_directories (every directory and its tile offsets)", times)

    def openslide_open() -> None:
        with openslide.OpenSlide(path) as slide:
            slide.level_dimensions  # noqa: B018

    report("  for scale, in the same run: openslide.OpenSlide(path) open and close",
           alternate({"openslide": openslide_open}, repeats))
    ours, theirs = directories.values()
    assert [(d.width, d.height, d.photometric, d.compression) for d in ours] == \
        [(d.width, d.height, d.photometric, d.compression) for d in theirs]
    assert all(np.array_equal(d.tile_offsets, o.tile_offsets) and d.jpeg_tables == o.jpeg_tables
               for d, o in zip(ours, theirs, strict=True))
    # Full (interior) tiles of every level, as StoredTiles.tile sends them
    rng = random.Random(1)
    sizes = tuple((d.width, d.height) for d in ours)
    full = [(lvl, c, r) for lvl, (w, h) in enumerate(sizes)
            for c in range(w // tile_size) for r in range(h // tile_size)]
    picks = [full[rng.randrange(len(full))] for _ in range(tiles)]
    stores = {name: StoredTiles(path, dict(enumerate(dirs)), tile_size, sizes)  # type: ignore[arg-type]
              for name, dirs in directories.items()}
    sent = {name: [store.tile(*pick) for pick in picks[:50]] for name, store in stores.items()}
    assert sent["in-house"] == sent["tifffile"], "the stored tiles sent differ"

    def fetch(store: StoredTiles) -> None:
        for pick in picks:
            store.tile(*pick)

    times = alternate({name: lambda s=s: fetch(s) for name, s in stores.items()}, repeats)
    report(f"  per tile: StoredTiles.tile of {tiles} random full tiles (bytes + tables, page cache warm)",
           times, per=tiles, unit=" per tile")


def writer(old_writer: ModuleType, out: Path, width: int, height: int, tile_size: int, repeats: int,
           likelihood_repeats: int) -> None:
    writers = {"before": old_writer, "after": tiffwriter}
    sizes = tiffwriter.pyramid_sizes(width, height)
    pool = tile_pool(tile_size, 16, seed=2)
    tiles = pooled_tiles(pool, sizes, tile_size)
    count = sum(-(-w // tile_size) * -(-h // tile_size) for w, h in sizes)

    def slide(w: ModuleType, name: str) -> None:
        w.write_pyramid_tiff(out / f"{name}.tif", sizes, tile_size, tiles, samples_per_pixel=3,
                             photometric="ycbcr", compression="jpeg", mpp=(0.243, 0.243), bigtiff=True,
                             description=f"wsi-viewer demo slide (synthetic, seed 0); {width}x{height} px")

    times = alternate({name: lambda w=w, n=name: slide(w, n) for name, w in writers.items()}, repeats)
    print(f"(b) demo slide pyramid {width} x {height} px, {len(sizes)} levels, {count} JPEG tiles of "
          f"{tile_size} px, {(out / 'after.tif').stat().st_size / 1e6:.0f} MB")
    report("  write_pyramid_tiff from encoded tiles (fsync included)", times)
    report("  the same, per tile", times, per=count, unit=" per tile")
    compare_files(out / "before.tif", out / "after.tif")

    # The likelihood map: 1/64 of the slide, uint8, deflate, 256 px tiles (viewer.demo.sidecars)
    rng = np.random.default_rng(3)
    values = (rng.random((-(-height // 64), -(-width // 64))) * 255).astype(np.uint8)
    levels = [values]
    for w, h in tiffwriter.pyramid_sizes(values.shape[1], values.shape[0], 256)[1:]:
        levels.append(values[: h, : w])
    encoded = [[tiffwriter.encode_tile(a[y:y + 256, x:x + 256], "deflate", tile_size=256)
                for y in range(0, a.shape[0], 256) for x in range(0, a.shape[1], 256)] for a in levels]

    def heatmap(w: ModuleType, name: str) -> None:
        w.write_pyramid_tiff(out / f"{name}_map.tif", [(a.shape[1], a.shape[0]) for a in levels], 256,
                             lambda level: iter(encoded[level]), samples_per_pixel=1,
                             photometric="minisblack", compression="deflate", mpp=(15.552, 15.552),
                             description="wsi-viewer demo likelihood map")

    times = alternate({name: lambda w=w, n=name: heatmap(w, n) for name, w in writers.items()},
                      likelihood_repeats)
    report(f"  likelihood map {values.shape[1]} x {values.shape[0]} px, "
           f"{sum(map(len, encoded))} deflate tiles (fsync included)", times)
    compare_files(out / "before_map.tif", out / "after_map.tif")


def compare_files(before: Path, after: Path) -> None:
    """Say whether the two writers' files hold the same tile bytes (their layouts may differ)."""
    reader = tiffreader
    same = True
    dirs = [reader.read_tiled_directories(p) for p in (before, after)]
    with open(before, "rb") as fb, open(after, "rb") as fa:
        for db, da in zip(*dirs, strict=True):
            for i in range(0, len(db.tile_offsets), max(1, len(db.tile_offsets) // 200)):
                a = os.pread(fb.fileno(), int(db.tile_byte_counts[i]), int(db.tile_offsets[i]))
                b = os.pread(fa.fileno(), int(da.tile_byte_counts[i]), int(da.tile_offsets[i]))
                same = same and a == b
    print(f"  tiles byte-identical between the two files (sampled): {same}; sizes "
          f"{before.stat().st_size} / {after.stat().st_size} bytes")


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run (a) and (b), print the figures; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default=BEFORE, help="git commit of the in-house writer")
    parser.add_argument("--width", type=int, default=100_000, help="(a) level-0 width in px")
    parser.add_argument("--height", type=int, default=80_000, help="(a) level-0 height in px")
    parser.add_argument("--tile-size", type=int, default=512)
    parser.add_argument("--tiles", type=int, default=5000, help="(a) stored tiles fetched per run")
    parser.add_argument("--repeats", type=int, default=15, help="(a) runs per side")
    parser.add_argument("--demo-width", type=int, default=61_440, help="(b) demo slide width in px")
    parser.add_argument("--demo-height", type=int, default=40_960, help="(b) demo slide height in px")
    parser.add_argument("--write-repeats", type=int, default=5, help="(b) slide writes per side")
    parser.add_argument("--tiny", action="store_true", help="small sizes, few repeats: check that it runs")
    parser.add_argument("--dir", type=Path, default=None, help="scratch directory (default: a temporary one)")
    args = parser.parse_args(argv)
    if args.tiny:
        args.width, args.height, args.demo_width, args.demo_height = 5000, 4000, 4096, 3072
        args.tiles, args.repeats, args.write_repeats = 200, 3, 2

    load_before = os.getloadavg()
    print(f"load average {' '.join(f'{v:.2f}' for v in load_before)} on {os.cpu_count()} CPUs; "
          f"(b) before = {args.before}, after = working tree")
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="tiff-io-") as scratch:
        out = Path(scratch)
        old_writer = load_old(args.before, "viewer/tiffwriter.py", "_old_tiffwriter", out)

        # (a) the slide, CAMELYON-like, written once (by the current writer)
        sizes = tiffwriter.pyramid_sizes(args.width, args.height)
        pool = tile_pool(args.tile_size, 16)
        tables, abbreviated = tiffwriter.split_jpeg_tables(pool)
        path = out / "camelyon_like.tif"
        tiles = pooled_tiles(abbreviated, sizes, args.tile_size)
        tiffwriter.write_pyramid_tiff(path, sizes, args.tile_size, tiles, samples_per_pixel=3,
                                      photometric="ycbcr", compression="jpeg", mpp=(0.243, 0.243),
                                      jpeg_tables=tables, bigtiff=True)
        passthrough(path, args.tile_size, args.tiles, args.repeats)
        path.unlink()

        writer(old_writer, out, args.demo_width, args.demo_height, args.tile_size, args.write_repeats,
               args.repeats)
    print(f"load average after {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
