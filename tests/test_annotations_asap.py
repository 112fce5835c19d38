"""ASAP XML reader and writer against ASAP's own outputs for real files, plus what ASAP tolerates,
what it chokes on, hostile XML and generated round-trips."""

from __future__ import annotations

import os
import struct
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests._asap_helpers import (
    DERIVED_ORACLE,
    STEMS,
    derived_file,
    derived_saved_bytes,
    load_txt,
    real_file,
    saved_bytes,
)
from viewer.annotations import geometry
from viewer.annotations.asap import read_asap, save_asap, write_asap
from viewer.annotations.asap.fast_blocks import skeleton
from viewer.annotations.asap.reader import _Reader
from viewer.annotations.model import ANNOTATION_TYPES, Annotation, AnnotationSet, Group
from viewer.errors import AnnotationFormatError, InputTooLargeError, NotFoundError, ValidationError

# Hostile inputs must fail fast; this bound is a safety net against expansion, not a speed target.
HOSTILE_SECONDS = 2.0


def f32(value: float) -> float:
    return float(struct.unpack("f", struct.pack("f", value))[0])


def g9(value: float) -> str:
    return f"{f32(value):.9g}"


def doc(annotations: str = "", groups: str | None = "", root: str = "ASAP_Annotations") -> bytes:
    """A small ASAP document; ``groups=None`` leaves out <AnnotationGroups>."""
    group_part = "" if groups is None else f"<AnnotationGroups>{groups}</AnnotationGroups>"
    return (
        f'<?xml version="1.0"?>\n<{root}>\n<Annotations>{annotations}</Annotations>\n'
        f"{group_part}\n</{root}>\n"
    ).encode()


def ann(coords: str = "", name: str = "a", group: str = "None", extra: str = "") -> str:
    return (
        f'<Annotation Name="{name}" Type="Polygon" PartOfGroup="{group}" Color="#F4FA58"{extra}>'
        f"<Coordinates>{coords}</Coordinates></Annotation>"
    )


def pt(order: int | None, x: str, y: str) -> str:
    order_part = "" if order is None else f'Order="{order}" '
    return f'<Coordinate {order_part}X="{x}" Y="{y}" />'


def slow(data: bytes, warnings: list[str] | None = None) -> AnnotationSet:
    """The element-by-element reference path (no fast decoding of canonical blocks)."""
    return _Reader(data, fast=False, warnings=[] if warnings is None else warnings).run()


def both_paths(data: bytes) -> tuple[AnnotationSet, list[str]]:
    """The set and warnings of the fast reader, after checking the careful path gives the same."""
    fast_warnings: list[str] = []
    slow_warnings: list[str] = []
    aset = read_asap(data, warnings=fast_warnings)
    assert slow(data, slow_warnings) == aset
    assert slow_warnings == fast_warnings
    return aset, fast_warnings


def rejected(data: bytes) -> AnnotationFormatError:
    with pytest.raises(AnnotationFormatError) as caught:
        read_asap(data)
    return caught.value


# ---------------------------------------------------------------------------------------------
# Real files against ASAP's own outputs


@pytest.mark.parametrize("stem", STEMS)
def test_writer_output_is_asaps_saved_file(stem: str) -> None:
    assert write_asap(read_asap(real_file(stem))) == saved_bytes(stem)


@pytest.mark.parametrize("stem", STEMS)
def test_reader_matches_what_asap_loaded(stem: str) -> None:
    aset = read_asap(real_file(stem))
    loaded = load_txt(stem)
    assert loaded.header["load_ok"] == "1"
    assert len(aset.groups) == int(loaded.header["groups"]) == len(loaded.groups)
    assert len(aset.annotations) == int(loaded.header["annotations"]) == len(loaded.annotations)
    assert aset.vertex_count() == int(loaded.header["total_points"])
    for group, expected in zip(aset.groups, loaded.groups, strict=True):
        assert group.name == expected["name"]
        assert (group.parent or "None") == expected["parent"]
        assert group.color == expected["color"]
        assert f"{geometry.asap_group_area(aset, group.name):.9g}" == expected["area"]
        members = [a for a in aset.annotations if a.group == group.name or (
            a.group is not None and group.name in aset.ancestors(a.group))]
        assert sum(len(a.coordinates) for a in members) == int(expected["member_points"])
        assert expected["attributes"] == "{" + ",".join(
            f'"{k}":"{v}"' for k, v in group.attributes.items()) + "}"
    for annotation, expected in zip(aset.annotations, loaded.annotations, strict=True):
        assert annotation.name == expected["name"]
        assert annotation.type == expected["type"]
        assert (annotation.group or "None") == expected["group"]
        assert annotation.color == expected["color"]
        assert len(annotation.coordinates) == int(expected["points"])
        # float32 coordinates and float32 shoelace terms reproduce ASAP's areas exactly
        assert f"{geometry.asap_area(annotation.coordinates):.9g}" == expected["area"]
        assert int(geometry.is_clockwise(annotation.coordinates)) == int(expected["clockwise"])
        first, last = annotation.coordinates[0], annotation.coordinates[-1]
        assert f"{g9(first[0])},{g9(first[1])}" == expected["first"]
        assert f"{g9(last[0])},{g9(last[1])}" == expected["last"]
        assert all(x == f32(x) and y == f32(y) for x, y in annotation.coordinates)


@pytest.mark.parametrize("stem", STEMS)
def test_round_trip_and_both_decoding_paths_agree(stem: str) -> None:
    data = real_file(stem).read_bytes()
    aset = read_asap(data)
    assert aset == slow(data)
    assert read_asap(write_asap(aset)) == aset
    assert read_asap(real_file(stem)) == aset  # a path reads like its bytes


