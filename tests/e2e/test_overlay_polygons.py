"""Heatmap → annotations in the browser (issue 14): the regions of a known map made into a set
through the API, and the layers panel's list showing, for each, the slide's first heatmap's max
and mean inside it (``overlay-statistics.js`` over ``urls.statistics``)."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.e2e.conftest import CMU, Server, view_url, wait_first_viewport
from tests.e2e.test_overlays import made_sets, overlays, upload  # noqa: F401 (fixtures)
from tests.test_web_overlay_polygons import known_map

pytestmark = pytest.mark.e2e


def test_the_annotation_list_shows_max_and_mean_of_the_heatmap(
    page: Page, server: Server, overlays: list[dict[str, Any]], made_sets: list[dict[str, Any]],  # noqa: F811
) -> None:
    overlay = upload(server, CMU, known_map(139, 186), "known e2e")
    overlays.append(overlay)
    made = requests.post(f"{server.url}{overlay['urls']['polygons']}", json={"threshold": 0.5},
                         headers={"X-Requested-With": "test", "X-User": "e2e"}, timeout=60)
    assert made.status_code == 201, made.text
    made_sets.append(made.json()["set"])
    set_id = made.json()["set"]["id"]

    page.goto(view_url(server, CMU, x=1110, y=1480, z=0.25))
    wait_first_viewport(page)
    page.locator('button[data-action="layers"]').click()
    entries = page.locator(f'[data-layer-list] [data-entry^="{set_id}:"]')
    expect(entries).to_have_count(2)
    expect(entries.locator(".entry-name")).to_have_text(["region 1", "region 2"])
    expect(entries.locator("[data-entry-stats]")).to_have_text(["known e2e max 0.9 · mean 0.9"] * 2)
