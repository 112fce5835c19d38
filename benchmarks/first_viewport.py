"""Time from navigation to the first full viewport of tiles, in headless Chromium.

Run: ``python benchmarks/first_viewport.py [--runs N] [--slide-dir DIR]``.

Starts ``wsi-viewer serve`` (one gunicorn worker) on the fixture slides (plus the generated MIRAX
bounds slide), opens each viewer page in a fresh browser context (empty browser cache) and reads
the time OpenSeadragon reported every tile of the first view as drawn ('fully-loaded-change';
the page stores ``performance.now()`` of it in ``data-first-viewport-ms``; 0 = navigation start).

Two cases per slide, medians over ``--runs``:
- cold: a new server process per run (no open slide handle, no tile cache) -- a first visit;
- warm: the same server, new browser context -- a second user opening the same slide.
Baseline in the same run: DOMContentLoaded of the same page, so the tile share is visible.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests._server import running_server  # noqa: E402

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]
SLIDES = ["aperio/CMU-1-Small-Region.svs", "bounds/mirax-2region.mrxs", "aperio/tcga-cr-7395-01a-01-ts1.svs"]


def measure(browser: Browser, url: str) -> tuple[float, float]:
    """(first full viewport, DOMContentLoaded) in ms after navigation start, fresh context."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(url, wait_until="domcontentloaded")
    first = page.wait_for_function(
        "() => document.querySelector('[data-pane]')?.dataset.firstViewportMs", timeout=60000,
    ).json_value()
    dom = page.evaluate("() => performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd")
    context.close()
    return float(first), float(dom)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--slide-dir", type=Path, default=None,
                        help="default: tests/data/slides + the generated bounds slide")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        slide_dir = args.slide_dir
        if slide_dir is None:
            slide_dir = Path(tmp) / "slides"
            shutil.copytree(ROOT / "tests" / "data" / "slides", slide_dir)
            subprocess.run(
                [sys.executable, str(ROOT / "tests" / "data" / "tools" / "make_bounds_slides.py"),
                 str(slide_dir / "bounds"), "--only", "mirax-2region"], check=True, capture_output=True,
            )
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=os.environ.get("WSI_VIEWER_TEST_CHROMIUM", "/usr/bin/chromium"),
                args=CHROMIUM_ARGS,
            )
            print(f"first full viewport of tiles, 1280x800 CSS px, median of {args.runs} runs "
                  "(ms after navigation)")
            for slide in SLIDES:
                cold, warm, dom = [], [], []
                for _ in range(args.runs):
                    data_dir = Path(tempfile.mkdtemp(dir=tmp)) / "data"  # cold: nothing cached
                    data_dir.mkdir()
                    with running_server(str(slide_dir), "--workers", "1", data_dir=data_dir) as running:
                        url = running.url
                        first, d = measure(browser, f"{url}/view/{slide}")
                        cold.append(first)
                        dom.append(d)
                        first, _ = measure(browser, f"{url}/view/{slide}")
                        warm.append(first)
                c, w, d = (statistics.median(v) for v in (cold, warm, dom))
                print(f"  {slide:40s} cold {c:7.0f}  warm {w:7.0f}  (cold DOMContentLoaded {d:5.0f}; "
                      f"warm/cold {w / c:4.2f}, cold/DOM {c / d:4.1f}x)")
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
