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
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import serve  # noqa: E402

ROUNDS = int(os.environ.get("ROUNDS", "5"))
GOAL_S = 3.0


def _first_chart(p, url: str) -> float:
    """Seconds from goto in a fresh browser until the Overview's chart is visible."""
    browser = p.chromium.launch(executable_path=serve.CHROMIUM, args=serve.CHROMIUM_ARGS)
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
        proc, url = serve.start(script, serve.app_env(runs), log=log, poll_s=0.05)
        try:
            while wait and "warm-up done" not in log.read_text():
                time.sleep(0.1)
            out[case] = _first_chart(p, url)
            if script == "app.py" and wait:
                out["warm server, fresh browser"] = _first_chart(p, url)
        finally:
            serve.stop(proc)
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
