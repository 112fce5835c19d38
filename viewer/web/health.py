"""``/healthz`` (the process answers), ``/readyz`` (it can serve: the store answers ``SELECT 1`` and
the slide directory can be listed; ``503`` naming what failed) and ``/metrics`` (Prometheus text,
summed over every worker; only for peers in ``METRICS_ALLOW``, others ``403``; ``404`` with
``METRICS`` off). None of them needs a login: a load balancer and Prometheus have none."""

from __future__ import annotations

import ipaddress
import os

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import Forbidden, NotFound

from viewer.config import cidrs
from viewer.store.engine import ping
from viewer.web.openapi import Reply, describe
from viewer.web.services import services

bp = Blueprint("health", __name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Paths that need no authentication (the auth layer lets them through).
PUBLIC_PATHS = frozenset({"/healthz", "/readyz"})


def allowed_networks(text: str) -> tuple[Network, ...]:
    """The networks of ``METRICS_ALLOW`` (checked by :mod:`viewer.config`)."""
    return cidrs(text)


def peer_allowed(address: str | None, networks: tuple[Network, ...]) -> bool:
    """Whether the peer *address* (REMOTE_ADDR) is in one of *networks*."""
    try:
        ip = ipaddress.ip_address((address or "").split("%")[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in networks)


@bp.get("/healthz")
@describe("Liveness: the process answers", operation_id="getHealthz",
          responses={200: Reply("always {\"status\": \"ok\"}", {"application/json": dict})}, errors=())
def healthz() -> Response:
    """200 while the worker answers at all."""
    response = jsonify({"status": "ok"})
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/readyz")
@describe("Readiness: the store and the slide directory are reachable (503 names what failed)",
          operation_id="getReadyz",
          responses={200: Reply("every check ok", {"application/json": dict})}, errors=(503,))
def readyz() -> tuple[Response, int]:
    """Each check's result; 503 when one failed."""
    checks: dict[str, str] = {}
    problems: list[str] = []
    try:
        ping(services().store.engine)
        checks["store"] = "ok"
    except Exception as exc:  # noqa: BLE001 - whatever it is, the store is not reachable
        checks["store"] = "failed"
        problems.append(f"store: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300])
    root = services().slide_root
    try:
        with os.scandir(root) as entries:
            next(entries, None)
        checks["slides"] = "ok"
    except OSError as exc:
        checks["slides"] = "failed"
        problems.append(f"slide directory {root}: {exc.strerror or exc}")
    body: dict[str, object] = {"status": "ok" if not problems else "unavailable", "checks": checks}
    if problems:
        body |= {"error": "not ready: " + "; ".join(problems), "details": problems}
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response, 503 if problems else 200


@bp.get("/metrics")
@describe("Prometheus metrics of every worker (METRICS_ALLOW peers only)", operation_id="getMetrics",
          responses={200: Reply("Prometheus text format", {"text/plain": str})}, errors=(403, 404))
def metrics_text() -> Response:
    """The text exposition (viewer.metrics)."""
    settings = current_app.config["WSI_VIEWER"]
    if not settings["METRICS"]:
        raise NotFound("metrics are off on this server (METRICS)")
    if not peer_allowed(request.remote_addr, current_app.extensions["wsi_viewer_metrics_allow"]):
        raise Forbidden(f"/metrics is not served to {request.remote_addr} (METRICS_ALLOW)")
    from viewer.metrics import exposition

    body, content_type = exposition()
    response = Response(body, content_type=content_type)
    response.headers["Cache-Control"] = "no-store"
    return response


def register(app: Flask) -> None:
    """The routes, and METRICS_ALLOW checked at start (:raises ConfigError: malformed)."""
    app.extensions["wsi_viewer_metrics_allow"] = allowed_networks(app.config["WSI_VIEWER"]["METRICS_ALLOW"])
    app.register_blueprint(bp)
