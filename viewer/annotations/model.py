"""The annotation model: ASAP's, as plain dataclasses (stdlib only).

An :class:`AnnotationSet` holds annotations and groups, each in list order (the order ASAP writes).
Coordinates are in **slide space**: level-0 pixels of the full slide, x right, y down, origin at the
top-left corner of pixel (0, 0) -- exactly what ASAP XML stores. Groups are a flat list; nesting is
expressed by :attr:`Group.parent`, a group *name*, as in ASAP's ``PartOfGroup``. Colours and names
are stored verbatim (ASAP never normalises them).

Equality is plain dataclass equality, so ``read(write(s)) == s`` is a meaningful round-trip test.
:meth:`AnnotationSet.validate` checks the rules a writer relies on and reports every problem at once;
:meth:`AnnotationSet.warnings` lists what ASAP accepts but may surprise a user.

**Binding.** Members and child groups name their group, and a name may be shared by several groups
(ASAP keeps both of two ``<Group Name="twin">``). As in ASAP's reader, a name always means the
**last** group of that name in the list: it holds every annotation and child group naming it, gives
their colour and parent chain, and the earlier groups of that name hold nothing
(:meth:`AnnotationSet.binds`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import chain

from viewer.errors import ValidationError

#: Every type ASAP knows, in ASAP's enum order (``annotation/Annotation.h``). ``"None"`` is what ASAP
#: reads for an unknown or missing ``Type``; such annotations are kept and written back, not drawn.
ANNOTATION_TYPES = ("None", "Dot", "Polygon", "Spline", "PointSet", "Measurement", "Rectangle")
#: ASAP's default colour of annotation objects (also what its reader gives a group with no Color).
DEFAULT_ANNOTATION_COLOR = "#F4FA58"
#: The colour ASAP's GUI gives a new group.
DEFAULT_GROUP_COLOR = "#64FE2E"
#: The ``PartOfGroup`` sentinel of ASAP XML meaning "no group"; a group of that name cannot be referenced.
NO_GROUP = "None"
#: Largest finite float32: ASAP stores coordinates as C ``float``.
FLOAT32_MAX = 3.4028234663852886e38

# Characters XML 1.0 can carry (anything else makes the written file unreadable).
_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# An XML Name (ASCII subset plus any non-ASCII letter-ish code point; colons excluded because they
# would declare a namespace prefix). pugixml does not check attribute names, we must.
_XML_NAME = re.compile(r"[A-Za-z_\u00c0-\ufffd][A-Za-z0-9_.\-\u00b7\u00c0-\ufffd]*\Z")


@dataclass
class Group:
    """A named group of annotations; ``parent`` is the parent group's name (None: top level)."""

    name: str
    parent: str | None = None
    color: str = DEFAULT_GROUP_COLOR
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass
class Annotation:
    """One ASAP annotation; ``coordinates`` are (x, y) in slide space (level-0 px), in ``Order``.

    ``comment`` is free text (ImageScope ``Text``, NDPA ``details``, QuPath's description); ASAP
    itself has none, so it is last and defaults to empty: every ASAP file reads with ``""``.
    """

    name: str
    type: str = "Polygon"
    group: str | None = None
    color: str = DEFAULT_ANNOTATION_COLOR
    coordinates: list[tuple[float, float]] = field(default_factory=list)
    comment: str = ""


