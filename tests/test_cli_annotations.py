"""``wsi-viewer convert`` and ``wsi-viewer info``: real files, exit codes, one-line errors, and no
partial output left behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import tifffile

from tests._asap_helpers import DERIVED_ORACLE, derived_file, load_txt, real_file, saved_bytes
from viewer.annotations.asap import read_asap, write_asap
from viewer.annotations.model import Annotation, AnnotationSet, Group
from viewer.cli import main

CMU = Path(__file__).parent / "data" / "slides" / "aperio" / "CMU-1-Small-Region.svs"  # mpp 0.499


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_line_error(status: int, err: str, command: str, needle: str) -> None:
    assert status == 2
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"wsi-viewer {command}: error: ")
    assert needle in lines[0]


def _square(name: str, group: str | None, x: float, y: float, side: float) -> Annotation:
    ring = [(x, y), (x + side, y), (x + side, y + side), (x, y + side)]
    return Annotation(name, "Polygon", group, coordinates=ring)


# ---------------------------------------------------------------------------------------------
# convert


@pytest.mark.parametrize("stem", ["tiles", "xml_example", "tumor_009", "elm-asap-pathology-format_sampleXml"])
def test_convert_xml_to_xml_rewrites_as_asap(
    stem: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.xml"
    status, stdout, err = run(["convert", str(real_file(stem)), str(out)], capsys)
    assert status == 0 and err == ""
    assert out.read_bytes() == saved_bytes(stem)
    loaded = load_txt(stem)
    groups = int(loaded.header["groups"])
    assert f"{loaded.header['annotations']} annotations, {groups} group{'s' if groups > 1 else ''}," in stdout


def test_convert_through_geojson_is_lossless(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = real_file("tumor_111")
    geojson = tmp_path / "t.geojson"
    back = tmp_path / "back.xml"
    assert run(["convert", str(source), str(geojson)], capsys)[0] == 0
    document = json.loads(geojson.read_text(encoding="utf-8"))
    assert document["type"] == "FeatureCollection" and len(document["features"]) == 10
    assert run(["convert", str(geojson), str(back)], capsys)[0] == 0
    assert back.read_bytes() == source.read_bytes()


def test_convert_offset_names_the_geojson_frame(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = real_file("patient_004_node_4")
    first = read_asap(source).annotations[0].coordinates[0]
    geojson = tmp_path / "shifted.json"
    back = tmp_path / "back.xml"
    assert run(["convert", str(source), str(geojson), "--offset", "1000", "2000"], capsys)[0] == 0
    ring = json.loads(geojson.read_text(encoding="utf-8"))["features"][0]["geometry"]["coordinates"][0]
    assert ring[0] == pytest.approx([first[0] - 1000, first[1] - 2000])
    assert run(["convert", str(geojson), str(back), "--offset", "1000", "2000"], capsys)[0] == 0
    assert back.read_bytes() == source.read_bytes()
    # a slide without bounds puts QuPath's origin at (0, 0)
    plain = tmp_path / "plain.geojson"
    assert run(["convert", str(source), str(plain), "--slide", str(CMU), "--qupath"], capsys)[0] == 0
    ring = json.loads(plain.read_text(encoding="utf-8"))["features"][0]["geometry"]["coordinates"][0]
    assert ring[0] == pytest.approx([first[0], first[1]])


def test_convert_bad_input_leaves_nothing_behind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_bytes(b'<ASAP_Annotations><Annotations>\n<Annotation Name="x" PartOfGroup="ghost"/>'
                    b"</Annotations></ASAP_Annotations>")
    out = tmp_path / "out.xml"
    status, stdout, err = run(["convert", str(bad), str(out)], capsys)
    assert_one_line_error(status, err, "convert", "line 2: <Annotation Name='x'> is PartOfGroup='ghost'")
    assert stdout == "" and not out.exists()
    # an existing output file is left as it was
    out.write_bytes(b"keep me")
    truncated = tmp_path / "truncated.xml"
    truncated.write_bytes(real_file("tumor_111").read_bytes()[:5000])
    status, _, err = run(["convert", str(truncated), str(out)], capsys)
    assert_one_line_error(status, err, "convert", "not well-formed XML")
    assert out.read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.xml", "out.xml", "truncated.xml"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["{tmp}/missing.xml", "{tmp}/o.xml"], "missing.xml: no such file"),
        (["{src}", "{tmp}/o.txt"], "unknown annotation format '.txt'"),
        (["{tmp}/in.csv", "{tmp}/o.xml"], "unknown annotation format '.csv'"),
        (["{src}", "{tmp}/no/such/dir/o.xml"], "cannot write"),
        (["{tmp}/hostile.xml", "{tmp}/o.xml"], "DOCTYPE declarations are not allowed"),
        (["{tmp}/broken.geojson", "{tmp}/o.xml"], "not valid JSON"),
    ],
)
def test_convert_errors(
    args: list[str], needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "in.csv").write_text("x,y\n")
    (tmp_path / "hostile.xml").write_text('<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>')
    (tmp_path / "broken.geojson").write_text('{"type": "FeatureCollection", ')
    argv = ["convert", *(a.format(tmp=tmp_path, src=real_file("tumor_111")) for a in args)]
    before = sorted(p.name for p in tmp_path.rglob("*"))
    status, stdout, err = run(argv, capsys)
    assert_one_line_error(status, err, "convert", needle)
    assert stdout == "" and sorted(p.name for p in tmp_path.rglob("*")) == before


def test_size_limit_setting(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WSI_VIEWER_ANNOTATION_MAX_MB", "1")
    status, _, err = run(["info", str(real_file("tumor_039"))], capsys)  # 2.7 MB
    assert_one_line_error(status, err, "info", "over the annotation file limit of 1,048,576")
    assert run(["info", str(real_file("tumor_111"))], capsys)[0] == 0


def test_console_script_exit_status_and_stderr(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n")
    out = tmp_path / "out.geojson"
    result = subprocess.run([sys.executable, "-m", "viewer.cli", "convert", str(bad), str(out)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("wsi-viewer convert: error: ")
    assert not out.exists()


# ---------------------------------------------------------------------------------------------
# info


def test_info_counts_groups_and_asap_areas(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(["info", str(real_file("tumor_111"))], capsys)
    assert status == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].endswith("tumor_111.xml: 10 annotations (Polygon 6, Spline 4), 312 vertices, 3 groups")
    loaded = load_txt("tumor_111")
    for group in loaded.groups:
        area = float(group["area"])
        count = sum(a["group"] == group["name"] for a in loaded.annotations)
        assert (f"group '{group['name']}' ({group['color']}, top level): "
                f"{count} annotation{'s' if count != 1 else ''}, "
                f"{group['member_points']} vertices, area {area:.6g} px2") in lines


def test_info_json_matches_what_asap_loaded(capsys: pytest.CaptureFixture[str]) -> None:
    for stem in ("tumor_039", "elm-asap-pathology-format_sampleXml"):
        status, out, _ = run(["info", str(real_file(stem)), "--json"], capsys)
        assert status == 0
        report = json.loads(out)
        loaded = load_txt(stem)
        assert report["annotations"] == len(loaded.annotations)
        assert report["vertices"] == int(loaded.header["total_points"])
        assert [f"{g['area_px2']:.9g}" for g in report["groups"]] == [g["area"] for g in loaded.groups]
        assert [g["vertices"] for g in report["groups"]] == [int(g["member_points"]) for g in loaded.groups]
        assert [f"{a['area_px2']:.9g}" for a in report["annotation_list"]] == [
            a["area"] for a in loaded.annotations]
        assert report["mpp"] is None and "categories" not in report


def test_info_camelyon_categories(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # squares at 0.5 um/px: longest diameter = side * sqrt(2) * 0.5 um
    aset = AnnotationSet(
        [_square("small", "_0", 0, 0, 200),       # 141 um  -> itc
         _square("medium", "_0", 1000, 0, 1000),  # 707 um  -> micro
         _square("large", "_1", 5000, 0, 5000),   # 3536 um -> macro
         _square("hole", "_2", 6000, 1000, 4000)],  # exclusion group: not a tumour
        [Group("_0"), Group("_1"), Group("_2")],
    )
    path = tmp_path / "tumor.xml"
    path.write_bytes(write_asap(aset))
    status, out, _ = run(["info", str(path), "--mpp", "0.5", "--json"], capsys)
    assert status == 0
    report = json.loads(out)
    assert report["categories"] == {"itc": 1, "micro": 1, "macro": 1}
    assert report["slide_category"] == "macro"
    by_name = {a["name"]: a for a in report["annotation_list"]}
    assert by_name["medium"]["longest_diameter_um"] == pytest.approx(1000 * 2 ** 0.5 * 0.5)
    assert "category" not in by_name["hole"]
    assert by_name["large"]["area_um2"] == pytest.approx(5000 * 5000 * 0.25)
    status, out, _ = run(["info", str(path), "--mpp", "0.5", "--annotations"], capsys)
    assert "CAMELYON categories by longest diameter: itc 1, macro 1, micro 1; slide: macro" in out
    assert "  [1] 'medium' Polygon (group '_0', #F4FA58): 4 points, area 1e+06 px2 = 250000 um2" in out


def test_info_reads_the_pixel_size_from_a_slide(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(["info", str(real_file("tumor_111")), "--slide", str(CMU)], capsys)
    assert status == 0
    assert "pixel size: 0.499 x 0.499 um/px" in out
    group_area = float(load_txt("tumor_111").groups[0]["area"])
    assert f"= {group_area * 0.499 * 0.499 / 1e6:.4g} mm2" in out


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--slide", "{tmp}/none.svs"], "no such slide file"),
        (["--slide", "{tmp}/fake.svs"], "fake.svs"),
        (["--mpp", "-1"], "--mpp must be a positive number"),
        (["--mpp", "nan"], "--mpp must be a positive number"),
    ],
)
def test_info_errors(
    extra: list[str], needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "fake.svs").write_bytes(b"not a slide")
    argv = ["info", str(real_file("tumor_111")), *(a.format(tmp=tmp_path) for a in extra)]
    status, out, err = run(argv, capsys)
    assert_one_line_error(status, err, "info", needle)
    assert out == ""


def test_info_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["info", str(real_file("tumor_111")), "--mpp", "0.5", "--slide", str(CMU)])
    assert caught.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# ImageScope XML and NDPA


IMAGESCOPE = Path(__file__).parent / "data" / "imagescope"


def assert_same_set(got: AnnotationSet, want: AnnotationSet, tolerance: float) -> None:
    """Equal sets, coordinates within *tolerance* px (ASAP XML keeps float32)."""
    assert got.groups == want.groups
    assert [(a.name, a.type, a.group, a.color, a.comment) for a in got.annotations] == [
        (a.name, a.type, a.group, a.color, a.comment) for a in want.annotations]
    for a, b in zip(got.annotations, want.annotations, strict=True):
        assert len(a.coordinates) == len(b.coordinates)
        assert all(abs(x - bx) <= tolerance and abs(y - by) <= tolerance
                   for (x, y), (bx, by) in zip(a.coordinates, b.coordinates, strict=True))


@pytest.mark.parametrize("name", sorted(p.name for p in IMAGESCOPE.glob("*.xml")))
def test_convert_imagescope_to_every_format_and_back(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from viewer.annotations.imagescope import read_imagescope

    source = IMAGESCOPE / name
    original = read_imagescope(source)
    asap, geojson, back = tmp_path / "a.xml", tmp_path / "a.geojson", tmp_path / "back.xml"
    status, out, err = run(["convert", str(source), str(asap)], capsys)  # told apart by its root element
    assert status == 0 and err == ""
    assert f"{len(original.annotations)} annotation" in out
    assert_same_set(read_asap(asap), original, 0.01)
    assert run(["convert", str(asap), str(geojson)], capsys)[0] == 0
    assert run(["convert", str(geojson), str(back), "--to", "imagescope"], capsys)[0] == 0
    again = read_imagescope(back)
    if name.startswith("ssrtask"):  # the eSlide variant gains ImageScope's default attributes
        again.groups = original.groups
    assert_same_set(again, original, 0.01)
    status, out, _ = run(["info", str(source), "--json"], capsys)
    report = json.loads(out)
    assert status == 0 and report["annotations"] == len(original.annotations)
    assert [g["name"] for g in report["groups"]] == [g.name for g in original.groups]


def test_convert_names_formats_with_from_and_to(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from viewer.annotations.imagescope import read_imagescope

    renamed = tmp_path / "layers.txt"
    renamed.write_bytes((IMAGESCOPE / "onesixth_test_alltypes.xml").read_bytes())
    out = tmp_path / "out.dat"
    argv = ["convert", str(renamed), str(out), "--from", "imagescope", "--to", "imagescope"]
    assert run(argv, capsys)[0] == 0
    assert out.read_bytes().startswith(b'<Annotations MicronsPerPixel="0">\n\t<Annotation Id="1"')
    assert read_imagescope(out) == read_imagescope(renamed)
    # ImageScope's MicronsPerPixel and micron measures from the slide
    scoped = tmp_path / "scoped.xml"
    argv = ["convert", str(real_file("tumor_111")), str(scoped), "--to", "imagescope", "--slide", str(CMU)]
    assert run(argv, capsys)[0] == 0
    assert scoped.read_bytes().startswith(b'<Annotations MicronsPerPixel="0.499000">')
    # an ASAP file read as ImageScope is refused, with no output
    argv = ["convert", str(real_file("tumor_111")), str(tmp_path / "x.xml"), "--from", "imagescope"]
    status, _, err = run(argv, capsys)
    assert_one_line_error(status, err, "convert", "not an ImageScope annotation file")
    # and an ImageScope file named as ASAP is read as ASAP, which refuses it
    sixth = IMAGESCOPE / "onesixth_test_alltypes.xml"
    argv = ["convert", str(sixth), str(tmp_path / "x.xml"), "--from", "asap"]
    status, _, err = run(argv, capsys)
    assert_one_line_error(status, err, "convert", "looks like Aperio ImageScope XML")
    assert not (tmp_path / "x.xml").exists()


def test_convert_ndpa_needs_a_frame(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.test_annotations_ndpa import GENERATED, SHAPES, make_ndpi

    ndpa = tmp_path / "slide.ndpi.ndpa"
    ndpa.write_bytes(GENERATED)
    out = tmp_path / "out.xml"
    status, stdout, err = run(["convert", str(ndpa), str(out)], capsys)
    assert_one_line_error(status, err, "convert", "pass --slide SLIDE (the NDPI), or --offset-nm DX DY")
    assert stdout == "" and not out.exists()
    status, _, err = run(["convert", str(ndpa), str(out), "--offset-nm", "0", "0", "--mpp", "0.25"], capsys)
    assert_one_line_error(status, err, "convert", "(missing: --size)")
    status, _, err = run(["convert", str(ndpa), str(out), "--slide", str(CMU)], capsys)  # an SVS: no offsets
    assert_one_line_error(status, err, "convert", "CMU-1-Small-Region.svs: the slide has no hamamatsu.X")
    assert not out.exists()
    # explicit frame, then the same frame from a generated NDPI
    explicit = ["--offset-nm", "1234567", "-7654321", "--mpp", "0.4529", "0.4531", "--size", "1200", "800"]
    assert run(["convert", str(ndpa), str(out), *explicit], capsys)[0] == 0
    slide = make_ndpi(tmp_path / "slide.ndpi", 1200, 800, mpp=(0.4529, 0.4531), offset_nm=(1234567, -7654321))
    from_slide = tmp_path / "from_slide.xml"
    assert run(["convert", str(ndpa), str(from_slide), "--slide", str(slide)], capsys)[0] == 0
    assert from_slide.read_bytes() == out.read_bytes()
    first, (x_nm, y_nm) = read_asap(out).annotations[2].coordinates[0], SHAPES[0][0]
    assert first == pytest.approx(((x_nm - 1234567) / 452.9 + 600, (y_nm + 7654321) / 453.1 + 400), abs=0.5)
    # and back to NDPA through the same frame; info reads it
    again = tmp_path / "again.ndpa"
    assert run(["convert", str(out), str(again), "--slide", str(slide)], capsys)[0] == 0
    status, report, _ = run(["info", str(again), "--slide", str(slide), "--json"], capsys)
    assert status == 0 and json.loads(report)["types"] == {"Dot": 1, "Measurement": 2, "Polygon": 4,
                                                           "Rectangle": 1}
    status, _, err = run(["info", str(again)], capsys)
    assert_one_line_error(status, err, "info", "NDPA positions are nanometres from the slide centre")
    # an NDPA file saved as .xml is known by its root element
    renamed = tmp_path / "ndpa.xml"
    renamed.write_bytes(GENERATED)
    assert run(["info", str(renamed), "--mpp", "0.4529", "--offset-nm", "0", "0", "--size", "10", "10"],
               capsys)[0] == 0


def test_comments_travel_through_every_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.test_annotations_imagescope import GENERATED

    source = tmp_path / "scope.xml"
    source.write_text(GENERATED)
    asap, geojson, ndpa, back = (tmp_path / n for n in ("a.xml", "a.geojson", "a.ndpa", "b.xml"))
    frame = ["--offset-nm", "0", "0", "--mpp", "0.25", "--size", "4000", "4000"]
    assert run(["convert", str(source), str(asap)], capsys)[0] == 0
    assert b'Comment="needs review &amp; a second look&#10;(line 2)"' in asap.read_bytes()
    assert run(["convert", str(asap), str(geojson)], capsys)[0] == 0
    features = json.loads(geojson.read_text(encoding="utf-8"))["features"]
    comment = "needs review & a second look\n(line 2)"
    assert features[0]["properties"]["metadata"] == {"ANNOTATION_DESCRIPTION": comment}
    assert run(["convert", str(geojson), str(ndpa), *frame], capsys)[0] == 0
    assert b"<details>needs review &amp; a second look\n(line 2)</details>" in ndpa.read_bytes()
    assert run(["convert", str(ndpa), str(back), *frame], capsys)[0] == 0
    assert [a.comment for a in read_asap(back).annotations][:1] == ["needs review & a second look\n(line 2)"]
    status, out, _ = run(["info", str(asap), "--annotations"], capsys)
    assert status == 0 and "comment 'needs review & a second look\\n(line 2)'" in out


# ---------------------------------------------------------------------------------------------
# What ASAP accepts with a surprise: warnings on stderr, and the command still succeeds

_TWIN_WARNING = ("warning: line 367: <Group Name='tissue'> repeats the group name of line 358; both are "
                 "kept, and every annotation and child group naming 'tissue' belongs to this later one")


def test_convert_twin_groups_warns_and_keeps_both_through_every_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = derived_file("tumor_111_twin_groups")
    xml, geojson, back = tmp_path / "out.xml", tmp_path / "twins.geojson", tmp_path / "back.xml"
    status, out, err = run(["convert", str(source), str(xml)], capsys)
    assert status == 0 and err.splitlines() == [f"wsi-viewer convert: {_TWIN_WARNING}, as in ASAP"]
    assert xml.read_bytes() == source.read_bytes() and "10 annotations, 4 groups" in out
    assert run(["convert", str(source), str(geojson)], capsys)[0] == 0
    document = json.loads(geojson.read_text(encoding="utf-8"))
    assert [g["name"] for g in document["asapGroups"]] == ["tissue", "artifact", "background", "tissue"]
    tissue = [f for f in document["features"] if f["properties"]["asap"]["group"] == "tissue"]
    # the class colour of a member is its group's, the last "tissue" (#ff0000), not the first's
    assert len(tissue) == 7 and all(f["properties"]["classification"]["color"] == [255, 0, 0] for f in tissue)
    status, _, err = run(["convert", str(geojson), str(back)], capsys)
    assert status == 0 and back.read_bytes() == source.read_bytes()
    assert err.splitlines() == [
        "wsi-viewer convert: warning: group 3 ('tissue'): same name as group 0; annotations and child groups "
        "naming 'tissue' belong to the last group of that name (group 3), as in ASAP"
    ]


def test_info_reports_each_twin_as_asap_binds_it(capsys: pytest.CaptureFixture[str]) -> None:
    stem = "tumor_111_twin_groups"
    status, out, err = run(["info", str(derived_file(stem)), "--json"], capsys)
    assert status == 0 and err.splitlines() == [f"wsi-viewer info: {_TWIN_WARNING}, as in ASAP"]
    report = json.loads(out)
    loaded = load_txt(stem, DERIVED_ORACLE)
    assert [g["name"] for g in report["groups"]] == [g["name"] for g in loaded.groups]
    assert [f"{g['area_px2']:.9g}" for g in report["groups"]] == [g["area"] for g in loaded.groups]
    assert [g["vertices"] for g in report["groups"]] == [int(g["member_points"]) for g in loaded.groups]
    assert [g["annotations"] for g in report["groups"]] == [0, 2, 1, 7]
    status, out, _ = run(["info", str(derived_file(stem))], capsys)
    assert status == 0
    assert "group 'tissue' (#64FE2E, top level): 0 annotations, 0 vertices, area 0 px2" in out
    assert "group 'background' (#64FE2E, in 'tissue'): 1 annotation, 57 vertices" in out


def test_stray_coordinates_text_is_a_warning_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.xml"
    status, _, err = run(["convert", str(derived_file("tumor_111_stray_text")), str(out)], capsys)
    assert status == 0 and out.read_bytes() == real_file("tumor_111").read_bytes()
    lines = err.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("wsi-viewer convert: warning: line 7: text 'stray text' inside <Coordinates> "
                               "of 'Annotation 0' is ignored; ASAP reads it as a point at (0, 0)")
    assert lines[1].startswith("wsi-viewer convert: warning: line 31: text 'note' inside <Coordinates>")


def test_mask_prints_the_warnings_and_succeeds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    twins = tmp_path / "twins.xml"
    twins.write_bytes(write_asap(AnnotationSet(
        [_square("in twin", "twin", 100, 100, 50)], [Group("twin", color="#111111"), Group("twin")])))
    out = tmp_path / "mask.tif"
    status, stdout, err = run(
        ["mask", str(CMU), str(twins), "-o", str(out), "--labels", "twin=9", "--no-progress"], capsys)
    assert status == 0 and out.exists() and "mask of 1 annotations" in stdout
    assert err.splitlines() == [
        "wsi-viewer mask: warning: line 17: <Group Name='twin'> repeats the group name of line 14; both are "
        "kept, and every annotation and child group naming 'twin' belongs to this later one, as in ASAP"
    ]
    with tifffile.TiffFile(out) as tiff:
        level0 = tiff.pages[0].asarray()
    assert int((level0 == 9).sum()) == 49 * 49  # the member is painted with its group name's label
