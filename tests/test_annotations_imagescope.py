"""Aperio ImageScope XML: every real fixture against its SOURCES row and its own vertices, the
constructs only unlicensed files have (holes, algorithm layers, degenerate regions) in files written
here, ellipses, masks with holes, the round trip ImageScope -> ours -> ImageScope, export of sets
that never were ImageScope, hostile files, and comments in ASAP XML and GeoJSON."""

from __future__ import annotations

import json
import math
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from tests._asap_helpers import STEMS, real_file
from viewer.annotations import geometry
from viewer.annotations.asap import read_asap, write_asap
from viewer.annotations.geojson import from_geojson, to_geojson
from viewer.annotations.imagescope import (
    ELLIPSE_VERTICES,
    REGION_KEY_PREFIX,
    colorref_to_hex,
    ellipse_parameters,
    hex_to_colorref,
    read_imagescope,
    write_imagescope,
)
from viewer.annotations.masks import rasterize_window
from viewer.annotations.model import Annotation, AnnotationSet, Group
from viewer.annotations.xmlsafe import REFUSED
from viewer.errors import AnnotationFormatError, InputTooLargeError, ValidationError

DATA = Path(__file__).parent / "data" / "imagescope"
FIXTURES = sorted(p.name for p in DATA.glob("*.xml"))


def sources_rows() -> dict[str, dict[str, str]]:
    """The table of tests/data/imagescope/SOURCES.md, by file name."""
    lines = [line for line in (DATA / "SOURCES.md").read_text(encoding="utf-8").splitlines()
             if line.startswith("| `")]
    header = ["file", "repo", "path", "commit", "licence", "sha256", "layers", "types", "vertices",
              "holes", "colours", "notable"]
    rows = {}
    for line in lines:
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        row = dict(zip(header, cells, strict=True))
        rows[row["file"].strip("`")] = row
    return rows


def file_regions(path: Path | bytes) -> list[tuple[Any, Any]]:
    """(layer element, region element) in file order, parsed independently of the reader."""
    root = etree.fromstring(path if isinstance(path, bytes) else path.read_bytes())
    return [(layer, region) for layer in root.iter("Annotation") for region in layer.iter("Region")]


def vertices(region: Any) -> list[tuple[float, float]]:
    return [(float(v.get("X")), float(v.get("Y"))) for v in region.iter("Vertex")]


def flat(points: list[tuple[float, float]]) -> list[float]:
    """[x0, y0, x1, y1, ...], which pytest.approx compares."""
    return [value for point in points for value in point]


def region_type(aset: AnnotationSet, annotation: Annotation) -> str:
    """The original ImageScope Type the reader kept for *annotation* in its group."""
    group = aset.group_by_name(annotation.group or "")
    assert group is not None
    key = REGION_KEY_PREFIX + annotation.name.removeprefix("Region ")
    return str(json.loads(group.attributes[key])["Type"])


def layer_groups(aset: AnnotationSet) -> list[Group]:
    return [g for g in aset.groups if "imagescope.layer" in g.attributes]


# ---------------------------------------------------------------------------------------------
# The real files


def test_every_fixture_is_listed_and_checked() -> None:
    assert sorted(sources_rows()) == FIXTURES and len(FIXTURES) == 4


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_reads_with_the_counts_of_its_sources_row(name: str) -> None:
    row = sources_rows()[name]
    warnings: list[str] = []
    aset = read_imagescope(DATA / name, warnings=warnings)
    assert warnings == []
    layers = layer_groups(aset)
    layer_count, empty = re.fullmatch(r"(\d+) \((\d+)\)", row["layers"]).groups()  # type: ignore[union-attr]
    assert len(layers) == int(layer_count)
    assert sum(1 for g in layers if not aset.members(g.name)) == int(empty)
    expected_types = {k: int(v) for k, v in (item.split(": ") for item in row["types"].split(", "))}
    assert Counter(region_type(aset, a) for a in aset.annotations) == expected_types
    ellipses = [a for a in aset.annotations if ellipse_parameters(a.coordinates)]
    assert len(ellipses) == expected_types.get("2", 0)
    stored = sum(len(a.coordinates) for a in aset.annotations if a not in ellipses) + 2 * len(ellipses)
    assert stored == int(row["vertices"])
    assert sum(1 for g in aset.groups if g.name.endswith(" (holes)")) == int(row["holes"])
    assert [g.color for g in layers] == row["colours"].split()
    assert all(a.color == aset.group_by_name(a.group or "").color for a in aset.annotations)  # type: ignore[union-attr]