def test_non_asap_writers_are_normalised_like_asap() -> None:
    # tiles.xml and xml_example.xml come from other tools: 2-space indents, no final newline
    for stem in ("tiles", "xml_example"):
        original = real_file(stem).read_bytes()
        out = write_asap(read_asap(original))
        assert out != original and out == saved_bytes(stem)
        assert out.endswith(b"</ASAP_Annotations>\n") and b"\n  <" not in out


# ---------------------------------------------------------------------------------------------
# Writer details


def test_writer_template_for_empty_and_edge_sets() -> None:
    assert write_asap(AnnotationSet()) == (
        b'<?xml version="1.0"?>\n<ASAP_Annotations>\n\t<Annotations />\n\t<AnnotationGroups />\n'
        b"</ASAP_Annotations>\n"
    )
    aset = AnnotationSet(
        annotations=[Annotation("empty", type="None", group="g", color="red")],
        groups=[Group("g", attributes={"zeta": "1", "alpha": "x&y", "Beta": "2"}), Group("h", parent="g")],
    )
    assert write_asap(aset).decode() == (
        '<?xml version="1.0"?>\n<ASAP_Annotations>\n\t<Annotations>\n'
        '\t\t<Annotation Name="empty" Type="None" PartOfGroup="g" Color="red">\n'
        "\t\t\t<Coordinates />\n\t\t</Annotation>\n\t</Annotations>\n\t<AnnotationGroups>\n"
        '\t\t<Group Name="g" PartOfGroup="None" Color="#64FE2E">\n\t\t\t<Attributes>\n'
        '\t\t\t\t<Attribute Beta="2" />\n\t\t\t\t<Attribute alpha="x&amp;y" />\n'
        '\t\t\t\t<Attribute zeta="1" />\n\t\t\t</Attributes>\n\t\t</Group>\n'
        '\t\t<Group Name="h" PartOfGroup="g" Color="#64FE2E">\n\t\t\t<Attributes />\n\t\t</Group>\n'
        "\t</AnnotationGroups>\n</ASAP_Annotations>\n"
    )
    assert read_asap(write_asap(aset)) == aset


def test_numbers_are_float32_in_c_percent_9g() -> None:
    aset = AnnotationSet([Annotation("n", coordinates=[
        (12711.2998, 88895.5), (131761.0, 0.1), (123456789.0, -0.00001), (-0.0, 1e-30), (3e38, 7.0),
    ])])
    out = write_asap(aset).decode()
    for text in ('Order="0" X="12711.2998" Y="88895.5"', 'Order="1" X="131761" Y="0.100000001"',
                 'Order="2" X="123456792" Y="-9.99999975e-06"', 'Order="3" X="-0" Y="1e-30"',
                 'Order="4" X="3.00000001e+38" Y="7"'):
        assert text in out
    again = read_asap(out.encode())
    assert again.annotations[0].coordinates == [(f32(x), f32(y)) for x, y in aset.annotations[0].coordinates]


def test_escaping_follows_pugixml_and_round_trips() -> None:
    name = "a&b<c>d\"e'f\ng\th\ri ünï €"
    aset = AnnotationSet(
        [Annotation(name, group=name, color="#F4FA58")], [Group(name, attributes={"k": name})]
    )
    out = write_asap(aset).decode("utf-8")
    escaped = "a&amp;b&lt;c>d&quot;e'f&#10;g&#09;h&#13;i ünï €"
    assert f'Name="{escaped}"' in out and f'PartOfGroup="{escaped}"' in out and f'k="{escaped}"' in out
    assert read_asap(out.encode()) == aset


def test_writer_refuses_an_invalid_set() -> None:
    bad = AnnotationSet([Annotation("x", group="missing", coordinates=[(float("nan"), 0.0)])])
    with pytest.raises(ValidationError) as caught:
        write_asap(bad)
    assert len(caught.value.details) == 2


def test_save_is_atomic(tmp_path: Path) -> None:
    target = tmp_path / "slide.xml"
    aset = read_asap(real_file("tumor_111"))
    save_asap(aset, target)
    assert target.read_bytes() == saved_bytes("tumor_111")
    with pytest.raises(ValidationError):
        save_asap(AnnotationSet([Annotation("x", type="Blob")]), target)
    assert target.read_bytes() == saved_bytes("tumor_111")  # untouched by the failed save
    save_asap(AnnotationSet(), target)
    assert read_asap(target) == AnnotationSet()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["slide.xml"]  # no temporary files left


# ---------------------------------------------------------------------------------------------
# What ASAP tolerates, we tolerate


def test_missing_order_keeps_file_order() -> None:
    warnings: list[str] = []
    coords = pt(None, "1", "2") + pt(None, "3", "4") + pt(None, "5", "6")
    aset = read_asap(doc(ann(coords)), warnings=warnings)
    assert aset.annotations[0].coordinates == [(1.0, 2.0), (3.0, 4.0), (5.0, 6.0)]
    assert any("no Order" in w for w in warnings)


def test_unsorted_order_is_sorted() -> None:
    data = doc(ann(pt(2, "5", "6") + pt(0, "1", "2") + pt(1, "3", "4")))
    aset = read_asap(data)
    assert aset.annotations[0].coordinates == [(1.0, 2.0), (3.0, 4.0), (5.0, 6.0)]
    assert write_asap(aset).count(b'<Coordinate Order="0" X="1" Y="2" />') == 1


