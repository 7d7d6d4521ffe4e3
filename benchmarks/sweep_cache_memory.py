"""Two goals of one quick sweep, measured together (issue 6, goals 3 and 5):

- Compile cache: `python -m engine sweep --preset quick --devices cpu` run twice against one
  fresh, empty persistent compilation cache folder (CROSSOVER_COMPILE_CACHE). The sum of the
  records' `compile_s` of the second run over the first's (goal <= 0.25), and how many of the
  second run's compiles the cache served (`compile_cache_hit`).
- Worker memory: the peak resident memory (RSS, psutil, the process and its children, sampled
  every 0.05 s) of each sweep process (goal <= 1.5 GB; Community Cloud gives 1-2.7 GB).
Usage: python benchmarks/sweep_cache_memory.py [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.base.hostinfo import cpu_cores, cpu_model  # noqa: E402


def sweep(out: Path, cache: Path) -> tuple[pl.DataFrame, int, float]:
    """Run the quick sweep into `out`; returns (its records, peak RSS bytes, wall seconds)."""
    env = dict(os.environ, JAX_PLATFORMS="cpu", CROSSOVER_COMPILE_CACHE=str(cache))
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "engine", "sweep", "--preset", "quick", "--devices", "cpu",
                             "--out", str(out)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    watched, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            peak = max(peak, sum(p.memory_info().rss for p in [watched, *watched.children(recursive=True)]))
        except psutil.NoSuchProcess:
            pass
        time.sleep(0.05)
    if proc.returncode != 0:
        raise RuntimeError(f"sweep exited with {proc.returncode}")
    return pl.read_parquet(out), peak, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="crossover-cache-bench-") as tmp:
        cache = Path(tmp) / "jax-cache"
        first, peak1, wall1 = sweep(Path(tmp) / "first.parquet", cache)
        second, peak2, wall2 = sweep(Path(tmp) / "second.parquet", cache)
    c1, c2 = first["compile_s"].sum(), second["compile_s"].sum()
    hits = int(second["compile_cache_hit"].sum())
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": f"{cpu_model()}, {cpu_cores()} cores",
        "first_compile_s": c1, "second_compile_s": c2, "ratio": c2 / c1, "second_cache_hits": hits,
        "runs": second.height, "first_cache_hits": int(first["compile_cache_hit"].sum()),
        "peak_rss_first_bytes": peak1, "peak_rss_second_bytes": peak2, "wall_first_s": wall1, "wall_second_s": wall2,
    }
    peak = max(peak1, peak2)
    print(f"sweep_cache_memory  {result['date']}  {result['machine']}")
    print(f"  compile time, 2nd quick sweep / 1st      {c2:.2f} / {c1:.2f} s = {result['ratio']:.2f}   goal <= 0.25  "
          f"{'pass' if result['ratio'] <= 0.25 else 'FAIL'}  (cache served {hits} of {second.height} runs' compiles; "
          f"{result['first_cache_hits']} in the 1st)")
    print(f"  sweep process peak RSS                   {peak / 2**20:.0f} MiB   goal <= 1.5 GB  "
          f"{'pass' if peak <= 1.5e9 else 'FAIL'}  (wall {wall1:.0f} s, then {wall2:.0f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
