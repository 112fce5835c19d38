"""Real ASAP fixtures and ASAP's own outputs for them (tests/data/asap, see its SOURCES.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

ASAP_DATA = Path(__file__).parent / "data" / "asap"
REAL = ASAP_DATA / "real"
ORACLE = ASAP_DATA / "oracle"
STEMS = sorted(p.stem for p in REAL.glob("*.xml"))
#: Files made from real ones to show one ASAP behaviour each, with ASAP's own outputs (derived/SOURCES.md).
DERIVED = ASAP_DATA / "derived"
DERIVED_ORACLE = DERIVED / "oracle"

_FIELD = re.compile(r'(\w+)=("[^"]*"|\S+)')


def real_file(stem: str) -> Path:
    """The real fixture ``<stem>.xml``."""
    return REAL / f"{stem}.xml"


def saved_bytes(stem: str) -> bytes:
    """The bytes ASAP writes on saving what it loaded from ``<stem>.xml``.

    Only stored where they differ from the input; for the other fixtures ASAP's saved.xml is
    byte-identical to the input (checked when the fixtures were copied, see SOURCES.md).
    """
    saved = ORACLE / stem / "saved.xml"
    return (saved if saved.exists() else real_file(stem)).read_bytes()


@dataclass
class Loaded:
    """What ASAP's XmlRepository loaded, from ``oracle/<stem>/load.txt``: one dict of raw strings per item."""

    groups: list[dict[str, str]] = field(default_factory=list)
    annotations: list[dict[str, str]] = field(default_factory=list)
    header: dict[str, str] = field(default_factory=dict)


def derived_file(stem: str) -> Path:
    """The derived fixture ``derived/<stem>.xml``."""
    return DERIVED / f"{stem}.xml"


def derived_saved_bytes(stem: str) -> bytes:
    """The bytes ASAP writes on saving what it loaded from ``derived/<stem>.xml`` (stored only where
    they differ from the input)."""
    saved = DERIVED_ORACLE / stem / "saved.xml"
    return (saved if saved.exists() else derived_file(stem)).read_bytes()


def load_txt(stem: str, oracle: Path = ORACLE) -> Loaded:
    """Parse ``<oracle>/<stem>/load.txt`` (values stay strings; quoted ones are unquoted)."""
    loaded = Loaded()
    for line in (oracle / stem / "load.txt").read_text(encoding="utf-8").splitlines():
        if line.startswith(("G[", "A[")):
            item = {k: v[1:-1] if v.startswith('"') else v for k, v in _FIELD.findall(line)}
            (loaded.groups if line[0] == "G" else loaded.annotations).append(item)
        elif ": " in line:
            key, value = line.split(": ", 1)
            loaded.header[key] = value
    return loaded
