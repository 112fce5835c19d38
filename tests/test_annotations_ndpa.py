"""Hamamatsu NDPA: files written here in NDP.view 2's layout with every construct of the real files
(circles, closed freehand with hundreds of points, rulers, negative positions, empty titles and
details) and of the other writers (rectangles with repeated <specialtype>, open lines, pins,
colours), placed through explicit frames and through a generated NDPI that OpenSlide reads; round
trips both ways; hostile and wrong files. The real NDP.view file's licence forbids a copy here."""

from __future__ import annotations

import io
import math
import struct
import time
from pathlib import Path

import numpy as np
import openslide
import pytest
from PIL import Image

from viewer.annotations.imagescope import ellipse_parameters
from viewer.annotations.model import Annotation, AnnotationSet, Group
from viewer.annotations.ndpa import NdpaFrame, read_ndpa, write_ndpa
from viewer.annotations.xmlsafe import REFUSED
from viewer.errors import AnnotationFormatError, InputTooLargeError, InvalidInputError
from viewer.slides import read_slide_info

# A frame like a 40x NDPI's: slide centre 1.2 mm right of and 0.75 mm above the image centre.
OFFSET_NM = (1_234_567.0, -754_321.0)
MPP = (0.2265, 0.2267)
SIZE = (90_000, 60_000)
FRAME = NdpaFrame(OFFSET_NM[0], OFFSET_NM[1], MPP[0], MPP[1], SIZE[0], SIZE[1])


def expected_px(x_nm: float, y_nm: float, offset: tuple[float, float] = OFFSET_NM,
                mpp: tuple[float, float] = MPP, size: tuple[int, int] = SIZE) -> tuple[float, float]:
    """The design note's formula, written out again: px = (x - XOff) / (mpp * 1000) + W / 2."""
    return ((x_nm - offset[0]) / (mpp[0] * 1000) + size[0] / 2,
            (y_nm - offset[1]) / (mpp[1] * 1000) + size[1] / 2)


# -- NDPA files in NDP.view 2's layout ----------------------------------------------------------


def viewstate(number: int, title: str, body: str, *, details: str = "", kind: str = "freehand",
              display: str = "AnnotateFreehand", color: str = "#ff0000",
              view: tuple[int, int] = (0, 0)) -> str:
    title_xml = f"<title>{title}</title>" if title else "<title/>"
    details_xml = f"<details>{details}</details>" if details else "<details/>"
    return (
        f'\t<ndpviewstate id="{number}">\n\t\t{title_xml}\n\t\t{details_xml}\n'
        "\t\t<coordformat>nanometers</coordformat>\n\t\t<lens>10.415310</lens>\n"
        f"\t\t<x>{view[0]}</x>\n\t\t<y>{view[1]}</y>\n\t\t<z>0</z>\n\t\t<showtitle>1</showtitle>\n"
        "\t\t<showhistogram>0</showhistogram>\n\t\t<showlineprofile>0</showlineprofile>\n"
        f'\t\t<annotation type="{kind}" displayname="{display}" color="{color}">\n{body}\t\t</annotation>\n'
        "\t</ndpviewstate>\n"
    )


def pointlist(points: list[tuple[int, int]]) -> str:
    rows = "".join(f"\t\t\t\t<point>\n\t\t\t\t\t<x>{x}</x>\n\t\t\t\t\t<y>{y}</y>\n\t\t\t\t</point>\n"
                   for x, y in points)
    return f"\t\t\t<pointlist>\n{rows}\t\t\t</pointlist>\n"


def circle(x: int, y: int, radius: int) -> str:
    return (f"\t\t\t<x>{x}</x>\n\t\t\t<y>{y}</y>\n\t\t\t<radius>{radius}</radius>\n"
            "\t\t\t<measuretype>2</measuretype>\n")


