"""The one error a reader raises for a file with problems: every problem was collected first (each
with its line), the message counts them and quotes the first, the details list the first few."""

from __future__ import annotations

from viewer.errors import AnnotationFormatError

#: Problems listed in an error's details; the message says how many there are in all.
MAX_LISTED = 20


def problems_error(what: str, problems: list[str]) -> AnnotationFormatError:
    """``invalid <what>: N problems; first: ...`` with the first :data:`MAX_LISTED` problems (and
    how many more) as details. *problems* is not empty."""
    count = len(problems)
    listed = problems[:MAX_LISTED]
    if count > MAX_LISTED:
        listed.append(f"... and {count - MAX_LISTED} more")
    noun = "problem" if count == 1 else "problems"
    return AnnotationFormatError(f"invalid {what}: {count} {noun}; first: {problems[0]}", details=listed)
