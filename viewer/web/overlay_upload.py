"""Reading an overlay upload (``POST /api/slides/<id>/overlays``): the multipart body, its fields
checked one by one (a precise 400 naming the field), its file streamed to a temporary file in the
overlay directory (the same filesystem as the store, not ``/tmp``: result images run to gigabytes)
and removed afterwards whatever happens.

The body limit of this route is ``OVERLAY_UPLOAD_MAX_MB`` while every other route keeps
``MAX_UPLOAD_MB``: :func:`body_limits` gives the server's chunked-body guard
(``viewer/web/transport.py``) the route's pattern, and the view raises its own request's limit
before reading the body.
"""

from __future__ import annotations

import contextlib
import math
import re
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from flask import request
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge, UnsupportedMediaType
from werkzeug.formparser import FormDataParser
from werkzeug.wsgi import LimitedStream

from viewer.errors import InputTooLargeError, InvalidInputError, UnavailableError, ValidationError
from viewer.overlays import AddOptions
from viewer.web.security import ascii_float, ascii_int

#: The upload route's path, as the server's body guard sees it (``<path:slide_id>`` then ``/overlays``).
UPLOAD_PATH = re.compile(r"/api/slides/[^/].*/overlays")
#: The optional fields of the upload, in the order the API documents them.
FIELDS = ("name", "kind", "scale", "origin_x", "origin_y", "value_min", "value_max", "classes",
          "patch_size", "patch_level")
KINDS = ("heatmap", "labels")
_PART_PREFIX, _PART_SUFFIX = ".upload-", ".part"
#: A part file older than this is the leftover of a killed process (a live upload is younger: its
#: body arrives within BODY_TIMEOUT and the conversion takes minutes at most).
_STALE_PART_S = 86400
_MAX_NAME = 200
_MAX_CLASSES = 65536
_MAX_COORDINATE = 1e9


def upload_limit(settings: Mapping[str, Any]) -> int:
    """The body limit of the upload route, bytes (``OVERLAY_UPLOAD_MAX_MB``)."""
    return int(settings.get("OVERLAY_UPLOAD_MAX_MB", 2048)) << 20


def body_limits(settings: Mapping[str, Any]) -> tuple[tuple[re.Pattern[str], int], ...]:
    """The routes whose bodies may exceed ``MAX_UPLOAD_MB``: (path pattern, limit in bytes)."""
    return ((UPLOAD_PATH, upload_limit(settings)),)


@dataclass(frozen=True)
class Upload:
    """A received upload: the file (a temporary path the caller may read until the context ends),
    its name as the client sent it (no directory), and the options its fields state."""

    path: Path
    filename: str
    options: AddOptions


@contextmanager
def received_upload(directory: Path, max_bytes: int) -> Iterator[Upload]:
    """The current request's overlay upload; every temporary file is removed on leaving.

    :raises UnsupportedMediaType: the body is not ``multipart/form-data``.
    :raises InvalidInputError: a malformed body, no ``file``, an unknown or repeated field, or a
        field whose value is wrong (named in the message).
    :raises ValidationError: an empty file.
    :raises InputTooLargeError: a body over *max_bytes*, or over Werkzeug's form-memory limits.
    :raises UnavailableError: *directory* cannot take the file (not writable, full).
    """
    if request.mimetype != "multipart/form-data":
        raise UnsupportedMediaType(
            f"an overlay upload is multipart/form-data with the file in a field 'file' "
            f"(got {request.mimetype or 'no body'}), e.g. curl -F file=@heat.tif"
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _unwritable(exc) from None
    _remove_stale_parts(directory)
    parts: list[IO[bytes]] = []

    def part_file(total_content_length: int | None, content_type: str | None,
                  filename: str | None = None, content_length: int | None = None) -> IO[bytes]:
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed (and so removed) below
            dir=directory, prefix=_PART_PREFIX, suffix=_PART_SUFFIX)
        parts.append(handle)
        return handle

    too_large = f"overlay uploads are limited to {max_bytes >> 20} MiB (OVERLAY_UPLOAD_MAX_MB)"
    if request.content_length is not None and request.content_length > max_bytes:
        raise InputTooLargeError(too_large)
    try:
        request.max_content_length = max_bytes  # this route's limit (Flask 3.1: per request)
        stream = request.stream
        parser = FormDataParser(
            stream_factory=part_file, max_form_memory_size=request.max_form_memory_size,
            max_content_length=max_bytes, max_form_parts=request.max_form_parts,
            cls=MultiDict, silent=False,
        )
        try:
            _, form, files = parser.parse(stream, request.mimetype, request.content_length,
                                          request.mimetype_params)
        except ValueError as exc:  # a missing boundary, a part without its headers, a cut body
            raise BadRequest(f"malformed multipart body: {exc}") from None
        except OSError as exc:  # writing the part file (the body's own failures are HTTP errors)
            raise _unwritable(exc) from None
        except RequestEntityTooLarge as exc:
            # A chunked body past the limit: the server's guard says so (viewer/web/transport.py),
            # or Werkzeug's stream stopped at the limit.
            if exc.description != RequestEntityTooLarge.description or (
                isinstance(stream, LimitedStream) and stream.tell() >= max_bytes
            ):
                raise InputTooLargeError(too_large) from None
            # Werkzeug's limits on what it keeps in memory: a field, bytes before any boundary, parts
            raise InputTooLargeError(
                f"a form field (not a file part) over {request.max_form_memory_size:,} bytes, more than "
                f"{request.max_form_parts} parts, or a body whose parts do not follow its multipart "
                "boundary: send the overlay as a file part (curl -F file=@heat.tif)") from None
        stored = _the_file(form, files)
        options = add_options(form)  # every field's 400 before the file's own problems
        stored.stream.flush()
        if not _has_bytes(stored):
            raise ValidationError("file: the uploaded file is empty")
        path = Path(getattr(stored.stream, "name", ""))
        yield Upload(path=path, filename=_base_name(stored.filename or ""), options=options)
    finally:
        for handle in parts:
            with contextlib.suppress(OSError):
                handle.close()


