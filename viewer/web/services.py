"""Access to the app's :class:`viewer.services.Services` from a request."""

from __future__ import annotations

from flask import current_app

from viewer.services import Services


def services() -> Services:
    """The services of the current app."""
    found: Services = current_app.extensions["wsi_viewer"]
    return found