def test_undeclared_parent_becomes_top_level_like_asap() -> None:
    warnings: list[str] = []
    groups = ('<Group Name="child" PartOfGroup="ghost" Color="#fff"><Attributes /></Group>'
              '<Group Name="later" PartOfGroup="child"><Attributes /></Group>'
              '<Group Name="noparent" Color="#000"><Attributes /></Group>')
    aset = read_asap(doc(ann(pt(0, "1", "1"), group="later"), groups), warnings=warnings)
    assert [(g.name, g.parent) for g in aset.groups] == [
        ("child", None), ("later", "child"), ("noparent", None)]
    assert aset.groups[1].color == "#F4FA58"  # missing Color: ASAP's object default
    assert any("'ghost'" in w for w in warnings)


def test_absent_groups_and_bare_annotations_root() -> None:
    body = ann(pt(0, "1", "2"))
    assert read_asap(doc(body, groups=None)).groups == []
    warnings: list[str] = []
    bare = read_asap(f"<Annotations>{body}</Annotations>".encode(), warnings=warnings)
    assert [a.name for a in bare.annotations] == ["a"] and bare.groups == []
    assert any("root is <Annotations>" in w for w in warnings)


def test_unknown_elements_attributes_and_types_are_ignored_or_kept() -> None:
    data = doc(
        '<Annotation Name="u" Type="Blob" PartOfGroup="None" Foo="bar"><Extra/><Coordinates>'
        '<Coordinate Order="1" X="3" Y="4" Z="9" /><Junk Order="0"/><Coordinate Order="0" X="1" Y="2" />'
        '</Coordinates></Annotation><Annotation Name="t" PartOfGroup="None" Color=""/>',
        '<Group Name="g" PartOfGroup="None" Color="#1" Unknown="x"><Attributes><Attribute a="1" b="2" />'
        '<Other a="3" /></Attributes><More/></Group>',
    ).replace(b"</ASAP_Annotations>", b"<Unexpected><x/></Unexpected></ASAP_Annotations>")
    aset = read_asap(data)
    first, second = aset.annotations
    assert (first.type, first.color, first.coordinates) == ("None", "#F4FA58", [(1.0, 2.0), (3.0, 4.0)])
    assert (second.type, second.color, second.coordinates) == ("None", "#F4FA58", [])
    assert aset.groups[0].attributes == {"a": "3", "b": "2"}  # later duplicates win, as in ASAP
    assert b'Type="None"' in write_asap(aset)


def test_crlf_bom_comments_and_processing_instructions() -> None:
    original = real_file("tumor_111").read_bytes()
    expected = read_asap(original)
    crlf = b"\xef\xbb\xbf" + original.replace(b"\n", b"\r\n")
    assert read_asap(crlf) == expected
    commented = original.replace(b"<Coordinates>", b"<Coordinates><!-- c -->", 1).replace(
        b"<Annotations>", b"<?pi x?><!-- <Annotation> --><Annotations><!-- x -->", 1)
    assert read_asap(commented) == expected
    assert write_asap(read_asap(commented)) == original


def test_canonical_block_in_comment_or_cdata_is_not_taken_for_data() -> None:
    hidden = '<Coordinates>\n\t<Coordinate Order="0" X="99" Y="99" />\n</Coordinates>'
    body = ann(pt(0, "1", "2") + pt(1, "3", "4"))
    for wrapper in (f"<!-- {hidden} -->", f"<Note><![CDATA[{hidden}]]></Note>", f"<?pi {hidden} ?>",
                    f"<Unknown>{hidden}</Unknown>"):
        data = doc(body).replace(b"</ASAP_Annotations>", wrapper.encode() + b"</ASAP_Annotations>")
        assert read_asap(data).annotations[0].coordinates == [(1.0, 2.0), (3.0, 4.0)]
        assert read_asap(data) == slow(data)


def test_second_coordinates_element_is_ignored_like_asap() -> None:
    data = doc('<Annotation Name="a" PartOfGroup="None"><Coordinates>\n<Coordinate Order="0" X="1" Y="2" />'
               '\n</Coordinates><Coordinates>\n<Coordinate Order="0" X="5" Y="6" />\n</Coordinates>'
               "</Annotation>")
    assert read_asap(data).annotations[0].coordinates == [(1.0, 2.0)]


def test_number_forms_asap_accepts() -> None:
    warnings: list[str] = []
    data = doc(ann(pt(0, "10,5", " 2 ") + pt(1, "0x10", "1e3") + pt(2, "+.5", "-7.") + pt(3, "1_0", "2")))
    with pytest.raises(AnnotationFormatError) as caught:
        read_asap(data)
    assert "X='1_0'" in caught.value.message  # Python's float() would take it, C's strtod does not
    coords = pt(0, "10,5", " 2 ") + pt(1, "0x10", "1e3") + pt(2, "+.5", "-7.")
    aset = read_asap(doc(ann(coords)), warnings=warnings)
    assert aset.annotations[0].coordinates == [(10.5, 2.0), (16.0, 1000.0), (0.5, -7.0)]
    assert any("decimal comma" in w for w in warnings)


