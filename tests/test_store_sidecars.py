"""Sidecars and the slide root, on SQLite and PostgreSQL: a ``<stem>.xml`` (or a folder on its way)
that links outside the slide root and the annotation directory is never read, imported or written;
a set is named after the link, not its target; errors name files relative to the roots; the store's
start sweeps what killed writers left beside the sidecars it knows."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests._server import running_server
from tests._store_helpers import ENGINES, database_setting
from viewer.annotations.asap import read_asap, write_asap
from viewer.annotations.model import Annotation
from viewer.atomicfile import LEFTOVER_MIN_AGE_S
from viewer.store import Store, database_url

REAL = Path(__file__).parent / "data" / "asap" / "real"
SLIDE = Path(__file__).parent / "data" / "slides" / "aperio" / "CMU-1-Small-Region.svs"


@pytest.fixture(params=ENGINES)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database_setting(request.param, tmp_path) as setting:
        yield database_url(setting, tmp_path)


def square(name: str) -> Annotation:
    return Annotation(name, "Polygon", None, "#F4FA58", [(0, 0), (10, 0), (10, 10), (0, 10)])


def layout(tmp_path: Path) -> tuple[Path, Path]:
    """A slide root with a slide in a subfolder, and a folder outside it holding a valid ASAP file."""
    root = tmp_path / "slides"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "case.tif").write_bytes(b"not really a slide")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.xml").write_bytes((REAL / "tumor_111.xml").read_bytes())
    return root, outside


def test_a_sidecar_link_leaving_the_root_is_ignored(db: str, tmp_path: Path) -> None:
    root, outside = layout(tmp_path)
    secret = outside / "secret.xml"
    before = secret.read_bytes()
    (root / "sub" / "case.xml").symlink_to(secret)
    # an annotation directory outside the slide root is a root of its own; links out of it are not
    annotation_dir = tmp_path / "annotation-dir"
    annotation_dir.mkdir()
    (annotation_dir / "other.xml").symlink_to(secret)
    (annotation_dir / "sub").symlink_to(outside, target_is_directory=True)  # a folder on the way out
    (root / "sub" / "secret.tif").write_bytes(b"x")
    (root / "other.tif").write_bytes(b"x")
    (root / "own.tif").write_bytes(b"x")
    (annotation_dir / "own.xml").write_bytes((REAL / "tumor_031.xml").read_bytes())
    store = Store(db, slide_root=root, annotation_dir=annotation_dir, sidecar_writeback=True)
    try:
        for key in ("sub/case.tif", "sub/secret.tif", "other.tif"):
            sid = store.open_slide(key, root / key, None)
            assert store.list_sets(sid) == [] and store.slide_error(sid) is None, key  # as if none
        (own,) = store.list_sets(store.open_slide("own.tif", root / "own.tif", None))
        assert own.annotation_count == len(read_asap(REAL / "tumor_031.xml").annotations)
        assert secret.read_bytes() == before
    finally:
        store.close()


def test_a_link_inside_the_root_names_the_set_after_itself_and_write_back_keeps_it(
    db: str, tmp_path: Path
) -> None:
    root, _outside = layout(tmp_path)
    shared = root / "shared"
    shared.mkdir()
    target = shared / "reader-1-final.xml"
    target.write_bytes((REAL / "tumor_111.xml").read_bytes())
    link = root / "sub" / "case.xml"
    link.symlink_to(Path("..") / "shared" / target.name)
    store = Store(db, slide_root=root, sidecar_writeback=True)
    try:
        (info,) = store.list_sets(store.open_slide("sub/case.tif", root / "sub" / "case.tif", None))
        assert info.name == "case.xml" and Path(info.sidecar_path or "").name == "case.xml"
        assert store.history(info.id)[0].message == "imported case.xml"
        assert store.create_annotation(info.id, square("kept"), "web").sidecar_error is None
        assert link.is_symlink()  # written through the link, into the file it names
        assert read_asap(target).annotations[-1].name == "kept"
    finally:
        store.close()


def test_a_sidecar_relinked_outside_after_import_is_neither_read_nor_written(db: str, tmp_path: Path) -> None:
    root, outside = layout(tmp_path)
    secret = outside / "secret.xml"
    before = secret.read_bytes()
    sidecar = root / "sub" / "case.xml"
    sidecar.write_bytes((REAL / "tumor_031.xml").read_bytes())
    store = Store(db, slide_root=root, sidecar_writeback=True)
    try:
        (info,) = store.list_sets(store.open_slide("sub/case.tif", root / "sub" / "case.tif", None))
        count = info.annotation_count
        sidecar.unlink()
        sidecar.symlink_to(secret)  # someone with write access to the slide tree points it away
        state = store.state(info.id)
        assert len(state.annotations) == count  # the outside file was not imported
        assert state.info.sidecar_error == (
            "sub/case.xml changed on disk but cannot be imported: "
            "no longer a file inside the slide directory"
        )
        result = store.create_annotation(info.id, square("mine"), "web")
        assert result.change is not None and result.sidecar_error
        assert str(tmp_path) not in result.sidecar_error
        assert secret.read_bytes() == before and sidecar.is_symlink()
        assert [c.who for c in store.history(info.id)] == ["web", "sidecar"]
    finally:
        store.close()


def test_write_back_errors_name_the_file_relative_to_the_root(db: str, tmp_path: Path) -> None:
    root, _outside = layout(tmp_path)
    stem = "s" * 246 if os.geteuid() == 0 else "case"  # root ignores modes: a name too long instead
    (root / "sub" / f"{stem}.tif").write_bytes(b"x")
    (root / "sub" / f"{stem}.xml").write_bytes((REAL / "tumor_111.xml").read_bytes())
    if os.geteuid() != 0:
        (root / "sub").chmod(0o555)
    store = Store(db, slide_root=root, sidecar_writeback=True)
    try:
        (info,) = store.list_sets(store.open_slide(f"sub/{stem}.tif", root / "sub" / f"{stem}.tif", None))
        result = store.create_annotation(info.id, square("kept"), "web")
        reason = "File name too long" if os.geteuid() == 0 else "Permission denied"
        assert result.sidecar_error == f"could not write sub/{stem}.xml: {reason}"
        assert store.set_info(info.id).sidecar_error == result.sidecar_error
        assert store.list_sets(store.open_slide(f"sub/{stem}.tif"))[0].sidecar_error == result.sidecar_error
    finally:
        (root / "sub").chmod(0o755)
        store.close()


def test_read_errors_name_the_file_relative_to_the_root(db: str, tmp_path: Path) -> None:
    root, _outside = layout(tmp_path)
    annotations = tmp_path / "annotation-dir"
    (annotations / "sub").mkdir(parents=True)
    (annotations / "sub" / "case.xml").write_bytes(b"<ASAP_Annotations><Annotations><Annotation")
    store = Store(db, slide_root=root, annotation_dir=annotations)
    try:
        sid = store.open_slide("sub/case.tif", root / "sub" / "case.tif", None)
        error = store.slide_error(sid)
        assert error is not None and error.startswith("<ANNOTATION_DIR>/sub/case.xml: not well-formed XML")
        assert str(tmp_path) not in error
    finally:
        store.close()


_HOLDER = textwrap.dedent(
    """
    import fcntl, sys, time
    handle = open(sys.argv[1], "rb")
    fcntl.flock(handle, fcntl.LOCK_EX)
    print("locked", flush=True)
    sys.stdin.readline()
    """
)


def test_the_store_start_sweeps_leftovers_beside_known_sidecars(db: str, tmp_path: Path) -> None:
    root, _outside = layout(tmp_path)
    (root / "sub" / "case.xml").write_bytes((REAL / "tumor_111.xml").read_bytes())
    (root / "elsewhere").mkdir()
    store = Store(db, slide_root=root, sidecar_writeback=True)
    try:
        (info,) = store.list_sets(store.open_slide("sub/case.tif", root / "sub" / "case.tif", None))
    finally:
        store.close()
    old = time.time() - LEFTOVER_MIN_AGE_S * 2
    leftovers = {
        "sub/.case.xml.k1ll3d.tmp": True,  # a 29 MB write killed half-way: removed
        "sub/.case.xml.young1.tmp": False,  # may be a writer that has not locked it yet
        "sub/.case.xml.locked.tmp": False,  # a live writer (another worker) holds it
        "sub/.other.xml.k1ll3d.tmp": False,  # no set's sidecar
        "elsewhere/.case.xml.k1ll3d.tmp": False,  # not a folder any sidecar lives in
        # records of write-backs: one committed long ago (stale), one for the next version (pending)
        "sub/.case.xml.pending-change.json": True,
    }
    for name in leftovers:
        (root / name).write_bytes(b"x" * 1000)
        if "young" not in name:
            os.utime(root / name, (old, old))
    (root / "sub/.case.xml.pending-change.json").write_text(
        f'{{"set": {info.id}, "version": {info.version}, "sha256": "x"}}'
    )
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(root / "sub/.case.xml.locked.tmp")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        restarted = Store(db, slide_root=root, sidecar_writeback=True)
        try:
            restarted._sweeper.join(30)
            assert not restarted._sweeper.is_alive()
            left = {name for name in leftovers if (root / name).exists()}
            assert left == {name for name, gone in leftovers.items() if not gone}
            # a record of the next version (a save interrupted before its commit) is kept
            pending = root / "sub/.case.xml.pending-change.json"
            pending.write_text(f'{{"set": {info.id}, "version": {info.version + 1}, "sha256": "x"}}')
            assert restarted.sweep_sidecar_leftovers() == []
            assert pending.exists()
        finally:
            restarted.close()
    finally:
        holder.kill()
        holder.wait(30)
        for stream in (holder.stdin, holder.stdout):
            if stream is not None:
                stream.close()
    with open(root / "sub/.case.xml.locked.tmp", "rb") as handle:  # the holder's lock went with it
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_a_killed_write_back_leaves_no_temporary_file(db: str, tmp_path: Path) -> None:
    """A writer process killed in the middle of writing a large sidecar: nothing is left behind."""
    root, _outside = layout(tmp_path)
    sidecar = root / "sub" / "case.xml"
    sidecar.write_bytes((REAL / "tumor_039.xml").read_bytes())
    script = textwrap.dedent(
        """
        import os, signal, sys
        import viewer.atomicfile as atomicfile
        real_fsync = os.fsync
        def stop_here(fd):  # the whole file is written, not yet renamed: die now
            if os.fstat(fd).st_size > 1_000_000:
                os.kill(os.getpid(), signal.SIGKILL)
            real_fsync(fd)
        atomicfile.os.fsync = stop_here
        from viewer.store import Store
        from viewer.annotations.model import Annotation
        from pathlib import Path
        root = Path(sys.argv[2])
        store = Store(sys.argv[1], slide_root=root, sidecar_writeback=True)
        (info,) = store.list_sets(store.open_slide("sub/case.tif", root / "sub" / "case.tif", None))
        store.create_annotation(info.id, Annotation("x", "Dot", None, "#F4FA58", [(1, 2)]), "web")
        """
    )
    before = sidecar.read_bytes()
    done = subprocess.run([sys.executable, "-c", script, db, str(root)], timeout=120, capture_output=True)
    assert done.returncode == -9, done.stderr.decode()
    assert sidecar.read_bytes() == before
    assert sorted(p.name for p in sidecar.parent.iterdir() if p.name.endswith(".tmp")) == []
    assert len(before) > 1_000_000
    assert write_asap(read_asap(before)) == before


def test_through_a_server_a_link_out_of_the_root_is_not_imported_nor_written(tmp_path: Path) -> None:
    """The attack as reported, against a real server with write-back on: a sidecar symlink to a file
    outside the slide directory is neither imported nor rewritten; a link inside it is imported under
    its own name, and write-back goes through it."""
    slides = tmp_path / "slides"
    (slides / "shared").mkdir(parents=True)
    shutil.copy(SLIDE, slides / "outside-link.svs")
    shutil.copy(SLIDE, slides / "inside-link.svs")
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.xml"
    secret.write_bytes((REAL / "tumor_111.xml").read_bytes())
    (slides / "outside-link.xml").symlink_to(secret)
    (slides / "shared" / "reader-2.xml").write_bytes((REAL / "tumor_031.xml").read_bytes())
    (slides / "inside-link.xml").symlink_to(Path("shared") / "reader-2.xml")
    before = secret.read_bytes()
    with running_server(str(slides), "--workers", "1", "--threads", "4", "--sidecar-writeback",
                        data_dir=tmp_path / "data") as server:
        listed = {s["id"]: s for s in requests.get(server.url + "/api/slides", timeout=60).json()["slides"]}
        out = requests.get(server.url + listed["outside-link.svs"]["urls"]["annotations"], timeout=30).json()
        assert out["sets"] == [] and out["sidecar_error"] is None
        assert listed["outside-link.svs"]["annotation_count"] == 0
        put = requests.put(server.url + listed["outside-link.svs"]["urls"]["annotations_xml"],
                           data=write_asap(read_asap(REAL / "tumor_031.xml")),
                           headers={"Content-Type": "application/xml", "X-Requested-With": "wsi-viewer-test"},
                           timeout=30)
        assert put.status_code == 200 and put.json()["set"]["sidecar"] is None
        assert secret.read_bytes() == before

        (inside,) = requests.get(server.url + listed["inside-link.svs"]["urls"]["annotations"],
                                 timeout=30).json()["sets"]
        assert inside["name"] == "inside-link.xml" and inside["sidecar"]["file"] == "inside-link.xml"
        feature = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [5, 5]},
                   "properties": {"name": "through the link"}}
        created = requests.post(server.url + inside["urls"]["annotations"], json=feature, timeout=30)
        assert created.status_code == 201 and "sidecar_error" not in created.json()
        assert (slides / "inside-link.xml").is_symlink()
        assert read_asap(slides / "shared" / "reader-2.xml").annotations[-1].name == "through the link"
    assert secret.read_bytes() == before
