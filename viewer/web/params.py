"""Query-string and header parameters, each described once: the same object parses the request
(ASCII digits only, bounds checked, a precise 400) and describes itself in the OpenAPI document.

Parsing is hand-written on purpose: a viewport GET reads ``bbox``, ``simplify`` and ``version``
on every pan, and these parsers cost a regular expression each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from flask import request

from viewer.errors import InvalidInputError
from viewer.web.security import ascii_float, ascii_int

MAX_INT = 2**31 - 1  # ids and versions beyond the database's integers name nothing


@dataclass(frozen=True)
class IntQuery:
    """An integer query parameter from *low* to *high* (ASCII digits)."""

    name: str
    description: str
    low: int = 0
    high: int = MAX_INT
    default: int | None = None
    required: bool = False

    def get(self) -> int | None:
        """The value in the current request (*default* when absent or empty).

        :raises InvalidInputError: not ASCII digits, or out of range.
        """
        raw = request.args.get(self.name)
        if raw is None or raw == "":
            if self.required:
                raise InvalidInputError(f"{self.name} is required ({self.description})")
            return self.default
        value = ascii_int(raw)
        if value is None or not self.low <= value <= self.high:
            raise InvalidInputError(
                f"{self.name} must be an integer from {self.low} to {self.high} (ASCII digits)"
            )
        return value

    def openapi(self) -> dict[str, Any]:
        """The parameter object of the OpenAPI document."""
        schema: dict[str, Any] = {"type": "integer", "minimum": self.low, "maximum": self.high}
        if self.default is not None:
            schema["default"] = self.default
        return _parameter(self.name, "query", self.description, schema, self.required)


@dataclass(frozen=True)
class TextQuery:
    """A free-text (or one-of-*choices*) query parameter; the route interprets it."""

    name: str
    description: str
    choices: tuple[str, ...] = ()
    default: str | None = None
    pattern: str | None = None

    def get(self) -> str | None:
        """The raw value (*default* when absent).

        :raises InvalidInputError: not one of *choices* (when given).
        """
        value = request.args.get(self.name, self.default)
        if self.choices and value is not None and value not in self.choices:
            listed = f"{', '.join(self.choices[:-1])} or {self.choices[-1]}"
            raise InvalidInputError(f"{self.name} must be {listed}")
        return value

    def openapi(self) -> dict[str, Any]:
        """The parameter object of the OpenAPI document."""
        schema: dict[str, Any] = {"type": "string"}
        if self.choices:
            schema["enum"] = list(self.choices)
        if self.default is not None:
            schema["default"] = self.default
        if self.pattern:
            schema["pattern"] = self.pattern
        return _parameter(self.name, "query", self.description, schema, False)


@dataclass(frozen=True)
class ToleranceQuery:
    """A non-negative length in slide px (``simplify``)."""

    name: str
    description: str
    high: float = 1e7

    def get(self) -> float:
        """The value (0 when absent).

        :raises InvalidInputError: not a plain ASCII decimal from 0 to *high*.
        """
        raw = request.args.get(self.name)
        if raw is None or raw == "":
            return 0.0
        value = ascii_float(raw)
        if value is None:
            raise InvalidInputError(f"{self.name} must be a number of px (>= 0)")
        if not math.isfinite(value) or value < 0 or value > self.high:
            raise InvalidInputError(f"{self.name} must be a number of px from 0 to {self.high:g}")
        return value

    def openapi(self) -> dict[str, Any]:
        """The parameter object of the OpenAPI document."""
        schema = {"type": "number", "minimum": 0, "maximum": self.high}
        return _parameter(self.name, "query", self.description, schema, False)


@dataclass(frozen=True)
class BoxQuery:
    """A box ``x0,y0,x1,y1`` in slide px with x0 <= x1 and y0 <= y1."""

    name: str
    description: str

    def get(self) -> tuple[float, float, float, float] | None:
        """The box (None when absent).

        :raises InvalidInputError: not four finite ASCII decimals in order.
        """
        raw = request.args.get(self.name)
        if raw is None:
            return None
        parsed = [ascii_float(p) for p in raw.split(",")]
        values = [v for v in parsed if v is not None]
        if (
            len(values) != 4
            or len(parsed) != 4
            or not all(math.isfinite(v) for v in values)
            or values[0] > values[2]
            or values[1] > values[3]
        ):
            raise InvalidInputError(
                f"{self.name} must be x0,y0,x1,y1 in slide px with x0 <= x1 and y0 <= y1"
            )
        return (values[0], values[1], values[2], values[3])

    def openapi(self) -> dict[str, Any]:
        """The parameter object of the OpenAPI document."""
        number = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
        schema = {"type": "string", "pattern": f"^{number}(?:,{number}){{3}}$"}
        return _parameter(self.name, "query", self.description, schema, False)


@dataclass(frozen=True)
class Header:
    """A request header a route reads (its parser lives where it is used)."""

    name: str
    description: str
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})

    def openapi(self) -> dict[str, Any]:
        """The parameter object of the OpenAPI document."""
        return _parameter(self.name, "header", self.description, self.schema, False)


def _parameter(
    name: str, where: str, description: str, schema: dict[str, Any], required: bool
) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required, "description": description, "schema": schema}


Parameter = IntQuery | TextQuery | ToleranceQuery | BoxQuery | Header

# Parameters several routes share.
VERSION = IntQuery("version", "A past version of the set (default: the current one).")
IF_MATCH = Header(
    "If-Match",
    'The ETag(s) of the version the client edited, e.g. "12" or "12", "13"; * matches any existing '
    "version. Strong comparison: a weak or stale tag is a 412 with the current state; absent: "
    "unconditional.",
)
IF_NONE_MATCH = Header(
    "If-None-Match",
    "The ETag(s) of the client's copy (weak comparison) or *: 304 when it is current.",
)
X_USER = Header("X-User", "Who makes the change (recorded in the history); default anonymous.")
IDEMPOTENCY_KEY = Header(
    "Idempotency-Key",
    "A key naming this one request (a UUID, 1-200 printable ASCII characters): sent again with the "
    "same request, the write is not applied again and the stored answer comes back (same status, body "
    "and ETag, plus Idempotent-Replayed: true); the same key with another request is a 422. Kept for "
    "IDEMPOTENCY_RETENTION_S.",
)
