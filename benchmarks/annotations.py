"""Annotation benchmarks: ASAP XML parse and write against plain xml.etree.ElementTree, same run.

Run: ``python benchmarks/annotations.py [--repeat N] [--vertices N] [--only SECTION ...]``.

Each section is a function registered with ``@section``; it prints its own lines (medians over
``--repeat`` runs and ratios against a baseline measured in the same process). Add a section by
writing another ``@section`` function below.

Targets (ASAP XML): a 1,000,000-vertex file parsed into the model in < 1 s, and >= 2x faster
than ElementTree doing the same work (parse, read every attribute, order and convert the numbers).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import xml.etree.ElementTree as ET
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from viewer.annotations.asap import read_asap, write_asap  # noqa: E402
from viewer.annotations.model import Annotation, AnnotationSet, Group  # noqa: E402

LARGEST_REAL = ROOT / "tests" / "data" / "asap" / "real" / "tumor_039.xml"

Section = Callable[[argparse.Namespace], None]
SECTIONS: dict[str, Section] = {}


def section(function: Section) -> Section:
    """Register a benchmark section under its function name."""
    SECTIONS[function.__name__] = function
    return function


def median_seconds(function: Callable[[], Any], repeat: int) -> float:
    """Median wall time of *repeat* calls (one untimed warm-up call first)."""
    return median_times(function, repeat)[0]


def median_times(function: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Median wall and CPU seconds of *repeat* calls (one untimed warm-up call first).

    CPU time is printed too because the machine may be shared: under load, wall time grows while
    the CPU time the work needs does not.
    """
    function()
    wall, cpu = [], []
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        function()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return statistics.median(wall), statistics.median(cpu)


def report(label: str, ours: tuple[float, float], baseline: tuple[float, float], unit_count: int,
           unit: str) -> None:
    """One line: our and ElementTree's (wall, cpu) medians, ratios and throughput."""
    print(
        f"  {label:<22} ours {ours[0] * 1000:8.1f} ms (cpu {ours[1] * 1000:8.1f})   ElementTree "
        f"{baseline[0] * 1000:8.1f} ms (cpu {baseline[1] * 1000:8.1f})   x{baseline[0] / ours[0]:5.2f} "
        f"(cpu x{baseline[1] / ours[1]:5.2f})   {unit_count / ours[0] / 1e6:5.2f} M {unit}/s"
    )


# -- ElementTree baseline: the same work with the standard library -------------------------------


def etree_read(data: bytes) -> AnnotationSet:
    """Parse ASAP XML with ElementTree into the same model (no hardening, no float32 rounding)."""
    root = ET.fromstring(data)
    groups = []
    groups_node = root.find("AnnotationGroups")
    for g in groups_node if groups_node is not None else []:
        parent = g.get("PartOfGroup", "None")
        attributes: dict[str, str] = {}
        for item in g.find("Attributes") or []:
            attributes.update(item.attrib)
        groups.append(Group(g.get("Name", ""), None if parent == "None" else parent,
                            g.get("Color") or "#F4FA58", attributes))
    annotations = []
    for a in root.find("Annotations") or []:
        coords = a.find("Coordinates")
        points = sorted(
            (int(c.get("Order", "0")), float(c.get("X", "0")), float(c.get("Y", "0")))
            for c in (coords.iter("Coordinate") if coords is not None else [])
        )
        group = a.get("PartOfGroup", "None")
        annotations.append(Annotation(a.get("Name", ""), a.get("Type", "None"),
                                      None if group == "None" else group, a.get("Color") or "#F4FA58",
                                      [(x, y) for _, x, y in points]))
    return AnnotationSet(annotations, groups)


