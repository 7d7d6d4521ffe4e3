"""End to end in a real browser: `streamlit run app.py`, headless Chromium, every page, one run.

Chromium is the system's (/usr/bin/chromium); Playwright never downloads a browser here. The
server reads the fixture folders (real CPU runs + synthetic GPU twins, see tests/fixtures),
except that the reference folder is the repository's data/reference once it holds GPU runs,
so a screenshot asked for with CROSSOVER_SCREENSHOT shows real measurements when they exist (the README's pictures
come from scripts/screenshots.py).
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
# Tests never write into the repository: the screenshot lands in a temporary folder unless asked for
# (CROSSOVER_SCREENSHOT=/some/file.png keeps it; scripts/screenshots.py makes the README's pictures).
SCREENSHOT_ASKED = os.environ.get("CROSSOVER_SCREENSHOT")
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
               CROSSOVER_SESSIONS_DIR=str(root / "sessions"), JAX_PLATFORMS="cpu",
               PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1")
    env.pop("CROSSOVER_SHARED_IMPORTS", None)
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
    # the shared sidebar: the app frame ran (attached: on a phone the sidebar starts collapsed)
    page.get_by_text("Data sources").first.wait_for(state="attached")
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


def test_screenshot_of_the_speedup_explorer(server, page, tmp_path):
    url, _ = server
    screenshot = Path(SCREENSHOT_ASKED) if SCREENSHOT_ASKED else tmp_path / "screenshot-speedup.png"
    _open(page, f"{url}/speedup", "Speedup explorer")
    _wait_for_chart(page)
    page.get_by_text("Time per epoch vs parameters").wait_for()  # the last chart of the page
    page.wait_for_timeout(500)  # let plotly finish drawing
    screenshot.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000


def _go(tab, title: str):
    """Open a page through the sidebar's navigation, as a visitor does: the same browser session (loading a URL
    afresh starts a new one)."""
    tab.locator('[data-testid="stSidebarNavLink"]', has_text=title).first.click()
    tab.get_by_role("heading", name=title).first.wait_for()
    assert tab.locator('[data-testid="stException"]').count() == 0


def _headline_and_total(tab) -> tuple[list[str], int]:
    """The Overview's alerts (its headline answer first among them) and the Results page's run total."""
    _go(tab, "Do you need a GPU?")
    _wait_for_chart(tab)
    alerts = tab.locator('[data-testid="stMain"] [data-testid="stAlert"]').all_inner_texts()
    _go(tab, "Results")
    tab.get_by_text(" runs shown").first.wait_for()
    return alerts, _runs_total(tab)


def _hostile_file(folder: Path) -> Path:
    """Run records of a made-up accelerator 1,000x faster than the reference GPU, with new run ids: the kind
    of upload that once flipped every visitor's headline."""
    import polars as pl

    from engine.runlog.store import load_runs

    gpu = load_runs([ROOT / "data" / "reference"]).frame.collect().filter(pl.col("platform") == "gpu")
    scale = [pl.col(c) / 1000 for c in ("epoch_s_median", "first_epoch_s", "end_to_end_s")]
    fake = gpu.with_columns(*scale, pl.col("epoch_times_s").list.eval(pl.element() / 1000),
                            pl.lit("Acme Fake GPU 9000").alias("device_kind"),
                            (pl.lit("fake-") + pl.col("run_id")).alias("run_id"))
    path = folder / "hostile.parquet"
    fake.write_parquet(path)
    return path


def test_an_upload_changes_only_the_uploaders_session(server, page, tmp_path):
    """Issue 21: a stranger's upload must not change another visitor's answer. Two real browser sessions:
    the uploader sees the new runs; the other one's Overview and Results are exactly as before."""
    url, _ = server
    other = page.context.browser.new_page(viewport={"width": 1400, "height": 1000})
    other.set_default_timeout(30_000)
    try:
        _open(other, f"{url}/", "Do you need a GPU?")
        alerts_before, total_before = _headline_and_total(other)
        _open(page, f"{url}/results", "Results")
        page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(_hostile_file(tmp_path)))
        page.get_by_text("hostile.parquet: imported").wait_for(timeout=60_000)
        alerts_uploader, uploader_total = _headline_and_total(page)
        assert uploader_total > total_before  # the uploader's own session sees the runs it uploaded
        assert alerts_uploader != alerts_before  # and the file is hostile enough to change its answer
        alerts_after, total_after = _headline_and_total(other)
        assert total_after == total_before
        assert alerts_after == alerts_before
        assert not any("Acme Fake GPU 9000" in text for text in alerts_after)
    finally:
        other.close()


# --- issue 18: phone and laptop widths, short legends, units on hover, links that keep every setting -------------

