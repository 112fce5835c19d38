"""Long work as jobs: a bounded queue per host, progress, cancellation, abandonment and expiry.

A request that would keep the CPUs busy for minutes (a mask export) becomes a job: the request
writes the job to disk and starts a runner process, then answers at once; clients poll the job.
No Flask here: ``viewer/web/jobs.py`` maps this to HTTP.

Everything lives in files under the jobs directory (``DATA_DIR/jobs``), so every worker process of
a host sees the same jobs whichever of them accepted one::

    jobs/
      .submit.lock        flock'd while a job is counted and created (the queue bound holds)
      slots/<i>.lock      flock'd by the runner of each of the MASK_JOBS running jobs
      <id>/job.json       what to do (written once, before the job is visible)
           input.pickle   the job's input (the annotation set), written by the server itself
           status.json    state and progress, written by the runner only (atomically)
           run.lock       flock'd by the runner for as long as it lives: a free lock on an
                          unfinished job means its runner died (a crash, a restart): failed
           polled         its mtime is the last poll; the runner cancels the job when it is older
                          than the abandonment time
           cancel         present once cancelled; holds the reason
           result.*       the result, once done

The runner is a child process (``python -m viewer.jobs``), so a cancelled or abandoned job stops
using the CPU at once (its watchdog thread exits the process within ~0.2 s) and its memory goes
back to the system. It also stops when the worker that started it is gone. Jobs queue in the order
they were submitted; a job runs once it is the oldest waiting one and takes a free slot. Finished
jobs (done, failed or cancelled) are deleted with their result once the retention time is over.
"""

from __future__ import annotations

import fcntl
import json
import os
import pickle
import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from viewer.atomicfile import write_atomic
from viewer.errors import ConflictError, NotFoundError, UnavailableError, ViewerError
from viewer.locks import hold_lock, lock_is_held

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
FINISHED = frozenset({DONE, FAILED, CANCELLED})
_ID_CHARS = frozenset("0123456789abcdef")
_ID_LENGTH = 16
_WATCH_INTERVAL_S = 0.2  # how often a runner looks for cancel, abandonment and its parent
_PROGRESS_INTERVAL_S = 0.25  # most often a runner rewrites status.json
_INTERRUPTED = "interrupted: the process running this job stopped (a server restart or crash); start it again"

#: progress(done, total), in the job's own units (rows for masks)
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class JobLimits:
    """How many jobs run at once per host, how many may wait, and how long they are kept."""

    running: int = 1
    queued: int = 8
    abandon_s: float = 60.0
    retention_s: float = 600.0


@dataclass
class JobView:
    """One job as a client sees it. Times are seconds since the epoch."""

    id: str
    kind: str
    state: str
    done: int
    total: int
    created_at: float
    started_at: float | None
    finished_at: float | None
    expires_at: float | None
    queue_position: int | None
    error: str | None
    result_name: str
    result_type: str
    meta: dict[str, Any] = field(default_factory=dict)
    #: the annotation set the job reads (who may see the job: whoever may read the set), or None
    set_id: int | None = None
    #: the name of the user who asked for it (None: not recorded)
    requester: str | None = None

    @property
    def percent(self) -> float:
        """Progress in percent (100 once done)."""
        if self.state == DONE:
            return 100.0
        return round(100.0 * self.done / self.total, 1) if self.total else 0.0

    @property
    def eta_s(self) -> float | None:
        """Seconds until done at the rate so far (None until it can be told)."""
        if self.state != RUNNING or self.started_at is None or not self.done or not self.total:
            return None
        elapsed = max(0.0, time.time() - self.started_at)
        return round(elapsed * (self.total - self.done) / self.done, 1)


# --------------------------------------------------------------------------------------------------
# Files


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    write_atomic(path, json.dumps(data).encode(), sync_directory=False)


def _job_set_id(spec: dict[str, Any]) -> int | None:
    """The set a job reads: its ``set_id``, else (a job written before it was kept) ``meta.set``."""
    found = spec.get("set_id")
    if found is None:
        found = (spec.get("meta") or {}).get("set")
    return found if isinstance(found, int) and not isinstance(found, bool) else None


