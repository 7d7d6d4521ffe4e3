"""Screenshots of every page at a laptop's and a phone's width, for docs/screenshots/ and the README.

Starts `streamlit run app.py` on the shipped data/reference with an empty runs folder (what a visitor of a fresh
install sees), opens each page in headless Chromium (/usr/bin/chromium through Playwright; never a downloaded
browser) at 1400 and 420 px, waits for its charts, grows the window to the page's whole height and saves
docs/screenshots/<page>-<width>.jpg. Run it after changing a page, then look at the pictures.

Usage: python scripts/screenshots.py [--out docs/screenshots] [--widths 1400,420] [--pages overview,speedup]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CROSSOVER_CHROMIUM", "/usr/bin/chromium")
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(runs_dir: Path) -> tuple[subprocess.Popen, str]:
    """`streamlit run app.py` on a free port; returns (process, base URL) once its health check answers."""
    port = _free_port()
    env = dict(os.environ, CROSSOVER_RUNS_DIR=str(runs_dir), CROSSOVER_SESSIONS_DIR=str(runs_dir.parent / "s"),
               JAX_PLATFORMS="cpu", PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                             "--server.port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                if answer.read() == b"ok":
                    return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("streamlit did not start within 60 s")


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
        proc, url = start_server(runs)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox",
                                                                            "--disable-gpu"])
                for page in pages:
                    for width in widths:
                        print(shoot(browser, url, page, width, out))
                browser.close()
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
