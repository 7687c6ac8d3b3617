"""A real browser against a served site: headless Chromium (Debian's chromium and
chromedriver, driven by selenium) loads the home page and follows its link.

It runs with networking features off, pointed at the given server alone; a missing
selenium, chromium or chromedriver, or a chromium that chromedriver cannot start, skips
through :func:`support.missing` (fails under ``CI=true``).
"""

from __future__ import annotations

from pathlib import Path

from support import missing, tool

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"

#: Chromium with nothing of its own on the network: no QUIC, no background fetches,
#: no component updates or sync, a fresh profile per test.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--window-size=1000,800")


def follow_the_link(base_url: str, tmp_path: Path, shot_name: str) -> Path:
    """Load ``base_url + "/"``, check it is the default site's home page, click its link
    to the second page and check that page; the screenshot is kept as
    ``artifacts/<shot_name>`` for a human to look at, and its path returned."""
    try:
        from selenium import webdriver
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait
    except ImportError:
        missing("selenium", "pip install '.[test]'")

    options = webdriver.ChromeOptions()
    options.binary_location = tool("chromium")
    for flag in (*FLAGS, f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path=tool("chromedriver"))
    try:  # the capability is a browser that starts, not a name on PATH
        driver = webdriver.Chrome(options=options, service=service)
    except (WebDriverException, OSError) as exc:
        why = (getattr(exc, "msg", None) or str(exc)).strip().splitlines()
        missing("a chromium that chromedriver can start",
                f"apt-get install chromium chromium-driver ({why[0] if why else type(exc).__name__})")
    try:
        driver.set_page_load_timeout(20)
        driver.get(f"{base_url}/")
        assert driver.title == "Elves and machine code"
        driver.find_element(By.LINK_TEXT, "here is how it does it").click()
        WebDriverWait(driver, 20).until(lambda d: d.title == "How this page was served")
        assert driver.current_url == f"{base_url}/about"
        assert "matched the path" in driver.find_element(By.TAG_NAME, "body").text
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / shot_name
        assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 1000
        return shot
    finally:
        driver.quit()