def freehand(points: list[tuple[int, int]], closed: bool = True, special: int = 0) -> str:
    return (f"\t\t\t<measuretype>2</measuretype>\n\t\t\t<closed>{int(closed)}</closed>\n" + pointlist(points)
            + "\t\t\t<specialtype>rectangle</specialtype>\n" * special)


def ruler(x1: int, y1: int, x2: int, y2: int) -> str:
    return f"\t\t\t<x1>{x1}</x1>\n\t\t\t<y1>{y1}</y1>\n\t\t\t<x2>{x2}</x2>\n\t\t\t<y2>{y2}</y2>\n"


def document(states: list[str]) -> bytes:
    return ('<?xml version="1.0" encoding="utf-8" standalone="yes"?>\n<annotations>\n' + "".join(states)
            + "</annotations>\n\n").encode("utf-8")


def blob(cx: int, cy: int, radius: int, n: int) -> list[tuple[int, int]]:
    """A freehand outline of *n* points (an NDP.view pen stroke), not closed by a repeated point."""
    return [(round(cx + radius * (1 + 0.1 * math.sin(5 * t)) * math.cos(t)),
             round(cy + radius * (1 + 0.1 * math.sin(5 * t)) * math.sin(t)))
            for t in (2 * math.pi * k / n for k in range(n))]


SHAPES = [
    blob(2_895_108, 3_860_906, 150_000, 250),
    blob(-1_500_000, -4_200_000, 80_000, 400),
]
RECTANGLE = [  # NDP.view's order: TL, BL, BR, TR
    (1_000_000, -2_000_000), (1_000_000, -1_500_000), (1_800_000, -1_500_000), (1_800_000, -2_000_000)]
LINE = [(100_000, 200_000), (150_000, 260_000), (230_000, 255_000), (300_000, 330_000)]
GENERATED = document([
    viewstate(1, "Reference_Point_1", circle(5_460_350, -5_312_389, 155), kind="circle",
              display="AnnotateCircle"),
    viewstate(2, "Reference_Point_2", circle(-605_213, 3_242_505, 40_000), kind="circle",
              display="AnnotateCircle"),
    viewstate(3, "1", freehand(SHAPES[0]), details="tumour, grade 2 &amp; necrosis"),
    viewstate(4, "3_ruler", ruler(3_815_536, 3_889_513, 3_002_688, 3_796_178), kind="linearmeasure",
              display="AnnotateRuler"),
    viewstate(5, "", freehand(SHAPES[1]), color="#0000ff"),
    viewstate(6, "box", freehand(RECTANGLE, special=2), display="AnnotateRectangle", color="#000000"),
    viewstate(7, "margin", freehand(LINE, closed=False), display="AnnotateFreehandLine"),
    viewstate(8, "pin", "\t\t\t<x>-10000</x>\n\t\t\t<y>-20000</y>\n\t\t\t<icon>pinred</icon>\n"
              "\t\t\t<stricon>iconpinred</stricon>\n", kind="pin", display="AnnotatePin"),
])


# -- a generated NDPI that OpenSlide reads ------------------------------------------------------


