"""The dashboard server's memory with the largest run log it accepts, after a visitor opens every page.

Method (issue 21's goal: server RSS <= 400 MB):
1. Build run files from the shipped reference runs, copied with new run ids and each copy's parameter count
   moved by one (so every copy is its own configuration: the most work for pooling and pairing), up to
   the row caps the app enforces (`engine.base.limits.Limits`: one upload's rows; the session's total).
2. For each scenario, start `streamlit run app.py` afresh (shipped data/reference, an empty runs folder,
   sessions in a temporary folder) and drive it with headless Chromium (/usr/bin/chromium, Playwright):
   - "reference only": open every page through the sidebar;
   - "largest upload": the runs folder holds as many runs as the dashboard reads from it (CROSSOVER_MAX_LOG_ROWS),
     and one browser session uploads two files of CROSSOVER_MAX_SESSION_ROWS runs each on the Results page (the
     first is accepted, the second refused by the session's cap), then opens every page;
   - "hostile upload": the same log; the session uploads a file with the longest text every text cell may hold
     (refused: over the file's total), then one at every cap of decompressed data (text and list items per
     row on average, `engine.runlog.store.decompressed_caps`), which is accepted.
   After each page, the server's resident memory (psutil RSS of the streamlit process) is read; the peak
   is the kernel's high-water mark (VmHWM).
Usage: python benchmarks/server_memory.py [--rows N] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import psutil
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from page_load import CHROMIUM, CHROMIUM_ARGS, _start  # noqa: E402

from engine.base.limits import Limits  # noqa: E402
from engine.runlog import store  # noqa: E402

PAGES = ["Do you need a GPU?", "Benchmark", "Speedup explorer", "Cost", "Hardware", "Scaling", "Results"]
GOAL_BYTES = 400e6


def realistic_runs(rows: int) -> pl.DataFrame:
    """`rows` run records: the shipped reference runs copied, each copy a new configuration (params + copy)."""
    reference = store.load_runs([ROOT / "data" / "reference"]).frame.collect()
    copies = -(-rows // reference.height)
    frame = pl.concat([reference.with_columns(pl.lit(k).alias("_copy")) for k in range(copies)]).head(rows)
    return frame.with_columns((pl.col("params") + pl.col("_copy")).alias("params"),
                              pl.format("mem-{}-{}", pl.col("_copy"), pl.col("run_id")).alias("run_id"),
                              pl.lit("imported").alias("source")).drop("_copy")


def _free_text_columns() -> list[str]:
    return [c for c, t in store.RUN_SCHEMA.items() if t == pl.String and c not in ("run_id", "status", "platform",
                                                                                   "model", "dtype", "source")]


def hostile_runs(rows: int) -> pl.DataFrame:
    """`rows` records whose every free text column is as long as one cell may be: small on disk (Parquet's
    dictionary), about 40 kB per row once read. Over the file's total; it must be refused."""
    return realistic_runs(rows).with_columns(*(pl.lit("x" * store.MAX_TEXT_CHARS).alias(c)
                                               for c in _free_text_columns()))


def at_the_caps_runs(rows: int, id_suffix: str = "") -> pl.DataFrame:
    """`rows` records holding exactly the decompressed data a file of `rows` rows may: text up to the per-row
    average (the error and cpu_model columns filled) and the same for the epoch time and loss lists."""
    frame = realistic_runs(rows).with_columns(pl.col("run_id") + id_suffix)
    text_cap, list_cap = store.decompressed_caps(rows)
    others = [c for c, t in store.RUN_SCHEMA.items() if t == pl.String and c not in ("error", "cpu_model")]
    used = pl.sum_horizontal(pl.col(c).str.len_chars().fill_null(0) for c in others)
    budget = (text_cap // rows - used).clip(0)
    error = pl.min_horizontal(budget, store.MAX_TEXT_CHARS)
    per_list = list_cap // rows // 2
    return frame.with_columns(
        pl.lit("x" * store.MAX_TEXT_CHARS).str.slice(0, error).alias("error"),
        pl.lit("c" * store.MAX_TEXT_CHARS).str.slice(0, budget - error).alias("cpu_model"),
        pl.lit([0.01] * per_list, dtype=pl.List(pl.Float64)).alias("epoch_times_s"),
        pl.lit([1.0] * per_list, dtype=pl.List(pl.Float64)).alias("epoch_losses"))


def _rss(pid: int) -> tuple[int, int]:
    """(RSS now, high-water mark) of the process in bytes."""
    now = psutil.Process(pid).memory_info().rss
    peak = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) * 1024
    return now, peak


