"""How fast the dashboard shows its first chart, against a bare one-chart Streamlit page.

Method (one run, one machine):
1. Start `streamlit run app.py` (shipped data/reference, an empty runs folder) and a second
   server running `benchmarks/one_chart_app.py`, a page with nothing but one Plotly scatter.
2. In headless Chromium (/usr/bin/chromium via Playwright), open the Overview once to warm the
   server, read how many points its first chart holds, and size the bare page's scatter to match.
3. Time, `ROUNDS` times each and alternating, from `page.goto` to the first Plotly chart's SVG
   being visible. Report medians and their ratio (goal <= 1.3).
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


def main() -> int:
    runs_dir = tempfile.mkdtemp(prefix="crossover-bench-runs-")
    env = dict(os.environ, CROSSOVER_RUNS_DIR=runs_dir, JAX_PLATFORMS="cpu")
    app, app_url = _start("app.py", env)
    bare = None
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            _time_to_chart(page, app_url)  # warm: first script run, caches filled
            points = page.evaluate(POINTS_JS)
            bare, bare_url = _start("benchmarks/one_chart_app.py", dict(env, ONE_CHART_POINTS=str(points)))
            _time_to_chart(page, bare_url)
            app_times, bare_times = [], []
            for _ in range(ROUNDS):
                app_times.append(_time_to_chart(page, app_url))
                bare_times.append(_time_to_chart(page, bare_url))
            for path in ("benchmark", "speedup", "hardware", "results", ""):
                page.goto(f"{app_url}/{path}")
                page.wait_for_timeout(3000)
            rss = psutil.Process(app.pid).memory_info().rss
            browser.close()
    finally:
        for proc in (app, bare):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=10)
    app_s, bare_s = statistics.median(app_times), statistics.median(bare_times)
    ratio = app_s / bare_s
    print(f"page_load  {datetime.now(UTC).isoformat(timespec='seconds')}  {platform.node()}  "
          f"{psutil.cpu_count()} cores  rounds={ROUNDS}")
    print(f"  Overview: first chart visible after     {app_s:.3f} s (median; all {[round(t, 3) for t in app_times]})")
    print(f"  one-chart page, {points} points:        {bare_s:.3f} s (median; all {[round(t, 3) for t in bare_times]})")
    print(f"  ratio                                    {ratio:.2f}   goal <= 1.3  {'pass' if ratio <= 1.3 else 'FAIL'}")
    print(f"  server RSS, every page opened, no job:  {rss / 2**20:.0f} MiB   goal <= 400 MB  "
          f"{'pass' if rss <= 400e6 else 'FAIL'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
