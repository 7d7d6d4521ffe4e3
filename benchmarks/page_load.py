"""How fast the dashboard shows its first chart, against a bare one-chart Streamlit page.

Method (one run, one machine):
1. Start `streamlit run app.py` (shipped data/reference, an empty runs folder) and two servers
   running `benchmarks/one_chart_app.py`, a page with nothing but one Plotly chart:
   (a) the Overview's own figure for its default inputs (built by the same engine calls:
   `engine.explain.answer`, as the page calls it);
   (b) a one-trace log-log scatter with as many points as the Overview's chart.
2. In headless Chromium (/usr/bin/chromium via Playwright), open each once to warm the server.
3. Time, `ROUNDS` times each and in turn, from `page.goto` to the first Plotly chart's SVG being
   visible. Report medians and the ratios Overview / baseline (goal <= 1.3).
4. The dashboard server's resident memory (psutil RSS of the streamlit process) after every
   page was opened, with no job running (goal <= 400 MB).
Usage: python benchmarks/page_load.py
"""

from __future__ import annotations

import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import psutil
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CHROMIUM = os.environ.get("CROSSOVER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ROUNDS = 7
POINTS_JS = """() => { const p = document.querySelector('.js-plotly-plot');
  return (p._fullData || []).reduce((n, t) => n + (t.x ? t.x.length : 0), 0); }"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(script: str, env: dict) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", script, "--server.headless", "true", "--server.port", str(port),
         "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                if answer.read() == b"ok":
                    return proc, url
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{script} did not start")


def _time_to_chart(page, url: str) -> float:
    t0 = time.perf_counter()
    page.goto(url)
    page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for(state="visible", timeout=60_000)
    return time.perf_counter() - t0


def overview_figure_json(path: Path) -> None:
    """The Overview's chart for its default inputs, written as Plotly JSON (same engine calls as the page)."""
    import plotly.io as pio

    from engine import explain, store
    from engine.config import DataConfig, ModelConfig, RunConfig, TrainConfig
    from engine.cost import Prices

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
    app, app_url = _start("app.py", env)
    same, scatter = None, None
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            _time_to_chart(page, app_url)  # warm: first script run, caches filled
            points = page.evaluate(POINTS_JS)
            same, same_url = _start("benchmarks/one_chart_app.py", dict(env, ONE_CHART_FIGURE=str(figure_json)))
            scatter, bare_url = _start("benchmarks/one_chart_app.py", dict(env, ONE_CHART_POINTS=str(points)))
            _time_to_chart(page, same_url)
            _time_to_chart(page, bare_url)
            app_times, same_times, bare_times = [], [], []
            for _ in range(ROUNDS):
                app_times.append(_time_to_chart(page, app_url))
                same_times.append(_time_to_chart(page, same_url))
                bare_times.append(_time_to_chart(page, bare_url))
            for path in ("benchmark", "speedup", "hardware", "results", ""):
                page.goto(f"{app_url}/{path}")
                page.wait_for_timeout(3000)
            rss = psutil.Process(app.pid).memory_info().rss
            browser.close()
    finally:
        for proc in (app, same, scatter):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=10)
    app_s, same_s, bare_s = (statistics.median(t) for t in (app_times, same_times, bare_times))
    ratio, ratio_scatter = app_s / same_s, app_s / bare_s
    print(f"page_load  {datetime.now(UTC).isoformat(timespec='seconds')}  {platform.node()}  "
          f"{psutil.cpu_count()} cores  rounds={ROUNDS}")
    print(f"  Overview: first chart visible after     {app_s:.3f} s (median; all {[round(t, 3) for t in app_times]})")
    print(f"  one-chart page, the Overview's figure:  {same_s:.3f} s (median; all {[round(t, 3) for t in same_times]})")
    print(f"  one-chart page, {points}-point scatter:   {bare_s:.3f} s (median; all {[round(t, 3) for t in bare_times]})")
    print(f"  ratio to the same figure alone           {ratio:.2f}   goal <= 1.3  {'pass' if ratio <= 1.3 else 'FAIL'}")
    print(f"  ratio to a plain scatter of as many points {ratio_scatter:.2f}   (for reference)")
    print(f"  server RSS, every page opened, no job:  {rss / 2**20:.0f} MiB   goal <= 400 MB  "
          f"{'pass' if rss <= 400e6 else 'FAIL'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
