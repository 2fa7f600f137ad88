"""The demo page as a person uses it: Chromium (tests/browser.py) types a sentence into the page served
by compare/serve.py (uvicorn on a free loopback port, tiny trained systems), submits it, and sees
every system's output, the PBSMT segmentation, the n-best lists and the two pictures."""
from __future__ import annotations

import socket
import threading
import time

import pytest

from tests.browser import browser_page

pytest.importorskip("uvicorn", reason="compare serve needs uvicorn (requirements.txt)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_page_translates_with_every_system(tiny_study):
    import uvicorn

    from compare.serve import create_app
    from compare.translate import Study
    _, corpus, runs = tiny_study
    study = Study(str(corpus), "es", "en", whole_table=True)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(study), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(200):                       # up to 10 s for the server to listen
            if server.started:
                break
            time.sleep(0.05)
        assert server.started
        with browser_page() as page:
            page.goto(f"http://127.0.0.1:{port}/", timeout=15000)
            page.wait_for_selector(".example", timeout=15000)    # the systems and examples arrived
            page.fill("#text", "Y dijo Dios: Sea la luz; y fue la luz.")
            page.click("#go")
            page.wait_for_selector("#attention", timeout=30000)
            page.wait_for_selector("#pbsmt-alignment", timeout=30000)
            for name in ("pbsmt", "rnnenc", "rnnsearch"):
                text = page.inner_text(f'.card[data-system="{name}"] [data-role="output"]')
                assert text.strip(), name
            assert page.locator('[data-role="segmentation"] .phrase').count() >= 2
            assert page.locator('[data-role="nbest"]').count() == 2           # rnnenc and rnnsearch
            for pic in ("#pbsmt-alignment", "#attention"):
                box = page.locator(pic).bounding_box()
                assert box is not None and box["width"] > 50 and box["height"] > 50, pic
            assert page.locator("#pbsmt-alignment rect[fill='#2b5fad']").count() > 0   # some links drawn
    finally:
        server.should_exit = True
        thread.join(timeout=10)