def _unwritable(exc: OSError) -> UnavailableError:
    """The server cannot keep the upload (a full disk, an unwritable OVERLAY_DIR): its operator's
    problem, said without the server's paths."""
    return UnavailableError(f"the overlay directory (OVERLAY_DIR) cannot take the upload: "
                            f"{exc.strerror or type(exc).__name__}")


def _has_bytes(stored: FileStorage) -> bool:
    stream = stored.stream
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(0)
    return size > 0


def _the_file(form: MultiDict[str, str], files: MultiDict[str, FileStorage]) -> FileStorage:
    unknown = sorted({key for key in [*form.keys(), *files.keys()] if key not in (*FIELDS, "file")})
    if unknown:
        raise InvalidInputError(
            f"unknown field {unknown[0]!r}: an overlay upload takes file and "
            f"{', '.join(FIELDS)}", [f"{key}: unknown field" for key in unknown])
    for key in FIELDS:
        if len(form.getlist(key)) > 1 or key in files:
            raise InvalidInputError(f"{key}: give it once, as a plain form field")
    found = files.getlist("file")
    if not found:
        sent = "a plain field without a file name" if "file" in form else "missing"
        raise InvalidInputError(
            f"file: required (the overlay, sent as a file: curl -F file=@heat.tif); it is {sent}")
    if len(found) > 1 or "file" in form:
        raise InvalidInputError("file: send one file per upload")
    if not _base_name(found[0].filename or ""):
        raise InvalidInputError("file: needs a file name (its extension names the format: "
                                ".tif/.tiff, .npy, .png or .csv)")
    return found[0]


def _base_name(filename: str) -> str:
    """The last component of a client's file name (browsers send none, some clients a whole path)."""
    return PurePosixPath(filename.replace("\\", "/")).name.strip()


def add_options(form: MultiDict[str, str]) -> AddOptions:
    """The upload's fields as :class:`AddOptions`.

    :raises InvalidInputError: a field whose value is wrong, named with what it must be.
    """
    value_min = _number(form, "value_min")
    value_max = _number(form, "value_max")
    if value_min is not None and value_max is not None and not value_min < value_max:
        raise InvalidInputError("value_min must be below value_max")
    kind = _text(form, "kind")
    if kind is not None and kind not in KINDS:
        raise InvalidInputError(f"kind must be heatmap or labels (got {kind[:40]!r})")
    scale = _number(form, "scale")
    if scale is not None and not scale > 0:
        raise InvalidInputError("scale must be a number of level-0 slide px per grid cell above 0")
    return AddOptions(
        name=_text(form, "name", _MAX_NAME),
        kind=kind,  # type: ignore[arg-type]  # checked against KINDS above
        scale=scale,
        origin_x=_number(form, "origin_x") or 0.0,
        origin_y=_number(form, "origin_y") or 0.0,
        value_min=value_min,
        value_max=value_max,
        classes=_classes(form),
        patch_size=_integer(form, "patch_size", 1, 1 << 20),
        patch_level=_integer(form, "patch_level", 0, 64) or 0,
    )


def _text(form: MultiDict[str, str], key: str, limit: int = 1000) -> str | None:
    raw = form.get(key)
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    if len(text) > limit:
        raise InvalidInputError(f"{key}: at most {limit} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise InvalidInputError(f"{key}: no control characters")
    return text


def _number(form: MultiDict[str, str], key: str) -> float | None:
    raw = _text(form, key, 100)
    if raw is None:
        return None
    value = ascii_float(raw)
    if value is None or not math.isfinite(value) or abs(value) > _MAX_COORDINATE:
        raise InvalidInputError(
            f"{key} must be a plain decimal number (got {raw[:40]!r}), e.g. 16 or 0.5")
    return value


def _integer(form: MultiDict[str, str], key: str, low: int, high: int) -> int | None:
    raw = _text(form, key, 100)
    if raw is None:
        return None
    value = ascii_int(raw)
    if value is None or not low <= value <= high:
        raise InvalidInputError(f"{key} must be an integer from {low} to {high} (got {raw[:40]!r})")
    return value


def _classes(form: MultiDict[str, str]) -> tuple[str, ...] | None:
    raw = _text(form, "classes", 1 << 20)
    if raw is None:
        return None
    names = tuple(name.strip() for name in raw.split(","))
    if any(not name for name in names):
        raise InvalidInputError("classes: comma-separated class names, class 0 first, none empty")
    if len(names) > _MAX_CLASSES or any(len(name) > _MAX_NAME for name in names):
        raise InvalidInputError(f"classes: at most {_MAX_CLASSES} names of at most {_MAX_NAME} characters")
    return names


def _remove_stale_parts(directory: Path) -> None:
    """Remove the part files a killed process left (older than a day)."""
    cutoff = time.time() - _STALE_PART_S
    for part in directory.glob(f"{_PART_PREFIX}*{_PART_SUFFIX}"):
        with contextlib.suppress(OSError):
            if part.stat().st_mtime < cutoff:
                part.unlink()