@pytest.mark.parametrize(
    "value",
    ["12.5", "-0", "1e3", "1E+05", "+.5", "-7.", " 2 ", "0x10", "10,5", "1_0", "1__0", "nan", "-inf",
     "Infinity", "1e39", "-3.5e38", "1e-50", "", " ", "1.5.2", "--1", "1e", "0001", "123456789012345678901",
     "\u0661"],
)
def test_every_number_form_reads_the_same_in_a_canonical_block(value: str) -> None:
    # The block is in ASAP's own layout, so the fast decoder sees it; whatever it makes of the
    # number must be what the element-by-element reference makes of it (value, or error message).
    lines = "".join(f'\n\t\t\t\t<Coordinate Order="{i}" X="{x}" Y="{i}" />'
                    for i, x in enumerate(["1", value, "3"]))
    data = doc(f'\n\t\t<Annotation Name="a" Type="Polygon" PartOfGroup="None" Color="#F4FA58">'
               f"\n\t\t\t<Coordinates>{lines}\n\t\t\t</Coordinates>\n\t\t</Annotation>")
    try:
        expected = slow(data)
    except AnnotationFormatError as error:
        assert rejected(data).message == error.message
    else:
        assert read_asap(data) == expected


def test_latin1_declared_encoding() -> None:
    data = '<?xml version="1.0" encoding="ISO-8859-1"?>\n<ASAP_Annotations><Annotations>' \
           '<Annotation Name="Läsion" PartOfGroup="None"><Coordinates>\n' \
           '<Coordinate Order="0" X="1" Y="2" />\n</Coordinates></Annotation></Annotations>' \
           '</ASAP_Annotations>'.encode("latin-1")
    assert read_asap(data).annotations[0].name == "Läsion"


# ---------------------------------------------------------------------------------------------
# Where ASAP fails or corrupts data, we give a precise error


def test_annotation_in_undeclared_group() -> None:
    data = doc("\n" + ann(pt(0, "1", "2"), name="lesion", group="tumour"), '<Group Name="other"/>')
    error = rejected(data)
    assert "line 4" in error.message and "'lesion'" in error.message and "'tumour'" in error.message
    assert "not declared" in error.message


def test_missing_part_of_group() -> None:
    error = rejected(doc('<Annotation Name="x" Type="Polygon"/>'))
    assert "no PartOfGroup" in error.message and "line 3" in error.message


@pytest.mark.parametrize(
    ("coords", "needle"),
    [
        (pt(0, "1", "1") + pt(3, "2", "2") + pt(1, "3", "3"), 'Order="3"> of \'a\' is out of range 0..2'),
        (pt(0, "1", "1") + pt(-1, "2", "2"), "is not a whole number"),
        (pt(0, "1", "1") + pt(0, "2", "2"), "repeats the Order of line"),
        (pt(0, "1", "1") + pt(None, "2", "2"), "has no Order while others have one"),
        (pt(0, "1", "1").replace('Order="0"', 'Order="1.5"'), "Order='1.5'> is not a whole number"),
        ('<Coordinate Order="0" Y="1" />', "has no X attribute"),
        (pt(0, "abc", "1"), "X='abc'> is not a number"),
        (pt(0, "1", "nan"), "Y='nan'> is not a number"),
        (pt(0, "inf", "1"), "X='inf'> is not a number"),
        (pt(0, "1e39", "1"), "X='1e39'> is not a finite float32 number"),
        (pt(0, "\u0661\u0662", "1"), "X='\u0661\u0662'> is not a number"),  # C reads ASCII digits only
        (pt(0, "1", "2").replace('Order="0"', 'Order="\u0660"'), "Order='\u0660'> is not a whole number"),
    ],
)
def test_bad_coordinates(coords: str, needle: str) -> None:
    error = rejected(doc("\n\n" + ann(coords)))
    assert needle in error.message
    assert error.message.startswith("invalid ASAP annotation XML") and "line 5" in error.message


def test_group_cycles() -> None:
    groups = ('\n<Group Name="self" PartOfGroup="self"/>\n<Group Name="a" PartOfGroup="b"/>'
              '\n<Group Name="b" PartOfGroup="a"/>\n<Group Name="a" PartOfGroup="None"/>')
    error = rejected(doc("", groups))
    details = "\n".join(error.details)
    assert "'self' (line 5) -> 'self' (line 5)" in details
    # ASAP gives both groups "a" the parent "b", and "b" belongs to the last "a": still a cycle
    assert "'a' (line 8) -> 'b' (line 7) -> 'a' (line 8)" in details
    assert len(error.details) == 2  # a repeated name is no problem (see the twin tests)
    cycle = rejected(doc("", '\n<Group Name="a" PartOfGroup="b"/>\n<Group Name="b" PartOfGroup="a"/>'))
    assert "groups form a parent cycle: 'a' (line 5) -> 'b' (line 6) -> 'a' (line 5)" in cycle.message
    # the first twin names its own name as parent: ASAP makes the last twin its own parent
    twin = rejected(doc("", '\n<Group Name="t" PartOfGroup="t"/>\n<Group Name="t" PartOfGroup="None"/>'))
    assert "groups form a parent cycle: 't' (line 6) -> 't' (line 6)" in twin.message


def test_every_problem_is_reported() -> None:
    body = "\n".join([ann(pt(0, "x", "1"), name="p"), ann(pt(5, "1", "1"), name="q"), ann(group="nope")])
    error = rejected(doc(body))
    assert error.message.startswith("invalid ASAP annotation XML: 3 problems")
    assert len(error.details) == 3


# ---------------------------------------------------------------------------------------------
# Hostile input: rejected quickly, never expanded, resolved or fetched


def _assert_fast_rejection(data: bytes, needle: str, error: type[Exception] = AnnotationFormatError,
                           **kwargs: int) -> str:
    started = time.perf_counter()
    with pytest.raises(error) as caught:
        read_asap(data, **kwargs)  # type: ignore[arg-type]
    assert time.perf_counter() - started < HOSTILE_SECONDS
    message = str(caught.value)
    assert needle in message
    return message