def valid_job_id(job_id: str) -> bool:
    """Whether *job_id* has the shape of the ids :meth:`JobManager.submit` makes."""
    return len(job_id) == _ID_LENGTH and set(job_id) <= _ID_CHARS


# --------------------------------------------------------------------------------------------------
# The manager: used by every worker process of the server


class JobManager:
    """The jobs under *root* (``DATA_DIR/jobs``), shared by every process of one host."""

    def __init__(self, root: Path, limits: JobLimits, python: str = sys.executable) -> None:
        self.root = root
        self.limits = limits
        self.python = python
        (root / "slots").mkdir(parents=True, exist_ok=True)
        self.sweep()

    # ----------------------------------------------------------------------------------------------
    # Submitting

    def submit(
        self, kind: str, params: dict[str, Any], payload: Any, result_name: str,
        meta: dict[str, Any] | None = None, total: int = 0, result_type: str = "application/octet-stream",
        set_id: int | None = None, requester: str | None = None,
    ) -> JobView:
        """Queue a job of *kind* (see :data:`KINDS`) and start its runner.

        *params* (JSON) and *payload* (pickled) are the runner's input; *result_name* is the file
        name (and *result_type* the media type) a client downloads the result under; *meta* is
        shown with the job; *total* is the amount of work in the progress units of the kind, when
        known up front. *set_id* (the set the job reads) and *requester* (who asked) are kept with
        the job, so that its routes can ask who may see it (``JobView.set_id``).

        :raises UnavailableError: the queue of this host is full (the client may retry later).
        """
        if kind not in KINDS:
            raise ValueError(f"unknown job kind {kind!r}")
        self.sweep()
        job_id = secrets.token_hex(_ID_LENGTH // 2)
        staging = self.root / f".{job_id}.new"  # invisible to readers until renamed
        staging.mkdir()
        try:
            with open(staging / "input.pickle", "wb") as f:
                pickle.dump(payload, f, protocol=pickle.HIGHEST_PROTOCOL)
            with hold_lock(self.root / ".submit.lock"):
                active = [v for v in self._views() if v.state not in FINISHED]
                if len(active) >= self.limits.queued:
                    raise UnavailableError(
                        f"{len(active)} jobs are already waiting or running on this server (at most "
                        f"{self.limits.queued}); try again when one has finished",
                        details=[{"jobs": len(active), "limit": self.limits.queued}],
                    )
                self._publish(staging, job_id, {
                    "id": job_id, "kind": kind, "params": params, "result_name": result_name,
                    "result_type": result_type, "meta": meta or {}, "created_at": time.time(),
                    "set_id": set_id, "requester": requester,
                    "seq": time.time_ns(), "abandon_s": self.limits.abandon_s, "slots": self.limits.running,
                }, total)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return self.get(job_id)

    def _publish(self, staging: Path, job_id: str, spec: dict[str, Any], total: int) -> None:
        """Make the staged job visible as ``<id>/`` and start its runner."""
        _write_json(staging / "job.json", spec)
        _write_json(staging / "status.json", {"state": QUEUED, "done": 0, "total": total})
        (staging / "polled").touch()
        # The runner's lock is taken before the job is visible, and handed to the runner (an
        # inherited descriptor shares the lock), so no reader ever sees it free while the runner
        # lives.
        lock_fd = os.open(staging / "run.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            job_dir = self.root / job_id
            os.rename(staging, job_dir)
            self._start_runner(job_dir, lock_fd)
        finally:
            os.close(lock_fd)

    def _start_runner(self, job_dir: Path, lock_fd: int) -> None:
        package_root = str(Path(__file__).resolve().parent.parent)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        log = open(job_dir / "runner.log", "wb")  # noqa: SIM115 - the child keeps its copy
        try:
            process = subprocess.Popen(
                [self.python, "-m", "viewer.jobs", str(job_dir), str(lock_fd), str(os.getpid())],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                pass_fds=(lock_fd,), env=env, close_fds=True,
            )
        except OSError as exc:
            _write_json(job_dir / "status.json", {
                "state": FAILED, "done": 0, "total": 0, "finished_at": time.time(),
                "error": f"the job could not be started: {exc.strerror or exc}",
            })
            return
        finally:
            log.close()
        # Reap it when it ends (no zombie for the life of the worker).
        threading.Thread(target=process.wait, name=f"job-{job_dir.name}", daemon=True).start()

    # ----------------------------------------------------------------------------------------------
    # Reading

    def _dir(self, job_id: str) -> Path:
        if not valid_job_id(job_id):
            raise NotFoundError("no such job (it may have expired)")
        job_dir = self.root / job_id
        if not (job_dir / "job.json").is_file():
            raise NotFoundError("no such job (it may have expired)")
        return job_dir

    def _view(self, job_dir: Path, positions: dict[str, int] | None = None) -> JobView | None:
        spec = _read_json(job_dir / "job.json")
        status = _read_json(job_dir / "status.json")
        if spec is None or status is None:
            return None
        state = str(status.get("state", QUEUED))
        error = status.get("error")
        finished_at = status.get("finished_at")
        if state not in FINISHED:
            cancel = job_dir / "cancel"
            if cancel.exists():
                state, error = CANCELLED, _read_text(cancel) or "cancelled"
                finished_at = finished_at or _mtime(cancel)
            elif not lock_is_held(job_dir / "run.lock"):
                # No runner holds the job. It writes its last status before its lock goes, so a
                # fresh read tells a job that just ended from one whose runner died unheard.
                status = _read_json(job_dir / "status.json") or status
                state, error, finished_at = (
                    str(status.get("state")), status.get("error"), status.get("finished_at")
                )
                if state not in FINISHED:
                    state, error, finished_at = FAILED, _INTERRUPTED, time.time()
                    _write_json(job_dir / "status.json", {**status, "state": state, "error": error,
                                                           "finished_at": finished_at})
        expires = None if finished_at is None else float(finished_at) + self.limits.retention_s
        return JobView(
            id=str(spec["id"]), kind=str(spec["kind"]), state=state,
            done=int(status.get("done", 0)), total=int(status.get("total", 0)),
            created_at=float(spec["created_at"]), started_at=status.get("started_at"),
            finished_at=finished_at, expires_at=expires,
            queue_position=(positions or {}).get(str(spec["id"])) if state == QUEUED else None,
            error=None if error is None else str(error), result_name=str(spec["result_name"]),
            result_type=str(spec.get("result_type", "application/octet-stream")),
            meta=dict(spec.get("meta") or {}),
            set_id=_job_set_id(spec),
            requester=None if spec.get("requester") is None else str(spec["requester"]),
        )

    def _views(self) -> list[JobView]:
        views = []
        for job_dir in self._job_dirs():
            view = self._view(job_dir)
            if view is not None:
                views.append(view)
        return views

    def _job_dirs(self) -> list[Path]:
        try:
            return [p for p in self.root.iterdir() if valid_job_id(p.name) and p.is_dir()]
        except OSError:
            return []

    def _queue_positions(self) -> dict[str, int]:
        """1 for the next job to start, 2 for the one after, ... (waiting jobs only)."""
        waiting = [(s, d.name) for d in self._job_dirs() if (s := _waiting_seq(d)) is not None]
        return {name: i + 1 for i, (_seq, name) in enumerate(sorted(waiting))}

    def get(self, job_id: str) -> JobView:
        """The job now.

        :raises NotFoundError: no such job (or it expired).
        """
        view = self._view(self._dir(job_id), self._queue_positions())
        if view is None:
            raise NotFoundError("no such job (it may have expired)")
        return view

    def poll(self, job_id: str) -> JobView:
        """:meth:`get`, counting as a sign of life from the client (see abandonment)."""
        self.sweep()
        job_dir = self._dir(job_id)
        try:
            os.utime(job_dir / "polled")
        except OSError:
            pass
        return self.get(job_id)

    def result(self, job_id: str) -> tuple[Path, JobView]:
        """The result file of a finished job and the job.

        :raises ConflictError: the job is not done (still running, failed or cancelled).
        """
        view = self.poll(job_id)
        if view.state != DONE:
            what = f"{view.state} ({view.percent:g}%)" if view.state in (QUEUED, RUNNING) else view.state
            raise ConflictError(f"the job has no result: it is {what}",
                                details=[{"state": view.state, "error": view.error}])
        return self.root / job_id / _RESULT_FILE, view

    # ----------------------------------------------------------------------------------------------
    # Cancelling and cleaning up

    def cancel(self, job_id: str, reason: str = "cancelled by request") -> JobView:
        """Cancel a waiting or running job (its runner stops within a fraction of a second).
        A finished job is left as it is."""
        job_dir = self._dir(job_id)
        view = self.get(job_id)
        if view.state not in FINISHED:
            _write_text_if_absent(job_dir / "cancel", reason)
        return self.get(job_id)

    def delete(self, job_id: str) -> None:
        """Cancel the job if it is unfinished, and remove it with its result."""
        job_dir = self._dir(job_id)
        self.cancel(job_id)
        _remove_job_dir(job_dir)

    def sweep(self) -> None:
        """Delete finished jobs past their retention time, and the remains of interrupted submits."""
        now = time.time()
        for view in self._views():
            if view.expires_at is not None and view.expires_at <= now:
                _remove_job_dir(self.root / view.id)
        try:
            leftovers = [p for p in self.root.iterdir()
                         if p.name.startswith(".") and p.name.endswith((".new", ".gone"))]
        except OSError:
            leftovers = []
        for path in leftovers:  # a submit or a removal interrupted half-way
            if now - _mtime(path) > 60:
                shutil.rmtree(path, ignore_errors=True)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return ""


def _write_text_if_absent(path: Path, text: str) -> None:
    try:
        with open(path, "x", encoding="utf-8") as f:
            f.write(text)
    except FileExistsError:
        pass


def _remove_job_dir(job_dir: Path) -> None:
    """Remove a job: renamed aside first, so that no reader sees half of it."""
    gone = job_dir.with_name(f".{job_dir.name}.{secrets.token_hex(4)}.gone")
    try:
        os.rename(job_dir, gone)
    except OSError:
        return
    shutil.rmtree(gone, ignore_errors=True)


def _waiting_seq(job_dir: Path) -> int | None:
    """The submission order of a job still waiting for a slot, with a live runner (else None)."""
    status = _read_json(job_dir / "status.json")
    if status is None or status.get("state") != QUEUED or (job_dir / "cancel").exists():
        return None
    spec = _read_json(job_dir / "job.json")
    if spec is None or not lock_is_held(job_dir / "run.lock"):
        return None
    return int(spec.get("seq", 0))


# --------------------------------------------------------------------------------------------------
# The runner: one child process per job

_RESULT_FILE = "result.bin"


class _Runner:
    """Runs one job: waits for its turn, works, reports progress; its watchdog stops it."""

    def __init__(self, job_dir: Path, parent_pid: int) -> None:
        self.job_dir = job_dir
        self.parent_pid = parent_pid
        spec = _read_json(job_dir / "job.json")
        if spec is None:
            raise SystemExit(f"{job_dir}: no job.json")
        self.spec = spec
        self.status: dict[str, Any] = _read_json(job_dir / "status.json") or {"done": 0, "total": 0}
        self.status_lock = threading.Lock()
        self.last_write = 0.0
        self.slot_fd: int | None = None

    def write_status(self, final: bool = False, **changes: Any) -> None:
        with self.status_lock:
            self.status.update(changes)
            now = time.monotonic()
            if final or now - self.last_write >= _PROGRESS_INTERVAL_S:
                self.last_write = now
                _write_json(self.job_dir / "status.json", {**self.status, "updated_at": time.time()})

    def stop(self, state: str, error: str, code: int) -> None:
        """Record the end and leave at once (the work thread may be deep in numpy)."""
        self.status_lock.acquire()  # held until exit: nothing else is written after this
        self.status.update(state=state, error=error, finished_at=time.time())
        try:
            _write_json(self.job_dir / "status.json", self.status)
        finally:
            os._exit(code)

    def watch(self) -> None:
        try:
            self._watch()
        finally:  # whatever went wrong, a runner nobody watches must not keep working
            os._exit(1)

    def _watch(self) -> None:
        abandon_s = float(self.spec.get("abandon_s", 60.0))
        while True:
            time.sleep(_WATCH_INTERVAL_S)
            if not self.job_dir.is_dir():
                os._exit(0)  # deleted (DELETE, or expired): nobody wants the result
            reason = _read_text(self.job_dir / "cancel") if (self.job_dir / "cancel").exists() else None
            if reason is not None:
                self.stop(CANCELLED, reason or "cancelled", 0)
            idle = time.time() - _mtime(self.job_dir / "polled")
            if idle > abandon_s:
                reason = f"abandoned: nobody asked for the job for {idle:.0f} s (limit {abandon_s:g} s)"
                _write_text_if_absent(self.job_dir / "cancel", reason)
                self.stop(CANCELLED, reason, 0)
            if os.getppid() != self.parent_pid:
                self.stop(FAILED, _INTERRUPTED, 1)

    def wait_for_slot(self) -> None:
        """Wait until this is the oldest waiting job and a slot is free; keep the slot's lock."""
        slots = max(1, int(self.spec.get("slots", 1)))
        mine = int(self.spec.get("seq", 0))
        root = self.job_dir.parent
        while True:
            older = [
                seq for d in root.iterdir()
                if valid_job_id(d.name) and d != self.job_dir
                and (seq := _waiting_seq(d)) is not None and seq < mine
            ]
            if not older:
                for index in range(slots):
                    slot = root / "slots" / f"{index}.lock"
                    fd = os.open(slot, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except OSError:
                        os.close(fd)
                        continue
                    self.slot_fd = fd
                    return
            time.sleep(_WATCH_INTERVAL_S)

    def run(self) -> int:
        threading.Thread(target=self.watch, name="watchdog", daemon=True).start()
        self.write_status(final=True, state=QUEUED)
        self.wait_for_slot()
        self.write_status(final=True, state=RUNNING, started_at=time.time())
        with open(self.job_dir / "input.pickle", "rb") as f:
            payload = pickle.load(f)  # noqa: S301 - written by the server itself, in its data dir
        work = KINDS[str(self.spec["kind"])]
        try:
            work(self.spec["params"], payload, self.job_dir / _RESULT_FILE,
                 lambda done, total: self.write_status(done=done, total=total))
        except ViewerError as exc:
            self.stop(FAILED, exc.message, 0)
        except Exception as exc:  # noqa: BLE001 - reported in the job, logged in runner.log
            import traceback

            traceback.print_exc()
            self.stop(FAILED, f"internal error: {type(exc).__name__}", 1)
        with self.status_lock:
            if (self.job_dir / "cancel").exists():
                return 0  # cancelled at the last moment: the watchdog records it
            self.status.update(state=DONE, finished_at=time.time(), done=self.status.get("total", 0))
            _write_json(self.job_dir / "status.json", self.status)
        return 0


# --------------------------------------------------------------------------------------------------
# Kinds of work


def _mask_job(params: dict[str, Any], payload: Any, out: Path, progress: Progress) -> None:
    """A mask TIFF (see :func:`viewer.annotations.masks.write_mask_tiff`); progress in level-0 rows."""
    from viewer.annotations.masks import write_mask_tiff

    mpp = params.get("mpp")
    write_mask_tiff(
        payload, out, int(params["width"]), int(params["height"]), params.get("labels"),
        params.get("order"), level_downsample=float(params["downsample"]), progress=progress,
        mpp=None if mpp is None else (float(mpp[0]), float(mpp[1])), progress_in_rows=True,
    )


KINDS: dict[str, Callable[[dict[str, Any], Any, Path, Progress], None]] = {"mask": _mask_job}


def main(argv: list[str]) -> int:
    """``python -m viewer.jobs JOB_DIR LOCK_FD PARENT_PID``: run one job (started by the server)."""
    job_dir, _lock_fd, parent_pid = Path(argv[0]), int(argv[1]), int(argv[2])
    # The lock descriptor stays open for the life of the process: it says "this runner lives".
    return _Runner(job_dir, parent_pid).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
