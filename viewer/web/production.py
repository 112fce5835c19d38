"""Production serving, installed on the app in one call (:func:`register`): ``/healthz``,
``/readyz``, ``/metrics`` (:mod:`viewer.web.health`), CORS (:mod:`viewer.web.cors`), the route of
each request for its metrics and log line (:mod:`viewer.web.observe`) and the log format."""

from __future__ import annotations

from flask import Flask

from viewer import logs
from viewer.web import cors, health, observe


def register(app: Flask) -> None:
    """After :func:`viewer.web.security.register` (its converter and hooks come first).

    :raises ConfigError: malformed METRICS_ALLOW or CORS_ORIGINS.
    """
    settings = app.config["WSI_VIEWER"]
    logs.configure(settings["LOG_FORMAT"])
    health.register(app)
    cors.register(app)
    observe.register(app)
