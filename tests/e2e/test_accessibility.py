"""Accessibility basics of every page in a real Chromium: each focusable control has a name."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.e2e.conftest import BOUNDS, CMU, Server

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("path", ["/", f"/view/{CMU}", f"/compare?left={CMU}&right={BOUNDS}"])
def test_every_control_has_an_accessible_name(page: Page, server: Server, path: str) -> None:
    page.goto(server.url + path)
    page.wait_for_load_state("networkidle")
    unnamed = page.evaluate(
        """() => [...document.querySelectorAll('button, a[href], input, select, [tabindex="0"]')]
          .filter((el) => el.offsetParent !== null || el.closest('dialog'))
          .filter((el) => el.tabIndex >= 0 && !el.closest('[aria-hidden="true"]'))
          .filter((el) => {
            const labelled = el.getAttribute('aria-label') || el.getAttribute('aria-labelledby') ||
              (el.labels && el.labels.length) || el.textContent.trim() || el.getAttribute('title');
            return !labelled;
          })
          .map((el) => el.outerHTML.slice(0, 120))"""
    )
    assert unnamed == []
