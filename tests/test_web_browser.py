"""``peakcnn serve`` in a real browser: Debian's headless Chromium driven by Playwright.

Nothing downloads a browser: Playwright drives the system's ``/usr/bin/chromium`` (or
``$PEAKCNN_CHROMIUM``); install it with ``scripts/install-browser.sh``. Without it the tests
are skipped, unless ``PEAKCNN_REQUIRE_BROWSER=1`` (CI) makes that a failure. A screenshot of
each page is written to ``results/web-screenshots/`` (or ``$PEAKCNN_SCREENSHOTS``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from apply_helpers import reference_logits
from web_helpers import serving, write_results

CHROMIUM = os.environ.get("PEAKCNN_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(
    os.environ.get(
        "PEAKCNN_SCREENSHOTS", Path(__file__).resolve().parents[1] / "results" / "web-screenshots"
    )
)
#: Chromium flags for a root, offline, headless run with nothing fetched in the background.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _missing_browser() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    if not shutil.which(CHROMIUM):
        return f"no Chromium at {CHROMIUM} (bash scripts/install-browser.sh)"
    return None


@pytest.fixture(scope="module")
def browser_site(tmp_path_factory):
    """One served tiny results folder and one headless Chromium page for the whole module."""
    reason = _missing_browser()
    if reason:
        if os.environ.get("PEAKCNN_REQUIRE_BROWSER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    folder = tmp_path_factory.mktemp("browser")
    results, contigs = write_results(folder)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with serving(results) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(120_000)
        try:
            yield url, page, contigs, results / "demo" / "models" / "basset" / "model.pt"
        finally:
            browser.close()


def test_sequence_page_shows_score_logo_heatmap_and_what_if(browser_site):
    url, page, contigs, model = browser_site
    page.goto(url)
    assert page.locator("table td").first.inner_text() == "demo"
    page.screenshot(path=str(SCREENSHOTS / "index.png"), full_page=True)
    page.click("nav >> text=Sequence")
    window = contigs["Chr1"][1000:1100]
    page.fill("#query", ">block1\n" + window)
    page.click("#score")
    page.wait_for_selector("#logo-svg")
    shown = [float(text) for text in page.locator("#scores td.probability").all_inner_texts()]
    expected = 1 / (1 + np.exp(-reference_logits(model, [window])[0].astype(np.float64)))
    assert np.allclose(shown, expected, atol=6e-5)
    letters = page.locator("#logo text.logo-base")
    assert letters.count() == 100
    assert "".join(letters.evaluate_all("els => els.map(e => e.dataset.base)")) == window.upper()
    heights = letters.evaluate_all("els => els.map(e => e.getBoundingClientRect().height)")
    assert max(heights) > 5 * min(heights)  # letter heights follow the SHAP values
    cells = page.locator("#ism rect.ism-cell")
    assert cells.count() == 4 * 40
    fills = cells.evaluate_all("els => els.map(e => e.getAttribute('fill'))")
    assert not cells.evaluate_all("els => els.filter(e => e.getAttribute('stroke')).length")
    grey = ["ACGT"[b] for j in range(40) for b in range(4) if fills[b * 40 + j] == "#bdbdbd"]
    assert "".join(grey) == window[30:70].upper()  # the observed base of each column is grey
    assert "logit change" in page.inner_text("#ism")
    page.select_option("#span", "50")
    assert letters.count() == 50
    assert page.inner_text("#span-label") == "26–75"
    page.locator("#logo text.logo-base").nth(24).click()  # window base 49, position 50
    rows = page.locator("#what-if-table tr")
    rows.nth(6).wait_for()
    cells = rows.nth(1).locator("td").all_inner_texts()
    assert cells[0] == "50" and cells[1] == window[49].upper()
    assert rows.count() == 1 + 3 * 2
    selected = page.locator(".selected")
    assert selected.count() == 1 + 4  # the letter and its heatmap column
    assert set(selected.evaluate_all("els => els.map(e => e.dataset.index)")) == {"49"}
    page.screenshot(path=str(SCREENSHOTS / "sequence.png"), full_page=True)


def test_bad_input_shows_a_message_not_a_trace(browser_site):
    url, page, _, _ = browser_site
    page.goto(f"{url}sequence?dataset=demo")
    page.fill("#query", "Chr1:2900-3200")
    page.click("#score")
    message = page.inner_text("#error")
    assert "runs off the end of Chr1 (3,000 bp)" in message
    assert "Traceback" not in page.content()
    page.screenshot(path=str(SCREENSHOTS / "sequence-error.png"), full_page=True)


def test_run_page_shows_metrics_and_plots(browser_site):
    url, page, _, model = browser_site
    import matplotlib.pyplot as plt

    logos = model.parents[2] / "attribution" / "basset" / "logos.png"
    logos.parent.mkdir(parents=True, exist_ok=True)
    figure = plt.figure(figsize=(9.6, 9.5), dpi=100)  # as tall as the demo's five SHAP logos
    figure.savefig(logos, dpi=100)
    plt.close(figure)
    page.goto(url)
    page.click("nav >> text=Run")
    assert "0.8123" in page.inner_text("table.data")
    image = page.locator("img[alt='eval/basset/roc.png']")
    assert image.evaluate("img => img.complete && img.naturalWidth") > 0
    shown = image.evaluate("img => [img.clientWidth, img.naturalWidth]")
    assert shown[0] == shown[1]  # a plot at its own size, not shrunk
    tall = page.locator("img[alt='attribution/basset/logos.png']")
    assert tall.evaluate("img => [img.clientWidth, img.clientHeight]") == [960, 950]
    assert "eval/models.tsv" in page.inner_text("body")
    page.screenshot(path=str(SCREENSHOTS / "run.png"), full_page=True)
