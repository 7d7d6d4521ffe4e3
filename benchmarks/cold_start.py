"""The first chart after the server starts (issue 18: under 3 s, with the caches warmed at start-up).

Method (one run, one machine), each case ROUNDS times, alternating:
- "app.py, visit after warm-up": start `streamlit run app.py` (st.App with dashboard.warmup), wait until its log
  says "warm-up done", then open the Overview in a fresh headless Chromium and time from `goto` (at "commit") until
  the chart's SVG is visible;
- "app.py, visit at once": the same, opening the page as soon as the health check answers (the warm-up still
  running beside the visit);
- "crossover.py, no warm-up": `streamlit run crossover.py`, the same app without st.App's start-up hook, visited
  as soon as it answers;
- "warm server, fresh browser": after the first visit, a second fresh browser on the same server: what Streamlit's
  frontend itself costs a first-time visitor (its JavaScript is not in that browser's cache).
Shipped data/reference, an empty runs folder. Usage: python benchmarks/cold_start.py
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
ROUNDS = int(os.environ.get("ROUNDS", "5"))
GOAL_S = 3.0


def _start(script: str, runs: Path, log: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, CROSSOVER_RUNS_DIR=str(runs), CROSSOVER_SESSIONS_DIR=str(runs.parent / "s"),
               JAX_PLATFORMS="cpu")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", script, "--server.headless", "true",
                             "--server.port", str(port)], cwd=ROOT, env=env, stdout=log.open("w"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as answer:
                if answer.read() == b"ok":
                    return proc, url
        except OSError:
            time.sleep(0.05)


def _first_chart(p, url: str) -> float:
    """Seconds from goto in a fresh browser until the Overview's chart is visible."""
    browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
    try:
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        started = time.perf_counter()
        tab.goto(url, wait_until="commit")
        tab.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for(timeout=60_000)
        return time.perf_counter() - started
    finally:
        browser.close()


def one_round(p, scratch: Path) -> dict[str, float]:
    out = {}
    for case, script, wait in (("app.py, visit after warm-up", "app.py", True),
                               ("app.py, visit at once", "app.py", False),
                               ("crossover.py, no warm-up", "crossover.py", False)):
        runs = Path(tempfile.mkdtemp(dir=scratch)) / "runs"
        runs.mkdir()
        log = runs.parent / "server.log"
        proc, url = _start(script, runs, log)
        try:
            while wait and "warm-up done" not in log.read_text():
                time.sleep(0.1)
            out[case] = _first_chart(p, url)
            if script == "app.py" and wait:
                out["warm server, fresh browser"] = _first_chart(p, url)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    return out


def main() -> int:
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as scratch, sync_playwright() as p:
        for _ in range(ROUNDS):
            for case, seconds in one_round(p, Path(scratch)).items():
                results.setdefault(case, []).append(seconds)
    print(f"cold_start  {datetime.now(UTC).isoformat(timespec='seconds')}  {platform.node()}  "
          f"{psutil.cpu_count()} cores  rounds={ROUNDS}")
    for case, times in results.items():
        median = statistics.median(times)
        verdict = f"goal < {GOAL_S:g} s  {'pass' if median < GOAL_S else 'FAIL'}" if case.startswith("app.py, visit after") else ""
        print(f"  {case:30s} median {median:.2f} s  {[round(t, 2) for t in times]}  {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
