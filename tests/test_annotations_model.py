"""The annotation model: defaults, queries and validation that reports every problem at once."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from viewer.annotations import model
from viewer.annotations.model import (
    ANNOTATION_TYPES,
    DEFAULT_ANNOTATION_COLOR,
    DEFAULT_GROUP_COLOR,
    Annotation,
    AnnotationSet,
    Group,
)
from viewer.errors import InvalidInputError, ValidationError


def _nested() -> AnnotationSet:
    return AnnotationSet(
        annotations=[
            Annotation("a", coordinates=[(0.0, 0.0), (10.0, 0.0), (10.0, 10.0)], group="tumour"),
            Annotation("b", type="Dot", coordinates=[(5.0, 5.0)], group="child"),
            Annotation("c", type="Measurement", coordinates=[(0.0, 0.0), (3.0, 4.0)]),
        ],
        groups=[
            Group("tumour", color="#ff0000", attributes={"k": "v"}),
            Group("child", parent="tumour"),
            Group("grandchild", parent="child"),
        ],
    )


def test_defaults_are_asaps() -> None:
    assert ANNOTATION_TYPES == ("None", "Dot", "Polygon", "Spline", "PointSet", "Measurement", "Rectangle")
    annotation = Annotation("x")
    assert (annotation.type, annotation.group, annotation.color, annotation.coordinates) == (
        "Polygon", None, "#F4FA58", []
    )
    group = Group("g")
    assert (group.parent, group.color, group.attributes) == (None, "#64FE2E", {})
    assert DEFAULT_ANNOTATION_COLOR == "#F4FA58" and DEFAULT_GROUP_COLOR == "#64FE2E"
    # mutable defaults are not shared between instances
    annotation.coordinates.append((1.0, 2.0))
    assert Annotation("y").coordinates == []


def test_model_is_stdlib_only() -> None:
    tree = ast.parse(Path(model.__file__).read_text(encoding="utf-8"))
    imported = {
        (node.module or "").split(".")[0] if isinstance(node, ast.ImportFrom) else alias.name.split(".")[0]
        for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }
    assert imported <= {"__future__", "math", "re", "collections", "itertools", "dataclasses", "viewer"}


def test_queries() -> None:
    aset = _nested()
    group = aset.group_by_name("child")
    assert group is not None and group.parent == "tumour"
    assert aset.group_by_name("missing") is None
    assert [g.name for g in aset.children(None)] == ["tumour"]
    assert [g.name for g in aset.children("tumour")] == ["child"]
    assert [a.name for a in aset.members(None)] == ["c"]
    assert [a.name for a in aset.members("child")] == ["b"]
    assert aset.ancestors("grandchild") == ["child", "tumour"]
    assert aset.ancestors("tumour") == []
    assert aset.vertex_count() == 6


def test_equality_is_plain_dataclass_equality() -> None:
    assert _nested() == _nested()
    changed = _nested()
    changed.annotations[0].coordinates[1] = (10.0, 0.5)
    assert changed != _nested()
    renamed = _nested()
    renamed.groups[2].color = "#64fe2e"  # colours are compared verbatim, never normalised
    assert renamed != _nested()


def test_valid_set_passes() -> None:
    _nested().validate()
    AnnotationSet().validate()
    # every ASAP type, unknown ones kept as "None", any number of points
    AnnotationSet([Annotation(str(i), type=t) for i, t in enumerate(ANNOTATION_TYPES)]).validate()


def test_validation_reports_every_problem_at_once() -> None:
    aset = AnnotationSet(
        annotations=[
            Annotation("bad type", type="polygon"),
            Annotation("lost", group="nowhere"),
            Annotation("none group", group="None"),
            Annotation("nan", coordinates=[(1.0, float("nan"))]),
            Annotation("inf", coordinates=[(float("inf"), 1.0)]),
            Annotation("huge", coordinates=[(1e39, 0.0)]),
            Annotation("short", coordinates=[(1.0,)]),  # type: ignore[list-item]
            Annotation("text", coordinates=[("1", "2")]),  # type: ignore[list-item]
            Annotation("ctrl\x01", color="#fff"),
        ],
        groups=[
            Group("orphan", parent="gone"),
            Group("self", parent="self"),
            Group("ping", parent="pong"),
            Group("pong", parent="ping"),
            Group("keys", attributes={"1st": "x", "has space": "y", "ok": "bell\x07"}),
            Group("sentinel child", parent="None"),
        ],
    )
    with pytest.raises(ValidationError) as caught:
        aset.validate()
    error = caught.value
    assert isinstance(error, InvalidInputError)
    details = "\n".join(error.details)
    expected = [
        "group 0 ('orphan'): parent group 'gone' does not exist",
        "'self' -> 'self'",
        "'ping' -> 'pong' -> 'ping'",
        "attribute key '1st' is not an XML name",
        "attribute key 'has space' is not an XML name",
        "attribute 'ok' value contains character U+0007",
        "group 5 ('sentinel child'): parent 'None' cannot be referenced",
        "annotation 0 ('bad type'): type 'polygon' is not one of",
        "annotation 1 ('lost'): group 'nowhere' does not exist",
        "annotation 2 ('none group'): group 'None' cannot be referenced",
        "annotation 3 ('nan'): coordinate 0 must be finite",
        "annotation 4 ('inf'): coordinate 0 must be finite",
        "annotation 5 ('huge'): coordinate 0 must be finite and within float32 range",
        "annotation 6 ('short'): coordinate 0 must be an (x, y) tuple",
        "annotation 7 ('text'): coordinate 0 must hold two numbers",
        "annotation 8 ('ctrl\\x01'): name contains character U+0001",
    ]
    for text in expected:
        assert text in details
    assert len(error.details) == len(expected)
    assert error.message.startswith(f"invalid annotation set: {len(expected)} problems; first: group 4 (")
    assert aset.warnings() == []


def test_problems_can_skip_coordinates() -> None:
    aset = AnnotationSet([Annotation("nan", coordinates=[(float("nan"), 0.0)])])
    assert aset.problems(check_coordinates=False) == []
    aset.validate(check_coordinates=False)
    assert len(aset.problems()) == 1


def test_many_bad_coordinates_are_summarised() -> None:
    aset = AnnotationSet([Annotation("a", coordinates=[(float("nan"), 0.0)] * 50)])
    problems = aset.problems()
    assert len(problems) == 11
    assert problems[-1] == "annotation 0 ('a'): more invalid coordinates not listed"


def test_integer_coordinates_and_large_sets_validate() -> None:
    AnnotationSet([Annotation("ints", coordinates=[(1, 2), (3, 4)])]).validate()  # type: ignore[list-item]
    big = AnnotationSet([Annotation("big", coordinates=[(float(i), -float(i)) for i in range(200_000)])])
    big.validate()
    big.annotations[0].coordinates[123_456] = (0.0, float("-inf"))
    assert big.problems() == [
        "annotation 0 ('big'): coordinate 123456 must be finite and within float32 range, got (0.0, -inf)"
    ]


def test_an_integer_too_large_for_a_float_is_a_problem_not_a_crash() -> None:
    aset = AnnotationSet([Annotation("huge", coordinates=[(10**400, 0), (1.0, 2.0)])])  # type: ignore[list-item]
    assert aset.problems() == [
        "annotation 0 ('huge'): coordinate 0 must be finite and within float32 range, "
        f"got ({10**400!r}, 0)"
    ]


def test_empty_colour_is_refused() -> None:
    # ASAP reads Color="" as its default, so an empty colour could not survive a round-trip
    problems = AnnotationSet([Annotation("a", color="")], [Group("g", color="")]).problems()
    assert problems == [
        "group 0 ('g'): color must not be empty (ASAP reads an empty Color as #F4FA58)",
        "annotation 0 ('a'): color must not be empty (ASAP reads an empty Color as #F4FA58)",
    ]


def _twins() -> AnnotationSet:
    """Two groups called "twin" under "top"; members and a child group name "twin"."""
    return AnnotationSet(
        annotations=[
            Annotation("member", group="twin", color="#010101"),
            Annotation("deeper", group="child"),
            Annotation("loose", color="#020202"),
        ],
        groups=[
            Group("top", color="#0000ff"),
            Group("twin", parent="top", color="#111111"),
            Group("child", parent="twin", color="#333333"),
            Group("twin", parent="top", color="#222222", attributes={"k": "v"}),
        ],
    )


def test_groups_sharing_a_name_are_valid_with_a_warning() -> None:
    aset = _twins()
    aset.validate()  # ASAP reads, keeps and writes both: not a problem any more
    assert aset.problems() == []
    assert aset.warnings() == [
        "group 3 ('twin'): same name as group 1; annotations and child groups naming 'twin' belong to "
        "the last group of that name (group 3), as in ASAP"
    ]


def test_members_and_child_groups_bind_to_the_last_group_of_a_name() -> None:
    aset = _twins()
    first, last = aset.groups[1], aset.groups[3]
    assert aset.group_by_name("twin") is last
    assert not aset.binds(first) and aset.binds(last) and aset.binds(aset.groups[0])
    assert [a.name for a in aset.members("twin")] == ["member"]
    assert [g.name for g in aset.children("twin")] == ["child"]
    assert aset.ancestors("child") == ["twin", "top"]
    # the colour ASAP draws in: the top-most ancestor group's, through the binding
    assert [aset.display_color(a) for a in aset.annotations] == ["#0000ff", "#0000ff", "#020202"]
    top_level = AnnotationSet(
        [Annotation("m", group="twin")], [Group("twin", color="#111111"), Group("twin", color="#222222")]
    )
    assert top_level.display_color(top_level.annotations[0]) == "#222222"  # the last twin's, not the first's


def test_twins_with_different_parents_are_warned() -> None:
    # ASAP gives every group of a name the parent declared last under it (twin_group_parents.xml)
    aset = AnnotationSet(
        groups=[Group("P"), Group("Q"), Group("t", parent="P"), Group("t"), Group("u", parent="P"),
                Group("u", parent="Q")],
    )
    assert aset.problems() == []
    warnings = aset.warnings()
    assert len(warnings) == 4
    assert "group 3 ('t'): parent None differs from 'P', which ASAP gives every group named 't'" \
        in warnings[1]
    assert "group 4 ('u'): parent 'P' differs from 'Q'" in warnings[2]


def test_rules_that_stay_errors_with_shared_names() -> None:
    aset = AnnotationSet(
        annotations=[Annotation("lost", group="ghost")],
        groups=[Group("twin"), Group("twin", parent="twin"), Group("x", parent="nowhere")],
    )
    problems = "\n".join(aset.problems())
    assert "parent groups form a cycle 'twin' -> 'twin'" in problems  # the last twin is its own parent
    assert "group 2 ('x'): parent group 'nowhere' does not exist" in problems
    assert "annotation 0 ('lost'): group 'ghost' does not exist" in problems
