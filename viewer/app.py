"""The Flask application factory. Composition only: settings, services, blueprints."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from viewer.config import default_data_dir, load_settings
from viewer.services import Services


def _asset_dir(name: str) -> str:
    """``static``/``templates`` inside the installed package, else at the top of the checkout."""
    packaged = Path(__file__).parent / name
    if packaged.is_dir():
        return str(packaged)
    return str(Path(__file__).parent.parent / name)


def create_app(settings: Mapping[str, Any] | None = None, config_file: str | None = None) -> Flask:
    """Build the app from *settings* (names of :data:`viewer.config.SETTINGS`) over the layered config.

    Nothing is opened here: slides open on first request, through :class:`viewer.services.Services`.
    """
    merged = load_settings(config_file, overrides=settings)
    if not merged["DATA_DIR"]:
        merged["DATA_DIR"] = str(default_data_dir())
    app = Flask(__name__, static_folder=_asset_dir("static"), template_folder=_asset_dir("templates"))
    # A doubled slash in a slide id is a path trick, not a typo to redirect: answer it with a 404.
    app.url_map.merge_slashes = False
    app.config["WSI_VIEWER"] = merged
    app.config["MAX_CONTENT_LENGTH"] = merged["MAX_UPLOAD_MB"] << 20
    app.config["JSON_SORT_KEYS"] = False
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["wsi_viewer"] = Services(merged)

    from viewer.web import annotations, api, errors, jobs, overlay_polygons, overlays, pages, security, tiles
    from viewer.web import auth as web_auth
    from viewer.web.access import register as register_access
    from viewer.web.production import register as register_production

    errors.register(app)
    security.register(app)  # before the blueprints: it replaces the int URL converter
    register_production(app)  # /healthz, /readyz, /metrics, CORS, request routes for metrics and logs
    web_auth.register(app)  # after security: Host and Origin are checked before anyone is looked up
    register_access(app)  # after auth: what the user may do (viewers write nothing; per-set sharing)
    app.register_blueprint(api.bp)
    app.register_blueprint(annotations.bp)
    app.register_blueprint(jobs.bp)
    app.register_blueprint(tiles.bp)
    app.register_blueprint(overlays.bp)
    app.register_blueprint(overlay_polygons.bp)
    app.register_blueprint(pages.bp)
    return app
