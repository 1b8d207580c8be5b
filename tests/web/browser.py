"""A real headless Chromium (Debian's chromium and chromium-driver) driven by selenium."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-quic", "--disable-dev-shm-usage")


def missing() -> str | None:
    """Why the browser cannot run here, or None."""
    absent = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    return f"{' and '.join(absent)} not installed (`make browser` installs Debian's chromium, chromium-driver)" \
        if absent else None


def chromium(width: int = 1280, height: int = 800):
    """A fresh headless Chromium with its own throwaway profile; the caller quits it."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='spladeforge-chromium-')}")
    options.add_argument(f"--window-size={width},{height}")
    # selenium-manager would look for a driver on the network: the system one is given instead.
    os.environ.setdefault("SE_OFFLINE", "true")
    return webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
