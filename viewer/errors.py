"""The exception tree of the domain. No Flask here: ``viewer/web/errors.py`` maps each class to an
HTTP status in one table, and the CLI prints the message and exits with status 2.

::

    ViewerError                      every error we raise on purpose; .message, .details
    ├── ConfigError                  a bad setting (CLI / config file / environment)
    ├── NotFoundError                404: nothing at this address
    │   ├── SlideNotFoundError       unknown id, path outside the slide root, not a slide
    │   ├── TileNotFoundError        level / column / row outside the Deep Zoom grid
    │   ├── OverlayNotFoundError     unknown overlay id
    │   └── AssociatedImageNotFoundError
    ├── InvalidInputError            400/422: input that cannot be used, with every problem listed
    │   ├── AnnotationFormatError    malformed or hostile annotation file (XML, GeoJSON)
    │   └── ValidationError          a well-formed model that breaks the model's rules
    │       └── OverlayFormatError   422: an overlay source that cannot be used (dtype, NaN, ratio, ...)
    ├── InputTooLargeError           413: over a size limit
    ├── SlideUnreadableError         422: the file exists but OpenSlide cannot read it
    ├── ForbiddenError               403: a setting forbids this (e.g. associated images off)
    ├── AuthenticationError          401: no (valid) credentials: log in, or send a token
    ├── ThrottledError               429: too many failed logins; .retry_after seconds
    ├── UnavailableError             503: a backing service (the database) is down or busy; retry
    └── ConflictError                409: the thing changed since the client read it
        └── PreconditionFailedError  412: If-Match names a stale version; .current holds the latest
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class ViewerError(Exception):
    """Base of every error raised on purpose; *message* is safe to show to a user."""

    def __init__(self, message: str, details: Sequence[Any] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.details = list(details)


class ConfigError(ViewerError):
    """A setting has an unknown name or a value of the wrong type."""


class NotFoundError(ViewerError):
    """Nothing exists at the requested address."""


class SlideNotFoundError(NotFoundError):
    """The slide id names no slide under the slide root (including every path trick)."""


class TileNotFoundError(NotFoundError):
    """The Deep Zoom level, column or row is outside the slide's grid."""


class OverlayNotFoundError(NotFoundError):
    """No overlay has this id (or it was removed)."""


class AssociatedImageNotFoundError(NotFoundError):
    """The slide has no associated image of that name."""


class InvalidInputError(ViewerError):
    """Input that cannot be used; ``details`` lists every problem found."""


class AnnotationFormatError(InvalidInputError):
    """A malformed, unsupported or hostile annotation file."""


class ValidationError(InvalidInputError):
    """A well-formed document whose content breaks the model's rules."""


class OverlayFormatError(ValidationError):
    """An overlay source (TIFF, .npy, PNG, CSV) that cannot be used: truncated, unsupported dtype or
    channel count, NaNs, a bad CSV cell, a size ratio fitting no downsample, an unknown extension."""


class InputTooLargeError(ViewerError):
    """The input is over a configured size limit."""


class SlideUnreadableError(ViewerError):
    """The slide file exists but cannot be read (corrupt, truncated, unsupported)."""


class ForbiddenError(ViewerError):
    """A setting forbids this request."""


class AuthenticationError(ViewerError):
    """The request carries no valid credentials (wrong password, expired session, revoked token)."""


class ThrottledError(ViewerError):
    """Too many failed logins for this name from this address; ``retry_after`` seconds to wait."""

    def __init__(self, message: str, retry_after: int, details: Sequence[Any] = ()) -> None:
        super().__init__(message, details)
        self.retry_after = retry_after


class UnavailableError(ViewerError):
    """A backing service (the annotation database) cannot be reached or is busy; the client may retry."""


class ConflictError(ViewerError):
    """The resource changed since the client last read it."""


class PreconditionFailedError(ConflictError):
    """An ``If-Match`` version is stale; ``current`` carries the current object for the client."""

    def __init__(self, message: str, current: Any = None, details: Sequence[Any] = ()) -> None:
        super().__init__(message, details)
        self.current = current
