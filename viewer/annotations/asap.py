"""ASAP annotation XML: read and write it exactly as ASAP does (parsed by :mod:`.xmlsafe`).

The format is ASAP's ``XmlRepository`` (see ``ASAP_FORMAT.md``). Coordinates are slide space
(level-0 px). ASAP holds them as C ``float``: the reader rounds every value through float32 and the
writer prints it with C's ``%.9g``, so ``write_asap(read_asap(f))`` is byte-identical to what ASAP
saves for the same file.

Reading policy (ASAP's own behaviour in brackets):

* tolerated like ASAP: missing ``Order`` (file order), unsorted ``Order`` (sorted), a group whose
  parent is not declared (made top-level), no ``<AnnotationGroups>``, a bare ``<Annotations>`` root,
  unknown elements and attributes, unknown ``Type`` (kept as ``"None"``), missing/empty ``Color``
  (``#F4FA58``), CRLF, a BOM or another declared encoding, a default ``xmlns``, comments and
  processing instructions; also hex (``0x10``) and exponent numbers, as C's ``strtod``;
* ``X="10,5"`` with no dot is read as 10.5, as written by ASAP in a comma locale [ASAP reads 10];
* groups sharing a name are all kept, in order, with a warning; annotations and child groups
  naming it belong to the last one, and every group of the name gets the parent declared last
  [ASAP the same];
* text and non-``Coordinate`` elements inside ``<Coordinates>`` are ignored with a warning that
  says what ASAP makes of them [it stores each as a point at slot ``Order`` (0 when absent), X and
  Y 0 when absent: text turns ASAP's point 0 into (0, 0) unless a later ``Order="0"`` overwrites it];
* a group ``Color`` left empty reads as ``#F4FA58``, ASAP's object default, not the GUI's group
  colour ``#64FE2E``; the model forbids empty colours so that every set round-trips;
* rejected with the element and line, where ASAP rejects, crashes or silently loses data: an
  annotation in an undeclared group [load fails], ``Order`` out of range [out-of-bounds write],
  duplicate or partly missing ``Order`` [points become (0, 0)], group cycles [stack overflow],
  a missing or non-numeric ``X``/``Y`` and nan/inf [read as 0 or kept];
* rejected outright: non-XML and truncated files [ASAP loads what it parsed], any other root
  element [empty list], any DOCTYPE (:mod:`.xmlsafe`: no entity, DTD or other file is ever
  expanded, opened or fetched, and the error is the same whatever the DOCTYPE names), nesting
  deeper than libxml2's default limit (256), and files over ``max_bytes``.

Speed: a ``<Coordinates>`` block written in ASAP's own layout is decoded straight from the bytes
(split on quotes, one C loop converting the numbers) and replaced by a marker before lxml parses the rest;
any block that is not exactly canonical goes through the element-by-element path, which is the
reference and gives the precise errors. Both paths give equal models.

Comments: ASAP has none. An annotation's :attr:`~viewer.annotations.model.Annotation.comment` is
written as one extra attribute, ``Comment``, after ASAP's four (``Name Type PartOfGroup Color
Comment``) and only when it is not empty. ASAP's reader looks attributes up by name and ignores the
others, so ASAP still opens the file (and drops the comment if it saves it again); ASAP's own
attributes keep ASAP's order and place, so a file without comments is still byte for byte ASAP's.
"""

from __future__ import annotations

import math
import os
import re
import stat
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

import fastnumbers
import numpy as np

from viewer.annotations.model import (
    ANNOTATION_TYPES,
    DEFAULT_ANNOTATION_COLOR,
    NO_GROUP,
    Annotation,
    AnnotationSet,
    Group,
)
from viewer.annotations.xmlsafe import is_element, local_name, parse_untrusted
from viewer.atomicfile import write_atomic
from viewer.config import SETTINGS
from viewer.errors import AnnotationFormatError, InputTooLargeError, NotFoundError

#: The extra ``<Annotation>`` attribute holding a comment (absent when the comment is empty).
COMMENT_ATTRIBUTE = "Comment"
#: Default size limit: the ANNOTATION_MAX_MB setting's default, in bytes.
DEFAULT_MAX_BYTES = next(s.default for s in SETTINGS if s.name == "ANNOTATION_MAX_MB") * 1024 * 1024

