"""A plain (non-editable) wheel carries static/ and templates/, and an app built from the installed
wheel, outside the checkout, serves pages and static files."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_wheel_contains_static_and_templates_and_serves_from_them(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(ROOT)],
        check=True, timeout=600, capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("wsi_viewer-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for template in (ROOT / "templates").rglob("*.html"):
        assert "viewer/templates/" + template.relative_to(ROOT / "templates").as_posix() in names
    for asset in (ROOT / "static").rglob("*"):
        if asset.is_file():
            assert "viewer/static/" + asset.relative_to(ROOT / "static").as_posix() in names
    assert any(n.startswith("wsi_viewer-") and n.endswith("entry_points.txt") for n in names)
    # the store's Alembic environment and revisions (read as files by Alembic, not only imported)
    migrations = ROOT / "viewer" / "store" / "migrations"
    for script in [*migrations.glob("*.py"), *migrations.glob("*.mako"), *migrations.glob("versions/*.py")]:
        assert script.relative_to(ROOT).as_posix() in names, script

    # Install the wheel alone into a target dir and run it from elsewhere (dependencies from this env).
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                    str(wheel)],
                   check=True, timeout=600, capture_output=True)
    code = (
        "import viewer.app, viewer.store, pathlib, sys\n"
        f"assert pathlib.Path(viewer.app.__file__).is_relative_to({str(target)!r}), viewer.app.__file__\n"
        f"app = viewer.app.create_app({{'SLIDE_DIR': {str(ROOT / 'tests/data/slides')!r}, "
        f"'DATA_DIR': {str(tmp_path / 'data')!r}}})\n"
        "c = app.test_client()\n"
        "r = c.get('/'); assert r.status_code == 200 and b'<html' in r.data, r.status_code\n"
        "assert app.static_folder.startswith(" + repr(str(target)) + "), app.static_folder\n"
        "assert c.get('/view/aperio/small.svs').status_code == 200\n"
        # a store created from the installed wheel runs the revisions shipped in it
        "import viewer.store.migrate as migrate\n"
        f"assert migrate.SCRIPTS.is_relative_to({str(target)!r}), migrate.SCRIPTS\n"
        f"store = viewer.store.Store('sqlite:///{tmp_path / 'store.sqlite3'}')\n"
        "assert store.schema_version == viewer.store.SCHEMA_VERSION; store.close()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120, cwd=tmp_path,
                   env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"})
