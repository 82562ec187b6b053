"""Screenshot the Sequence and Run pages of ``peakcnn serve`` for the README (Debian's Chromium).

Usage: ``python3 scripts/web-screenshot.py RESULTS_DIR chrom:start-end [SEQUENCE.png [RUN.png]]``:
serves RESULTS_DIR on a free local port, scores the region on the Sequence page, clicks its
central base for the what-if table and saves the page (default ``docs/web-sequence.png``), then
saves the Run page of the first dataset's chosen model (default ``docs/web-run.png``). Each
page's load time is printed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
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


def main(results: str, query: str, sequence_png: str, run_png: str) -> None:
    """Serve ``results``, screenshot the Sequence page scoring ``query`` and the Run page."""
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
            sequence_page(page, url, query, sequence_png)
            run_page(page, url, run_png)
            browser.close()
    finally:
        server.terminate()
        server.wait()


def sequence_page(page, url: str, query: str, output: str) -> None:
    """Score ``query``, click the window's central base and save the page."""
    started = time.perf_counter()
    page.goto(f"{url}sequence")
    print(f"Sequence page (empty form) loaded in {time.perf_counter() - started:.2f} s")
    page.fill("#query", query)
    started = time.perf_counter()
    page.click("#score")
    letters = page.locator("#logo text.logo-base")
    letters.first.wait_for()
    print(f"{query} scored and explained in {time.perf_counter() - started:.2f} s")
    letters.nth(letters.count() // 2).click()
    page.wait_for_selector("#what-if-table")
    page.screenshot(path=output, full_page=True)
    print(f"wrote {output}")


def run_page(page, url: str, output: str) -> None:
    """Open the Run page from the navigation bar, wait for its plots and save it."""
    started = time.perf_counter()
    page.click("nav >> text=Run")
    page.wait_for_load_state("load")
    print(f"Run page loaded (plots included) in {time.perf_counter() - started:.2f} s")
    broken = page.locator("img").evaluate_all(
        "imgs => imgs.filter(i => !(i.complete && i.naturalWidth)).map(i => i.alt)"
    )
    if broken:
        sys.exit(f"Run page: plots not shown: {', '.join(broken)}")
    page.screenshot(path=output, full_page=True)
    print(f"wrote {output}")


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4, 5):
        sys.exit(__doc__.split("\n\n")[1])
    defaults = [str(REPO / "docs" / "web-sequence.png"), str(REPO / "docs" / "web-run.png")]
    outputs = sys.argv[3:] + defaults[len(sys.argv) - 3 :]
    main(sys.argv[1], sys.argv[2], *outputs)
