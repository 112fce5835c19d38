"""Import rules of ARCHITECTURE.md: domain modules never import Flask; one owner per heavy library;
nothing opens a slide or a database at import time."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

from viewer.slides import SLIDE_EXTENSIONS

PACKAGE = Path(__file__).parent.parent / "viewer"
WEB_LAYER = {"app.py", "server.py", "__main__.py", "wsgi.py"}
WEB_PACKAGES = ("web/", "cli/")  # every module of these packages
OWNERS = {
    "openslide": {"slides/"},  # a name ending in "/" owns every module of that package
    "lxml": {"annotations/xmlsafe.py"},
    "fastnumbers": {"annotations/asap/fast_blocks.py"},  # the ASAP reader's fast path
    "shapely": {"annotations/geometry.py", "annotations/measures.py",  # one and many annotations
                "overlays/contours.py"},  # heatmap regions: simplified with their holes
    "contourpy": {"overlays/contours.py"},
    # the set summary: decoding many documents at once, encoding thousands of records
    "orjson": {"store/documents.py", "annotations/summary.py"},
    "sqlalchemy": {"store/"},
    "alembic": {"store/"},
    "gunicorn": {"server.py", "gthread_worker.py"},
    # the HTTP bodies; the domain model stays stdlib
    "pydantic": {"web/schemas.py", "web/overlay_schemas.py"},
}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def modules() -> list[tuple[str, set[str]]]:
    return [(p.relative_to(PACKAGE).as_posix(), imports_of(p)) for p in sorted(PACKAGE.rglob("*.py"))]


def test_domain_modules_do_not_import_flask() -> None:
    for rel, names in modules():
        if rel.startswith(WEB_PACKAGES) or rel in WEB_LAYER:
            continue
        assert not names & {"flask", "werkzeug"}, rel


def test_one_owner_per_heavy_library() -> None:
    for rel, names in modules():
        if rel.startswith("migrations/"):
            continue
        for library, owners in OWNERS.items():
            if library in names:
                owned = rel in owners or any(o.endswith("/") and rel.startswith(o) for o in owners)
                assert owned, f"{rel} imports {library}; only {owners} may"


def test_model_is_stdlib_only() -> None:
    allowed = set(sys.stdlib_module_names) | {"viewer"}
    names = imports_of(PACKAGE / "annotations" / "model.py")
    assert names <= allowed, names - allowed


# Run in a fresh interpreter: import the domain modules one by one (noting the first after which
# Flask or Werkzeug is loaded), then every other module; report what the process then holds.
_IMPORT_PROBE = """
import gc, importlib, json, os, sys
domain, others = json.loads(sys.argv[1])
flask_after = None
for name in domain:
    importlib.import_module(name)
    if flask_after is None and ({"flask", "werkzeug"} & set(sys.modules)):
        flask_after = name
for name in others:
    importlib.import_module(name)
import openslide
slides = [repr(o) for o in gc.get_objects() if isinstance(o, openslide.AbstractSlide)]
fds = {}
for fd in os.listdir("/proc/self/fd"):
    try:
        fds[fd] = os.readlink("/proc/self/fd/" + fd)
    except OSError:
        pass  # the descriptor listdir used, closed by now
print(json.dumps({"flask_after": flask_after, "slides": slides, "fds": fds}))
"""


def importable_modules() -> tuple[list[str], list[str]]:
    """Every module of the package (domain first, then the web layer), as dotted names.

    Directories without ``__init__.py`` and Alembic's ``migrations`` hold scripts, not modules;
    ``__main__`` runs the CLI.
    """
    domain, web = [], []
    for rel, _ in modules():
        parts = rel.removesuffix(".py").split("/")
        if parts[-1] == "__main__" or "migrations" in parts[:-1]:
            continue
        if not all((PACKAGE.joinpath(*parts[:i]) / "__init__.py").exists() for i in range(len(parts))):
            continue
        name = ".".join(["viewer", *parts]).removesuffix(".__init__")
        (web if rel.startswith(WEB_PACKAGES) or rel in WEB_LAYER else domain).append(name)
    return domain, web


def test_importing_every_module_opens_nothing(slide_dir: Path, tmp_path: Path) -> None:
    """No module opens a slide, a database, a socket or a file of the data dir at import, and the
    domain imports without Flask or Werkzeug (directly or through another module).

    The settings point at real slides and a writable data dir, so that a module which did open
    something at import would find it there.
    """
    domain, web = importable_modules()
    assert {"viewer.slides", "viewer.store", "viewer.jobs", "viewer.annotations.asap"} <= set(domain)
    assert {"viewer.app", "viewer.cli", "viewer.web.tiles"} <= set(web)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    root = PACKAGE.parent
    env = {**os.environ, "WSI_VIEWER_SLIDE_DIR": str(slide_dir), "WSI_VIEWER_DATA_DIR": str(data_dir),
           "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-c", _IMPORT_PROBE, json.dumps([domain, web])], cwd=root,
                          env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.splitlines()[-1])
    assert found["flask_after"] is None, f"importing {found['flask_after']} imported Flask or Werkzeug"
    assert found["slides"] == [], f"open slides after importing every module: {found['slides']}"
    opened = {
        fd: target for fd, target in found["fds"].items()
        if target.startswith("socket:") or ".sqlite3" in target
        or os.path.splitext(target)[1].lower() in SLIDE_EXTENSIONS
        or target.startswith((str(slide_dir.resolve()), str(data_dir.resolve())))
    }
    assert opened == {}, f"descriptors open after importing every module: {opened}"
