"""WSI Viewer: a self-hosted browser viewer and annotation server for whole-slide images.

Importing this package is cheap and has no side effects: the web app lives in ``viewer.app``
(``create_app``), the slide library in ``viewer.slides``, annotations in ``viewer.annotations``.
"""

from __future__ import annotations

__version__ = "0.1.0"
