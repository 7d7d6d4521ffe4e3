"""Screenshots of every page at a laptop's and a phone's width, for docs/screenshots/ and the README.

Starts `streamlit run app.py` on the shipped data/reference with an empty runs folder (what a visitor of a fresh
install sees), opens each page in headless Chromium (/usr/bin/chromium through Playwright; never a downloaded
browser) at 1400 and 420 px, waits for its charts, grows the window to the page's whole height and saves
docs/screenshots/<page>-<width>.jpg. Run it after changing a page, then look at the pictures.

Usage: python scripts/screenshots.py [--out docs/screenshots] [--widths 1400,420] [--pages overview,speedup]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import serve

ROOT = Path(__file__).resolve().parents[1]
# page name -> (URL path, heading, charts the page draws with the shipped data)
PAGES = {
    "overview": ("", "Do you need a GPU?", 1),
    "benchmark": ("benchmark", "Benchmark", 0),
    "speedup": ("speedup", "Speedup explorer", 3),
    "cost": ("cost", "Cost", 1),
    "hardware": ("hardware", "Hardware", 2),
    "scaling": ("scaling", "Scaling", 0),
    "results": ("results", "Results", 0),
}
MAX_HEIGHT_PX = 7000  # a page longer than this is cut: the screenshot is for looking at, not an archive


def shoot(browser, url: str, page: str, width: int, out: Path) -> Path:
    """One page at one width, whole height, as JPEG; returns the file written."""
    path, heading, charts = PAGES[page]
    tab = browser.new_page(viewport={"width": width, "height": 900})
    tab.set_default_timeout(60_000)
    try:
        tab.goto(f"{url}/{path}")
        tab.get_by_role("heading", name=heading).first.wait_for()
        if charts:
            tab.locator('[data-testid="stPlotlyChart"] .main-svg').nth(charts - 1).wait_for()
        tab.wait_for_timeout(1500)  # fonts, icons and Plotly's last layout pass
        height = tab.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
        tab.set_viewport_size({"width": width, "height": min(max(900, height), MAX_HEIGHT_PX)})
        tab.wait_for_timeout(800)  # charts redraw at the new window size
        target = out / f"{page}-{width}.jpg"
        tab.screenshot(path=str(target), type="jpeg", quality=70, full_page=True)
        return target
    finally:
        tab.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"), help="folder for the pictures")
    parser.add_argument("--widths", default="1400,420", help="window widths in px, comma-separated")
    parser.add_argument("--pages", default=",".join(PAGES), help=f"pages, comma-separated: {', '.join(PAGES)}")
    args = parser.parse_args(argv)
    pages = [p for p in args.pages.split(",") if p]
    unknown = [p for p in pages if p not in PAGES]
    if unknown:
        parser.error(f"--pages: unknown {', '.join(unknown)}; expected some of {', '.join(PAGES)}")
    widths = [int(w) for w in args.widths.split(",") if w]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as scratch:
        runs = Path(scratch) / "runs"
        runs.mkdir()
        proc, url = serve.start("app.py", serve.app_env(runs))
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=serve.CHROMIUM, args=serve.CHROMIUM_ARGS)
                for page in pages:
                    for width in widths:
                        print(shoot(browser, url, page, width, out))
                browser.close()
        finally:
            serve.stop(proc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
