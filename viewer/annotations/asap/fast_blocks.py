"""The fast path of the ASAP reader: a ``<Coordinates>`` block written in ASAP's own layout is
decoded straight from the bytes (split on quotes, one C loop converting the numbers) and replaced by
a numbered marker element before lxml parses the rest. Anything not exactly canonical is left in
place for the element-by-element reader, which is the reference and gives the precise errors."""

from __future__ import annotations

import re

import fastnumbers
import numpy as np

# A <Coordinates> block in ASAP's own layout, split on '"': <sep0>order<X>x<Y>y<sep>order...
_FIRST_SEP = re.compile(rb"[ \t\r\n]*<Coordinate Order=\Z")
_MIDDLE_SEP = re.compile(rb"[ \t\r\n]*/>[ \t\r\n]*<Coordinate Order=\Z")
_LAST_SEP = re.compile(rb"[ \t\r\n]*/>[ \t\r\n]*\Z")
_MARKER = b"_wsi_viewer_fast_block"
MARKER_TAG = _MARKER.decode()
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


def skeleton(data: bytes) -> tuple[bytes, list[list[tuple[float, float]]]]:
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