def etree_write(aset: AnnotationSet) -> bytes:
    """Write the model with ElementTree (same elements and numbers, ET's own formatting)."""
    root = ET.Element("ASAP_Annotations")
    annotations = ET.SubElement(root, "Annotations")
    for a in aset.annotations:
        node = ET.SubElement(annotations, "Annotation", Name=a.name, Type=a.type,
                             PartOfGroup=a.group or "None", Color=a.color)
        coords = ET.SubElement(node, "Coordinates")
        flat = array("f", [v for point in a.coordinates for v in point]).tolist()
        for i in range(len(a.coordinates)):
            x, y = flat[2 * i], flat[2 * i + 1]
            ET.SubElement(coords, "Coordinate", Order=str(i), X=f"{x:.9g}", Y=f"{y:.9g}")
    groups = ET.SubElement(root, "AnnotationGroups")
    for g in aset.groups:
        node = ET.SubElement(groups, "Group", Name=g.name, PartOfGroup=g.parent or "None", Color=g.color)
        holder = ET.SubElement(node, "Attributes")
        for key in sorted(g.attributes):
            ET.SubElement(holder, "Attribute", {key: g.attributes[key]})
    ET.indent(root, space="\t")
    return b'<?xml version="1.0"?>\n' + ET.tostring(root) + b"\n"


def generated_set(vertices: int, per_annotation: int = 1000, seed: int = 1) -> AnnotationSet:
    """A CAMELYON-sized synthetic set: *vertices* points in annotations of *per_annotation* points."""
    rng = random.Random(seed)
    groups = [Group("metastases", color="#ff0000"), Group("normal", parent="metastases")]
    annotations = []
    remaining = vertices
    index = 0
    while remaining > 0:
        n = min(per_annotation, remaining)
        cx, cy = rng.uniform(1e4, 2e5), rng.uniform(1e4, 2e5)
        coords = [(cx + rng.uniform(-5e3, 5e3), cy + rng.uniform(-5e3, 5e3)) for _ in range(n)]
        group = groups[index % 2].name
        annotations.append(Annotation(f"Annotation {index}", "Polygon", group, "#F4FA58", coords))
        remaining -= n
        index += 1
    return AnnotationSet(annotations, groups)


Times = tuple[float, float]  # (wall, cpu) seconds


def _xml_section(label: str, data: bytes, repeat: int) -> tuple[Times, Times]:
    """Print parse and write medians; return (ours, ElementTree) parse (wall, cpu) seconds."""
    ours = read_asap(data)
    vertices = ours.vertex_count()
    assert write_asap(ours) == data, "the benchmark files are in ASAP's own layout and must round-trip"
    print(f"{label}: {len(data) / 1e6:.1f} MB, {len(ours.annotations)} annotations, {vertices:,} vertices")
    read_ours = median_times(lambda: read_asap(data), repeat)
    read_base = median_times(lambda: etree_read(data), repeat)
    report("parse into the model", read_ours, read_base, vertices, "vertices")
    write_ours = median_times(lambda: write_asap(ours), repeat)
    write_base = median_times(lambda: etree_write(ours), repeat)
    report("write ASAP XML", write_ours, write_base, vertices, "vertices")
    return read_ours, read_base


@section
def asap_largest_real(args: argparse.Namespace) -> None:
    """Parse and write the largest real fixture (tumor_039, 47,197 vertices)."""
    _xml_section(LARGEST_REAL.name, LARGEST_REAL.read_bytes(), args.repeat)


@section
def asap_generated(args: argparse.Namespace) -> None:
    """Parse and write a generated file with --vertices vertices (default 1,000,000); check targets."""
    data = write_asap(generated_set(args.vertices))
    ours, baseline = _xml_section("generated", data, args.repeat)
    for kind, index in (("wall", 0), ("cpu", 1)):
        per_million = ours[index] * 1e6 / args.vertices
        ratio = baseline[index] / ours[index]
        print(f"  target ({kind}): 1M vertices parsed in < 1 s: {per_million:.3f} s per 1M -> "
              f"{'met' if per_million < 1.0 else 'MISSED'}; >= 2x ElementTree: x{ratio:.2f} -> "
              f"{'met' if ratio >= 2.0 else 'MISSED'}")


def _mask_window_section(label: str, aset: AnnotationSet, window: tuple[int, int, int, int],
                         labels: dict[str, int] | None, order: list[str] | None, repeat: int) -> None:
    from tests._mask_reference import reference_window
    from viewer.annotations.masks import plan_mask, rasterize_plan

    x0, y0, width, height = window
    plan = plan_mask(aset, labels, order)
    ours = median_seconds(lambda: rasterize_plan(plan, x0, y0, width, height), repeat)
    started = time.perf_counter()  # the baseline is slow: timed once, and its output is compared
    expected = reference_window(plan, x0, y0, width, height)
    naive = time.perf_counter() - started
    same = (rasterize_plan(plan, x0, y0, width, height) == expected).all()
    mpx = width * height / 1e6
    print(f"  {label:<34} ours {ours * 1000:8.1f} ms ({mpx / ours:7.1f} Mpx/s)   per-pixel PIP "
          f"{naive * 1000:9.1f} ms ({mpx / naive:6.2f} Mpx/s)   x{naive / ours:7.1f}   "
          f"identical: {bool(same)}")