@dataclass
class AnnotationSet:
    """Annotations and groups, both in list (file) order."""

    annotations: list[Annotation] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)

    def group_by_name(self, name: str) -> Group | None:
        """The group a member naming *name* belongs to: the last group of that name, or None."""
        found = None
        for group in self.groups:
            if group.name == name:
                found = group
        return found

    def binds(self, group: Group) -> bool:
        """Whether *group* (one of :attr:`groups`) is the one its name binds to: the last of that
        name. An earlier group sharing the name has no members and no child groups."""
        return self.group_by_name(group.name) is group

    def children(self, name: str | None) -> list[Group]:
        """The groups whose parent is *name* (None: the top-level groups), in list order; they are
        children of the last group called *name*."""
        return [g for g in self.groups if g.parent == name]

    def members(self, name: str | None) -> list[Annotation]:
        """The annotations directly in group *name* (None: the ungrouped ones), in list order; they
        are members of the last group called *name*."""
        return [a for a in self.annotations if a.group == name]

    def display_color(self, annotation: Annotation) -> str:
        """The colour ASAP draws *annotation* in: its top-most ancestor group's colour when grouped
        (through the groups its names bind to), else its own (``QtAnnotation.cpp``)."""
        if annotation.group is None:
            return annotation.color
        top = self.group_by_name(annotation.group)
        if top is None:
            return annotation.color
        for name in self.ancestors(annotation.group):
            top = self.group_by_name(name) or top
        return top.color

    def ancestors(self, name: str) -> list[str]:
        """Names of *name*'s parent, grandparent, ... up to a top-level group (stops on a cycle)."""
        parents = {g.name: g.parent for g in self.groups}
        chain: list[str] = []
        current = parents.get(name)
        while current is not None and current not in chain and current != name:
            chain.append(current)
            current = parents.get(current)
        return chain

    def vertex_count(self) -> int:
        """Total number of coordinates over all annotations."""
        return sum(len(a.coordinates) for a in self.annotations)

    def problems(self, *, check_coordinates: bool = True) -> list[str]:
        """Every rule the set breaks, as human-readable lines (empty when valid).

        *check_coordinates* False skips the per-vertex checks (for readers that already made them).
        """
        return list(_problems(self, check_coordinates))

    def warnings(self) -> list[str]:
        """What is valid (ASAP reads and writes it) but may not mean what a user thinks, as lines.

        Groups sharing a name: every member and child group naming it belongs to the last one. And
        since ASAP's reader gives all groups of one name the parent declared last (the last one that
        declares a parent), a group of a shared name whose parent differs is reported too: ASAP
        would read it back in that other parent.
        """
        return list(_warnings(self))

    def validate(self, *, check_coordinates: bool = True) -> None:
        """Raise :class:`~viewer.errors.ValidationError` listing every problem, or return None."""
        problems = self.problems(check_coordinates=check_coordinates)
        if problems:
            noun = "problem" if len(problems) == 1 else "problems"
            raise ValidationError(
                f"invalid annotation set: {len(problems)} {noun}; first: {problems[0]}", details=problems
            )


def _text_problems(label: str, **fields: object) -> Iterator[str]:
    for what, value in fields.items():
        problem = _text_problem(label, what, value)
        if problem:
            yield problem


def _text_problem(label: str, what: str, value: object) -> str | None:
    if not isinstance(value, str):
        return f"{label}: {what} must be a string, got {type(value).__name__}"
    if what == "color" and not value:
        return f"{label}: color must not be empty (ASAP reads an empty Color as {DEFAULT_ANNOTATION_COLOR})"
    bad = _XML_INVALID.search(value)
    if bad:
        return f"{label}: {what} contains character U+{ord(bad.group()):04X}, which XML cannot carry"
    return None


def _finite_float32(value: float) -> bool:
    """Finite and within float32 range; an int too large for a float (10**400) is neither."""
    try:
        return math.isfinite(value) and abs(value) <= FLOAT32_MAX
    except OverflowError:
        return False


def _coordinate_problems(label: str, coordinates: object) -> Iterator[str]:
    if not isinstance(coordinates, list):
        yield f"{label}: coordinates must be a list of (x, y) pairs, got {type(coordinates).__name__}"
        return
    # Fast path for the usual case (1M vertices): C-level passes over well-formed float pairs.
    # fsum is nan/inf when any value is; max(abs) bounds every value.
    try:
        if set(map(type, coordinates)) <= {tuple} and set(map(len, coordinates)) <= {2}:
            if math.isfinite(math.fsum(chain.from_iterable(coordinates))) and (
                max(map(abs, chain.from_iterable(coordinates)), default=0.0) <= FLOAT32_MAX
            ):
                return
    except (TypeError, OverflowError):
        pass
    reported = 0
    for index, point in enumerate(coordinates):
        problem = None
        if not isinstance(point, tuple) or len(point) != 2:
            problem = f"must be an (x, y) tuple, got {point!r}"
        elif not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in point):
            problem = f"must hold two numbers, got {point!r}"
        elif not all(_finite_float32(v) for v in point):
            problem = f"must be finite and within float32 range, got {point!r}"
        if problem:
            reported += 1
            if reported > 10:
                yield f"{label}: more invalid coordinates not listed"
                return
            yield f"{label}: coordinate {index} {problem}"


