"""Reading ASAP XML into the model: the element-by-element reader (the reference, collecting every
problem with its line), with canonical ``<Coordinates>`` blocks taken from :mod:`.fast_blocks`.
The reading policy is the package docstring's (:mod:`viewer.annotations.asap`)."""

from __future__ import annotations

import math
import os
import re
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from viewer.annotations.asap.fast_blocks import MARKER_TAG, skeleton
from viewer.annotations.asap.numbers import COMMA_NUMBER, HEX_NUMBER, INT, NUMBER, c_float32, c_int
from viewer.annotations.asap.writer import COMMENT_ATTRIBUTE
from viewer.annotations.limits import DEFAULT_MAX_BYTES, read_limited
from viewer.annotations.model import (
    ANNOTATION_TYPES,
    DEFAULT_ANNOTATION_COLOR,
    NO_GROUP,
    Annotation,
    AnnotationSet,
    Group,
)
from viewer.annotations.problems import problems_error
from viewer.annotations.xmlsafe import is_element, local_name, parse_untrusted
from viewer.errors import AnnotationFormatError

_MAX_STRAYS_LISTED = 5  # stray children of one <Coordinates> warned about one by one
_BLANK = re.compile(rb"(?:\xef\xbb\xbf)?[ \t\r\n]*\Z")


def read_asap(
    source: bytes | str | os.PathLike[str],
    *,
    max_bytes: int | None = None,
    warnings: list[str] | None = None,
) -> AnnotationSet:
    """Parse ASAP XML (a file path, or the raw bytes) into an :class:`AnnotationSet` in slide space.

    :param max_bytes: size limit in bytes (default: the ANNOTATION_MAX_MB setting's default).
    :param warnings: if given, receives one line per tolerated irregularity (e.g. comma decimals).
    :raises InputTooLargeError: the input is larger than *max_bytes*.
    :raises AnnotationFormatError: not ASAP XML, hostile, or breaking ASAP's rules; ``details``
        name every problem with its element and line.
    :raises NotFoundError: *source* is a path that does not exist.
    """
    data = read_limited(source, DEFAULT_MAX_BYTES if max_bytes is None else max_bytes)
    notes: list[str] = []
    aset = _Reader(data, fast=True, warnings=notes).run()
    if warnings is not None:
        warnings.extend(notes)
    return aset


@dataclass
class _Point:
    order: int | None
    x: float
    y: float
    line: int