def _go(tab, title: str):
    tab.locator('[data-testid="stSidebarNavLink"]', has_text=title).first.click()
    tab.get_by_role("heading", name=title).first.wait_for(timeout=120_000)
    # Let the page finish: no "running" indicator for a moment.
    tab.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=180_000)
    tab.wait_for_timeout(1_000)


def scenario(name: str, uploads: list[Path], work: Path, own_runs: pl.DataFrame | None = None) -> dict:
    runs, sessions = work / f"{name}-runs", work / f"{name}-sessions"
    runs.mkdir()
    if own_runs is not None:  # the shared run log, as full as the dashboard reads it
        own_runs.with_columns(pl.lit("local").alias("source")).write_parquet(runs / "runs-full.parquet")
    env = dict(os.environ, CROSSOVER_RUNS_DIR=str(runs), CROSSOVER_SESSIONS_DIR=str(sessions), JAX_PLATFORMS="cpu")
    env.pop("CROSSOVER_SHARED_IMPORTS", None)
    proc, url = _start("app.py", env)
    out = {"scenario": name, "pages": {}, "messages": []}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            tab = browser.new_page(viewport={"width": 1400, "height": 1000})
            tab.set_default_timeout(120_000)
            tab.goto(url)
            tab.get_by_text("Data sources").first.wait_for()
            out["start_rss"] = _rss(proc.pid)[0]
            if uploads:
                _go(tab, "Results")
                tab.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(
                    [str(u) for u in uploads])
                tab.wait_for_timeout(2_000)
                tab.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=300_000)
                alerts = tab.locator('[data-testid="stAlert"]')
                out["messages"] = [t[:300] for t in alerts.all_inner_texts() if ".parquet" in t]
            for title in PAGES:
                t0 = time.perf_counter()
                _go(tab, title)
                now, _ = _rss(proc.pid)
                out["pages"][title] = {"rss": now, "seconds": round(time.perf_counter() - t0, 1),
                                       "errors": tab.locator('[data-testid="stException"]').count()}
            out["end_rss"], out["peak_rss"] = _rss(proc.pid)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=None, help="rows per upload (default: the upload row cap)")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--scenarios", default="reference,largest,hostile", help="which of reference, largest, hostile")
    args = parser.parse_args(argv)
    caps = Limits.from_env()
    rows = args.rows or caps.max_session_rows
    results = {"date": datetime.now(UTC).isoformat(timespec="minutes"), "machine": platform.node(),
               "cpus": os.cpu_count(), "rows_per_upload": rows, "scenarios": []}
    with tempfile.TemporaryDirectory(prefix="crossover-memory-") as tmp:
        work = Path(tmp)
        files = {}
        for label, frame in (("largest", realistic_runs(rows)), ("hostile", hostile_runs(rows)),
                             ("at-the-caps", at_the_caps_runs(rows, "-caps"))):
            path = work / f"{label}.parquet"
            frame.write_parquet(path)
            files[label] = path
            print(f"{label}: {frame.height:,} rows, {path.stat().st_size / 1e6:.1f} MB on disk, "
                  f"{frame.estimated_size() / 1e6:.0f} MB in memory", flush=True)
        # A second file of new runs: the session's total, not one file, is what a visitor can hold.
        second = realistic_runs(rows).with_columns(pl.col("run_id") + "-b")
        second.write_parquet(work / "largest-b.parquet")
        log = realistic_runs(caps.max_log_rows).with_columns(pl.col("run_id") + "-log")
        plans = [("reference only", [], None),
                 ("largest upload", [files["largest"], work / "largest-b.parquet"], log),
                 ("hostile upload", [files["hostile"], files["at-the-caps"]], log)]
        for name, uploads, own in plans:
            if name.split()[0] not in args.scenarios.split(","):
                continue
            result = scenario(name.replace(" ", "-"), uploads, work, own)
            results["scenarios"].append(result)
            worst = max(p["rss"] for p in result["pages"].values())
            print(f"{name}: start {result['start_rss'] / 2**20:.0f} MiB, worst after a page {worst / 2**20:.0f} MiB, "
                  f"peak {result['peak_rss'] / 2**20:.0f} MiB, goal <= {GOAL_BYTES / 1e6:.0f} MB: "
                  f"{'pass' if result['peak_rss'] <= GOAL_BYTES else 'FAIL'}", flush=True)
            for title, page in result["pages"].items():
                print(f"   {title:22s} {page['rss'] / 2**20:6.0f} MiB  {page['seconds']:5.1f} s  errors {page['errors']}")
            for message in result["messages"]:
                print("   upload:", message)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
