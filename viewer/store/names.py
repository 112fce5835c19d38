"""What the store accepts as a user name (``who``) and a set name, and the names it gives itself."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from viewer.errors import ValidationError
from viewer.store.schema import MAX_NAME

#: Value of ``who`` when a request names nobody.
ANONYMOUS = "anonymous"
#: ``who`` of changes imported from a sidecar file edited on disk.
SIDECAR_USER = "sidecar"

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def now() -> str:
    """The time of a change or a row, as stored: ISO 8601 in UTC with microseconds."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def clean_who(who: str | None) -> str:
    """A user name fit for the history: control characters dropped, at most 200 characters."""
    text = _CONTROL.sub("", who or "").strip()[:MAX_NAME]
    return text or ANONYMOUS


def check_set_name(name: object) -> str:
    """*name* stripped. :raises ValidationError: empty, too long or with control characters."""
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("set name must be a non-empty string", ["name: must be a non-empty string"])
    if len(name) > MAX_NAME or _CONTROL.search(name):
        raise ValidationError(
            "set name is too long or has control characters",
            [f"name: at most {MAX_NAME} characters, no control characters"],
        )
    return name.strip()


def name_from_file(file_name: str) -> str:
    """A set name for a file: the file name, shortened in the middle to fit 200 characters."""
    name = _CONTROL.sub("", file_name).strip() or "upload"
    if len(name) > MAX_NAME:
        name = name[: MAX_NAME - 12] + "…" + name[-11:]
    return name
