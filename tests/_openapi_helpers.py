"""Walking the OpenAPI document's operations with the placeholders of their paths filled in."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

WRITES = ("post", "put", "patch", "delete")


def write_operations(spec: Mapping[str, Any], ids: Mapping[str, str]) -> Iterator[tuple[str, str, str]]:
    """(method, path template, URL) of every write operation; ``{name}`` becomes ``ids[name]`` (else 1)."""
    for path, item in spec["paths"].items():
        for method in WRITES:
            if method in item:
                yield method, path, re.sub(r"\{(\w+)\}", lambda m: ids.get(m[1], "1"), path)
