"""Write a generated CAMELYON-like slide of a given size (``viewer.demo.generate_slide``), e.g. for
the tile benchmark, and print how long it took and the peak memory.

    python benchmarks/make_slide.py /tmp/big.tif --width 100000 --height 80000
    python benchmarks/make_slide.py /tmp/demo.tif --sidecars       # + <stem>.xml, <stem>_likelihood_map.tif

Peak memory is the largest resident set of this process and of any one worker process
(``getrusage``); workers share the texture banks with this process copy-on-write.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

from viewer import demo


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, generate, print figures; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path, help="output .tif (replaced atomically)")
    parser.add_argument("--width", type=int, default=demo.DEMO_WIDTH, help="level-0 width in px")
    parser.add_argument("--height", type=int, default=demo.DEMO_HEIGHT, help="level-0 height in px")
    parser.add_argument("--tile-size", type=int, default=demo.DEMO_TILE_SIZE)
    parser.add_argument("--mpp", type=float, default=demo.DEMO_MPP, help="µm per level-0 pixel")
    parser.add_argument("--seed", type=int, default=demo.DEMO_SEED)
    parser.add_argument("--workers", type=int, default=None, help="encoding processes (default: CPUs, max 4)")
    parser.add_argument("--sidecars", action="store_true",
                        help="also write <stem>.xml (ASAP) and <stem>_likelihood_map.tif beside it")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)

    progress = None if args.quiet else (lambda message: print(message, file=sys.stderr, flush=True))
    started = time.monotonic()
    demo.generate_slide(args.path, args.width, args.height, tile_size=args.tile_size, mpp=args.mpp,
                        seed=args.seed, workers=args.workers, progress=progress)
    elapsed = time.monotonic() - started
    if args.sidecars:
        stem = args.path.with_suffix("")
        demo.write_demo_annotations(stem.with_suffix(".xml"), args.width, args.height, seed=args.seed)
        demo.write_likelihood_map(Path(f"{stem}_likelihood_map.tif"), args.width, args.height,
                                  seed=args.seed, mpp=args.mpp)
    me = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    size_mb = args.path.stat().st_size / 1e6
    print(f"{args.path}: {args.width} x {args.height} px, tile {args.tile_size}, {size_mb:.1f} MB")
    print(f"generation wall time: {elapsed:.1f} s")
    cpu_main, cpu_workers = me.ru_utime + me.ru_stime, children.ru_utime + children.ru_stime
    print(f"cpu time: {cpu_main:.1f} s main + {cpu_workers:.1f} s workers")
    peak_main, peak_worker = me.ru_maxrss / 1024, children.ru_maxrss / 1024  # KiB on Linux
    print(f"peak memory: {peak_main:.0f} MB main, {peak_worker:.0f} MB largest worker")
    return 0


if __name__ == "__main__":
    sys.exit(main())