def make_ndpi(path: Path, width: int, height: int, *, mpp: tuple[float, float], offset_nm: tuple[int, int],
              marker: tuple[int, int, int] | None = None, lens: float = 20.0) -> Path:
    """A one-level NDPI (OpenSlide's hamamatsu-ndpi: TIFF tag 65420, one JPEG strip, source lens,
    the offsets of tags 65422/65423, XResolution in pixels per cm): a grey image with a blue disc of
    radius *marker[2]* at level-0 (marker[0], marker[1])."""
    image = np.full((height, width, 3), 220, np.uint8)
    if marker is not None:
        ys, xs = np.mgrid[0:height, 0:width]
        image[(xs - marker[0]) ** 2 + (ys - marker[1]) ** 2 <= marker[2] ** 2] = (20, 40, 230)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=95)
    size = len(buffer.getvalue())
    jpeg = buffer.getvalue() + b"\x00" * (size & 1)  # the IFD starts on a word boundary
    ifd_at = 8 + len(jpeg)
    entries = [  # tag, type, count, 4 value bytes (or None: stored after the IFD)
        (256, 3, 1, struct.pack("<HH", width, 0)), (257, 3, 1, struct.pack("<HH", height, 0)),
        (258, 3, 3, None), (259, 3, 1, struct.pack("<HH", 7, 0)), (262, 3, 1, struct.pack("<HH", 6, 0)),
        (273, 4, 1, struct.pack("<I", 8)), (277, 3, 1, struct.pack("<HH", 3, 0)),
        (278, 4, 1, struct.pack("<I", height)), (279, 4, 1, struct.pack("<I", size)),
        (282, 5, 1, None), (283, 5, 1, None), (296, 3, 1, struct.pack("<HH", 3, 0)),
        (65420, 4, 1, struct.pack("<I", 1)), (65421, 11, 1, struct.pack("<f", lens)),
        (65422, 9, 1, struct.pack("<i", offset_nm[0])), (65423, 9, 1, struct.pack("<i", offset_nm[1])),
        (65424, 9, 1, struct.pack("<i", 0)),
    ]
    extra_at = ifd_at + 2 + 12 * len(entries) + 4
    extras = {258: struct.pack("<HHHH", 8, 8, 8, 0),
              282: struct.pack("<II", 10**8, round(mpp[0] * 10**4)),  # pixels per cm = 10^4 / mpp
              283: struct.pack("<II", 10**8, round(mpp[1] * 10**4))}
    ifd, tail = struct.pack("<H", len(entries)), b""
    for tag, kind, count, value in entries:
        if value is None:
            value = struct.pack("<I", extra_at + len(tail))
            tail += extras[tag]
        ifd += struct.pack("<HHI", tag, kind, count) + value
    path.write_bytes(b"II*\x00" + struct.pack("<I", ifd_at) + jpeg + ifd + struct.pack("<I", 0) + tail)
    return path


# ---------------------------------------------------------------------------------------------
# Reading


def test_every_construct_reads_through_an_explicit_frame() -> None:
    warnings: list[str] = []
    aset = read_ndpa(GENERATED, FRAME, warnings=warnings)
    assert warnings == [] and aset.groups == []
    assert [(a.name, a.type, a.color) for a in aset.annotations] == [
        ("Reference_Point_1", "Polygon", "#ff0000"), ("Reference_Point_2", "Polygon", "#ff0000"),
        ("1", "Polygon", "#ff0000"), ("3_ruler", "Measurement", "#ff0000"),
        ("Annotation 5", "Polygon", "#0000ff"), ("box", "Rectangle", "#000000"),
        ("margin", "Measurement", "#ff0000"), ("pin", "Dot", "#ff0000"),
    ]
    assert aset.annotations[2].comment == "tumour, grade 2 & necrosis"
    assert [a.comment for a in aset.annotations if a.name != "1"] == [""] * 7
    by_name = {a.name: a for a in aset.annotations}
    # every position is the formula's, to well under half a pixel
    for name, points in (("1", SHAPES[0]), ("Annotation 5", SHAPES[1]), ("margin", LINE)):
        assert len(by_name[name].coordinates) == len(points)
        for (x, y), (nx, ny) in zip(by_name[name].coordinates, points, strict=True):
            ex, ey = expected_px(nx, ny)
            assert abs(x - ex) < 0.5 and abs(y - ey) < 0.5
    start, end = by_name["3_ruler"].coordinates
    assert start == pytest.approx(expected_px(3_815_536, 3_889_513), abs=0.5)
    assert end == pytest.approx(expected_px(3_002_688, 3_796_178), abs=0.5)
    assert by_name["pin"].coordinates[0] == pytest.approx(expected_px(-10_000, -20_000), abs=0.5)
    # the rectangle in ASAP's order TL, TR, BR, BL (NDP.view wrote TL, BL, BR, TR)
    (x0, y0), (x1, y1) = expected_px(*RECTANGLE[0]), expected_px(*RECTANGLE[2])
    for got, want in zip(by_name["box"].coordinates, [(x0, y0), (x1, y0), (x1, y1), (x0, y1)], strict=True):
        assert got == pytest.approx(want, abs=0.5)
    # circles: round in nanometres, so ellipses in pixels with the two pixel sizes
    cx, cy, a, b = ellipse_parameters(by_name["Reference_Point_2"].coordinates)  # type: ignore[misc]
    assert (cx, cy) == pytest.approx(expected_px(-605_213, 3_242_505), abs=0.5)
    assert (a, b) == pytest.approx((40_000 / (MPP[0] * 1000), 40_000 / (MPP[1] * 1000)), abs=0.01)
    # the frame puts the slide centre where the offsets say, and y grows downwards as in the file
    assert FRAME.to_pixels(*OFFSET_NM) == (SIZE[0] / 2, SIZE[1] / 2)
    assert by_name["1"].coordinates[0][1] > by_name["Annotation 5"].coordinates[0][1]


