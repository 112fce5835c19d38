"""The built-in demo: a generated CAMELYON-like slide in the data directory, with its sidecars.

With no SLIDE_DIR, ``wsi-viewer serve`` starts generating it in a child process
(:mod:`viewer.demo.background`) and answers at once; the library shows the slide as being
prepared, with the generator's progress, until it is written. Into ``<data dir>/demo/`` go:

* ``tumor_demo.tif``: a pyramidal, 512 px tiled, JPEG (YCbCr 4:2:0) BigTIFF like CAMELYON's
  generic-tiff files -- 61,440 x 40,960 px at 0.243 µm/px, downsample 2 per level down to under
  1,024 px -- showing several irregular H&E-like tissue sections (lymph-node-like tissue, pink
  fibrous capsule and trabeculae, a tumour region with large pale nuclei, holes, a fold) on a
  white background;
* ``tumor_demo.xml``: ASAP annotations (tumour, normal and exclusion groups; polygons along section
  and tumour outlines, a spline, dots, a measurement, ...) in slide space;
* ``tumor_demo_likelihood_map.tif``: ASAP's heatmap convention, a small tiled uint8 pyramidal TIFF
  of "tumour probability" (0-255) over the slide at downsample 64.

The rooms: :mod:`~viewer.demo.scene` (what the slide shows, as outlines and low-resolution
fields), :mod:`~viewer.demo.texture` (periodic texture banks), :mod:`~viewer.demo.renderer` (one
tile), :mod:`~viewer.demo.encoders` (worker processes), :mod:`~viewer.demo.slide` (the pyramid
file), :mod:`~viewer.demo.sidecars` (annotations and likelihood map), :mod:`~viewer.demo.progress`
(reports, their file and the console), :mod:`~viewer.demo.ensure` (the files, once, under a lock)
and :mod:`~viewer.demo.background` (the child process and its state as the server sees it).

How it stays cheap (under a minute on 2 idle cores, bounded memory): the scene is a few fields
at one value per 64 level-0 px; the texture comes from small periodic banks, built once from the
seed and shared with forked workers, windowed per tile so neighbouring tiles join without seams;
tiles that are all background reuse one encoded tile; worker processes render and encode the
rest and the writer streams them to disk. Everything is seeded: the same seed and library
versions give the same bytes.
"""

from __future__ import annotations

from viewer.demo.background import DemoStatus, demo_size, demo_status, start_demo_generation
from viewer.demo.ensure import demo_dir, demo_is_complete, demo_slide_path, ensure_demo
from viewer.demo.progress import ConsoleProgress, DemoProgress, SlideProgress
from viewer.demo.renderer import JPEG_QUALITY, JPEG_SUBSAMPLING
from viewer.demo.scene import (
    BACKGROUND,
    DEMO_HEIGHT,
    DEMO_MPP,
    DEMO_SEED,
    DEMO_STEM,
    DEMO_TILE_SIZE,
    DEMO_WIDTH,
    FIELD_DOWNSAMPLE,
    Blob,
    Scene,
    build_scene,
)
from viewer.demo.sidecars import (
    HEATMAP_DOWNSAMPLE,
    demo_annotations,
    likelihood_map,
    write_demo_annotations,
    write_likelihood_map,
)
from viewer.demo.slide import generate_slide

__all__ = [
    "BACKGROUND", "DEMO_HEIGHT", "DEMO_MPP", "DEMO_SEED", "DEMO_STEM", "DEMO_TILE_SIZE", "DEMO_WIDTH",
    "FIELD_DOWNSAMPLE", "HEATMAP_DOWNSAMPLE", "JPEG_QUALITY", "JPEG_SUBSAMPLING",
    "Blob", "ConsoleProgress", "DemoProgress", "DemoStatus", "Scene", "SlideProgress",
    "build_scene", "demo_annotations", "demo_dir", "demo_is_complete", "demo_size", "demo_slide_path",
    "demo_status", "ensure_demo", "generate_slide", "likelihood_map", "start_demo_generation",
    "write_demo_annotations", "write_likelihood_map",
]
