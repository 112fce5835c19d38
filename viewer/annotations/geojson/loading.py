"""GeoJSON input to a JSON document: the size limit (also after gunzip: QuPath 0.4+ writes
``.geojson.gz``), UTF-8 with or without a BOM, and integers too long for Python's ``int()``."""

from __future__ import annotations

import json
import zlib
from typing import Any

from viewer.errors import AnnotationFormatError, InputTooLargeError


def load(data: bytes | str | dict[str, Any] | list[Any], max_bytes: int | None) -> Any:
    if isinstance(data, (dict, list)):
        return data
    if isinstance(data, str):
        data = data.encode("utf-8")
    if not isinstance(data, (bytes, bytearray)):
        raise AnnotationFormatError("GeoJSON input must be bytes, text, an object or an array")
    if max_bytes is not None and len(data) > max_bytes:
        raise InputTooLargeError(f"GeoJSON of {len(data)} bytes is over the limit of {max_bytes}")
    if data[:2] == b"\x1f\x8b":  # .geojson.gz, as QuPath 0.4+ writes it
        try:
            data = zlib.decompress(data, wbits=47) if max_bytes is None else _gunzip_limited(data, max_bytes)
        except zlib.error as exc:
            raise AnnotationFormatError(f"not a valid gzip file: {exc}") from None
    try:
        return parse_json(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise AnnotationFormatError(f"GeoJSON is not UTF-8 (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise AnnotationFormatError(
            f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise AnnotationFormatError("JSON nested too deeply") from None


def parse_json(text: str | bytes) -> Any:
    """JSON as :func:`json.loads` reads it, except that an integer longer than Python converts
    (``sys.get_int_max_str_digits()``, 4300 digits) reads as the float it is (inf) instead of
    raising a bare ``ValueError``: the readers then report it where it is, like ``1e400``.

    :raises json.JSONDecodeError: not JSON. :raises RecursionError: nested too deeply.
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except ValueError:  # only int() of a digit string over the limit raises a plain ValueError
        return json.loads(text, parse_int=_int_or_float)


def _int_or_float(digits: str) -> int | float:
    try:
        return int(digits)
    except ValueError:
        return float(digits)  # beyond the int() digit limit: far beyond float range, so +-inf


def _gunzip_limited(data: bytes, limit: int) -> bytes:
    decompressor = zlib.decompressobj(wbits=47)
    out = decompressor.decompress(data, limit + 1)
    if len(out) > limit:
        raise InputTooLargeError(f"decompressed GeoJSON is over the limit of {limit} bytes")
    return out