def test_billion_laughs_and_quadratic_blowup() -> None:
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{(f"&lol{i - 1};" if i > 1 else "&lol;") * 10}">' for i in range(1, 10))
    laughs = f'<?xml version="1.0"?>\n<!DOCTYPE lolz [{entities}]>\n' \
             '<ASAP_Annotations><Annotations><Annotation Name="&lol9;" PartOfGroup="None"/></Annotations>' \
             "</ASAP_Annotations>"
    _assert_fast_rejection(laughs.encode(), "DOCTYPE declarations are not allowed")
    quadratic = f'<!DOCTYPE r [<!ENTITY a "{"x" * 100_000}">]>\n<ASAP_Annotations><Annotations>' \
                f'<Annotation Name="{"&a;" * 10_000}" PartOfGroup="None"/></Annotations></ASAP_Annotations>'
    _assert_fast_rejection(quadratic.encode(), "DOCTYPE declarations are not allowed")


def test_external_entities_and_dtds_are_never_resolved(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    dtd = tmp_path / "evil.dtd"
    dtd.write_text(f'<!ENTITY leak SYSTEM "{secret.as_uri()}">')
    cases = [
        f'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>\n'
        '<ASAP_Annotations><Annotations><Annotation Name="&xxe;" PartOfGroup="None"/></Annotations>'
        "</ASAP_Annotations>",
        f'<?xml version="1.0"?>\n<!DOCTYPE ASAP_Annotations SYSTEM "{dtd.as_uri()}">\n'
        '<ASAP_Annotations><Annotations><Annotation Name="&leak;" PartOfGroup="None"/></Annotations>'
        "</ASAP_Annotations>",
        '<?xml version="1.0"?>\n<!DOCTYPE x SYSTEM "http://192.0.2.1/never.dtd">\n<ASAP_Annotations/>',
        f'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY % p SYSTEM "{dtd.as_uri()}"> %p;]>\n'
        "<ASAP_Annotations/>",
    ]
    for case in cases:
        message = _assert_fast_rejection(case.encode(), "DOCTYPE")
        assert "TOP-SECRET" not in message
    # an entity without any DTD is simply undefined: a syntax error, nothing is looked up
    message = _assert_fast_rejection(
        b'<ASAP_Annotations><Annotations><Annotation Name="&xxe;" PartOfGroup="None"/></Annotations>'
        b"</ASAP_Annotations>", "Entity 'xxe' not defined")
    assert "TOP-SECRET" not in message
    # a DOCTYPE in UTF-16 is refused like any other
    utf16 = '<?xml version="1.0" encoding="UTF-16"?>\n<!DOCTYPE x [<!ENTITY a "b">]>\n<ASAP_Annotations/>'
    _assert_fast_rejection(utf16.encode("utf-16"), "DOCTYPE declarations are not allowed")


def test_deep_nesting() -> None:
    deep = b"<ASAP_Annotations><Annotations>" + b"<a>" * 10_000 + b"</a>" * 10_000
    deep += b"</Annotations></ASAP_Annotations>"
    _assert_fast_rejection(deep, "Excessive depth")


def test_size_limit(tmp_path: Path) -> None:
    data = real_file("tumor_111").read_bytes()
    _assert_fast_rejection(data, "over the limit of 20,000", InputTooLargeError, max_bytes=20_000)
    huge = tmp_path / "huge.xml"
    with huge.open("wb") as handle:  # sparse: the limit is checked before anything is read
        handle.truncate(300 * 1024 * 1024)
    with pytest.raises(InputTooLargeError) as caught:
        read_asap(huge)
    assert "huge.xml" in caught.value.message and "268,435,456" in caught.value.message
    assert read_asap(data, max_bytes=len(data)) == read_asap(real_file("tumor_111"))


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"", "empty file"),
        (b"\xef\xbb\xbf \n\t", "empty file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not well-formed XML"),
        (b"hello, world", "not well-formed XML"),
        (b'{"type": "FeatureCollection"}', "not well-formed XML"),
        (b'<ASAP_Annotations><Annotations><Annotation Name="a" PartOfGroup="None"><Coordinates>'
         b'<Coordinate X="2"', "not well-formed XML"),
        (b"<Foo><Annotations/></Foo>", "root element is <Foo>, not <ASAP_Annotations>"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"/>', "root element is <svg>"),
        (b'<Annotations><Annotation Id="1"><Regions><Region/></Regions></Annotation></Annotations>',
         "Aperio ImageScope"),
    ],
)
def test_not_asap_xml(data: bytes, needle: str) -> None:
    _assert_fast_rejection(data, needle)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        read_asap(tmp_path / "nope.xml")
    with pytest.raises(AnnotationFormatError):
        read_asap(tmp_path)  # a directory


# ---------------------------------------------------------------------------------------------
# Generated sets round-trip

_XML_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff")
    | st.sampled_from("\t\n\r&<>\"'"),
    max_size=12,
)
_COLOR = _XML_TEXT.filter(bool)  # ASAP reads an empty Color as the default, so the model forbids it
_GROUP_NAME = _XML_TEXT.filter(lambda s: s != "None")
_KEY = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.\-]{0,8}", fullmatch=True)
_F32 = st.floats(width=32, allow_nan=False, allow_infinity=False)
_DOUBLE = st.floats(min_value=-3e38, max_value=3e38, allow_nan=False)


