"""Writing ASAP XML exactly as ASAP's ``XmlRepository::save`` does (pugixml 1.13 attribute
escaping, C float ``%.9g`` numbers, tabs), plus the optional ``Comment`` attribute."""

from __future__ import annotations

import os
import re
from array import array
from itertools import chain

from viewer.annotations.model import NO_GROUP, AnnotationSet
from viewer.atomicfile import write_atomic

#: The extra ``<Annotation>`` attribute holding a comment (absent when the comment is empty).
COMMENT_ATTRIBUTE = "Comment"

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
