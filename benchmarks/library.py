"""Slide library listing: first scan (opens every slide) against listings from the metadata cache.

    python benchmarks/library.py [--slides 1000]

Copies a small fixture slide N times into a temporary tree (10 folders), then times: the first scan
of a new library (every slide opened with OpenSlide), a fresh library reading the metadata cache
file (a restarted worker), and a rescan by a running library. Prints medians and the ratio
to the first scan.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from viewer.slides import SlideLibrary

SOURCE = Path(__file__).parent.parent / "tests" / "data" / "slides" / "aperio" / "CMU-1-Small-Region.svs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slides", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "slides"
        for i in range(args.slides):
            folder = root / f"folder-{i % 10:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copy(SOURCE, folder / f"slide-{i:04d}.svs")
        cache = Path(tmp) / "meta.json"

        start = time.perf_counter()
        first = SlideLibrary(root, cache_file=cache)
        assert len(first.scan(force=True)) == args.slides
        first_s = time.perf_counter() - start

        restarted = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            library = SlideLibrary(root, cache_file=cache)
            assert len(library.scan(force=True)) == args.slides
            restarted.append(time.perf_counter() - start)
        rescans = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            assert len(first.scan(force=True)) == args.slides
            rescans.append(time.perf_counter() - start)

    cold, warm, again = first_s * 1000, statistics.median(restarted) * 1000, statistics.median(rescans) * 1000
    print(f"{args.slides} slides in 10 folders")
    print(f"first scan (opens every slide)      {cold:9.1f} ms")
    print(f"new library from the metadata cache {warm:9.1f} ms  median of {args.repeats}  "
          f"({cold / warm:5.1f}x faster)")
    print(f"rescan by a running library         {again:9.1f} ms  median of {args.repeats}  "
          f"({cold / again:5.1f}x faster)")


if __name__ == "__main__":
    main()