@st.composite
def annotation_sets(draw: st.DrawFn, coordinate: st.SearchStrategy[float] = _F32) -> AnnotationSet:
    names = draw(st.lists(_GROUP_NAME, unique=True, max_size=5))
    groups = [
        Group(
            name,
            parent=draw(st.sampled_from([None, *names[:i]])),
            color=draw(_COLOR),
            attributes=draw(st.dictionaries(_KEY, _XML_TEXT, max_size=3)),
        )
        for i, name in enumerate(names)
    ]
    groups = draw(st.permutations(groups))  # parents may be declared after their children
    annotations = draw(st.lists(st.builds(
        Annotation,
        name=_XML_TEXT,
        type=st.sampled_from(ANNOTATION_TYPES),
        group=st.sampled_from([None, *names]),
        color=_COLOR,
        coordinates=st.lists(st.tuples(coordinate, coordinate), max_size=30),
    ), max_size=6))
    return AnnotationSet(annotations=annotations, groups=groups)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(annotation_sets())
def test_generated_sets_round_trip(aset: AnnotationSet) -> None:
    data = write_asap(aset)
    again = read_asap(data)
    assert again == aset
    assert slow(data) == again
    assert write_asap(again) == data


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(annotation_sets(coordinate=_DOUBLE))
def test_double_coordinates_are_stored_as_asaps_float32(aset: AnnotationSet) -> None:
    once = read_asap(write_asap(aset))
    for before, after in zip(aset.annotations, once.annotations, strict=True):
        assert after.coordinates == [(f32(x), f32(y)) for x, y in before.coordinates]
    assert read_asap(write_asap(once)) == once


def test_a_file_spelling_the_internal_marker_is_read_correctly() -> None:
    canonical = ann('\n<Coordinate Order="0" X="1" Y="2" />\n', name="real")
    forged = '<Annotation Name="forged" PartOfGroup="None"><Coordinates><_wsi_viewer_fast_block n="0"/>' \
             "</Coordinates></Annotation>"
    aset = read_asap(doc(forged + canonical))
    assert [a.coordinates for a in aset.annotations] == [[], [(1.0, 2.0)]]


def test_any_child_element_is_an_item_and_only_the_first_lists_count() -> None:
    # ASAP reads every child element of <Annotations>/<AnnotationGroups>, whatever its tag, and only
    # the first <Annotations> and <AnnotationGroups> of the root.
    data = (
        b'<ASAP_Annotations><Annotations><Shape PartOfGroup="g" Type="polygon"/>'
        b'<Annotation Name="dup" PartOfGroup="None"/><Annotation Name="dup" PartOfGroup="None"/>'
        b"</Annotations>"
        b'<Annotations><Annotation Name="ignored" PartOfGroup="None"/></Annotations>'
        b'<AnnotationGroups><Folder Name="g"/></AnnotationGroups>'
        b'<AnnotationGroups><Group Name="ignored"/></AnnotationGroups></ASAP_Annotations>'
    )
    aset = read_asap(data)
    assert [(a.name, a.type, a.group) for a in aset.annotations] == [
        ("", "None", "g"), ("dup", "None", None), ("dup", "None", None)]
    assert [g.name for g in aset.groups] == ["g"]
    assert aset == slow(data)


def test_save_gives_the_file_a_normal_mode(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.xml"
    save_asap(AnnotationSet(), fresh)
    umask = os.umask(0o022)
    os.umask(umask)
    assert fresh.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
    kept = tmp_path / "kept.xml"
    kept.write_bytes(b"old")
    kept.chmod(0o640)
    save_asap(AnnotationSet(), kept)
    assert kept.stat().st_mode & 0o777 == 0o640 and kept.read_bytes() == write_asap(AnnotationSet())


_SEED_DOCUMENT = real_file("elm-asap-pathology-format_sampleXml").read_bytes()
_TOKENS = [b'"', b"<", b">", b"&", b"_", b"\n", b"\r\n", b" ", b"0", b"9", b".", b",", b"-", b"e", b"nan",
           b'Order="', b' X="', b"<!-- ", b" -->", b"<Coordinates>", b"</Coordinates>", b"<![CDATA[", b"]]>",
           b'<Coordinate Order="0" X="1" Y="2" />', b"\xef\xbb\xbf", b"\xff", b"&amp;", b"&#10;"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(_SEED_DOCUMENT)), st.integers(0, 40), st.sampled_from(_TOKENS)),
                min_size=1, max_size=4))
def test_mutated_documents_fail_cleanly_or_read_like_the_reference(
    edits: list[tuple[int, int, bytes]],
) -> None:
    # Never an unexpected exception, and the fast path never disagrees with the element path.
    data = _SEED_DOCUMENT
    for position, delete, token in edits:
        data = data[:position] + token + data[position + delete:]
    try:
        aset = read_asap(data)
    except (AnnotationFormatError, ValidationError):
        with pytest.raises((AnnotationFormatError, ValidationError)):
            slow(data)
        return
    assert aset == slow(data)
    assert read_asap(write_asap(aset)) == aset


def test_default_namespace_and_utf16_are_read_like_asap() -> None:
    original = real_file("tumor_111").read_bytes()
    expected = read_asap(original)
    namespaced = original.replace(b"<ASAP_Annotations>", b'<ASAP_Annotations xmlns="urn:example">', 1)
    assert read_asap(namespaced) == expected
    utf16 = original.decode().replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-16"?>')
    assert read_asap(utf16.encode("utf-16")) == expected
    prefixed = b'<a:ASAP_Annotations xmlns:a="urn:example"><a:Annotations/></a:ASAP_Annotations>'
    # a prefixed root is another name to pugixml too: not an ASAP file
    assert "root element is <a:ASAP_Annotations>, not <ASAP_Annotations>" in rejected(prefixed).message


