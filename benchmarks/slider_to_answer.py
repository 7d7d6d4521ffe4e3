"""How long the Overview takes to redraw its answer and chart after a slider moves (issue 18: <= 0.5 s, warm).

Method (one run, one machine):
1. Start `streamlit run app.py` (shipped data/reference, an empty runs folder), open the Overview in headless
   Chromium (/usr/bin/chromium through Playwright) at 1400 x 1000 px and wait for its chart: a warm server.
2. Move the "Width" slider with the keyboard, one stop at a time, from 16 up to 8,192 (13 moves; each setting
   new, so every answer is computed afresh: "uncached") and back down to 16 (13 moves; every answer already in
   the page's cache: "cached").
3. Per move: from the key press (performance.now() in the page) until the chart's legend names the new network's
   exact parameter count ("this network: N parameters", N from engine.base.counts, computed here, not read from the
   page) and the next frame has been painted. That is what a user waits for: the new numbers and the chart.
4. Report the medians and maxima of both, and the goal.
Usage: python benchmarks/slider_to_answer.py
"""

from __future__ import annotations

import platform
import statistics
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import psutil
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import serve  # noqa: E402

from dashboard.network_inputs import WIDTHS as SLIDER_STOPS  # noqa: E402
from engine.base import counts  # noqa: E402
from engine.base.config import DataConfig, ModelConfig, RunConfig, TrainConfig  # noqa: E402

WIDTHS = [w for w in SLIDER_STOPS if w >= 16]  # the Overview's width slider from 16 up: 16, 32 ... 768 ... 8192
GOAL_S = 0.5
# Resolves once the chart names `text` and the next frame is painted; returns ms since the key press.
WAIT_FOR_TEXT = """([text, pressed]) => new Promise(resolve => {
  const done = () => requestAnimationFrame(() => setTimeout(() => resolve(performance.now() - pressed), 0));
  const has = () => Array.from(document.querySelectorAll('[data-testid="stPlotlyChart"] .legendtext'))
      .some(e => e.textContent.includes(text));
  if (has()) return done();
  new MutationObserver((_, obs) => { if (has()) { obs.disconnect(); done(); } })
      .observe(document.body, {childList: true, subtree: true, characterData: true});
})"""


def params(width: int) -> int:
    """The Overview's default network (MLP, depth 2, 50,000 samples, batch 128) at `width`."""
    return counts.parameter_count(RunConfig(model=ModelConfig("mlp", width=width, depth=2, channels=16),
                                            data=DataConfig(samples=50_000), train=TrainConfig(batch_size=128)))


def move(tab, key: str, width: int) -> float:
    """Press `key` on the width slider; seconds until the chart shows `width`'s network."""
    thumb = tab.get_by_role("slider", name="Width (units / d_model)")
    thumb.focus()
    pressed = tab.evaluate("() => performance.now()")
    thumb.press(key)
    waited = tab.evaluate(f"([text, pressed]) => Promise.race([({WAIT_FOR_TEXT})([text, pressed]), "
                          "new Promise(r => setTimeout(() => r(-1), 20000))])",
                          [f"this network: {params(width):,} parameters", pressed])
    if waited < 0:
        raise SystemExit(f"the chart never showed width {width}'s network within 20 s")
    return waited / 1000


def main() -> int:
    with tempfile.TemporaryDirectory() as scratch:
        runs = Path(scratch) / "runs"
        runs.mkdir()
        proc, url = serve.start("app.py", serve.app_env(runs))
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=serve.CHROMIUM, args=serve.CHROMIUM_ARGS)
                tab = browser.new_page(viewport={"width": 1400, "height": 1000})
                tab.set_default_timeout(60_000)
                tab.goto(f"{url}/?ov_width=16")
                tab.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for()
                tab.wait_for_timeout(2000)
                uncached = [move(tab, "ArrowRight", w) for w in WIDTHS[1:]]
                cached = [move(tab, "ArrowLeft", w) for w in reversed(WIDTHS[:-1])]
                browser.close()
        finally:
            serve.stop(proc)
    print(f"slider_to_answer  {datetime.now(UTC).isoformat(timespec='seconds')}  {platform.node()}  "
          f"{psutil.cpu_count()} cores")
    for name, times in (("new setting (answer computed)", uncached), ("setting seen before (cached)", cached)):
        worst = max(times)
        print(f"  {name:32s} median {statistics.median(times):.3f} s, max {worst:.3f} s over {len(times)} moves "
              f"{[round(t, 3) for t in times]}   goal <= {GOAL_S} s  {'pass' if worst <= GOAL_S else 'FAIL'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