@pytest.mark.parametrize("name", FIXTURES)
def test_coordinates_are_the_files(name: str) -> None:
    aset = read_imagescope(DATA / name)
    regions = file_regions(DATA / name)
    assert len(regions) == len(aset.annotations)
    for (_, region), annotation in zip(regions, aset.annotations, strict=True):
        assert annotation.name == f"Region {int(region.get('Id'))}"
        assert annotation.comment == region.get("Text", "")
        expected = vertices(region)
        if region.get("Type") == "2":
            cx, cy, a, b = ellipse_parameters(annotation.coordinates)  # type: ignore[misc]
            corners = sorted(expected)
            assert (cx - a, cy - b) == pytest.approx(corners[0], abs=0.01)
            assert (cx + a, cy + b) == pytest.approx(corners[1], abs=0.01)
            continue
        if annotation.type == "Rectangle":
            assert flat(sorted(annotation.coordinates)) == pytest.approx(flat(sorted(expected)), abs=0.01)
            continue
        assert len(annotation.coordinates) == len(expected)
        worst = max(math.hypot(x - ex, y - ey) for (x, y), (ex, ey) in zip(annotation.coordinates, expected,
                                                                           strict=True))
        assert worst <= 0.01


def test_types_names_and_colours_of_the_real_files() -> None:
    sixth = read_imagescope(DATA / "onesixth_test_alltypes.xml")
    assert [(a.type, a.group) for a in sixth.annotations] == [
        ("Polygon", "Layer 1"), ("Rectangle", "Layer 2"), ("Rectangle", "Layer 2"),
        ("Measurement", "Layer 3"), ("Measurement", "Layer 3"), ("Measurement", "Layer 4"),
        ("Polygon", "Layer 5"),
    ]
    # TL, TR, BR, BL, as ASAP stores a Rectangle
    x0, y0 = sixth.annotations[1].coordinates[0]
    x1, y1 = sixth.annotations[1].coordinates[2]
    assert sixth.annotations[1].coordinates == [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    assert x1 > x0 and y1 > y0
    assert all(len(a.coordinates) == 2 for a in sixth.annotations if a.type == "Measurement")
    # a Type 1 region of 2531 vertices is no rectangle
    tcga = read_imagescope(DATA / "wsihandling_TCGA-EJ-5519-01Z-00-DX1.xml")
    assert tcga.annotations[0].type == "Polygon" and len(tcga.annotations[0].coordinates) == 2531
    assert [g.name for g in layer_groups(tcga)] == ["CaP", "Layer 2", "Layer 3", "Layer 4"]
    assert tcga.groups[0].attributes["CaP"] == ""
    coda = read_imagescope(DATA / "codavision_SG_013_0061_13layers.xml")
    assert [g.name for g in coda.groups][:3] == ["islets", "normal duct", "blood vessel"]
    eslide = read_imagescope(DATA / "ssrtask_eslidemanager_globalid.xml")
    assert [g.name for g in eslide.groups] == ["Foll", "Layer 148092", "MC"]
    assert eslide.groups[0].attributes["Description"] == "Foll"
    assert [a.name for a in eslide.annotations] == [f"Region {i}" for i in range(1740662, 1740666)]
    assert [a.type for a in eslide.annotations] == ["Polygon", "Polygon", "Rectangle", "Rectangle"]


def test_colorref_is_bgr() -> None:
    # ImageScope's default layer colours, in its order; ASAP's importer reads 255 as #0000ff
    assert [colorref_to_hex(v) for v in (65280, 65535, 255, 16711680, 16776960, 16711935)] == [
        "#00ff00", "#ffff00", "#ff0000", "#0000ff", "#00ffff", "#ff00ff"]
    assert hex_to_colorref("#ff8040") == 4227327 and hex_to_colorref("#F4FA58") == 0x58FAF4
    assert hex_to_colorref("not a colour") is None


# ---------------------------------------------------------------------------------------------
# Constructs written here: algorithm layers, holes, degenerate regions, comments

LAYER_ATTRIBUTES = ("ReadOnly", "NameReadOnly", "LineColorReadOnly", "Incremental", "Type", "LineColor",
                    "Visible", "Selected", "MarkupImagePath", "MacroName")


def xml_region(region_id: int, kind: int, points: list[tuple[float, float]], *, text: str = "",
               negative: bool = False, zoom: str = "1", location: str = "", attributes: str = "",
               z: bool = True) -> str:
    """One <Region> as ImageScope writes it (every attribute, in its order; two-space indentation)."""
    head = (f'      <Region Id="{region_id}" Type="{kind}" Zoom="{zoom}" Selected="0" '
            f'ImageLocation="{location}" '
            'ImageFocus="-1" Length="0" Area="0" LengthMicrons="0" AreaMicrons="0" '
            f'Text="{text}" NegativeROA="{int(negative)}" InputRegionId="0" Analyze="1" '
            f'DisplayId="{region_id + 1}">')
    depth = ' Z="0"' if z else ""  # some writers leave Z out
    vertices = "".join(f'<Vertex X="{x}" Y="{y}"{depth}/>' for x, y in points)
    inner = f"<Attributes>{attributes}</Attributes>" if attributes else "<Attributes/>"
    return f"{head}\n        {inner}\n        <Vertices>{vertices}</Vertices>\n      </Region>\n"


def xml_layer(layer_id: int, name: str, values: dict[str, str], children: str, attributes: str,
              headers: str, regions: list[str]) -> str:
    attrib = {"ReadOnly": "0", "NameReadOnly": "0", "LineColorReadOnly": "0", "Incremental": "0", "Type": "4",
              "LineColor": "65280", "Visible": "1", "Selected": "0", "MarkupImagePath": "", "MacroName": ""}
    attrib.update(values)
    head = f'  <Annotation Id="{layer_id}" Name="{name}"'
    head += "".join(f' {k}="{attrib[k]}"' for k in LAYER_ATTRIBUTES)
    return (f"{head}>\n{children}    <Attributes>\n{attributes}    </Attributes>\n    <Regions>\n"
            f"      <RegionAttributeHeaders>\n{headers}      </RegionAttributeHeaders>\n{''.join(regions)}"
            "    </Regions>\n    <Plots/>\n  </Annotation>\n")


SQUARE = [(10, 10), (110, 10), (110, 110), (10, 110), (10, 10)]
HOLE = [(40.5, 40), (80.5, 40), (80.5, 80), (40.5, 80)]
GENERATED = ('<Annotations MicronsPerPixel="0">\n' + xml_layer(
    7, "Tumor", {"LineColor": "255"}, "",
    '      <Attribute Name="Description" Id="0" Value="outer"/>\n',
    '        <AttributeHeader Id="9999" Name="Region" ColumnWidth="-1"/>\n',
    [xml_region(0, 0, SQUARE, text="needs review &amp; a second look&#10;(line 2)", zoom="0.5"),
     xml_region(1, 1, HOLE, negative=True, zoom="0.5"),
     xml_region(2, 0, [(500, 500)]),  # degenerate: one vertex
     xml_region(3, 0, [(600, 600), (650, 620), (600, 600)], z=False),  # degenerate: A-B-A
     xml_region(4, 2, [(1000, 2000), (1400, 2200)], text="an ellipse"),
     xml_region(5, 3, [(300, 300), (340, 330)])],  # arrow: head, tail
) + xml_layer(  # an algorithm's output layer
    9, "Positive Pixel Count",
    {"ReadOnly": "1", "Type": "3", "LineColor": "0", "MacroName": "Positive Pixel Count v9"},
    "    <InputAnnotationId>7</InputAnnotationId>\n    <MacroId>12</MacroId>\n",
    '      <Attribute Name="Hue Value" Id="440300" Value="0.1"/>\n'
    '      <Attribute Name="NumberPositive" Id="440301" Value="1234" DisplayColor="65535"/>\n',
    '        <AttributeHeader Id="-1" Name="Region" ColumnWidth="-1"/>\n'
    '        <AttributeHeader Id="440341" Name="Positivity" ColumnWidth="-1"/>\n',
    [xml_region(1, 0, [(10, 10), (60, 10), (35, 50)], location="@70440",
                attributes='<Attribute Name="440341" Id="0" Value="0.73"/>')],
) + "</Annotations>\n")


def test_generated_constructs_read_with_warnings_not_errors() -> None:
    warnings: list[str] = []
    aset = read_imagescope(GENERATED.encode(), warnings=warnings)
    assert [g.name for g in aset.groups] == ["Tumor", "Tumor (holes)", "Positive Pixel Count"]
    tumour, holes, algorithm = aset.groups
    assert tumour.color == holes.color == "#ff0000" and holes.parent == "Tumor"
    assert algorithm.color == "#000000"
    assert tumour.attributes["Description"] == "outer"
    assert algorithm.attributes["NumberPositive"] == "1234"
    assert "Hue Value" not in algorithm.attributes  # not an XML name: kept in the layer's details only
    layer = json.loads(algorithm.attributes["imagescope.layer"])
    assert layer["attrib"]["MacroName"] == "Positive Pixel Count v9" and layer["attrib"]["Type"] == "3"
    assert layer["children"] == [["InputAnnotationId", "7"], ["MacroId", "12"]]
    region = json.loads(algorithm.attributes[REGION_KEY_PREFIX + "1"])
    assert region["ImageLocation"] == "@70440" and region["attributes"][0]["attrib"]["Value"] == "0.73"
    kinds = [(a.name, a.type, a.group) for a in aset.annotations]
    assert kinds == [
        ("Region 0", "Polygon", "Tumor"), ("Region 1", "Rectangle", "Tumor (holes)"),
        ("Region 2", "Dot", "Tumor"), ("Region 3", "Polygon", "Tumor"), ("Region 4", "Polygon", "Tumor"),
        ("Region 5", "Measurement", "Tumor"), ("Region 1", "Polygon", "Positive Pixel Count"),
    ]
    assert aset.annotations[0].comment == "needs review & a second look\n(line 2)"
    assert aset.annotations[5].coordinates == [(300.0, 300.0), (340.0, 330.0)]  # head, tail
    assert len(warnings) == 2
    assert "region 2 of 'Tumor': a region of 1 vertex, read as a Dot" in warnings[0]
    assert "region 3 of 'Tumor': degenerate region (3 vertices, 2 distinct)" in warnings[1]


def test_ellipse_is_a_polygon_within_a_tenth_of_a_percent() -> None:
    ellipse = read_imagescope(GENERATED.encode()).annotations[4]
    ellipse.group = None
    assert len(ellipse.coordinates) == ELLIPSE_VERTICES
    assert ellipse_parameters(ellipse.coordinates) == pytest.approx((1200, 2100, 200, 100))
    exact = math.pi * 200 * 100
    assert abs(geometry.true_area(ellipse.coordinates) - exact) / exact < 0.001
    assert geometry.bounding_box(ellipse.coordinates) == pytest.approx((1000, 2000, 1400, 2200))
    # it stays one through ASAP XML (float32) and GeoJSON
    for aset in (read_asap(write_asap(AnnotationSet([ellipse]))),
                 from_geojson(to_geojson(AnnotationSet([ellipse])))):
        assert ellipse_parameters(aset.annotations[0].coordinates) == pytest.approx((1200, 2100, 200, 100))
    # one vertex moved: a polygon now, written as Type 0
    edited = list(ellipse.coordinates)
    edited[5] = (edited[5][0] + 3, edited[5][1])
    assert ellipse_parameters(edited) is None
    out = write_imagescope(AnnotationSet([Annotation("e", coordinates=edited)]))
    assert [r.get("Type") for _, r in file_regions(out)] == ["0"]


def test_ellipse_given_by_one_axis_uses_the_area() -> None:
    # the two points are the ends of the major axis; Area = pi * 50 * 20 says so
    data = ('<Annotations><Annotation Id="1" Name="e" LineColor="255"><Regions><Region Id="1" Type="2" '
            f'Area="{math.pi * 50 * 20:.1f}"><Vertices><Vertex X="100" Y="100"/><Vertex X="200" Y="100"/>'
            "</Vertices></Region></Regions></Annotation></Annotations>").encode()
    warnings: list[str] = []
    aset = read_imagescope(data, warnings=warnings)
    # Area has one decimal: b = Area / (pi * a) to within 1e-4
    assert ellipse_parameters(aset.annotations[0].coordinates) == pytest.approx((150, 100, 50, 20), abs=1e-3)
    assert "ends of an axis" in warnings[0]


def test_holes_are_cut_out_of_the_mask() -> None:
    aset = read_imagescope(GENERATED.encode())
    labels, order = {"Tumor": 1, "Tumor (holes)": 0}, ["Tumor", "Tumor (holes)"]
    mask = rasterize_window(aset, 0, 0, 128, 128, labels, order)
    without = rasterize_window(aset, 0, 0, 128, 128, {"Tumor": 1}, ["Tumor"])
    assert mask[20, 20] == 1 and mask[60, 60] == 0 and mask[60, 30] == 1 and mask[5, 5] == 0
    cleared = (without == 1) & (mask == 0)
    rows, cols = cleared.nonzero()
    assert cleared.sum() > 30 * 30 and (mask <= without).all()
    assert 40 <= cols.min() and cols.max() <= 81 and 40 <= rows.min() and rows.max() <= 80


# ---------------------------------------------------------------------------------------------
# Round trip ImageScope -> ours -> ImageScope


def regions_of(data: bytes) -> list[dict[str, Any]]:
    out = []
    for layer, region in file_regions(data):
        out.append({
            "layer": (layer.get("Id"), layer.get("Name") or "", layer.get("LineColor")),
            "Id": region.get("Id"), "Type": region.get("Type"), "Text": region.get("Text", ""),
            "NegativeROA": region.get("NegativeROA", "0"), "vertices": vertices(region),
            "attributes": [dict(a.attrib) for a in region.iterfind("Attributes/Attribute")],
            "kept": {k: region.get(k) for k in ("Zoom", "Selected", "ImageLocation", "Analyze", "GlobalId")
                     if region.get(k) is not None},
        })
    return out


@pytest.mark.parametrize("name", [*FIXTURES, "generated"])
def test_round_trip_keeps_every_region_type_colour_hole_and_comment(name: str) -> None:
    original = GENERATED.encode() if name == "generated" else (DATA / name).read_bytes()
    aset = read_imagescope(original)
    written = write_imagescope(aset)
    before, after = regions_of(original), regions_of(written)
    assert len(after) == len(before)
    for old, new in zip(before, after, strict=True):
        assert new["layer"] == old["layer"] and new["Id"] == old["Id"] and new["Type"] == old["Type"]
        assert (new["Text"], new["NegativeROA"], new["attributes"]) == (old["Text"], old["NegativeROA"],
                                                                          old["attributes"])
        assert new["kept"].items() >= old["kept"].items()  # ImageScope's defaults may be added
        if old["Type"] == "1" and len(old["vertices"]) == 4:
            assert sorted(new["vertices"]) == sorted(old["vertices"])
        elif old["Type"] == "2":
            assert flat(sorted(new["vertices"])) == pytest.approx(flat(sorted(old["vertices"])), abs=1e-6)
        else:
            assert flat(new["vertices"]) == pytest.approx(flat(old["vertices"]), abs=1e-6)
    old_layers = etree.fromstring(original).findall("Annotation")
    new_layers = etree.fromstring(written).findall("Annotation")
    assert [(a.get("Id"), a.get("Name") or "", a.get("LineColor")) for a in new_layers] == [
        (a.get("Id"), a.get("Name") or "", a.get("LineColor")) for a in old_layers]
    def layer_attributes(layer: Any) -> list[tuple[dict[str, str], str | None]]:
        return [(dict(x.attrib), x.findtext("GlobalId")) for x in layer.iterfind("Attributes/Attribute")]

    assert [layer_attributes(a) for a in new_layers] == [layer_attributes(a) for a in old_layers]
    assert [[h.findtext("GlobalId") for h in a.iter("AttributeHeader")] for a in new_layers] == [
        [h.findtext("GlobalId") for h in a.iter("AttributeHeader")] for a in old_layers]
    assert [a.findtext("ImageId") for a in new_layers] == [a.findtext("ImageId") for a in old_layers]
    # and the second reading is the first
    again = read_imagescope(written)
    assert [(a.name, a.type, a.group, a.color, a.comment) for a in again.annotations] == [
        (a.name, a.type, a.group, a.color, a.comment) for a in aset.annotations]
    assert [(g.name, g.parent, g.color) for g in again.groups] == [
        (g.name, g.parent, g.color) for g in aset.groups]
    if name != "ssrtask_eslidemanager_globalid.xml":  # the eSlide variant gains ImageScope's defaults
        assert again == aset


def test_export_writes_measures_from_the_geometry() -> None:
    tcga = read_imagescope(DATA / "wsihandling_TCGA-EJ-5519-01Z-00-DX1.xml")
    written = write_imagescope(tcga, mpp=0.252)
    root = etree.fromstring(written)
    assert root.get("MicronsPerPixel") == "0.252000"
    original = {r.get("Id") + r.getparent().getparent().get("Id"): r for _, r in file_regions(
        DATA / "wsihandling_TCGA-EJ-5519-01Z-00-DX1.xml")}
    for layer, region in file_regions(written):
        source = original[region.get("Id") + layer.get("Id")]
        # ImageScope's own numbers, recomputed from the vertices
        assert float(region.get("Length")) == pytest.approx(float(source.get("Length")), abs=0.1)
        assert float(region.get("Area")) == pytest.approx(float(source.get("Area")), rel=1e-6)
        length = float(region.get("Length"))
        assert float(region.get("LengthMicrons")) == pytest.approx(length * 0.252, abs=0.1)
        assert float(region.get("AreaMicrons")) == pytest.approx(float(region.get("Area")) * 0.252 ** 2,
                                                                 rel=1e-6, abs=0.1)
    assert written.startswith(b'<Annotations MicronsPerPixel="0.252000">\n\t<Annotation Id="1" Name="" ')
    assert b"\n  " not in written and written.endswith(b"</Annotations>\n")


def test_export_of_a_set_that_never_was_imagescope() -> None:
    spline = [(0.0, 0.0), (100.0, 0.0), (100.0, 100.0), (0.0, 100.0)]
    aset = AnnotationSet(
        [Annotation("r", "Rectangle", "tumor", coordinates=[(10, 20), (30, 20), (30, 50), (10, 50)]),
         Annotation("s", "Spline", "tumor", coordinates=spline, comment="smooth"),
         Annotation("d", "Dot", None, coordinates=[(5.25, 6.5)]),
         Annotation("m", "Measurement", "tumor", coordinates=[(0, 0), (3, 4)]),
         Annotation("ps", "PointSet", "normal", coordinates=[(1, 1), (2, 2)]),
         Annotation("o", "Polygon", "normal", coordinates=[(0, 0), (10, 0), (0, 10)])],
        [Group("tumor", color="#ff0000", attributes={"owner": "A B"}), Group("normal", color="#0000ff")],
    )
    warnings: list[str] = []
    written = write_imagescope(aset, mpp=0.5, warnings=warnings)
    layers = etree.fromstring(written).findall("Annotation")
    assert [(a.get("Id"), a.get("Name"), a.get("LineColor")) for a in layers] == [
        ("1", "tumor", "255"), ("2", "normal", str(0xFF0000)), ("3", "", "65280")]
    assert [dict(x.attrib) for x in layers[0].iterfind("Attributes/Attribute")] == [
        {"Name": "owner", "Id": "0", "Value": "A B"}]
    regions = [(r.get("Type"), len(vertices(r)), r.get("Text")) for _, r in file_regions(written)]
    drawn = len(geometry.flatten_spline(spline)) - 1
    assert regions == [("1", 4, ""), ("0", drawn, "smooth"), ("4", 2, ""), ("0", 1, ""), ("0", 1, ""),
                       ("0", 3, ""), ("0", 1, "")]
    ruler = file_regions(written)[2][1]
    assert (ruler.get("Length"), ruler.get("Area"), ruler.get("LengthMicrons")) == ("5.0", "0.0", "2.5")
    triangle = file_regions(written)[5][1]
    assert (triangle.get("Area"), triangle.get("AreaMicrons")) == ("50.0", "12.5")
    assert len(warnings) == 3 and any("no spline" in w for w in warnings)
    with pytest.raises(ValidationError):
        write_imagescope(AnnotationSet([Annotation("x", group="ghost")]))


# ---------------------------------------------------------------------------------------------
# Hostile and wrong files, as the ASAP reader refuses them

HOSTILE_SECONDS = 2.0


def refused(data: bytes, error: type[Exception] = AnnotationFormatError, **kwargs: Any) -> str:
    started = time.perf_counter()
    with pytest.raises(error) as caught:
        read_imagescope(data, **kwargs)
    assert time.perf_counter() - started < HOSTILE_SECONDS
    return str(caught.value)


def test_hostile_files_are_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    region = '<Regions><Region Id="1" Type="0" Text="&e;"><Vertices><Vertex X="1" Y="2"/></Vertices></Region>'
    for doctype in (f'<!DOCTYPE Annotations [<!ENTITY e SYSTEM "{secret.as_uri()}">]>',
                    f'<!DOCTYPE Annotations SYSTEM "{secret.as_uri()}">',
                    '<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY e "&a;&a;&a;&a;&a;&a;&a;&a;">]>'):
        document = f'<?xml version="1.0"?>\n{doctype}\n<Annotations><Annotation Id="1">{region}' \
                   "</Regions></Annotation></Annotations>"
        message = refused(document.encode())
        assert message == REFUSED and "TOP-SECRET" not in message
        assert refused(document.encode("utf-16")) == REFUSED
    assert "Entity 'e' not defined" in refused(f'<Annotations><Annotation Id="1">{region}</Regions>'
                                               "</Annotation></Annotations>".encode())
    deep = b"<Annotations><Annotation>" + b"<a>" * 10_000 + b"</a>" * 10_000 + b"</Annotation></Annotations>"
    assert "Excessive depth" in refused(deep)
    big = (DATA / "wsihandling_TCGA-EJ-5519-01Z-00-DX1.xml").read_bytes()
    assert "over the limit of 20,000" in refused(big, InputTooLargeError, max_bytes=20_000)
    huge = tmp_path / "huge.xml"
    with huge.open("wb") as handle:
        handle.truncate(300 * 1024 * 1024)
    with pytest.raises(InputTooLargeError):
        read_imagescope(huge)


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"", "empty file"),
        (b"<Annotations><Annotation", "not well-formed XML"),
        (b"<ASAP_Annotations><Annotations/></ASAP_Annotations>", "root element is <ASAP_Annotations>"),
        (b'<Annotations><Annotation Name="a" PartOfGroup="None" Type="Dot"/></Annotations>',
         "not an ImageScope annotation file"),
        (b'<Annotations><Annotation Id="1"><Regions><Region Id="1"><Vertices><Vertex X="1e999" Y="2"/>'
         b'<Vertex X="3" Y="abc"/></Vertices></Region></Regions></Annotation></Annotations>',
         "2 problems; first: line 1: <Vertex X='1e999'> is not a finite number"),
    ],
)
def test_wrong_files_are_refused(data: bytes, needle: str) -> None:
    assert needle in refused(data)