def test_warnings_are_appended_once_even_when_the_reader_starts_over() -> None:
    hidden = '<!-- <Coordinates>\n<Coordinate Order="0" X="9" Y="9" />\n</Coordinates> -->'
    data = doc(ann(pt(0, "1,5", "2")) + hidden)  # the comment makes the fast reader start over
    warnings = ["kept"]
    assert read_asap(data, warnings=warnings).annotations[0].coordinates == [(1.5, 2.0)]
    assert warnings[0] == "kept" and len(warnings) == 2 and "decimal comma" in warnings[1]


def test_an_unreadable_coordinate_is_reported_alone() -> None:
    error = rejected(doc(ann(pt(0, "x", "1") + pt(1, "1", "1"))))
    assert error.details == ["line 3: <Coordinate X='x'> is not a number"]  # no knock-on Order error


# ---------------------------------------------------------------------------------------------
# Groups sharing a name and text inside <Coordinates>, against ASAP's own outputs (derived/)


def _last_index(aset: AnnotationSet, name: str | None) -> int:
    """The list index of the group *name* binds to (the last of that name), -1 for None."""
    return -1 if name is None else max(i for i, g in enumerate(aset.groups) if g.name == name)


def _member_points(aset: AnnotationSet, group: Group) -> int:
    if not aset.binds(group):
        return 0
    return sum(len(a.coordinates) for a in aset.members(group.name)) + sum(
        _member_points(aset, child) for child in aset.children(group.name))


@pytest.mark.parametrize("stem", ["tumor_111_twin_groups", "twin_group_parents"])
def test_twin_groups_read_and_write_as_asap_does(stem: str) -> None:
    data = derived_file(stem).read_bytes()
    aset, warnings = both_paths(data)
    loaded = load_txt(stem, DERIVED_ORACLE)
    assert loaded.header["load_ok"] == "1" and len(aset.groups) == len(loaded.groups)
    for group, expected in zip(aset.groups, loaded.groups, strict=True):
        assert (group.name, group.color) == (expected["name"], expected["color"])
        assert _last_index(aset, group.parent) == int(expected["parent_index"])
        assert _member_points(aset, group) == int(expected["member_points"])
        assert f"{geometry.asap_group_area(aset, group):.9g}" == expected["area"]
    for annotation, expected in zip(aset.annotations, loaded.annotations, strict=True):
        assert _last_index(aset, annotation.group) == int(expected["group_index"])
    assert write_asap(aset) == derived_saved_bytes(stem)  # ASAP's own save, byte for byte
    assert read_asap(write_asap(aset)) == aset


def test_a_real_file_with_twin_groups_reads_with_one_warning_and_round_trips() -> None:
    data = derived_file("tumor_111_twin_groups").read_bytes()
    aset, warnings = both_paths(data)
    assert warnings == [
        "line 367: <Group Name='tissue'> repeats the group name of line 358; both are kept, and every "
        "annotation and child group naming 'tissue' belongs to this later one, as in ASAP"
    ]
    assert write_asap(aset) == data
    first, last = aset.groups[0], aset.groups[3]
    assert (first.color, last.color, last.attributes) == ("#64FE2E", "#ff0000", {"reviewed": "yes"})
    tissue = [a for a in aset.annotations if a.group == "tissue"]
    assert len(tissue) == 7 and all(aset.group_by_name(a.group) is last for a in tissue)
    background = aset.annotations[5]
    assert background.group == "background" and aset.ancestors("background") == ["tissue"]
    # drawn in the colour of the top-most ancestor the binding leads to: the last twin's
    assert {aset.display_color(a) for a in [*tissue, background]} == {"#ff0000"}
    assert geometry.asap_group_area(aset, first) == 0.0
    assert geometry.asap_group_area(aset, "tissue") == geometry.asap_group_area(aset, last) > 0


def test_twins_declaring_different_parents_get_asaps_one_parent_per_name() -> None:
    aset, warnings = both_paths(derived_file("twin_group_parents").read_bytes())
    assert [(g.name, g.parent) for g in aset.groups] == [
        ("P", None), ("Q", None), ("t", "P"), ("t", "P"), ("u", "Q"), ("u", "Q")]
    assert len(warnings) == 4
    assert "line 30: group 't' declares PartOfGroup='None', but ASAP gives every group named 't' the last " \
           "parent declared for that name, 'P' (line 27)" in warnings
    assert any(w.startswith("line 33: group 'u' declares PartOfGroup='P'") and "'Q' (line 36)" in w
               for w in warnings)
    # once read, the twins agree on their parent: the set means in ASAP what it means here
    assert [w for w in aset.warnings() if "differs" in w] == [] and len(aset.warnings()) == 2


def test_a_twin_naming_an_undeclared_parent_is_made_top_level_once() -> None:
    groups = '\n<Group Name="t" PartOfGroup="ghost"/>\n<Group Name="t" PartOfGroup="None"/>'
    aset, warnings = both_paths(doc(ann(pt(0, "1", "1"), group="t"), groups))
    assert [g.parent for g in aset.groups] == [None, None]
    assert sum("undeclared parent 'ghost'" in w and w.startswith("line 5:") for w in warnings) == 1


