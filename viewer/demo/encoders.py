"""Worker processes that render and JPEG-encode the demo's tiles in parallel.

Each worker is handed its renderer explicitly, as an argument of its main function -- the parent's
own :class:`TileRenderer` (texture banks built once and shared copy-on-write) where the process
can fork, else a :class:`RendererSpec` from which the worker builds its own -- and keeps it in a
local variable for its whole life. No module holds a renderer in a global, so two generations in
one process cannot see each other's state. Results come back by ticket, in any order of
completion; the caller asks for them in the order it submitted.

A worker exits by itself within a second once its parent is gone (killed, crashed), so an
interrupted generation leaves no process behind holding the demo's lock or the CPU.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
from types import TracebackType
from typing import Any

from viewer.demo.renderer import RendererSpec, TileRenderer

#: How often an idle worker checks that its parent is alive, and the parent that its workers are.
_POLL_S = 1.0


def _encoder_main(source: TileRenderer | RendererSpec, tasks: Any, results: Any, parent_pid: int) -> None:
    """A worker's loop: (ticket, level, cells) in, (ticket, tiles, error) out; None stops it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops us
    renderer = source if isinstance(source, TileRenderer) else source.build()
    while True:
        try:
            task = tasks.get(timeout=_POLL_S)
        except queue.Empty:
            if os.getppid() != parent_pid:
                return
            continue
        if task is None:
            return
        ticket, level, cells = task
        try:
            results.put((ticket, renderer.encode(level, cells), None))
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it
            results.put((ticket, None, f"{type(exc).__name__}: {exc}"))


class TileEncoders:
    """*workers* processes encoding tiles of one slide; use as a context manager (stops them)."""

    def __init__(self, spec: RendererSpec, workers: int, renderer: TileRenderer | None = None) -> None:
        """With *renderer* (banks built) the workers are forked and share it; without, they are
        spawned and each builds its own from *spec* (a few seconds, in parallel)."""
        context: Any = multiprocessing.get_context("fork" if renderer is not None else "spawn")
        self._tasks: Any = context.Queue()
        self._results: Any = context.Queue()
        source: TileRenderer | RendererSpec = renderer if renderer is not None else spec
        self._processes = [
            context.Process(target=_encoder_main, args=(source, self._tasks, self._results, os.getpid()),
                            name=f"wsi-viewer demo encoder {i}", daemon=True)
            for i in range(workers)
        ]
        for process in self._processes:
            process.start()
        self._next_ticket = 0
        self._finished: dict[int, list[bytes]] = {}

    def submit(self, level: int, cells: list[tuple[int, int]]) -> int:
        """Queue the tiles *cells* (col, row) of *level*; returns the ticket of their result."""
        ticket = self._next_ticket
        self._next_ticket += 1
        self._tasks.put((ticket, level, cells))
        return ticket

    def result(self, ticket: int) -> list[bytes]:
        """The encoded tiles of *ticket*, waiting for them.

        :raises RuntimeError: when a worker failed on them, or died.
        """
        while ticket not in self._finished:
            try:
                done, tiles, error = self._results.get(timeout=_POLL_S)
            except queue.Empty:
                dead = [p for p in self._processes if p.exitcode is not None]
                if dead:
                    raise RuntimeError(f"a tile encoder died (exit code {dead[0].exitcode})") from None
                continue
            if error is not None:
                raise RuntimeError(f"a tile encoder failed: {error}")
            self._finished[done] = tiles
        return self._finished.pop(ticket)

    def close(self) -> None:
        """Stop every worker now (queued work is dropped)."""
        for process in self._processes:
            if process.is_alive():
                process.terminate()
        for process in self._processes:
            process.join(timeout=5)
            if process.is_alive():  # pragma: no cover - a worker stuck in a system call
                process.kill()
                process.join()
        for q in (self._tasks, self._results):
            q.cancel_join_thread()  # nobody reads them any more: do not wait to flush at exit
            q.close()

    def __enter__(self) -> TileEncoders:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()
