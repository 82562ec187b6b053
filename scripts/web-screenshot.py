"""Screenshot the Sequence page of ``peakcnn serve`` for the README (Debian's Chromium).

Usage: ``python3 scripts/web-screenshot.py RESULTS_DIR chrom:start-end [OUTPUT.png]``: serves
RESULTS_DIR on a free local port, scores the region on the Sequence page, clicks its central base
for the what-if table and saves the page (default ``docs/web-sequence.png``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

REPO = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def main(results: str, query: str, output: str) -> None:
    """Serve ``results``, score ``query`` on the Sequence page and save a screenshot."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    command = [sys.executable, "-m", "peakcnn.cli.main", "serve", results, "--port", "0"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        url = server.stdout.readline().split()[2]
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=os.environ.get("PEAKCNN_CHROMIUM", "/usr/bin/chromium"),
                args=CHROMIUM_ARGS,
            )
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.set_default_timeout(300_000)
            page.goto(f"{url}sequence")
            page.fill("#query", query)
            page.click("#score")
            letters = page.locator("#logo text.logo-base")
            letters.first.wait_for()
            letters.nth(letters.count() // 2).click()
            page.wait_for_selector("#what-if-table")
            page.screenshot(path=output, full_page=True)
            browser.close()
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__.split("\n\n")[1])
    main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) == 4 else "docs/web-sequence.png")