def _problems(aset: AnnotationSet, check_coordinates: bool) -> Iterator[str]:
    names: dict[str, int] = {}  # name -> index of the group it binds to (the last of the name)
    for index, group in enumerate(aset.groups):
        label = f"group {index} ({group.name!r})"
        yield from _text_problems(label, name=group.name, color=group.color)
        if not isinstance(group.name, str):
            continue
        names[group.name] = index  # a shared name is a warning (see _warnings), not a problem
        if group.parent is not None:
            problem = _text_problem(label, "parent", group.parent)
            if problem:
                yield problem
        if not isinstance(group.attributes, dict):
            yield f"{label}: attributes must be a dict of strings"
            continue
        for key, value in group.attributes.items():
            if not isinstance(key, str) or not _XML_NAME.match(key):
                yield f"{label}: attribute key {key!r} is not an XML name (letters, digits, _ - .)"
            problem = _text_problem(label, f"attribute {key!r} value", value)
            if problem:
                yield problem

    for index, group in enumerate(aset.groups):
        if group.parent is None or not isinstance(group.parent, str):
            continue
        label = f"group {index} ({group.name!r})"
        if group.parent == NO_GROUP:
            yield f"{label}: parent 'None' cannot be referenced (ASAP XML reads it as 'no parent')"
        elif group.parent not in names:
            yield f"{label}: parent group {group.parent!r} does not exist"

    # Cycles: follow parents from every group; each cycle is reported once, by its members.
    parents = {g.name: g.parent for g in aset.groups if isinstance(g.name, str)}
    reported: set[str] = set()
    for start in parents:
        path: list[str] = []
        current: str | None = start
        while current is not None and current in parents and current not in path:
            path.append(current)
            current = parents[current]
        if current is not None and current in path:
            cycle = path[path.index(current):]
            if not reported.intersection(cycle):
                reported.update(cycle)
                chain = " -> ".join(repr(n) for n in [*cycle, cycle[0]])
                yield f"group {names[cycle[0]]} ({cycle[0]!r}): parent groups form a cycle {chain}"

    for index, annotation in enumerate(aset.annotations):
        label = f"annotation {index} ({annotation.name!r})"
        yield from _text_problems(
            label, name=annotation.name, color=annotation.color, comment=annotation.comment
        )
        if annotation.type not in ANNOTATION_TYPES:
            yield f"{label}: type {annotation.type!r} is not one of {', '.join(ANNOTATION_TYPES)}"
        if annotation.group is not None:
            if annotation.group == NO_GROUP:
                yield f"{label}: group 'None' cannot be referenced (ASAP XML reads it as 'no group')"
            elif annotation.group not in names:
                yield f"{label}: group {annotation.group!r} does not exist"
        if check_coordinates:
            yield from _coordinate_problems(label, annotation.coordinates)


def _warnings(aset: AnnotationSet) -> Iterator[str]:
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    declared: dict[str, str] = {}  # name -> the parent ASAP gives every group of that name
    for index, group in enumerate(aset.groups):
        if not isinstance(group.name, str):
            continue
        first.setdefault(group.name, index)
        last[group.name] = index
        if isinstance(group.parent, str):
            declared[group.name] = group.parent
    for index, group in enumerate(aset.groups):
        if not isinstance(group.name, str) or first[group.name] == last[group.name]:
            continue
        label = f"group {index} ({group.name!r})"
        if index != first[group.name]:
            yield (
                f"{label}: same name as group {first[group.name]}; annotations and child groups naming "
                f"{group.name!r} belong to the last group of that name (group {last[group.name]}), as in ASAP"
            )
        parent = declared.get(group.name)
        if group.parent != parent:
            yield (
                f"{label}: parent {group.parent!r} differs from {parent!r}, which ASAP gives every group "
                f"named {group.name!r} (the parent declared last), so ASAP would read it back in {parent!r}"
            )
