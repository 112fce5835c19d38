"""Safe id → path containment: which ids can name a slide at all, and which paths lie inside the
slide root once every symlink is resolved.

A lookup only ever returns a path the scan found under the root, so every path trick in an id
(``..``, absolute paths, backslashes, NUL, empty parts) is an unknown id; these checks refuse the
obvious ones before any lookup and keep links from leading outside the root.
"""

from __future__ import annotations

from pathlib import Path


def plausible_id(slide_id: str) -> bool:
    """True if *slide_id* is a relative POSIX path without empty, ``.`` or ``..`` parts."""
    if not slide_id or "\0" in slide_id or "\\" in slide_id or slide_id.startswith("/"):
        return False
    return all(part not in ("", ".", "..") for part in slide_id.split("/"))


def inside_root(root: Path, path: Path) -> bool:
    """True if *path*, all links resolved, is *root* (already resolved) or below it."""
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return False
    return real == root or root in real.parents
