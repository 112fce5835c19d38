"""Version preconditions: what an ``If-Match`` header asks of a versioned resource, as a domain
value (no HTTP here). The web layer parses the header into a :class:`VersionMatch`; the store checks
it inside the write's own transaction, so the check and the write are one atomic step.

Semantics are RFC 9110 §13.1.1 with strong comparison: a list matches when any of its entity tags
is the current version; ``*`` matches any existing resource; a weak tag or a tag that is not a
version number can never match (so a well-formed but stale or foreign tag is a 412, not a 400).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VersionMatch:
    """``If-Match``: the versions a write may apply to (``any``: ``*``, any existing version)."""

    versions: frozenset[int] = frozenset()
    any: bool = False

    @classmethod
    def exactly(cls, version: int) -> VersionMatch:
        """Matches *version* only (a single strong ETag)."""
        return cls(frozenset((version,)))

    def matches(self, current: int | None) -> bool:
        """True when the resource at version *current* (None: it does not exist) satisfies this."""
        if current is None:
            return False
        return self.any or current in self.versions

    def describe(self) -> str:
        """The precondition as a user reads it (for error messages)."""
        if self.any:
            return "any version"
        if not self.versions:
            return "no version of this resource"
        return "version " + " or ".join(str(v) for v in sorted(self.versions))


#: What a write passes when the client sent no ``If-Match``: no precondition.
Precondition = VersionMatch | int | None


def as_match(precondition: Precondition) -> VersionMatch | None:
    """Normalise the store's ``if_version`` argument: an int is one exact version."""
    if precondition is None or isinstance(precondition, VersionMatch):
        return precondition
    return VersionMatch.exactly(int(precondition))
