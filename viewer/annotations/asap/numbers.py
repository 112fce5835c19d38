"""Numbers in ASAP XML as ASAP reads them: C's ``strtod``/``strtol`` (ASCII digits only, hex and
exponents too; a decimal comma as a comma-locale ASAP writes it) and pugixml's ``as_int`` and
``as_double`` prefixes (what ASAP makes of a stray element inside ``<Coordinates>``)."""

from __future__ import annotations

import re

import numpy as np

# ASCII only, like C's strtod/strtol: Python's \d and float() would also take other scripts' digits.
NUMBER = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*\Z", re.ASCII)
COMMA_NUMBER = re.compile(r"\s*([+-]?\d+),(\d+)((?:[eE][+-]?\d+)?)\s*\Z", re.ASCII)
HEX_NUMBER = re.compile(
    r"\s*[+-]?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?\d+)?\s*\Z", re.ASCII
)
INT = re.compile(r"\s*\+?(\d+)\s*\Z", re.ASCII)

_C_INT = re.compile(r"[ \t\r\n]*([+-]?)(?:0[xX]([0-9a-fA-F]+)|([0-9]+))")
_C_FLOAT = re.compile(r"[ \t\r\n]*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def c_int(text: str | None) -> int:
    """pugixml's ``as_int``: the leading decimal or 0x-hex integer, clamped to int; 0 if none."""
    if text is not None and text.isascii() and text.isdigit() and len(text) < 10:
        return int(text)  # the usual Order="12"
    match = _C_INT.match(text or "")
    if match is None:
        return 0
    value = int(match.group(2), 16) if match.group(2) else int(match.group(3))
    return max(-(2**31), min(2**31 - 1, -value if match.group(1) == "-" else value))


def c_float32(text: str | None) -> float:
    """The leading decimal number of *text* (C ``strtod``'s prefix), as float32; 0 if none."""
    match = _C_FLOAT.match(text or "")
    with np.errstate(over="ignore"):  # beyond float32: inf, as C's float conversion gives
        return float(np.float32(float(match.group()) if match else 0.0))