@dataclass
class _Reader:
    """One parse of one document; collects every problem before raising."""

    data: bytes
    fast: bool
    warnings: list[str]
    problems: list[str] = field(default_factory=list)
    blocks: list[list[tuple[float, float]]] = field(default_factory=list)
    used_blocks: set[int] = field(default_factory=set)
    forged: bool = False

    def run(self) -> AnnotationSet:
        if _BLANK.match(self.data):
            raise AnnotationFormatError("empty file: not ASAP annotation XML")
        text = self.data
        if self.fast:
            text, self.blocks = skeleton(self.data)
        root = parse_untrusted(text)  # refuses DOCTYPEs; loads, fetches and expands nothing
        if isinstance(root.tag, str) and root.tag.startswith("{") and root.prefix is None:
            # pugixml ignores xmlns, so ASAP reads a default-namespaced file by its plain names.
            for element in root.iter():
                if isinstance(element.tag, str) and element.prefix is None:
                    element.tag = local_name(element)
        aset = self._document(root)
        if self.forged or len(self.used_blocks) != len(self.blocks):
            # A canonical-looking block sat where no annotation reads it (a comment, CDATA, an
            # unknown element), or the file itself holds a marker element: decode everything the
            # careful way instead.
            self.warnings.clear()
            return _Reader(self.data, fast=False, warnings=self.warnings).run()
        return aset

    def _problem(self, line: int | None, text: str) -> None:
        self.problems.append(f"line {line if line is not None else '?'}: {text}")

    def _document(self, root: Any) -> AnnotationSet:
        if root.tag == "ASAP_Annotations":
            annotations_node = root.find("Annotations")
            groups_node = root.find("AnnotationGroups")
        elif root.tag == "Annotations" and (root.find("Annotation/Regions") is not None or any(
            a.get("PartOfGroup") is None for a in _elements(root)
        )):
            raise AnnotationFormatError(
                f"line {root.sourceline}: this looks like Aperio ImageScope XML (<Annotations> of "
                "<Annotation> without PartOfGroup), not ASAP XML; it is not supported"
            )
        elif root.tag == "Annotations":  # ASAP falls back to the document node: a bare list
            annotations_node, groups_node = root, None
            self.warnings.append(f"line {root.sourceline}: root is <Annotations>, read as an ASAP list")
        else:
            raise AnnotationFormatError(
                f"line {root.sourceline}: root element is <{_tag(root)}>, not <ASAP_Annotations>: "
                "not an ASAP annotation file"
            )
        groups, group_lines = self._groups(groups_node)
        annotations = self._annotations(annotations_node, group_lines)
        aset = AnnotationSet(annotations=annotations, groups=groups)
        if not self.problems:
            # Belt and braces: anything the model forbids that the checks above let through.
            self.problems.extend(aset.problems(check_coordinates=False))
        if self.problems:
            raise problems_error("ASAP annotation XML", self.problems)
        return aset

    def _groups(self, node: Any) -> tuple[list[Group], dict[str, int]]:
        """The groups in list order, and the line of the group each name binds to (the last)."""
        groups: list[Group] = []
        lines: dict[str, int] = {}
        if node is None:
            return groups, lines
        group_lines: list[int] = []
        first_lines: dict[str, int] = {}
        # ASAP keeps one parent per *name* (groupToParent[name]): the last PartOfGroup other than
        # "None" declared by a group of that name; every group of the name gets it.
        declared: dict[str, tuple[str, int]] = {}
        raw_parents: list[str] = []
        for element in _elements(node):
            name = element.get("Name", "")
            line = element.sourceline
            if name in first_lines:
                self.warnings.append(
                    f"line {line}: <{_tag(element)} Name={name!r}> repeats the group name of line "
                    f"{first_lines[name]}; both are kept, and every annotation and child group naming "
                    f"{name!r} belongs to this later one, as in ASAP"
                )
            else:
                first_lines[name] = line
            lines[name] = line
            group_lines.append(line)
            attributes: dict[str, str] = {}
            holder = element.find("Attributes")
            if holder is not None:
                for item in _elements(holder):
                    attributes.update(item.attrib)  # every attribute of every child, later wins
            parent = element.get("PartOfGroup", "")
            raw_parents.append(parent)
            if parent != NO_GROUP:
                declared[name] = (parent, line)
            groups.append(
                Group(
                    name=name,
                    parent=None,
                    color=element.get("Color") or DEFAULT_ANNOTATION_COLOR,
                    attributes=dict(sorted(attributes.items())),
                )
            )
        undeclared: set[str] = set()
        for group, line, raw in zip(groups, group_lines, raw_parents, strict=True):
            if group.name not in declared:
                continue
            parent, parent_line = declared[group.name]
            if raw != parent:
                self.warnings.append(
                    f"line {line}: group {group.name!r} declares PartOfGroup={raw!r}, but ASAP gives every "
                    f"group named {group.name!r} the last parent declared for that name, {parent!r} "
                    f"(line {parent_line})"
                )
            if parent in lines:
                group.parent = parent
            elif group.name not in undeclared:  # ASAP ignores an unknown parent: top-level
                undeclared.add(group.name)
                self.warnings.append(
                    f"line {parent_line}: group {group.name!r} names undeclared parent {parent!r}; "
                    "made top-level as ASAP does"
                )
        self._check_cycles(groups, lines)
        return groups, lines

    def _check_cycles(self, groups: list[Group], lines: dict[str, int]) -> None:
        parents = {g.name: g.parent for g in groups}
        seen: set[str] = set()
        for start in parents:
            path: list[str] = []
            current: str | None = start
            while current is not None and current not in path and current not in seen:
                path.append(current)
                current = parents.get(current)
            seen.update(path)
            if current is not None and current in path:
                cycle = path[path.index(current):]
                chain_text = " -> ".join(f"{n!r} (line {lines[n]})" for n in [*cycle, cycle[0]])
                self._problem(lines[cycle[0]], f"groups form a parent cycle: {chain_text}")

    def _annotations(self, node: Any, group_lines: dict[str, int]) -> list[Annotation]:
        annotations: list[Annotation] = []
        if node is None:
            return annotations
        for element in _elements(node):
            line = element.sourceline
            name = element.get("Name", "")
            type_ = element.get("Type", "None")
            if type_ not in ANNOTATION_TYPES:
                self.warnings.append(f"line {line}: unknown Type {type_!r} kept as 'None', as ASAP does")
                type_ = "None"
            group_name = element.get("PartOfGroup")
            group: str | None = None
            if group_name is None:
                self._problem(
                    line,
                    f"<{_tag(element)} Name={name!r}> has no PartOfGroup attribute "
                    '(ASAP requires it; PartOfGroup="None" means no group)',
                )
            elif group_name != NO_GROUP:
                if group_name in group_lines:
                    group = group_name
                else:
                    self._problem(
                        line,
                        f"<{_tag(element)} Name={name!r}> is PartOfGroup={group_name!r}, "
                        "which is not declared in <AnnotationGroups>",
                    )
            coordinates_node = element.find("Coordinates")
            coordinates = [] if coordinates_node is None else self._coordinates(coordinates_node, name)
            annotations.append(
                Annotation(
                    name=name,
                    type=type_,
                    group=group,
                    color=element.get("Color") or DEFAULT_ANNOTATION_COLOR,
                    coordinates=coordinates,
                    comment=element.get(COMMENT_ATTRIBUTE, ""),
                )
            )
        return annotations

    def _coordinates(self, node: Any, owner: str) -> list[tuple[float, float]]:
        children = list(_elements(node))
        if self.blocks and len(children) == 1 and children[0].tag == MARKER_TAG:
            index = children[0].get("n", "")
            if (
                index.isascii() and index.isdigit()
                and int(index) < len(self.blocks) and int(index) not in self.used_blocks
            ):
                self.used_blocks.add(int(index))
                return self.blocks[int(index)]
            self.forged = True
            return []
        points: list[_Point] = []
        elements = [e for e in children if e.tag == "Coordinate"]
        texts = node.xpath("text()[normalize-space()]")  # XML whitespace, as pugixml's; in C
        if texts or len(elements) != len(children):
            self._warn_strays(node, owner, texts, len(elements))
        for element in elements:
            point = self._point(element)
            if point is not None:
                points.append(point)
        if len(points) != len(elements):
            return []  # a coordinate was unreadable and is reported; Order checks would mislead
        with_order = [p for p in points if p.order is not None]
        if not with_order:
            if points:
                self.warnings.append(f"line {node.sourceline}: Coordinates of {owner!r} have no Order; "
                                     "file order used")
            return [(p.x, p.y) for p in points]
        if len(with_order) != len(points):
            missing = next(p for p in points if p.order is None)
            self._problem(missing.line, f"<Coordinate> of {owner!r} has no Order while others have one")
            return []
        n = len(points)
        first_line: dict[int, int] = {}
        for point in points:
            assert point.order is not None
            if not 0 <= point.order < n:
                self._problem(
                    point.line,
                    f"<Coordinate Order=\"{point.order}\"> of {owner!r} is out of range 0..{n - 1} "
                    f"({n} coordinates)",
                )
            elif point.order in first_line:
                self._problem(
                    point.line,
                    f"<Coordinate Order=\"{point.order}\"> of {owner!r} repeats the Order of line "
                    f"{first_line[point.order]}",
                )
            else:
                first_line[point.order] = point.line
        if any(a.order != i for i, a in enumerate(points)) and len(first_line) == n:
            self.warnings.append(f"line {node.sourceline}: Coordinates of {owner!r} not in Order; sorted")
            points.sort(key=lambda p: p.order or 0)
        return [(p.x, p.y) for p in points]

    def _warn_strays(self, node: Any, owner: str, texts: list[Any], slots: int) -> None:
        """Warn about the text and non-<Coordinate> elements inside *node* (we ignore them), saying
        what ASAP makes of each (the first few of a block, then how many more).

        ASAP's loop (``XmlRepository::loadFromRepo``) sizes the point list by the <Coordinate>
        children (*slots*) but visits **every** child node, text included, and stores each at slot
        ``Order`` (``as_int``: 0 when absent) as (``X``, ``Y``) (``as_double``: 0 when absent): the
        last child writing a slot wins, and a slot outside the list is an out-of-bounds write.
        """
        tail_of = {text.getparent(): text for text in texts if text.is_tail}
        # (slot, node, text) in document order: node is a <Coordinate> or foreign element with
        # text None, or, for a text, the element it follows (its tail) or *node* (its first text).
        writes: list[tuple[int, Any, str | None]] = [(0, node, text) for text in texts if text.is_text]
        for child in _elements(node):
            writes.append((c_int(child.get("Order")), child, None))
            if child in tail_of:
                writes.append((0, child, tail_of[child]))
        last_write = {slot: index for index, (slot, _node, _text) in enumerate(writes)}  # slot holders

        def line_of(child: Any, text: str | None) -> int:
            if text is None:
                return int(child.sourceline)
            return _text_line(node.sourceline if child is node else _end_line(child), text)

        coordinate_line: dict[int, int] = {}  # the latest <Coordinate> seen for each slot: its line
        strays = 0
        for index, (slot, child, text) in enumerate(writes):
            if text is None and child.tag == "Coordinate":
                coordinate_line[slot] = child.sourceline
                continue
            strays += 1
            if strays > _MAX_STRAYS_LISTED:
                continue
            line = line_of(child, text)  # only the few listed are described: worth the time
            if text is None:
                what, x, y = f"<{_tag(child)}>", c_float32(child.get("X")), c_float32(child.get("Y"))
            else:
                what, x, y = f"text {_snippet(text)!r}", 0.0, 0.0
            if not 0 <= slot < slots:
                effect = f"outside its {slots}-point list (an out-of-bounds write: undefined behaviour)"
            elif last_write[slot] > index:
                _slot, holder, holder_text = writes[last_write[slot]]
                if holder_text is None and holder.tag == "Coordinate":
                    effect = (f"which the <Coordinate> of line {holder.sourceline} then overwrites, so it "
                              "changes nothing in ASAP")
                else:  # another stray child has the last word there
                    effect = f"which line {line_of(holder, holder_text)} then overwrites (see that line)"
            else:
                instead = f" instead of the <Coordinate> of line {coordinate_line[slot]}" if (
                    slot in coordinate_line) else ""
                effect = f"so ASAP's point {slot} is ({x:g}, {y:g}){instead}"
            self.warnings.append(
                f"line {line}: {what} inside <Coordinates> of {owner!r} is ignored; ASAP reads it as a "
                f"point at ({x:g}, {y:g}) with Order {slot}, {effect}"
            )
        if strays > _MAX_STRAYS_LISTED:
            self.warnings.append(
                f"line {node.sourceline}: {strays - _MAX_STRAYS_LISTED} more text or foreign elements "
                f"inside <Coordinates> of {owner!r}, ignored; ASAP stores each as a point too"
            )

    def _point(self, element: Any) -> _Point | None:
        line = element.sourceline
        order_text = element.get("Order")
        order: int | None = None
        ok = True
        if order_text is not None:
            match = INT.match(order_text)
            if match is None:
                self._problem(line, f"<Coordinate Order={order_text!r}> is not a whole number")
                ok = False
            else:
                order = int(match.group(1))
        x = self._number(element, "X", line)
        y = self._number(element, "Y", line)
        if not ok or x is None or y is None:
            return None
        x, y = array("f", (x, y))  # float32, as ASAP stores them
        return _Point(order, x, y, line)

    def _number(self, element: Any, axis: str, line: int) -> float | None:
        text = element.get(axis)
        if text is None:
            self._problem(line, f"<Coordinate> has no {axis} attribute")
            return None
        value: float | None = None
        if NUMBER.match(text):
            value = float(text)
        elif HEX_NUMBER.match(text):
            value = float.fromhex(text.strip())
        else:
            comma = COMMA_NUMBER.match(text)
            if comma:
                value = float(f"{comma.group(1)}.{comma.group(2)}{comma.group(3)}")
                self.warnings.append(
                    f"line {line}: {axis}={text!r} read as {value!r} (decimal comma, as a comma-locale "
                    "ASAP writes it)"
                )
        if value is None:
            self._problem(line, f"<Coordinate {axis}={text!r}> is not a number")
            return None
        if not math.isfinite(value) or not math.isfinite(array("f", [value])[0]):
            self._problem(line, f"<Coordinate {axis}={text!r}> is not a finite float32 number")
            return None
        return value


def _end_line(element: Any) -> int:
    """The line *element* ends on (lxml's sourceline is where its start tag ends)."""
    children = list(_elements(element))
    if children:
        return _end_line(children[-1]) + (children[-1].tail or "").count("\n")
    return int(element.sourceline) + (element.text or "").count("\n")


def _text_line(start_line: int, text: str) -> int:
    """The line of the first non-blank character of *text*, which starts on *start_line*."""
    return start_line + text[: len(text) - len(text.lstrip(" \t\r\n"))].count("\n")


def _snippet(text: str, limit: int = 40) -> str:
    words = " ".join(text.split())
    return words if len(words) <= limit else words[: limit - 3] + "..."


def _elements(node: Any) -> Iterator[Any]:
    """Child elements only (comments and PIs are removed by the parser; entity refs skipped)."""
    for child in node:
        if is_element(child):
            yield child


def _tag(element: Any) -> str:
    """The tag as written in the file (prefix:name), without lxml's {namespace} form."""
    local = local_name(element)
    return f"{element.prefix}:{local}" if element.prefix else local
