"""Run the app: gunicorn with threaded workers (:mod:`viewer.gthread_worker`), or Flask's debug
server with ``--debug``."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from viewer.config import default_data_dir


def run_server(settings: Mapping[str, Any], config_file: str | None = None) -> int:
    """Serve until interrupted; returns the exit status.

    With no SLIDE_DIR the demo slide is generated first (once) into the data directory, in this
    process, so that workers start with it in place.
    """
    settings = dict(settings)
    if not settings["DATA_DIR"]:
        settings["DATA_DIR"] = str(default_data_dir())
    Path(settings["DATA_DIR"]).mkdir(parents=True, exist_ok=True)
    if not settings["SLIDE_DIR"]:
        from viewer.demo import ensure_demo

        ensure_demo(Path(settings["DATA_DIR"]), progress=lambda msg: print(msg, file=sys.stderr, flush=True))
    else:
        slide_dir = Path(settings["SLIDE_DIR"])
        if not slide_dir.is_dir():
            from viewer.errors import ConfigError

            raise ConfigError(f"slide directory {slide_dir} does not exist")

    from viewer.app import create_app

    if settings["DEBUG"]:
        app = create_app(settings, config_file)
        app.run(host=settings["HOST"], port=settings["PORT"], debug=True, threaded=True)
        return 0

    from gunicorn.app.base import BaseApplication

    from viewer.gthread_worker import KeepAliveThreadWorker

    class _Gunicorn(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{settings['HOST']}:{settings['PORT']}")
            self.cfg.set("workers", max(1, settings["WORKERS"]))
            self.cfg.set("threads", max(1, settings["THREADS"]))
            self.cfg.set("worker_class", KeepAliveThreadWorker)
            self.cfg.set("timeout", 120)
            self.cfg.set("graceful_timeout", 10)
            self.cfg.set("accesslog", None)
            self.cfg.set("proc_name", "wsi-viewer")

        def load(self) -> Any:
            from viewer.web.tiles import serve_tiles_directly

            app = create_app(settings, config_file)
            serve_tiles_directly(app)
            return app

    url = f"http://{settings['HOST']}:{settings['PORT']}/"
    print(f"wsi-viewer: serving on {url}", file=sys.stderr, flush=True)
    _Gunicorn().run()
    return 0
