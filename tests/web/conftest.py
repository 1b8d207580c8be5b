"""Browser tests run only where Chromium is installed; in CI (CI=true) its absence is a failure, not a skip."""

from __future__ import annotations

import os

import pytest

from tests.web.browser import chromium, missing


@pytest.fixture(scope="module")
def browser():
    reason = missing()
    if reason:
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"CI needs the browser: {reason}")
        pytest.skip(reason)
    driver = chromium()
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
