"""The README's picture of the judge page: `python -m tests.web.screenshot URL docs/judge.png`.

Points the same headless Chromium the browser tests use at a running `spladeforge judge`, opens
the first query, grades its first passages by key so the picture shows grades and their saved
state, and saves a 1280x800 PNG.
"""

from __future__ import annotations

import sys
import time

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.web.browser import chromium


def take(url: str, out: str, grades: str = "21") -> None:
    driver = chromium(1280, 800)
    try:
        # the window's frame takes part of --window-size: the page itself is set to 1280x800
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False})
        driver.get(url)
        WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#passages .passage"))
        for key in grades:
            ActionChains(driver).send_keys(key).perform()
            time.sleep(0.8)
        time.sleep(1)
        driver.save_screenshot(out)
    finally:
        driver.quit()


if __name__ == "__main__":
    take(*sys.argv[1:3], *sys.argv[3:4])
