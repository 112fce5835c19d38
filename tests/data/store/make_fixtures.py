"""Write the store's upgrade fixtures with the store code of one commit (README.md beside this file).

    .venv/bin/python tests/data/store/make_fixtures.py [--commit SHA]

needs git (the old code is read from the repository's history) and, for the PostgreSQL dump, the
test server of ``WSI_VIEWER_TEST_DATABASE_URL`` and ``pg_dump``. The ``viewer`` package of
``--commit`` is extracted (``git archive``) into a temporary directory, and a child Python imports
it from there instead of the checkout: the fixtures are written, and read back for
``expected.json``, by that code alone, its own migration runner included. Nothing of the work tree
is touched but the files of this folder.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
REAL = REPO / "tests" / "data" / "asap" / "real"
#: The last commit of the in-house migration runner (viewer/store.py with _MIGRATIONS).
COMMIT = "70bdb2bcd235f28873a6b07d3a20da67337d1023"
#: Sidecar paths are stored absolute: a fixed folder makes them the same at every regeneration.
SCRATCH = Path(tempfile.gettempdir()) / "wsi-viewer-store-fixtures"
PG_SCHEMA = "wsi_store_fixture"
PG_DUMP = "postgresql-schema-{version}.sql"


def sqlite_name(version: int) -> str:
    return f"sqlite-schema-{version}.sqlite3"


# --------------------------------------------------------------------------------------------------
# Run by the child, with the old ``viewer`` first on sys.path


def build_content(store: Any, slide_root: Path) -> None:
    """The same content at every schema version: real CAMELYON annotations, edits by several users,
    a group rename, deletes, a restore, a second layer, a sidecar-bound set edited on both sides, a
    broken sidecar, a slide renamed on disk, and a slide without sets."""
    from viewer.annotations.asap import read_asap, write_asap
    from viewer.annotations.model import Annotation, AnnotationSet, Group

    def square(x: float, y: float, size: float, name: str, group: str | None = None) -> Annotation:
        return Annotation(name, "Polygon", group, "#F4FA58",
                          [(x, y), (x + size, y), (x + size, y + size), (x, y + size)])

    # 1. CAMELYON16 tumor_111 uploaded as a set, then edited by several people.
    slide = store.open_slide("camelyon16/tumor_111.tif", None, "qh-tumor_111")
    uploaded = read_asap((REAL / "tumor_111.xml").read_bytes())
    set_id = store.create_set(slide, "tumor_111.xml", "alice", uploaded, message="imported upload").info.id
    state = store.state(set_id)
    first = state.annotations[0]
    moved = Annotation(first.annotation.name, first.annotation.type, first.annotation.group,
                       first.annotation.color,
                       [(x + 12.5, y - 3.25) for x, y in first.annotation.coordinates])
    store.update_annotation(set_id, first.id, moved, "bob", if_version=first.version)
    store.create_annotation(
        set_id,
        Annotation("margin", "Dot", "tissue", "#F4FA58", [(51234.5, 117890.25)],
                   comment="check the margin\nZoë"),
        "carol",
    )
    store.delete_annotation(set_id, state.annotations[3].id, "dave")
    after_delete = store.set_info(set_id).version
    artifact = next(g for g in state.groups if g.group.name == "artifact")
    store.update_group(set_id, artifact.id, Group("artefact", None, "#ff8800", {"reviewed": "yes"}), "erin",
                       if_version=artifact.version)
    empty = store.create_group(set_id, Group("scratch"), "erin")
    store.delete_group(set_id, empty.group.id, "erin")
    store.rename_set(set_id, "tumor_111 (reviewed)", "alice")
    store.restore(set_id, after_delete, "Zoë Ünicode")
    store.delete_annotation(set_id, store.state(set_id).annotations[-1].id, "dave")

    # 2. A second layer on the same slide.
    layer = store.create_set(
        slide, "layer 2", "bob",
        AnnotationSet([square(40000 + 600 * i, 110000, 400, f"roi {i}", "roi") for i in range(6)],
                      [Group("roi")]),
    ).info.id
    store.replace(layer, AnnotationSet([square(40000, 110000, 800, "roi 0", "roi")], [Group("roi")]), "frank")

    # 3. A CAMELYON layout with its ASAP sidecar (images/ and annotations/), written back and edited on disk.
    (slide_root / "images").mkdir(parents=True)
    (slide_root / "annotations").mkdir()
    camelyon = slide_root / "images" / "tumor_031.tif"
    camelyon.write_bytes(b"a slide, as far as the store is concerned")
    sidecar = slide_root / "annotations" / "tumor_031.xml"
    sidecar.write_bytes((REAL / "tumor_031.xml").read_bytes())
    bound_slide = store.open_slide("images/tumor_031.tif", camelyon, "qh-tumor_031")
    (bound,) = store.list_sets(bound_slide)
    a = store.state(bound.id).annotations[1]
    recoloured = Annotation(a.annotation.name, a.annotation.type, a.annotation.group, "#123456",
                            a.annotation.coordinates)
    store.update_annotation(bound.id, a.id, recoloured, "grace")
    on_disk = read_asap(sidecar.read_bytes())
    on_disk.annotations[0].name = "edited in ASAP"
    sidecar.write_bytes(write_asap(on_disk))
    os.utime(sidecar, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    store.state(bound.id)  # notices the edit: a sidecar-import change

    # 4. A sidecar that cannot be imported (kept on the slide as its error).
    broken = slide_root / "broken.tif"
    broken.write_bytes(b"x")
    (slide_root / "broken.xml").write_bytes(b"<ASAP_Annotations><Annotations><Annotation Name=")
    store.open_slide("broken.tif", broken, "qh-broken")

    # 5. A slide renamed on disk keeps its annotations (found again by its quickhash).
    old = store.open_slide("old/name.svs", None, "qh-renamed")
    store.create_set(old, "mine", "heidi", AnnotationSet([square(10, 10, 5, "renamed")]))
    store.open_slide("new/name.svs", None, "qh-renamed", known_keys=["new/name.svs"])

    # 6. A slide used but without sets (a first save creates one).
    store.open_slide("empty.svs", None, "qh-empty")


def make_store(url: str, version: int | None, slide_root: Path) -> Any:
    from viewer.store import Store

    return Store(url, target_version=version, slide_root=slide_root, sidecar_writeback=True)


def summary_of(url: str, version: int | None, slide_root: Path) -> dict[str, Any]:
    from tests._store_fixtures import summarize

    store = make_store(url, version, slide_root)
    try:
        out = summarize(store)
        out["schema_version"] = store.schema_version
        return out
    finally:
        store.close()


def write_sqlite(version: int, work: Path) -> dict[str, Any]:
    from viewer.store import SCHEMA_VERSION

    slide_root = SCRATCH / f"sqlite-{version}" / "slides"
    database = work / sqlite_name(version)
    url = f"sqlite:///{database}"
    store = make_store(url, version, slide_root)
    try:
        assert store.schema_version == version
        build_content(store, slide_root)
    finally:
        store.close()
    entry: dict[str, Any] = {"schema_version": version, "stored": summary_of(url, version, slide_root)}
    if version < SCHEMA_VERSION:  # what the old runner made of it
        upgraded = work / f"upgraded-{version}.sqlite3"
        shutil.copyfile(database, upgraded)
        entry["upgraded_by_its_code"] = summary_of(f"sqlite:///{upgraded}", None, slide_root)
    assert not Path(f"{database}-wal").exists(), "the database was not checkpointed on close"
    shutil.copyfile(database, HERE / sqlite_name(version))
    return entry


def write_postgresql(base_url: str) -> dict[str, Any]:
    import psycopg

    from viewer.store import SCHEMA_VERSION, database_url

    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE")
        conn.execute(f"CREATE SCHEMA {PG_SCHEMA}")
    try:
        sep = "&" if "?" in base_url else "?"
        url = database_url(f"{base_url}{sep}options=-csearch_path%3D{PG_SCHEMA}", SCRATCH)
        slide_root = SCRATCH / "postgresql" / "slides"
        store = make_store(url, None, slide_root)
        try:
            build_content(store, slide_root)
        finally:
            store.close()
        entry = {"schema_version": SCHEMA_VERSION, "stored": summary_of(url, None, slide_root)}
        dump = subprocess.run(
            ["pg_dump", "--dbname", base_url, "--schema", PG_SCHEMA, "--inserts", "--no-owner",
             "--no-privileges"],
            check=True, capture_output=True, text=True, timeout=120,
        ).stdout
        # pg_dump >= 15.14 brackets its output in psql's \restrict ... \unrestrict: drop them, so
        # any client (psycopg, psql) loads the plain SQL.
        lines = [line for line in dump.splitlines() if not line.startswith(("\\restrict", "\\unrestrict"))]
        (HERE / PG_DUMP.format(version=SCHEMA_VERSION)).write_text("\n".join(lines) + "\n", encoding="utf-8")
        return entry
    finally:
        with psycopg.connect(base_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE")


def worker(old_tree: Path, commit: str, pg_url: str | None) -> None:
    import viewer.store

    assert Path(viewer.store.__file__).is_relative_to(old_tree), viewer.store.__file__
    from viewer.store import SCHEMA_VERSION

    shutil.rmtree(SCRATCH, ignore_errors=True)
    fixtures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as work:
        for version in range(1, SCHEMA_VERSION + 1):
            fixtures[sqlite_name(version)] = write_sqlite(version, Path(work))
    if pg_url:
        fixtures[PG_DUMP.format(version=SCHEMA_VERSION)] = write_postgresql(pg_url)
    shutil.rmtree(SCRATCH, ignore_errors=True)
    expected = {
        "written_by": {
            "commit": commit,
            "code": "viewer/ of that commit (viewer/store.py: _MIGRATIONS, SCHEMA_VERSION "
                    f"{SCHEMA_VERSION}), extracted with git archive",
            "script": "tests/data/store/make_fixtures.py",
            "postgresql_schema_in_dump": PG_SCHEMA,
            "sidecar_root": str(SCRATCH),
        },
        "fixtures": fixtures,
    }
    text = json.dumps(expected, indent=1, sort_keys=True) + "\n"
    (HERE / "expected.json").write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commit", default=COMMIT, help="the commit whose store code writes the fixtures")
    parser.add_argument("--worker", metavar="OLD_TREE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    pg_url = os.environ.get("WSI_VIEWER_TEST_DATABASE_URL")
    if args.worker:
        worker(Path(args.worker), args.commit, pg_url)
        return
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", args.commit], check=True,
                            capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "viewer.tar"
        subprocess.run(["git", "-C", str(REPO), "archive", "-o", str(archive), commit, "viewer"], check=True)
        old_tree = Path(tmp) / "old"
        with tarfile.open(archive) as tar:
            tar.extractall(old_tree, filter="data")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(old_tree), str(REPO)])}
        subprocess.run([sys.executable, __file__, "--commit", commit, "--worker", str(old_tree)],
                       check=True, env=env, cwd=tmp)
    if not pg_url:
        print("WSI_VIEWER_TEST_DATABASE_URL is not set: no PostgreSQL dump written", file=sys.stderr)


if __name__ == "__main__":
    main()