_MAX_LISTED = 20  # problems listed in an error's details; the message says how many there are
_MAX_STRAYS_LISTED = 5  # stray children of one <Coordinates> warned about one by one

# ---------------------------------------------------------------------------------------------
# Reading


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


def read_limited(source: bytes | str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of *source* (a path, or bytes given as they are), refusing more than *limit* bytes.

    :raises InputTooLargeError: over *limit* (checked before reading a file).
    :raises NotFoundError: no such file.
    :raises AnnotationFormatError: the file cannot be read.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if len(data) > limit:
            raise InputTooLargeError(f"annotation data is {len(data):,} bytes, over the limit of {limit:,}")
        return data
    path = Path(source)
    try:
        # O_NONBLOCK: a FIFO or device under the name must not hang the reader; only files are read.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NotFoundError(f"{path}: no such file") from None
    except OSError as exc:
        raise AnnotationFormatError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise AnnotationFormatError(f"{path}: not a regular file")
        if st.st_size > limit:
            raise InputTooLargeError(
                f"{path}: {st.st_size:,} bytes, over the annotation file limit of {limit:,}"
            )
        chunks = []
        remaining = limit + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 24))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        data = b"".join(chunks)
    except OSError as exc:
        raise AnnotationFormatError(f"{path}: cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if len(data) > limit:  # grew while we read it
        raise InputTooLargeError(f"{path}: over the annotation file limit of {limit:,} bytes")
    return data


def _format_error(message: str, problems: list[str]) -> AnnotationFormatError:
    listed = problems[:_MAX_LISTED]
    if len(problems) > _MAX_LISTED:
        listed.append(f"... and {len(problems) - _MAX_LISTED} more")
    return AnnotationFormatError(message, details=listed)


# A <Coordinates> block in ASAP's own layout, split on '"': <sep0>order<X>x<Y>y<sep>order...
_FIRST_SEP = re.compile(rb"[ \t\r\n]*<Coordinate Order=\Z")
_MIDDLE_SEP = re.compile(rb"[ \t\r\n]*/>[ \t\r\n]*<Coordinate Order=\Z")
_LAST_SEP = re.compile(rb"[ \t\r\n]*/>[ \t\r\n]*\Z")
_MARKER = b"_wsi_viewer_fast_block"
_MARKER_TAG = _MARKER.decode()
_ORDER_CACHE: list[bytes] = []


def _canonical_orders(n: int) -> list[bytes]:
    """[b"0", b"1", ..., n-1], cached: comparing lists of bytes is far cheaper than int()."""
    if len(_ORDER_CACHE) < n:
        _ORDER_CACHE.extend(b"%d" % i for i in range(len(_ORDER_CACHE), n))
    return _ORDER_CACHE[:n]


def _fast_block(block: bytes) -> list[tuple[float, float]] | None:
    """The points of a canonical <Coordinates> body, or None to let the element path decide."""
    parts = block.split(b'"')
    n, rest = divmod(len(parts) - 1, 6)
    if rest or n == 0:
        return None
    # list.count is a C loop of cheap bytes comparisons; sets would hash a million items.
    if parts[2::6].count(b" X=") != n or parts[4::6].count(b" Y=") != n:
        return None
    if not _FIRST_SEP.match(parts[0]) or not _LAST_SEP.match(parts[-1]):
        return None
    separators = parts[6:-1:6]
    if separators and separators.count(separators[0]) == len(separators):
        distinct = separators[:1]
    else:  # mixed indentation or line ends
        distinct = list(set(separators))
    if not all(_MIDDLE_SEP.match(sep) for sep in distinct):
        return None
    if parts[1::6] != _canonical_orders(n):
        return None
    xs = _float32_values(parts[3::6])
    ys = _float32_values(parts[5::6])
    if xs is None or ys is None:
        return None
    return list(zip(xs.tolist(), ys.tolist(), strict=True))


def _float32_values(texts: list[bytes]) -> np.ndarray | None:
    """The attribute texts as float32, like ASAP (C strtod, then float); None if any is not a finite
    decimal the element path would read the same way.

    fastnumbers converts in one C loop, correctly rounded like strtod and float(), about 5x faster
    than ``map(float, ...)``, which was most of the time of a large file. It accepts exactly what
    float() accepts on bytes except ``_`` digit separators (refused, as strtod refuses them).
    """
    try:
        doubles = fastnumbers.try_array(texts, dtype=np.float64)
    except (ValueError, TypeError, OverflowError):
        return None
    with np.errstate(over="ignore", invalid="ignore"):  # overflow to inf is checked just below
        values = doubles.astype(np.float32)
    if not np.isfinite(values).all():
        return None  # nan, inf or float32 overflow: the element path reports it with its line
    return values


def _skeleton(data: bytes) -> tuple[bytes, list[list[tuple[float, float]]]]:
    """Replace canonical <Coordinates> bodies by numbered markers, keeping every line number."""
    if _MARKER in data:  # a file that spells our marker itself is read the careful way
        return data, []
    pieces: list[bytes] = []
    blocks: list[list[tuple[float, float]]] = []
    start = 0
    position = 0
    while True:
        opening = data.find(b"<Coordinates>", position)
        if opening < 0:
            break
        body = opening + len(b"<Coordinates>")
        closing = data.find(b"</Coordinates>", body)
        if closing < 0:
            break
        position = closing
        block = data[body:closing]
        points = _fast_block(block)
        if points is None:
            continue
        pieces.append(data[start:body])
        pieces.append(b"<%s n=\"%d\"/>" % (_MARKER, len(blocks)) + b"\n" * block.count(b"\n"))
        blocks.append(points)
        start = closing
    if not blocks:
        return data, []
    pieces.append(data[start:])
    return b"".join(pieces), blocks


# ASCII only, like C's strtod/strtol: Python's \d and float() would also take other scripts' digits.
_NUMBER = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*\Z", re.ASCII)
_COMMA_NUMBER = re.compile(r"\s*([+-]?\d+),(\d+)((?:[eE][+-]?\d+)?)\s*\Z", re.ASCII)
_HEX_NUMBER = re.compile(
    r"\s*[+-]?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?\d+)?\s*\Z", re.ASCII
)
_INT = re.compile(r"\s*\+?(\d+)\s*\Z", re.ASCII)
_BLANK = re.compile(rb"(?:\xef\xbb\xbf)?[ \t\r\n]*\Z")


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
            text, self.blocks = _skeleton(self.data)
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
            count = len(self.problems)
            raise _format_error(
                f"invalid ASAP annotation XML: {count} problem{'s' if count > 1 else ''}; "
                f"first: {self.problems[0]}",
                self.problems,
            )
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
        if self.blocks and len(children) == 1 and children[0].tag == _MARKER_TAG:
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
            writes.append((_c_int(child.get("Order")), child, None))
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
                what, x, y = f"<{_tag(child)}>", _c_float32(child.get("X")), _c_float32(child.get("Y"))
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
            match = _INT.match(order_text)
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
        if _NUMBER.match(text):
            value = float(text)
        elif _HEX_NUMBER.match(text):
            value = float.fromhex(text.strip())
        else:
            comma = _COMMA_NUMBER.match(text)
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


_C_INT = re.compile(r"[ \t\r\n]*([+-]?)(?:0[xX]([0-9a-fA-F]+)|([0-9]+))")
_C_FLOAT = re.compile(r"[ \t\r\n]*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _c_int(text: str | None) -> int:
    """pugixml's ``as_int``: the leading decimal or 0x-hex integer, clamped to int; 0 if none."""
    if text is not None and text.isascii() and text.isdigit() and len(text) < 10:
        return int(text)  # the usual Order="12"
    match = _C_INT.match(text or "")
    if match is None:
        return 0
    value = int(match.group(2), 16) if match.group(2) else int(match.group(3))
    return max(-(2**31), min(2**31 - 1, -value if match.group(1) == "-" else value))


def _c_float32(text: str | None) -> float:
    """The leading decimal number of *text* (C ``strtod``'s prefix), as float32; 0 if none."""
    match = _C_FLOAT.match(text or "")
    with np.errstate(over="ignore"):  # beyond float32: inf, as C's float conversion gives
        return float(np.float32(float(match.group()) if match else 0.0))


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


# ---------------------------------------------------------------------------------------------
# Writing

_COORDINATE = '\t\t\t\t<Coordinate Order="%d" X="%.9g" Y="%.9g" />\n'
# pugixml 1.13 attribute escaping: & < " and every control character as a 2-digit &#NN;.
_ESCAPES = {ord("&"): "&amp;", ord("<"): "&lt;", ord('"'): "&quot;"}
_ESCAPES.update({c: f"&#{c // 10}{c % 10};" for c in range(32)})
_NEEDS_ESCAPE = re.compile('[&<"\x00-\x1f]')


def _attr(value: str) -> str:
    return value.translate(_ESCAPES) if _NEEDS_ESCAPE.search(value) else value


def _coordinates_xml(coordinates: list[tuple[float, float]]) -> str:
    # Round through float32 (C float) first, then C's %.9g: ASAP's pugixml set_value(float).
    flat = iter(array("f", chain.from_iterable(coordinates)).tolist())
    return "".join(map(_COORDINATE.__mod__, zip(range(len(coordinates)), flat, flat, strict=False)))


def write_asap(aset: AnnotationSet) -> bytes:
    """The ASAP XML bytes of *aset*, exactly as ASAP's XmlRepository::save writes them.

    :raises ValidationError: the set breaks a model rule (every problem listed).
    """
    aset.validate()
    out: list[str] = ['<?xml version="1.0"?>\n<ASAP_Annotations>\n']
    if aset.annotations:
        out.append("\t<Annotations>\n")
        for a in aset.annotations:
            group = NO_GROUP if a.group is None else a.group
            # The comment goes last, so ASAP's own four attributes stay where ASAP writes them.
            comment = f' {COMMENT_ATTRIBUTE}="{_attr(a.comment)}"' if a.comment else ""
            out.append(
                f'\t\t<Annotation Name="{_attr(a.name)}" Type="{a.type}" PartOfGroup="{_attr(group)}" '
                f'Color="{_attr(a.color)}"{comment}>\n'
            )
            if a.coordinates:
                out.append("\t\t\t<Coordinates>\n")
                out.append(_coordinates_xml(a.coordinates))
                out.append("\t\t\t</Coordinates>\n")
            else:
                out.append("\t\t\t<Coordinates />\n")
            out.append("\t\t</Annotation>\n")
        out.append("\t</Annotations>\n")
    else:
        out.append("\t<Annotations />\n")
    if aset.groups:
        out.append("\t<AnnotationGroups>\n")
        for g in aset.groups:
            parent = NO_GROUP if g.parent is None else g.parent
            out.append(
                f'\t\t<Group Name="{_attr(g.name)}" PartOfGroup="{_attr(parent)}" Color="{_attr(g.color)}">\n'
            )
            if g.attributes:
                out.append("\t\t\t<Attributes>\n")
                for key in sorted(g.attributes):  # std::map order
                    out.append(f'\t\t\t\t<Attribute {key}="{_attr(g.attributes[key])}" />\n')
                out.append("\t\t\t</Attributes>\n")
            else:
                out.append("\t\t\t<Attributes />\n")
            out.append("\t\t</Group>\n")
        out.append("\t</AnnotationGroups>\n")
    else:
        out.append("\t<AnnotationGroups />\n")
    out.append("</ASAP_Annotations>\n")
    return "".join(out).encode("utf-8")


def save_asap(aset: AnnotationSet, path: str | os.PathLike[str]) -> None:
    """Write *aset* as ASAP XML to *path* atomically (temp file in the same directory, fsync, rename).

    A failure leaves *path* as it was and no temporary file behind.
    """
    data = write_asap(aset)
    write_atomic(path, data)


__all__ = ["read_asap", "write_asap", "save_asap", "read_limited", "DEFAULT_MAX_BYTES", "COMMENT_ATTRIBUTE"]
