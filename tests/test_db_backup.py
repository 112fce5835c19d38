"""``wsi-viewer db backup FILE`` and ``db restore FILE`` through the console script: back up, change,
restore, and the change is gone while the store opens; refusals are one-line errors (exit 2)
that change nothing; PostgreSQL gets the pg_dump line."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from viewer.store import Store, database_url


def _db(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "viewer.cli", "db", *args], capture_output=True, text=True,
                          timeout=120)


def _set_names(url: str) -> list[str]:
    store = Store(url)
    try:
        return sorted(s.name for s in store.list_sets(store.open_slide("a/slide.svs")))
    finally:
        store.close()


def test_backup_change_restore(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    url = database_url("", data)
    store = Store(url)
    slide = store.open_slide("a/slide.svs")
    store.create_set(slide, "kept", "ann")
    backup_file = tmp_path / "backups" / "store.sqlite"
    backup_file.parent.mkdir()
    done = _db("backup", str(backup_file), "--data-dir", str(data))  # with the store open, as a server
    assert done.returncode == 0, done.stderr
    assert f"backed up to {backup_file}" in done.stdout
    assert not list(backup_file.parent.glob(".*partial"))
    store.create_set(slide, "lost", "ann")  # the change after the backup
    store.close()
    assert _set_names(url) == ["kept", "lost"]

    again = _db("backup", str(backup_file), "--data-dir", str(data))
    assert again.returncode == 2 and "exists" in again.stderr and "--force" in again.stderr
    not_a_store = tmp_path / "notes.txt"
    not_a_store.write_text("not a database at all, but long enough to be read as a header " * 20)
    refused = _db("restore", str(not_a_store), "--data-dir", str(data))
    assert refused.returncode == 2 and "not a SQLite database" in refused.stderr, refused.stderr
    empty = tmp_path / "empty.sqlite"
    sqlite3.connect(empty).execute("CREATE TABLE t (x)").connection.commit()
    refused = _db("restore", str(empty), "--data-dir", str(data))
    assert refused.returncode == 2 and "not an annotation store" in refused.stderr, refused.stderr
    assert _set_names(url) == ["kept", "lost"]  # refusals changed nothing

    restored = _db("restore", str(backup_file), "--data-dir", str(data))
    assert restored.returncode == 0, restored.stderr
    assert f"restored {backup_file}" in restored.stdout
    assert _set_names(url) == ["kept"]  # the change is gone, and the store opens
    store = Store(url)
    try:  # and takes writes again
        store.create_set(store.open_slide("a/slide.svs"), "after restore", "ann")
    finally:
        store.close()
    assert _set_names(url) == ["after restore", "kept"]
    forced = _db("backup", str(backup_file), "--force", "--data-dir", str(data))
    assert forced.returncode == 0, forced.stderr


def test_postgresql_gets_the_pg_dump_line(tmp_path: Path) -> None:
    url = "postgresql://lab:s3cret@db.example:5432/wsi"
    answer = _db("backup", "wsi.dump", "--database", url, "--data-dir", str(tmp_path))
    assert answer.returncode == 2
    shown = "'postgresql://lab:***@db.example:5432/wsi'"
    assert f"pg_dump --format=custom --file wsi.dump {shown}" in answer.stderr
    assert "PGPASSWORD" in answer.stderr
    assert "pg_restore --clean --if-exists --no-owner --dbname" in answer.stderr
    assert "s3cret" not in answer.stderr + answer.stdout
    assert not (tmp_path / "wsi.dump").exists()
