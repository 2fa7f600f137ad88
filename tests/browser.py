"""Browser tests' shared infrastructure: Playwright for Python driving Debian's Chromium (Playwright's
own browser download is not used). ``browser_page()`` skips the test with one clear line when either
is missing (scripts/setup.sh installs Chromium as root)."""
from __future__ import annotations

import contextlib
import shutil

import pytest


def chromium_executable() -> str | None:
    """The system Chromium (Debian's ``chromium`` package), or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


@contextlib.contextmanager
def browser_page():
    """A headless Chromium page (Playwright's sync API); skips the test if Chromium or Playwright is missing."""
    exe = chromium_executable()
    if exe is None:
        pytest.skip("no Chromium: install Debian's chromium (apt-get install chromium; make setup does it as root)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("no Chromium: Playwright for Python is not installed (pip install -r requirements.txt)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(headless=True, executable_path=exe, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            yield page
        finally:
            browser.close()
