"""Which annotation format an uploaded document is, and reading any of them into the model.

ASAP XML and Aperio ImageScope XML share the ``.xml`` extension and the root element name
``Annotations`` (ASAP's bare list, rare, vs ImageScope's layers with ``<Regions>``); Hamamatsu NDPA's
root is ``<annotations>``. :func:`xml_format` tells them apart from the first element, without
parsing: anything else is left to the ASAP reader, which refuses it with what it found (a DOCTYPE,
another root), so a hostile document gets the same one error whatever its claimed format.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from viewer.annotations.model import AnnotationSet
    from viewer.annotations.ndpa import NdpaFrame

XmlFormat = Literal["asap", "imagescope", "ndpa"]

_ROOT = re.compile(rb"(?:\s+|<\?.*?\?>|<!--.*?-->)*<([A-Za-z_][\w.:-]*)", re.S)


def xml_format(data: bytes) -> XmlFormat:
    """``asap``, ``imagescope`` or ``ndpa`` from the root element of an XML document."""
    head, codec = data[:65536], None
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        codec = "utf-16"
    elif head[:1] == b"\x00":
        codec = "utf-16-be"
    elif head[1:2] == b"\x00":
        codec = "utf-16-le"
    if codec:  # a UTF-16 file: look at its text (rare enough to decode whole)
        data = data.decode(codec, errors="ignore").encode("utf-8")
        head = data[:65536]
    match = _ROOT.match(head.removeprefix(b"\xef\xbb\xbf"))
    root = match.group(1).split(b":")[-1] if match else b""
    if root == b"annotations":
        return "ndpa"
    if root == b"Annotations" and (b"<Regions" in data or b"PartOfGroup" not in data):
        return "imagescope"  # an ASAP bare <Annotations> list always has PartOfGroup
    return "asap"


def read_xml(
    data: bytes,
    *,
    ndpa_frame: Callable[[], NdpaFrame],
    max_bytes: int,
    warnings: list[str] | None = None,
) -> tuple[XmlFormat, AnnotationSet]:
    """(its format, the model in slide space) of an ASAP, ImageScope or NDPA document.

    :param ndpa_frame: called only for NDPA, for the frame of the slide the file belongs to (it
        raises what the caller wants said when the slide has none).
    :raises AnnotationFormatError, InputTooLargeError: as the format's reader raises them.
    """
    fmt = xml_format(data)
    if fmt == "imagescope":
        from viewer.annotations.imagescope import read_imagescope

        return fmt, read_imagescope(data, max_bytes=max_bytes, warnings=warnings)
    if fmt == "ndpa":
        from viewer.annotations.ndpa import read_ndpa

        return fmt, read_ndpa(data, ndpa_frame(), max_bytes=max_bytes, warnings=warnings)
    from viewer.annotations.asap import read_asap

    return fmt, read_asap(data, max_bytes=max_bytes, warnings=warnings)


__all__ = ["XmlFormat", "read_xml", "xml_format"]