@section
def mask_windows(args: argparse.Namespace) -> None:
    """ASAP-exact mask rasteriser vs a naive per-pixel point-in-polygon loop (ASAP's own algorithm,
    numpy-vectorised over pixels) on the same windows of real CAMELYON16 annotations."""
    real = read_asap(LARGEST_REAL.read_bytes())
    cam16 = {"metastasis": 1, "negative": 0}, ["metastasis", "negative"]
    _mask_window_section("tumor_039 192x192 (14,892-vertex ring)", real, (56320, 103808, 192, 192), *cam16,
                         args.repeat)
    _mask_window_section("tumor_039 256x256 exclusions", real, (46000, 109200, 256, 256), *cam16, args.repeat)
    tiles = read_asap((LARGEST_REAL.parent / "tiles.xml").read_bytes())
    _mask_window_section("tiles.xml 2048x2048 (136 rings)", tiles, (48000, 38000, 2048, 2048),
                         {"unsure": 1, "aberrant_positive_columnar": 2}, None, args.repeat)


@section
def mask_whole_slide(args: argparse.Namespace) -> None:
    """A whole-slide mask TIFF (tiled, pyramidal, deflate) of tumor_039.xml, x and y swapped so the
    tumour lies inside the default --mask-size; target: 200,000 x 100,000 px in minutes, < 1 GB."""
    import resource
    import subprocess
    import tempfile

    from viewer.annotations.masks import write_mask_tiff

    if args.only != ["mask_whole_slide"]:
        # Peak RSS is per process and never goes down: measure the mask in a fresh interpreter, not
        # after the sections above held 10^6-vertex sets and ElementTree trees.
        width, height = args.mask_size
        command = [sys.executable, __file__, "--only", "mask_whole_slide"]
        command += ["--mask-size", str(width), str(height)]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        figures = [line for line in output.splitlines() if line.startswith("  ") and line[2] != " "]
        print("\n".join(figures), "(in a fresh process)")
        return
    real = read_asap(LARGEST_REAL.read_bytes())
    for annotation in real.annotations:
        annotation.coordinates = [(y, x) for x, y in annotation.coordinates]
    width, height = args.mask_size
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "mask.tif"
        started = time.perf_counter()
        labels, order = {"metastasis": 1, "negative": 0}, ["metastasis", "negative"]
        write_mask_tiff(real, out, width, height, labels, order)
        seconds = time.perf_counter() - started
        size = out.stat().st_size
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  {width} x {height} px ({width * height / 1e9:.1f} Gpx, all levels): {seconds:.1f} s, "
          f"{width * height / seconds / 1e6:.0f} Mpx/s level 0, file {size / 1e6:.1f} MB, "
          f"peak RSS of the process {peak_mb:.0f} MB")
    # The naive loop would need every level-0 pixel tested against every edge of its annotations;
    # extrapolated from its Mpx/s on the tumour window above it would take hours, so it is not run.
    print(f"  target: minutes and < 1 GB -> {'met' if seconds < 600 and peak_mb < 1024 else 'MISSED'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per measurement (median)")
    parser.add_argument("--vertices", type=int, default=1_000_000, help="vertices in the generated file")
    parser.add_argument("--only", nargs="*", choices=sorted(SECTIONS), help="run only these sections")
    parser.add_argument("--mask-size", nargs=2, type=int, default=(200_000, 100_000), metavar=("W", "H"),
                        help="size of the whole-slide mask (default 200000 100000)")
    args = parser.parse_args(argv)
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"Python {sys.version.split()[0]}; {os.cpu_count()} CPUs, load average {load}; "
          f"medians of {args.repeat} runs")
    for name, function in SECTIONS.items():
        if args.only and name not in args.only:
            continue
        print(f"\n[{name}] {function.__doc__}")
        function(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
