"""viewer.atomicfile: a write killed half-way leaves the target whole and, where the file system has
O_TMPFILE, nothing else; elsewhere its temporary file is cleaned up by the next write or a sweep of
the directory, while a live writer's temporary file is never touched.

Real writer processes, killed with SIGKILL. ``named=True`` writers run as on a file system without
O_TMPFILE (the flag removed from ``os`` in that process).
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from viewer.atomicfile import LEFTOVER_MIN_AGE_S, remove_leftovers, remove_leftovers_in, write_atomic

_WRITER = textwrap.dedent(
    """
    import os, sys
    if sys.argv[2] == "named":
        del os.O_TMPFILE
    from viewer.atomicfile import atomic_write
    with atomic_write(sys.argv[1]) as handle:
        handle.write(b"half of the new ")
        handle.flush()
        print("writing", os.fstat(handle.fileno()).st_ino, flush=True)
        sys.stdin.readline()  # until told to finish (or killed)
        handle.write(b"content")
    print("done", flush=True)
    """
)


@contextmanager
def writer(target: Path, named: bool) -> Iterator[subprocess.Popen[str]]:
    """A real process in the middle of an atomic write to *target*."""
    process = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(target), "named" if named else "unnamed"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("writing ")
        process.inode = int(line.split()[1])  # type: ignore[attr-defined]
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(30)
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()


def temporaries(target: Path) -> list[Path]:
    return sorted(target.parent.glob(f".{target.name}.*.tmp"))


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_killed_writer_leaves_the_old_file_and_nothing_else(tmp_path: Path) -> None:
    target = tmp_path / "slide.xml"
    write_atomic(target, b"old content")
    with writer(target, named=False) as process:
        assert sorted(p.name for p in tmp_path.iterdir()) == ["slide.xml"]  # the data has no name yet
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    assert target.read_bytes() == b"old content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["slide.xml"]  # the kernel freed the data


def test_killed_named_writer_leaves_the_old_file_and_the_next_write_removes_its_leftover(
    tmp_path: Path,
) -> None:
    target = tmp_path / "slide.xml"
    write_atomic(target, b"old content")
    with writer(target, named=True) as process:
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    assert target.read_bytes() == b"old content"  # never the half-written file
    [leftover] = temporaries(target)
    assert leftover.read_bytes() == b"half of the new "

    write_atomic(target, b"next save")  # a young leftover may still be a writer's: kept
    assert leftover.exists()
    age(leftover, LEFTOVER_MIN_AGE_S + 5)
    write_atomic(target, b"later save")
    assert target.read_bytes() == b"later save"
    assert temporaries(target) == []


@pytest.mark.parametrize("named", [True, False], ids=["named", "unnamed"])
def test_a_live_writers_file_is_never_removed_however_old(tmp_path: Path, named: bool) -> None:
    target = tmp_path / "mask.tif"
    write_atomic(target, b"old content")
    with writer(target, named=named) as process:
        if named:
            [in_progress] = temporaries(target)
            age(in_progress, LEFTOVER_MIN_AGE_S * 100)  # a long write (minutes for a large mask)
            assert remove_leftovers(target) == []
            assert remove_leftovers_in(tmp_path, [target.name]) == []
        else:
            assert temporaries(target) == []
        write_atomic(target, b"another writer")  # a concurrent writer cleans up first, too
        if named:
            assert in_progress.exists()
        assert target.read_bytes() == b"another writer"
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write("finish\n")
        process.stdin.flush()
        assert process.stdout.readline() == "done\n"
    assert target.read_bytes() == b"half of the new content"  # the last rename wins, whole
    assert temporaries(target) == []
    assert target.stat().st_ino == process.inode  # the written file itself was linked, not a copy
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask  # what open() gives, not 0600


def test_cleanup_touches_only_this_targets_temporaries(tmp_path: Path) -> None:
    target = tmp_path / "a[1].xml"  # glob characters in the name are literal
    other = tmp_path / "b.xml"
    for name in (f".{target.name}.x1y2z3.tmp", f".{other.name}.x1y2z3.tmp", ".a1.xml.x1y2z3.tmp"):
        (tmp_path / name).write_bytes(b"x")
        age(tmp_path / name, LEFTOVER_MIN_AGE_S * 2)
    assert remove_leftovers(target) == [tmp_path / f".{target.name}.x1y2z3.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".a1.xml.x1y2z3.tmp", f".{other.name}.x1y2z3.tmp"]


def test_sweep_of_a_directory_removes_only_abandoned_temporaries_of_the_names_given(tmp_path: Path) -> None:
    names = ["a.xml", "b[1].xml"]
    files = {
        ".a.xml.old1.tmp": True,  # abandoned: removed
        ".b[1].xml.old2.tmp": True,
        ".c.xml.old3.tmp": False,  # not a name given
        ".a.xml.old4.partial": False,  # not a temporary file
        "a.xml": False,
    }
    for name in files:
        (tmp_path / name).write_bytes(b"x")
        age(tmp_path / name, LEFTOVER_MIN_AGE_S * 2)
    (tmp_path / ".a.xml.young.tmp").write_bytes(b"x")  # may be a writer that has not locked it yet
    (tmp_path / ".b[1].xml.dir.tmp").mkdir()
    age(tmp_path / ".b[1].xml.dir.tmp", LEFTOVER_MIN_AGE_S * 2)
    removed = remove_leftovers_in(tmp_path, names)
    assert sorted(p.name for p in removed) == sorted(n for n, gone in files.items() if gone)
    left = sorted(p.name for p in tmp_path.iterdir())
    kept = [n for n, gone in files.items() if not gone]
    assert left == sorted([*kept, ".a.xml.young.tmp", ".b[1].xml.dir.tmp"])
    assert remove_leftovers_in(tmp_path / "missing", names) == []


def test_the_data_is_copied_to_a_named_file_when_the_kernel_will_not_link_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where /proc cannot link an unnamed file (some sandboxes), the write still succeeds, whole."""
    target = tmp_path / "big.tif"
    data = os.urandom(3 << 20)

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", refuse)
    write_atomic(target, data)
    assert target.read_bytes() == data
    assert temporaries(target) == []