def test_a_generated_ndpi_gives_the_frame(tmp_path: Path) -> None:
    width, height, mpp, offset = 1200, 800, (0.4529, 0.4531), (1_234_567, -7_654_321)
    marker = (900, 250, 40)
    slide = make_ndpi(tmp_path / "slide.ndpi", width, height, mpp=mpp, offset_nm=offset, marker=marker)
    info = read_slide_info(slide.name, slide, slide.stat())
    assert info.error is None and info.vendor == "hamamatsu" and (info.width, info.height) == (width, height)
    frame = NdpaFrame.from_slide(info)
    assert (frame.offset_x_nm, frame.offset_y_nm) == offset
    assert (frame.mpp_x, frame.mpp_y) == pytest.approx(mpp) and frame.objective_power == 20
    # a circle NDP.view drew on the blue disc: its nanometres from the slide centre
    centre_nm = ((marker[0] - width / 2) * mpp[0] * 1000 + offset[0],
                 (marker[1] - height / 2) * mpp[1] * 1000 + offset[1])
    body = circle(round(centre_nm[0]), round(centre_nm[1]), round(30 * mpp[0] * 1000))
    data = document([viewstate(1, "disc", body, kind="circle", display="AnnotateCircle")])
    aset = read_ndpa(data, frame)
    cx, cy, a, b = ellipse_parameters(aset.annotations[0].coordinates)  # type: ignore[misc]
    assert (cx, cy) == pytest.approx(expected_px(*centre_nm, offset, mpp, (width, height)), abs=0.5)
    assert abs(cx - marker[0]) < 0.5 and abs(cy - marker[1]) < 0.5 and a == pytest.approx(30, abs=0.01)
    with openslide.OpenSlide(slide) as handle:  # the place it lands is the disc on the slide
        for x, y in aset.annotations[0].coordinates[::16] + [(cx, cy)]:
            r, g, bl, _ = handle.read_region((round(x), round(y)), 0, (1, 1)).getpixel((0, 0))
            assert bl > 150 and r < 90, (x, y)
        r, g, bl, _ = handle.read_region((round(cx) + 60, round(cy)), 0, (1, 1)).getpixel((0, 0))
        assert bl < 240 and abs(r - bl) < 30  # grey outside the disc


def test_frames_refuse_what_cannot_place_a_file() -> None:
    with pytest.raises(InvalidInputError) as caught:
        NdpaFrame.from_properties({"openslide.mpp-x": "0.25", "openslide.mpp-y": "0.25"}, 100, 100)
    assert "hamamatsu.XOffsetFromSlideCentre" in caught.value.message
    assert caught.value.details == ["hamamatsu.XOffsetFromSlideCentre", "hamamatsu.YOffsetFromSlideCentre"]
    with pytest.raises(InvalidInputError, match="mpp_x must be a positive number"):
        NdpaFrame(0, 0, 0, 0.25, 100, 100)
    with pytest.raises(InvalidInputError, match="offset_y_nm must be a finite number"):
        NdpaFrame(0, math.nan, 0.25, 0.25, 100, 100)
    x, y = FRAME.to_pixels(123_456, -654_321)
    assert FRAME.to_nanometres(x, y) == (123_456, -654_321)