# ---------------------------------------------------------------------------------------------
# Comments in ASAP XML and GeoJSON


def test_comments_in_asap_xml_are_one_extra_attribute() -> None:
    aset = AnnotationSet([Annotation("a", "Dot", coordinates=[(1, 2)], comment='say "hi" & <go>\nnow\t!'),
                          Annotation("b", "Dot", coordinates=[(3, 4)])])
    data = write_asap(aset)
    assert b'Color="#F4FA58" Comment="say &quot;hi&quot; &amp; &lt;go>&#10;now&#09;!">' in data
    assert data.count(b"Comment=") == 1
    assert read_asap(data) == aset
    with pytest.raises(ValidationError, match="comment contains character U\\+0001"):
        write_asap(AnnotationSet([Annotation("a", comment="\x01")]))


@pytest.mark.parametrize("stem", STEMS)
def test_asap_files_never_gain_a_comment_attribute(stem: str) -> None:
    aset = read_asap(real_file(stem))
    assert all(a.comment == "" for a in aset.annotations)
    assert b"Comment" not in write_asap(aset)


def test_geojson_comment_is_qupaths_description() -> None:
    aset = AnnotationSet([Annotation("a", "Polygon", "t", coordinates=[(0, 0), (4, 0), (0, 4)], comment="c1"),
                          Annotation("b", "Dot", coordinates=[(1, 1)])], [Group("t")])
    document = to_geojson(aset)
    assert document["features"][0]["properties"]["metadata"] == {"ANNOTATION_DESCRIPTION": "c1"}
    assert "metadata" not in document["features"][1]["properties"]
    assert from_geojson(document) == aset
    # QuPath's own export (0.5+): a description in the object's metadata; its holes get none
    qupath = {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [
        [[0, 0], [100, 0], [100, 100], [0, 100], [0, 0]], [[10, 10], [20, 10], [20, 20], [10, 10]]]},
        "properties": {"objectType": "annotation", "metadata": {"ANNOTATION_DESCRIPTION": "from QuPath"}}}
    read = from_geojson(qupath)
    assert [a.comment for a in read.annotations] == ["from QuPath", ""]


def test_repeated_names_and_ids_are_made_unique_with_warnings() -> None:
    square = [(0, 0), (10, 0), (10, 10), (0, 10)]
    regions = [xml_region(1, 0, square), xml_region(1, 0, square)]
    data = ('<Annotations MicronsPerPixel="0">\n' + xml_layer(1, "None", {}, "", "", "", regions)
            + xml_layer(2, "None", {}, "", "", "", []) + "</Annotations>\n").encode()
    warnings: list[str] = []
    aset = read_imagescope(data, warnings=warnings)
    assert [g.name for g in aset.groups] == ["None (layer 1)", "None (layer 2)"]  # "None" means "no group"
    assert [a.name for a in aset.annotations] == ["Region 1", "Region 2"]
    assert len(warnings) == 3 and "region Id '1' repeated" in warnings[1]
    # written back under the file's own layer name and the region's new Id
    layers = etree.fromstring(write_imagescope(aset)).findall("Annotation")
    assert [a.get("Name") for a in layers] == ["None", "None"]
    assert [r.get("Id") for r in layers[0].iter("Region")] == ["1", "2"]
