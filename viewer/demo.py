"""The built-in demo: a generated CAMELYON-like slide in the data directory (placeholder)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


def demo_dir(data_dir: Path) -> Path:
    """The slide directory of the demo."""
    return data_dir / "demo"


def ensure_demo(data_dir: Path, progress: Callable[[str], None] | None = None) -> Path:
    """Generate the demo slide once; return the demo slide directory."""
    path = demo_dir(data_dir)
    path.mkdir(parents=True, exist_ok=True)
    return path