# ---------------------------------------------------------------------------------------------
# Round trips


def test_ndpa_to_ours_to_ndpa_keeps_every_viewstate() -> None:
    from lxml import etree

    written = write_ndpa(read_ndpa(GENERATED, FRAME), FRAME)
    assert written.startswith(
        b'<?xml version="1.0" encoding="utf-8" standalone="yes"?>\n<annotations>\n'
        b'\t<ndpviewstate id="1">\n\t\t<title>Reference_Point_1</title>\n\t\t<details/>\n')
    old, new = (etree.fromstring(d).findall("ndpviewstate") for d in (GENERATED, written))
    assert len(new) == len(old) == 8
    for before, after in zip(old, new, strict=True):
        assert after.findtext("title") == (before.findtext("title") or "Annotation " + before.get("id"))
        assert after.findtext("details") == before.findtext("details")
        a, b = before.find("annotation"), after.find("annotation")
        assert (b.get("type"), b.get("displayname"), b.get("color")) == (
            a.get("type"), a.get("displayname"), a.get("color"))
        for tag in ("x", "y", "radius", "x1", "y1", "x2", "y2", "closed"):
            if a.find(tag) is not None:
                assert abs(int(b.findtext(tag)) - int(a.findtext(tag))) <= 1, tag
        if a.get("displayname") == "AnnotateRectangle":
            corners = [(int(p.findtext("x")), int(p.findtext("y"))) for p in b.iter("point")]
            assert corners == RECTANGLE and b.findtext("specialtype") == "rectangle"
        elif a.find("pointlist") is not None:
            got = [(int(p.findtext("x")), int(p.findtext("y"))) for p in b.iter("point")]
            want = [(int(p.findtext("x")), int(p.findtext("y"))) for p in a.iter("point")]
            assert len(got) == len(want) and max(abs(g[0] - w[0]) + abs(g[1] - w[1])
                                                 for g, w in zip(got, want, strict=True)) <= 2


def test_ours_to_ndpa_to_ours() -> None:
    polygon = [(1000.5, 2000.25), (1400.0, 2010.0), (1300.0, 2500.0)]
    aset = AnnotationSet([
        Annotation("p", "Polygon", coordinates=polygon, comment="see\nnotes", color="#00ff00"),
        Annotation("r", "Rectangle", coordinates=[(10, 20), (110, 20), (110, 220), (10, 220)]),
        Annotation("m", "Measurement", coordinates=[(5, 5), (105, 5)]),
        Annotation("line", "Measurement", coordinates=[(5, 5), (50, 9), (80, 40)]),
        Annotation("d", "Dot", coordinates=[(77.25, 88.5)]),
    ])
    back = read_ndpa(write_ndpa(aset, FRAME), FRAME)
    assert [(a.name, a.type, a.color, a.comment) for a in back.annotations] == [
        ("p", "Polygon", "#00ff00", "see\nnotes"), ("r", "Rectangle", "#f4fa58", ""),
        ("m", "Measurement", "#f4fa58", ""), ("line", "Measurement", "#f4fa58", ""),
        ("d", "Dot", "#f4fa58", "")]
    for before, after in zip(aset.annotations, back.annotations, strict=True):
        assert len(after.coordinates) == len(before.coordinates)
        for (x, y), (bx, by) in zip(before.coordinates, after.coordinates, strict=True):
            assert abs(x - bx) < 0.01 and abs(y - by) < 0.01  # 1 nm is 0.0044 px here


