"""A headless Debian chromium driven by selenium, for the inspector's browser tests.

`chromium_driver()` is a context manager: it yields a driver and always quits
it (and with it the browser), also when the test fails.  `skip_reason()` says
why no browser can run here (None when one can); tests skip with it unless
``GRAPHGRAD_REQUIRE_BROWSER=1`` makes a missing browser a failure.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import tempfile

CHROMIUM = os.environ.get("GRAPHGRAD_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("GRAPHGRAD_CHROMEDRIVER", "/usr/bin/chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1400,900")


def skip_reason() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed (pip install selenium)"
    for path, what in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromedriver")):
        if not (os.path.exists(path) or shutil.which(path)):
            return (f"no {what} at {path} (Debian: apt-get install chromium chromium-driver; "
                    f"or set GRAPHGRAD_CHROMIUM / GRAPHGRAD_CHROMEDRIVER)")
    return None


@contextlib.contextmanager
def chromium_driver():
    """A headless chromium (fresh profile, no network features) with browser and
    performance logs enabled; quit on exit whatever happened."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="gg-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = None
    try:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        yield driver
    finally:
        if driver is not None:
            driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def console_errors(driver) -> list[str]:
    """Messages of level SEVERE in the page's console since the last call."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def network_requests(driver) -> list[str]:
    """URLs requested since the last call (from the performance log), other than
    file:// pages, data: URLs and the browser's own chrome:// pages."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            url = message["params"]["request"]["url"]
            if not url.startswith(("file://", "data:", "about:", "chrome:")):
                urls.append(url)
    return urls
