"""Run the app: gunicorn with threaded workers (:mod:`viewer.gthread_worker`), or Flask's debug
server with ``--debug``."""

from __future__ import annotations

import gc
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from viewer.config import default_data_dir
from viewer.logs import notice


def run_server(settings: Mapping[str, Any], config_file: str | None = None) -> int:
    """Serve until interrupted; returns the exit status.

    With no SLIDE_DIR the demo slide is generated (once) into the data directory by a child
    process started here, and the server answers meanwhile: the library lists the demo as being
    prepared, with the generator's progress (:mod:`viewer.demo.background`).
    """
    settings = dict(settings)
    if not settings["DATA_DIR"]:
        settings["DATA_DIR"] = str(default_data_dir())
    Path(settings["DATA_DIR"]).mkdir(parents=True, exist_ok=True)
    if not settings["SLIDE_DIR"]:
        from viewer.demo import start_demo_generation

        start_demo_generation(Path(settings["DATA_DIR"]))
    else:
        slide_dir = Path(settings["SLIDE_DIR"])
        if not slide_dir.is_dir():
            from viewer.errors import ConfigError

            raise ConfigError(f"slide directory {slide_dir} does not exist")

    from viewer.app import create_app

    if settings["DEBUG"]:
        app = create_app(settings, config_file)
        _guard_bodies(app, settings)
        _observe(app)
        app.run(host=settings["HOST"], port=settings["PORT"], debug=True, threaded=True)
        return 0

    from gunicorn.app.base import BaseApplication

    from viewer.gthread_worker import KeepAliveThreadWorker

    raise_open_file_limit(str(settings["LOG_FORMAT"]))
    if settings["METRICS"]:  # before any worker imports prometheus-client: it picks its mode then
        from viewer.metrics import prepare_multiprocess_dir

        prepare_multiprocess_dir(settings["DATA_DIR"])
    worker_class = KeepAliveThreadWorker.configured(
        header_timeout=settings["HEADER_TIMEOUT"], io_timeout=settings["BODY_IDLE_TIMEOUT"],
        body_timeout=settings["BODY_TIMEOUT"])

    class _Gunicorn(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{settings['HOST']}:{settings['PORT']}")
            self.cfg.set("workers", max(1, settings["WORKERS"]))
            self.cfg.set("threads", max(1, settings["THREADS"]))
            self.cfg.set("worker_class", worker_class)
            self.cfg.set("timeout", settings["WORKER_TIMEOUT"])
            self.cfg.set("graceful_timeout", settings["GRACEFUL_TIMEOUT"])
            _production_hooks(self.cfg, settings)
            self.cfg.set("accesslog", None)
            self.cfg.set("proc_name", "wsi-viewer")
            # gunicorn >= 25.1 opens a control socket (for gunicornc) in $XDG_RUNTIME_DIR or
            # ~/.gunicorn/; nothing here uses it, and the server keeps its files in DATA_DIR.
            if "control_socket_disable" in self.cfg.settings:  # older releases have none
                self.cfg.set("control_socket_disable", True)

        def load(self) -> Any:
            return load_worker_app(settings, config_file)

    url = f"http://{settings['HOST']}:{settings['PORT']}/"
    notice(f"wsi-viewer: serving on {url}", str(settings["LOG_FORMAT"]))
    _Gunicorn().run()
    return 0


def load_worker_app(settings: Mapping[str, Any], config_file: str | None = None) -> Any:
    """A gunicorn worker's WSGI app: the Flask app inside the tile fast path, then the worker's heap
    so far frozen out of the cyclic garbage collector (:func:`freeze_startup_heap`)."""
    from viewer.app import create_app
    from viewer.web.tiles import serve_tiles_directly

    app = create_app(settings, config_file)
    _guard_bodies(app, settings)  # inside the tile fast path: tiles have no body
    serve_tiles_directly(app)
    _observe(app)  # outermost: request ids, metrics and log lines of every request
    freeze_startup_heap()
    return app


def freeze_startup_heap() -> None:
    """Move every object alive now (modules, the app, its routes, SQLAlchemy's and Pillow's
    tables: ~100,000 in a worker) to the collector's permanent generation.

    Why: a full collection walks every tracked object while holding the GIL, so each one stopped all
    of a worker's threads for 36-74 ms (measured with gc callbacks in the workers of
    benchmarks/tiles_auth.py, about one a minute under its load), a stall landing on whichever tiles
    were in flight. With the startup heap frozen the same collections walk 6,000-9,000 objects:
    1.4-2.4 ms. Nothing frozen is ever freed by the collector, so only what lives for the whole
    process is frozen: the garbage of the start is collected first.
    """
    gc.collect()
    gc.freeze()


def _observe(app: Any) -> None:
    from viewer.web.observe import wrap

    wrap(app)


def _production_hooks(cfg: Any, settings: Mapping[str, Any]) -> None:
    """gunicorn's own log lines as JSON too (LOG_FORMAT=json, from its first line and again after a
    reload), and the metric files of exited workers tidied."""
    from viewer.metrics import worker_exited

    if settings["LOG_FORMAT"] == "json":
        cfg.set("logconfig_dict", {
            "version": 1, "disable_existing_loggers": False,
            "formatters": {"json": {"()": "viewer.logs.JsonFormatter"}},
            "handlers": {"json": {"class": "logging.StreamHandler", "formatter": "json",
                                  "stream": "ext://sys.stderr"}},
            "root": {"level": "WARNING", "handlers": ["json"]},
            "loggers": {"gunicorn.error": {"level": "INFO", "handlers": ["json"], "propagate": False}},
        })
    cfg.set("child_exit", lambda _arbiter, worker: worker_exited(worker.pid))


def _guard_bodies(app: Any, settings: Mapping[str, Any]) -> None:
    from viewer.web.overlay_upload import body_limits
    from viewer.web.transport import guard_request_bodies

    app.wsgi_app = guard_request_bodies(app.wsgi_app, max_body_bytes=settings["MAX_UPLOAD_MB"] << 20,
                                        larger=body_limits(settings))


#: Open files a worker may need: its connections (gunicorn accepts up to 1,000 per worker), slide
#: handles, cache files and the database.
WANTED_OPEN_FILES = 4096


def raise_open_file_limit(log_format: str = "text") -> int:
    """Raise this process's soft limit on open files to its hard limit when it is below
    :data:`WANTED_OPEN_FILES` (workers inherit it); returns the soft limit now in force.

    Many distributions start processes with a soft limit of 1,024: a few hundred idle connections
    would then make ``accept`` fail with EMFILE while the hard limit allows far more.
    """
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < WANTED_OPEN_FILES and (
        hard == resource.RLIM_INFINITY or hard > soft
    ):
        target = max(WANTED_OPEN_FILES, soft) if hard == resource.RLIM_INFINITY else hard
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            notice(f"wsi-viewer: cannot raise the open-file limit from {soft}: {exc}", log_format, "warning")
    if soft != resource.RLIM_INFINITY and soft < WANTED_OPEN_FILES:
        notice(f"wsi-viewer: only {soft} open files allowed (ulimit -n); under many connections "
               f"accept may fail", log_format, "warning")
    return int(soft)