def test_export_notes_what_ndpa_cannot_hold() -> None:
    warnings: list[str] = []
    aset = AnnotationSet([Annotation("ps", "PointSet", "g", coordinates=[(1, 1), (2, 2), (3, 3)]),
                          Annotation("s", "Spline", "g",
                                     coordinates=[(0, 0), (100, 0), (100, 100), (0, 100)])],
                         [Group("g")])
    back = read_ndpa(write_ndpa(aset, FRAME, warnings=warnings), FRAME)
    assert [a.type for a in back.annotations] == ["Dot", "Dot", "Dot", "Polygon"]
    assert len(back.annotations[3].coordinates) > 4
    assert len(warnings) == 3 and any("no groups" in w for w in warnings)


# ---------------------------------------------------------------------------------------------
# Hostile and wrong files


def refused(data: bytes, error: type[Exception] = AnnotationFormatError, **kwargs: int) -> str:
    started = time.perf_counter()
    with pytest.raises(error) as caught:
        read_ndpa(data, FRAME, **kwargs)  # type: ignore[arg-type]
    assert time.perf_counter() - started < 2.0
    return str(caught.value)


def test_hostile_files_are_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    for doctype in (f'<!DOCTYPE annotations [<!ENTITY e SYSTEM "{secret.as_uri()}">]>',
                    f'<!DOCTYPE annotations SYSTEM "{secret.as_uri()}">'):
        data = GENERATED.replace(b"<annotations>", doctype.encode() + b"\n<annotations>", 1)
        data = data.replace(b"<title>1</title>", b"<title>&e;</title>")
        message = refused(data)
        assert message == REFUSED and "TOP-SECRET" not in message
    assert "Entity 'e' not defined" in refused(GENERATED.replace(b"<title>1</title>", b"<title>&e;</title>"))
    deep = b"<annotations><ndpviewstate>" + b"<a>" * 10_000 + b"</a>" * 10_000
    deep += b"</ndpviewstate></annotations>"
    assert "Excessive depth" in refused(deep)
    assert "over the limit of 1,000" in refused(GENERATED, InputTooLargeError, max_bytes=1000)


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"", "empty file"),
        (b"<annotations><ndpviewstate>", "not well-formed XML"),
        (b"<ASAP_Annotations/>", "root element is <ASAP_Annotations>, not NDP.view's <annotations>"),
        (GENERATED.replace(b"<x>5460350</x>", b"<x>5,460,350</x>").replace(b"<x2>3002688</x2>", b"<x2/>"),
         "invalid NDPA: 2 problems; first: line 15: <x> must be a number, got '5,460,350'"),
        (GENERATED.replace(b"nanometers", b"furlongs", 1), "<coordformat>furlongs</coordformat>"),
    ],
)
def test_wrong_files_are_refused(data: bytes, needle: str) -> None:
    assert needle in refused(data)


def test_other_units_and_oddities_are_read() -> None:
    data = document([viewstate(1, "um", circle(100, -50, 20))]).replace(b"nanometers", b"micrometers")
    data = data.replace(b'type="freehand" displayname="AnnotateFreehand"',
                        b'type="circle" displayname="AnnotateCircle"')
    cx, cy, a, _ = ellipse_parameters(read_ndpa(data, FRAME).annotations[0].coordinates)  # type: ignore[misc]
    assert (cx, cy) == pytest.approx(expected_px(100_000, -50_000), abs=0.5)
    assert a == pytest.approx(20 / MPP[0])
    warnings: list[str] = []
    odd = document([viewstate(1, "one", freehand([(0, 0)])),
                    viewstate(2, "tri", freehand([(0, 0), (5, 5), (0, 0)])),
                    viewstate(3, "x", "", kind="arrow")])
    aset = read_ndpa(odd, FRAME, warnings=warnings)
    assert [a.type for a in aset.annotations] == ["Dot", "Polygon"]
    assert len(warnings) == 3 and "'arrow'" in warnings[2]