def test_text_inside_coordinates_is_warned_with_its_line_on_both_paths() -> None:
    data = derived_file("tumor_111_stray_text").read_bytes()
    blocks = skeleton(data)[1]
    assert len(blocks) == 8  # the 8 blocks without text take the fast path, the other 2 the careful one
    aset, warnings = both_paths(data)
    assert warnings == [
        "line 7: text 'stray text' inside <Coordinates> of 'Annotation 0' is ignored; ASAP reads it as a "
        "point at (0, 0) with Order 0, so ASAP's point 0 is (0, 0) instead of the <Coordinate> of line 6",
        "line 31: text 'note' inside <Coordinates> of 'Annotation 1' is ignored; ASAP reads it as a point "
        "at (0, 0) with Order 0, which the <Coordinate> of line 32 then overwrites, so it changes nothing "
        "in ASAP",
    ]
    original = real_file("tumor_111").read_bytes()
    assert aset == read_asap(original) and write_asap(aset) == original  # we keep the points
    # ...and ASAP does what the warnings say: its point 0 of Annotation 0 became (0, 0), Annotation 1
    # is unchanged
    loaded, real = load_txt("tumor_111_stray_text", DERIVED_ORACLE), load_txt("tumor_111")
    assert loaded.annotations[0]["first"] == "0,0" != real.annotations[0]["first"]
    assert loaded.annotations[1] == {**real.annotations[1], "group_index": "0"}


@pytest.mark.parametrize(
    ("coordinates", "expected"),
    [
        ('\n<Coordinate Order="0" X="1" Y="2" />\n<Coordinate Order="1" X="3" Y="4" />\nafter all\n',
         "line 6: text 'after all' inside <Coordinates> of 'a' is ignored; ASAP reads it as a point at "
         "(0, 0) with Order 0, so ASAP's point 0 is (0, 0) instead of the <Coordinate> of line 4"),
        ("\n\nonly text\n",
         "line 5: text 'only text' inside <Coordinates> of 'a' is ignored; ASAP reads it as a point at "
         "(0, 0) with Order 0, outside its 0-point list (an out-of-bounds write: undefined behaviour)"),
        ('\n<Coordinate Order="0" X="1" Y="2" />\n<Coordinate\n Order="1"\n X="3" Y="4"\n />  odd &amp; '
         "ends <![CDATA[ with cdata ]]>\n",
         "line 8: text 'odd & ends with cdata' inside <Coordinates> of 'a' is ignored; ASAP reads it as a "
         "point at (0, 0) with Order 0, so ASAP's point 0 is (0, 0) instead of the <Coordinate> of line 4"),
        ('\n<Coordinate Order="0" X="1" Y="2" />\n<Junk Order="1" X="5.5" Y="-6" />'
         '\n<Coordinate Order="1" X="3" Y="4" />\n<Junk Order=" 1" X="7" />\n',
         "line 7: <Junk> inside <Coordinates> of 'a' is ignored; ASAP reads it as a point at (7, 0) with "
         "Order 1, so ASAP's point 1 is (7, 0) instead of the <Coordinate> of line 6"),
        ('\n<Coordinate Order="0" X="1" Y="2" />\n<Junk Order="1" X="5.5" Y="-6" />'
         '\n<Coordinate Order="1" X="3" Y="4" />\n',
         "line 5: <Junk> inside <Coordinates> of 'a' is ignored; ASAP reads it as a point at (5.5, -6) with "
         "Order 1, which the <Coordinate> of line 6 then overwrites, so it changes nothing in ASAP"),
        ('\n<Coordinate Order="0" X="1" Y="2" />\n<Junk X="9" />\n\n  last word\n',
         "line 5: <Junk> inside <Coordinates> of 'a' is ignored; ASAP reads it as a point at (9, 0) with "
         "Order 0, which line 7 then overwrites (see that line)"),
        ('\n<Coordinate Order="0" X="1" Y="2" />\n<Extra Order="0x7"/>\n',
         "line 5: <Extra> inside <Coordinates> of 'a' is ignored; ASAP reads it as a point at (0, 0) with "
         "Order 7, outside its 1-point list (an out-of-bounds write: undefined behaviour)"),
    ],
)
def test_what_asap_makes_of_stray_content_in_coordinates(coordinates: str, expected: str) -> None:
    data = doc(ann(coordinates))
    aset, warnings = both_paths(data)
    assert expected in warnings
    # the stray content is ignored: the points are those of the <Coordinate> elements
    coordinate_elements = coordinates.count("<Coordinate")
    assert aset.annotations[0].coordinates == [(1.0, 2.0), (3.0, 4.0)][:coordinate_elements]


def test_whitespace_comments_and_pis_inside_coordinates_are_not_stray() -> None:
    # pugixml drops whitespace-only text, comments and PIs (parse_default), so ASAP sees no extra child
    coordinates = '\n\t <!-- note -->\r\n<Coordinate Order="0" X="1" Y="2" /><?pi x?>\n\t\n'
    _aset, warnings = both_paths(doc(ann(coordinates)))
    assert warnings == []


def test_many_stray_children_are_summarised_in_linear_time() -> None:
    # 40,000 text runs and foreign elements in one block: five warnings and a count, quickly
    body = "".join(f'<Coordinate Order="{i}" X="{i}" Y="1" />t<Junk/>' for i in range(20_000))
    started = time.perf_counter()
    aset, warnings = both_paths(doc(ann(body)))
    assert time.perf_counter() - started < 15  # both paths (about 3 s); quadratic work takes minutes
    assert len(aset.annotations[0].coordinates) == 20_000
    assert len(warnings) == 6
    assert warnings[-1] == (
        "line 3: 39995 more text or foreign elements inside <Coordinates> of 'a', ignored; ASAP stores each "
        "as a point too"
    )
    # every one writes slot 0: the last (a <Junk/>) is what ASAP keeps there
    assert warnings[0].endswith("which line 3 then overwrites (see that line)")