# Per chart on the page: its right edge, its legend's entries and the hover templates of its traces.
CHART_FACTS = """() => Array.from(document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')).map(p => ({
    right: p.getBoundingClientRect().right,
    legend: p.querySelectorAll('.legend .traces').length,
    hover: (p._fullData || []).filter(t => t.visible !== false).map(t => t.hovertemplate || '')}))"""
PAGE_OVERFLOW = """() => { const main = document.querySelector('[data-testid="stMain"]');
    return {page: document.documentElement.scrollWidth - window.innerWidth,
            main: main ? main.scrollWidth - main.clientWidth : 0}; }"""
CHART_PAGES = [("", "Do you need a GPU?", 1), ("speedup", "Speedup explorer", 3), ("cost", "Cost", 1),
               ("hardware", "Hardware", 2)]


@pytest.mark.parametrize("width", [420, 1400])
def test_every_page_fits_the_width_with_short_legends(server, page, width):
    url, _ = server
    tab = page.context.browser.new_page(viewport={"width": width, "height": 900})
    tab.set_default_timeout(30_000)
    try:
        for path, title, charts in CHART_PAGES:
            _open(tab, f"{url}/{path}", title)
            _wait_for_chart(tab, charts)
            tab.wait_for_timeout(300)  # let plotly lay out its legends
            facts = tab.evaluate(CHART_FACTS)
            assert len(facts) >= charts
            for chart in facts:
                assert chart["right"] <= width + 1, f"{title} at {width} px: a chart runs off the screen"
                assert chart["legend"] <= 8, f"{title} at {width} px: a legend of {chart['legend']} entries"
            overflow = tab.evaluate(PAGE_OVERFLOW)
            assert overflow["page"] <= 1 and overflow["main"] <= 1, f"{title} at {width} px scrolls sideways"
        for path, title in [p for p in PAGES if p[0] in ("benchmark", "results")] + [("scaling", "Scaling")]:
            _open(tab, f"{url}/{path}", title)
            overflow = tab.evaluate(PAGE_OVERFLOW)
            assert overflow["page"] <= 1 and overflow["main"] <= 1, f"{title} at {width} px scrolls sideways"
    finally:
        tab.close()


def test_speedup_hover_text_has_units(server, page):
    url, _ = server
    _open(page, f"{url}/speedup", "Speedup explorer")
    _wait_for_chart(page, 3)
    templates = [t for chart in page.evaluate(CHART_FACTS) for t in chart["hover"] if t]
    per_epoch = [t for t in templates if "GPU speedup over CPU (per epoch)" in t]
    assert per_epoch and all("}x<br>" in t and "CPU s/epoch: %{customdata" in t and " s<br>" in t for t in per_epoch)
    assert any(" samples" in t for t in templates)


def test_a_copied_link_keeps_the_sidebar_and_the_page_settings(server, page):
    """Set a price in the sidebar, change a setting on two pages, copy the last page's link: a new browser context
    opened on it shows the same price and the same page setting (the other page's setting belongs to its own link)."""
    url, _ = server
    tab = page.context.browser.new_page(viewport={"width": 1400, "height": 1000})
    tab.set_default_timeout(30_000)
    try:
        _open(tab, f"{url}/", "Do you need a GPU?")
        tab.get_by_role("button", name="Data sources and prices").click()
        price = tab.get_by_role("spinbutton", name="GPU price override, $ per hour")
        price.fill("2.5")
        price.press("Enter")
        tab.get_by_text("(typed)").first.wait_for()
        tab.keyboard.press("Escape")
        _go(tab, "Cost")
        epochs = tab.get_by_role("spinbutton", name="Epochs per training run")
        epochs.fill("40")
        epochs.press("Enter")
        tab.wait_for_function("() => location.search.includes('co_epochs=40')")
        _go(tab, "Speedup explorer")
        tab.get_by_text("Show every column").click()
        tab.wait_for_function("() => location.search.includes('sp_all_columns=true')")
        link = tab.url
        assert "gpu_price=2.5" in link  # the sidebar's setting survived two page switches
    finally:
        tab.close()
    fresh = page.context.browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        other = fresh.new_page()
        other.set_default_timeout(30_000)
        _open(other, link, "Speedup explorer")
        other.get_by_text("(typed)").first.wait_for()
        assert "$2.5/h" in other.locator('[data-testid="stSidebar"]').inner_text()
        assert other.get_by_role("switch", name="Show every column").is_checked()
        assert "gpu_price=2.5" in other.url and "sp_all_columns=true" in other.url
    finally:
        fresh.close()


def test_the_server_warmed_up_at_start(server):
    """app.py's st.App lifespan (dashboard.warmup) ran and said so in the server's log."""
    _, runs = server
    log = runs.parent / "streamlit.log"
    deadline = time.monotonic() + 60
    while "warm-up done in" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert "warm-up done in" in log.read_text() and "warm-up failed" not in log.read_text()
