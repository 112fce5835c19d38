"""Shared fixtures: the fixture slides (copied from ../shared/fixtures, see tests/data/SOURCES.md),
apps built from settings, and real server processes."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from viewer.app import create_app

DATA = Path(__file__).parent / "data"
FIXTURE_SLIDES = DATA / "slides"


@pytest.fixture(scope="session")
def slide_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the fixture slides in a temporary directory (tests may add files beside them)."""
    target = tmp_path_factory.mktemp("slides")
    shutil.copytree(FIXTURE_SLIDES, target, dirs_exist_ok=True)
    return target


@pytest.fixture()
def make_app(tmp_path: Path) -> Iterator[object]:
    """Build an app from settings; the data dir defaults to a fresh temporary directory."""
    apps: list[Flask] = []

    def factory(**settings: object) -> Flask:
        settings.setdefault("DATA_DIR", str(tmp_path / "data"))
        app = create_app(settings)
        app.config["TESTING"] = True
        apps.append(app)
        return app

    yield factory
    for app in apps:
        services = app.extensions["wsi_viewer"]
        if "slides" in services.__dict__:
            services.slides.close()


@pytest.fixture()
def client(make_app: object, slide_dir: Path) -> FlaskClient:
    """A test client of an app serving the fixture slides."""
    app = make_app(SLIDE_DIR=str(slide_dir))  # type: ignore[operator]
    return app.test_client()


#: The browser tests share one server and one Chromium per xdist worker (session fixtures): kept
#: in one group they run on one worker, so the suite starts one of each, while the other worker
#: takes the rest of the suite (tests/run-all.sh passes --dist loadgroup).
_BROWSER_TESTS = "tests/e2e/"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(str(config.rootpath))
    for item in items:
        if Path(str(item.path)).relative_to(root).as_posix().startswith(_BROWSER_TESTS):
            item.add_marker(pytest.mark.xdist_group("browser"))
