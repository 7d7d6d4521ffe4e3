"""End to end in a real browser: `streamlit run app.py`, headless Chromium, every page, one run.

Chromium is the system's (/usr/bin/chromium); Playwright never downloads a browser here. The
server reads the fixture folders (real CPU runs + synthetic GPU twins, see tests/fixtures),
except that the reference folder is the repository's data/reference once it holds GPU runs,
so the screenshot saved to docs/screenshot-speedup.png shows real measurements when they exist.
The tests run in file order against one server: the first opens a deep link on the fresh
server, which is the case `dashboard.state.through_app` exists for.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "fixtures"))

import fixture_data  # noqa: E402

pytestmark = pytest.mark.e2e

CHROMIUM = os.environ.get("CROSSOVER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PAGES = [("", "Do you need a GPU?"),  # the default page lives at /
         ("benchmark", "Benchmark"), ("speedup", "Speedup explorer"), ("cost", "Cost"), ("hardware", "Hardware"),
         ("results", "Results")]
SCREENSHOT = ROOT / "docs" / "screenshot-speedup.png"
TINY_RUN = "bm_width=32&bm_depth=1&bm_samples=256&bm_batch=64&bm_repeats=1&bm_epochs=2"
TINY_RUN_PARAMS = 784 * 32 + 32 + 32 * 10 + 10  # the MLP 784-32-10 that TINY_RUN trains
# x values of every trace of every Plotly chart on the page (decoded by Plotly into _fullData)
CHART_XS = """() => Array.from(document.querySelectorAll('.js-plotly-plot'))
    .flatMap(p => (p._fullData || []).map(t => Array.from(t.x || [])))"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _reference_folder(fixture_reference: Path) -> Path:
    """The repository's data/reference if it holds any GPU run, else the fixture folder."""
    import polars as pl

    from engine.runlog.store import load_runs

    shipped = ROOT / "data" / "reference"
    frame = load_runs([shipped], source="reference").frame.collect()
    return shipped if frame.filter(pl.col("platform") != "cpu").height else fixture_reference


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    runs, reference = fixture_data.make_folders(root, local_runs=False)
    port = _free_port()
    env = dict(os.environ, CROSSOVER_RUNS_DIR=str(runs), CROSSOVER_REFERENCE_DIR=str(_reference_folder(reference)),
               JAX_PLATFORMS="cpu", PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1")
    log = open(root / "streamlit.log", "w")  # noqa: SIM115 - closed below, after the server stops
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
         "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                if answer.read() == b"ok":
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"streamlit did not start: {(root / 'streamlit.log').read_text()[-2000:]}")
        time.sleep(0.2)
    yield url, runs
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    log.close()


@pytest.fixture(scope="module")
def page(server):
    if not Path(CHROMIUM).exists() and not shutil.which(CHROMIUM):
        if os.environ.get("CI"):  # CI installs Chromium: its absence there is a failure, not a skip
            pytest.fail(f"no Chromium at {CHROMIUM}")
        pytest.skip(f"no Chromium at {CHROMIUM} (set CROSSOVER_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        tab.set_default_timeout(30_000)
        yield tab
        browser.close()


def _open(page, url: str, title: str):
    page.goto(url)
    page.get_by_role("heading", name=title).first.wait_for()
    page.get_by_text("Data sources").first.wait_for()  # the shared sidebar: app.py's frame ran
    assert page.locator('[data-testid="stException"]').count() == 0


def _wait_for_chart(page, count: int = 1):
    charts = page.locator('[data-testid="stPlotlyChart"] .main-svg')
    charts.nth(count - 1).wait_for()
    return charts


def test_deep_link_on_a_fresh_server_gets_the_app_frame(server, page):
    url, _ = server
    _open(page, f"{url}/speedup?sp_models=mlp", "Speedup explorer")
    _wait_for_chart(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    assert "sp_models=mlp" in page.url  # the shared setting survived


def test_every_page_opens(server, page):
    url, _ = server
    for path, title in PAGES:
        _open(page, f"{url}/{path}", title)


def _runs_total(page) -> int:
    """M of the Results page's caption "N of M runs shown"."""
    caption = page.get_by_text(" runs shown").first.inner_text()
    return int(caption.split(" of ")[1].split(" runs")[0].replace(",", ""))


def test_a_tiny_benchmark_runs_and_shows_its_chart(server, page):
    url, runs = server
    _open(page, f"{url}/results", "Results")
    before = _runs_total(page)
    _open(page, f"{url}/benchmark?{TINY_RUN}", "Benchmark")
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_role("heading", name="Runs of this job").wait_for(timeout=120_000)
    _wait_for_chart(page, 2)  # loss curve and the comparison across devices
    assert page.get_by_text("Training loss per epoch").count() >= 1
    assert page.locator('[data-testid="stException"]').count() == 0
    assert list(runs.glob("runs-*.parquet"))
    # The new run is on the Results page and in the Speedup explorer's time-per-epoch chart.
    _open(page, f"{url}/results", "Results")
    assert _runs_total(page) == before + 1
    _open(page, f"{url}/speedup", "Speedup explorer")
    page.get_by_text("Time per epoch vs parameters").wait_for()
    _wait_for_chart(page)
    assert any(TINY_RUN_PARAMS in xs for xs in page.evaluate(CHART_XS))


def test_screenshot_of_the_speedup_explorer(server, page):
    url, _ = server
    _open(page, f"{url}/speedup", "Speedup explorer")
    _wait_for_chart(page)
    page.get_by_text("Time per epoch vs parameters").wait_for()  # the last chart of the page
    page.wait_for_timeout(500)  # let plotly finish drawing
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.stat().st_size > 10_000
