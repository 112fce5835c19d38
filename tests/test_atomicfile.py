"""viewer.atomicfile: a write killed half-way leaves the target whole, and its temporary file is
cleaned up by the next write, while a live writer's temporary file is never touched.

Real writer processes, killed with SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from viewer.atomicfile import LEFTOVER_MIN_AGE_S, remove_leftovers, write_atomic

_WRITER = textwrap.dedent(
    """
    import sys
    from viewer.atomicfile import atomic_write
    with atomic_write(sys.argv[1]) as handle:
        handle.write(b"half of the new ")
        handle.flush()
        print("writing", flush=True)
        sys.stdin.readline()  # until told to finish (or killed)
        handle.write(b"content")
    print("done", flush=True)
    """
)


@contextmanager
def writer(target: Path) -> Iterator[subprocess.Popen[str]]:
    """A real process in the middle of an atomic write to *target*."""
    process = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(target)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "writing\n"
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


def test_killed_writer_leaves_the_old_file_and_the_next_write_removes_its_leftover(tmp_path: Path) -> None:
    target = tmp_path / "slide.xml"
    write_atomic(target, b"old content")
    with writer(target) as process:
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


def test_a_live_writers_file_is_never_removed_however_old(tmp_path: Path) -> None:
    target = tmp_path / "mask.tif"
    write_atomic(target, b"old content")
    with writer(target) as process:
        [in_progress] = temporaries(target)
        age(in_progress, LEFTOVER_MIN_AGE_S * 100)  # a long write (minutes for a large mask)
        assert remove_leftovers(target) == []
        write_atomic(target, b"another writer")  # a concurrent writer cleans up first, too
        assert in_progress.exists()
        assert target.read_bytes() == b"another writer"
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write("finish\n")
        process.stdin.flush()
        assert process.stdout.readline() == "done\n"
    assert target.read_bytes() == b"half of the new content"  # the last rename wins, whole
    assert temporaries(target) == []


def test_cleanup_touches_only_this_targets_temporaries(tmp_path: Path) -> None:
    target = tmp_path / "a[1].xml"  # glob characters in the name are literal
    other = tmp_path / "b.xml"
    for name in (f".{target.name}.x1y2z3.tmp", f".{other.name}.x1y2z3.tmp", ".a1.xml.x1y2z3.tmp"):
        (tmp_path / name).write_bytes(b"x")
        age(tmp_path / name, LEFTOVER_MIN_AGE_S * 2)
    assert remove_leftovers(target) == [tmp_path / f".{target.name}.x1y2z3.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".a1.xml.x1y2z3.tmp", f".{other.name}.x1y2z3.tmp"]
