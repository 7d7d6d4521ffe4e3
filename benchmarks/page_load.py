"""How fast the dashboard shows its first chart, against a bare one-chart Streamlit page.

Method (one run, one machine):
1. Start `streamlit run app.py` (shipped data/reference, an empty runs folder) and a server running
   `benchmarks/one_chart_app.py`, a page with nothing but one Plotly chart: the Overview's own
   figure for its default inputs (built by the same engine call, `engine.answer.explain.answer`), drawn
   at the width and height the Overview's chart has in the same browser window. Only
   these two servers: every server is its own origin, and each extra origin the browser switches
   between made every page slower here.
2. In headless Chromium (/usr/bin/chromium via Playwright), open each twice to warm the server.
3. Visit them in turn, `ROUNDS` times each. Per visit, two measures of the time until the first
   Plotly chart is visible:
   - painted (the goal's measure): an observer installed before the page's scripts notes when
     the chart's SVG is in the page with a non-zero size, and then the first moment after the
     next frame is painted (requestAnimationFrame, then a task), in ms since navigation start;
   - wall: from `page.goto` (returning at "commit", not "load", which also waits for fonts and
     icons off the chart's path) until Playwright sees the SVG visible. Playwright's check runs
     on the page's main thread, so it also waits behind whatever renders after the chart.
   Report medians and the ratios Overview / one-chart page (goal <= 1.3, painted).
4. The dashboard server's resident memory (psutil RSS of the streamlit process) after every
   page was opened, with no job running (goal <= 400 MB).
Usage: python benchmarks/page_load.py
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import serve  # noqa: E402

CHROMIUM = serve.CHROMIUM
CHROMIUM_ARGS = serve.CHROMIUM_ARGS
ROUNDS = int(os.environ.get("ROUNDS", "25"))  # 15 until 2026-11-26 22:40: the median moved by up to 0.1 between runs
# Installed before any page script: sets window.__chart_painted_ms once the first chart is painted.
PAINT_OBSERVER = """
window.__chart_painted_ms = null;
new MutationObserver((_, observer) => {
  const svg = document.querySelector('[data-testid="stPlotlyChart"] .main-svg');
  if (!svg) return;
  const box = svg.getBoundingClientRect();
  if (!(box.width > 0 && box.height > 0)) return;
  observer.disconnect();
  requestAnimationFrame(() => setTimeout(() => { window.__chart_painted_ms = performance.now(); }, 0));
}).observe(document, {childList: true, subtree: true, attributes: true});
"""


def _time_to_chart(page, url: str) -> tuple[float, float]:
    """(painted, wall) seconds for one visit of `url` (see the module doc)."""
    t0 = time.perf_counter()
    page.goto(url, wait_until="commit")  # not "load": that also waits for fonts and icons off the chart's path
    page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for(state="visible", timeout=60_000)
    wall = time.perf_counter() - t0
    page.wait_for_function("window.__chart_painted_ms !== null", timeout=60_000)
    return page.evaluate("window.__chart_painted_ms") / 1000, wall


def overview_figure_json(path: Path) -> None:
    """The Overview's chart for its default inputs, written as Plotly JSON (same engine calls as the page)."""
    import plotly.io as pio

    from engine.analysis.cost import Prices
    from engine.answer import explain
    from engine.base.config import DataConfig, ModelConfig, RunConfig, TrainConfig
    from engine.runlog import store

    runs = store.load_runs([ROOT / "data" / "reference"], source="reference").frame.collect()
    job = RunConfig(model=ModelConfig("mlp", width=256, depth=2, channels=16), data=DataConfig(samples=50_000),
                    train=TrainConfig(batch_size=128, epochs=10, dtype="float32"))
    _, fig = explain.answer(job, runs, Prices(), 10)
    pio.write_json(fig, str(path))


def main() -> int:
    runs_dir = tempfile.mkdtemp(prefix="crossover-bench-runs-")
    env = dict(os.environ, CROSSOVER_RUNS_DIR=runs_dir, JAX_PLATFORMS="cpu")
    figure_json = Path(runs_dir) / "overview-figure.json"
    overview_figure_json(figure_json)
    app, app_url = serve.start("app.py", env)
    alone = None
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.add_init_script(PAINT_OBSERVER)
            _time_to_chart(page, app_url)
            box = page.locator('[data-testid="stPlotlyChart"]').first.bounding_box()
            size = {"ONE_CHART_WIDTH": str(round(box["width"])), "ONE_CHART_HEIGHT": str(round(box["height"]))}
            alone, alone_url = serve.start("benchmarks/one_chart_app.py",
                                      dict(env, ONE_CHART_FIGURE=str(figure_json), **size))
            for url in (alone_url, app_url, alone_url):  # warm: first script runs, caches filled
                _time_to_chart(page, url)
            times = {"app": [], "alone": []}
            for _ in range(ROUNDS):
                times["app"].append(_time_to_chart(page, app_url))
                times["alone"].append(_time_to_chart(page, alone_url))
            for path in ("benchmark", "speedup", "cost", "hardware", "scaling", "results", ""):
                page.goto(f"{app_url}/{path}")
                page.wait_for_timeout(3000)
            rss = psutil.Process(app.pid).memory_info().rss
            browser.close()
    finally:
        for proc in (app, alone):
            serve.stop(proc)

    def medians(which: str) -> tuple[float, float, list]:
        painted, wall = zip(*times[which])
        return statistics.median(painted), statistics.median(wall), [round(t, 3) for t in painted]

    (app_p, app_w, app_all), (alone_p, alone_w, alone_all) = medians("app"), medians("alone")
    ratio = app_p / alone_p
    print(f"page_load  {datetime.now(UTC).isoformat(timespec='seconds')}  {platform.node()}  "
          f"{psutil.cpu_count()} cores  rounds={ROUNDS}")
    print(f"  Overview, first chart painted:           {app_p:.3f} s (median; all {app_all}); wall {app_w:.3f} s")
    print(f"  one-chart page, the Overview's figure at its size ({size['ONE_CHART_WIDTH']} x "
          f"{size['ONE_CHART_HEIGHT']} px):")
    print(f"                                           {alone_p:.3f} s (median; all {alone_all}); wall {alone_w:.3f} s")
    print(f"  ratio Overview / same figure alone      {ratio:.2f}   goal <= 1.3  {'pass' if ratio <= 1.3 else 'FAIL'}")
    print(f"  the same ratio on wall time             {app_w / alone_w:.2f}   (for reference)")
    print(f"  server RSS, every page opened, no job:  {rss / 2**20:.0f} MiB   goal <= 400 MB  "
          f"{'pass' if rss <= 400e6 else 'FAIL'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
