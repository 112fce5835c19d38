"""HTTP conditional requests (RFC 9110 §13): the one parser of ``If-Match`` and ``If-None-Match``,
used by every route that sends an ``ETag``.

* ``If-Match`` (writes) becomes a :class:`viewer.preconditions.VersionMatch`, which the store checks
  inside the write's transaction. Comparison is **strong** (§13.1.1): a list matches when any of
  its tags is the current version; ``*`` matches any existing resource; a weak tag (``W/"3"``) or a
  tag that is not a version number (``"stale"``) never matches, so the write is a 412 with the
  current state. Only a header that is not an entity-tag list at all (``3``, ``"3``, ``*, "3"``) is
  a 400.
* ``If-None-Match`` (GET and HEAD) uses **weak** comparison (§13.1.2): ``W/"3"`` matches the tag
  ``"3"``; ``*`` matches any representation; a match is a 304 with the ETag. A malformed
  ``If-None-Match`` is ignored (the full response is sent): it only ever saves bandwidth.

Routes call these only once they know the resource exists (its address was valid), so a
conditional request for a missing resource still gets its 404.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask import Response, request

from viewer.errors import InvalidInputError
from viewer.preconditions import VersionMatch
from viewer.web.security import ascii_int

# One list element: optional whitespace, an optional entity-tag, optional whitespace. etagc is
# %x21 / %x23-7E / obs-text: no space, no DQUOTE, no control; obs-text (bytes 0x80-0xFF) arrives
# as Latin-1 text, and the test client may hand over any non-ASCII character, so every character
# from 0x80 up counts as obs-text.
_ELEMENT = re.compile(r'[ \t]*(?:(W/)?"([^"\x00-\x20\x7f]*)")?[ \t]*')
_MAX_INT = 2**31 - 1


@dataclass(frozen=True)
class EntityTags:
    """A parsed ``If-Match`` / ``If-None-Match`` value: ``*``, or (weak, opaque) pairs in order."""

    star: bool
    tags: tuple[tuple[bool, str], ...] = ()

    def strong_versions(self) -> frozenset[int]:
        """The version numbers named by strong tags (a weak or non-numeric tag names none)."""
        found = set()
        for weak, opaque in self.tags:
            number = None if weak else ascii_int(opaque)
            if number is not None and number <= _MAX_INT:
                found.add(number)
        return frozenset(found)

    def matches_weakly(self, etag: str) -> bool:
        """True when *etag* (as sent, ``"..."`` or ``W/"..."``) is in the list by weak comparison."""
        if self.star:
            return True
        opaque = etag[2:] if etag.startswith("W/") else etag
        opaque = opaque[1:-1]
        return any(tag == opaque for _weak, tag in self.tags)


def parse_entity_tags(value: str) -> EntityTags | None:
    """``*`` or a comma-separated list of entity tags (empty elements allowed, RFC 9110 §5.6.1);
    None when *value* is neither (or names no tag at all)."""
    if value.strip(" \t") == "*":
        return EntityTags(star=True)
    tags: list[tuple[bool, str]] = []
    position, end = 0, len(value)
    while True:
        match = _ELEMENT.match(value, position)
        assert match is not None  # every part of the pattern is optional
        if match[2] is not None:
            tags.append((match[1] is not None, match[2]))
        position = match.end()
        if position == end:
            break
        if value[position] != ",":
            return None
        position += 1
    return EntityTags(star=False, tags=tuple(tags)) if tags else None


def if_match() -> VersionMatch | None:
    """The request's ``If-Match`` as a precondition for the store (None: no header).

    :raises InvalidInputError: the header is not ``*`` or a list of entity tags.
    """
    raw = request.headers.get("If-Match")
    if raw is None:
        return None
    parsed = parse_entity_tags(raw)
    if parsed is None:
        raise InvalidInputError(
            'If-Match must be * or a list of entity tags as sent by the server, e.g. "12" or "12", "13"',
            [f"If-Match: {raw[:100]!r} is not an entity-tag list (RFC 9110 §13.1.1)"],
        )
    return VersionMatch(versions=parsed.strong_versions(), any=parsed.star)


def is_fresh(etag: str) -> bool:
    """True when the request's ``If-None-Match`` names *etag* (weak comparison) or is ``*``: the
    client's copy is current and a 304 is the answer."""
    raw = request.headers.get("If-None-Match")
    if raw is None:
        return False
    parsed = parse_entity_tags(raw)
    return parsed is not None and parsed.matches_weakly(etag)


def not_modified(etag: str, cache_control: str | None = None) -> Response:
    """A 304 for *etag*, with the headers the full response would carry for caches."""
    response = Response(status=304)
    response.headers["ETag"] = etag
    if cache_control:
        response.headers["Cache-Control"] = cache_control
    return response


def etag_of(version: int) -> str:
    """The strong ETag of a version number (sets, annotations and groups)."""
    return f'"{version}"'
