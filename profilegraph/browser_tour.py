"""Drive Neo4j Browser in headless Chromium as an analyst would: log in, find a query of the
guide, run its parameter blocks and the query, and read the result frame.

The demo uses it for the screenshot in ``out/`` and the README; the real-browser test checks the
rows. Chromium and its driver come from Debian (``scripts/bootstrap.sh``); Selenium drives them
through the system's ``chromedriver``, so nothing is downloaded at run time.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import ServiceStartError
from core.settings import Settings

CHROMIUM = ("chromium", "chromium-browser")
TIMEOUT_S = 30.0


@dataclass
class TourResult:
    command: str  # the query's first line, as the result frame shows it
    text: str  # the result frame's text (its table)
    screenshot: Path | None


@contextmanager
def chromium(width: int = 1600, height: int = 1000) -> Iterator[object]:
    """A headless Chromium session (Selenium WebDriver) through Debian's chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary = next((shutil.which(name) for name in CHROMIUM if shutil.which(name)), None)
    driver_path = shutil.which("chromedriver")
    if binary is None or driver_path is None:
        raise ServiceStartError(
            "headless Chromium and chromedriver are missing: install `chromium` and "
            "`chromium-driver` (scripts/bootstrap.sh does this)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.add_argument(f"--window-size={width},{height}")
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.implicitly_wait(2)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(what: str, check, timeout_s: float = TIMEOUT_S):  # type: ignore[no-untyped-def]
    from selenium.common.exceptions import WebDriverException

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            found = check()
        except WebDriverException:  # the page is still rendering: an element is not there yet
            found = None
        if found:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"Neo4j Browser: {what} did not appear within {timeout_s:.0f} s")
        time.sleep(0.2)


def run_guide_query(
    settings: Settings, query: str, *, screenshot: Path | None = None, expect: str = ""
) -> TourResult:
    """Log in to the Browser of ``settings.neo4j``, go to ``query``'s slide of the guide, run
    its blocks, and return the result frame (waiting for ``expect`` in it, when given)."""
    from selenium.webdriver.common.by import By

    n = settings.neo4j
    if n.password is None:
        raise ServiceStartError("no Neo4j password in settings: profilegraph services up")
    with chromium() as driver:
        driver.get(f"http://{n.host}:{n.http_port}/browser/")  # type: ignore[attr-defined]
        find = driver.find_element  # type: ignore[attr-defined]
        _wait("the login form", lambda: find(By.CSS_SELECTOR, "input[data-testid=username]"))
        find(By.CSS_SELECTOR, "input[data-testid=username]").send_keys(n.user)
        find(By.CSS_SELECTOR, "input[data-testid=password]").send_keys(
            n.password.get_secret_value()
        )
        find(By.CSS_SELECTOR, "button[data-testid=connect]").click()

        def slide_title() -> str | None:
            titles = [
                h.text
                for h in driver.find_elements(By.CSS_SELECTOR, "h3")  # type: ignore[attr-defined]
                if h.is_displayed()
            ]
            return query if query in titles else None

        _wait("the profilegraph guide", lambda: find(By.CSS_SELECTOR, "[data-testid=nextSlide]"))
        for _ in range(100):
            if slide_title():
                break
            find(By.CSS_SELECTOR, "[data-testid=nextSlide]").click()
        _wait(f"the slide of {query}", slide_title, 5)
        blocks = [
            b
            for b in driver.find_elements(By.CSS_SELECTOR, "pre.runnable")  # type: ignore[attr-defined]
            if b.is_displayed()
        ]

        def click(element: Any) -> bool:
            """Scrolled to the middle first; a click another element still covers (the page
            settling under load) raises, and ``_wait`` tries again."""
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)  # type: ignore[attr-defined]
            element.click()
            return True

        for block in blocks:
            _wait("a click on the query", lambda block=block: click(block))  # into the editor
            _wait(
                "a click on Run", lambda: click(find(By.CSS_SELECTOR, "[data-testid=editor-Run]"))
            )
            time.sleep(0.5)
        command = blocks[-1].text.splitlines()[0]

        def result() -> str | None:
            for frame in driver.find_elements(By.CSS_SELECTOR, "article"):  # type: ignore[attr-defined]
                text = frame.text
                if command.split()[0] in text and "MATCH" in text and expect in text:
                    if "ERROR" in text:
                        raise RuntimeError(f"Neo4j Browser: {query} failed:\n{text[:2000]}")
                    return text
            return None

        try:
            text = _wait(f"the result of {query}", result)
        finally:  # the page as it stands, found or not: what a failure needs to be read
            if screenshot is not None:
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                driver.save_screenshot(str(screenshot))  # type: ignore[attr-defined]
        return TourResult(command, text, screenshot)
