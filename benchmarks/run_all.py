"""Run every benchmark of docs/PERFORMANCE.md in one go and print one table of goal, value, pass/fail.

Each benchmark is its own script (run here as a subprocess, one after the other, so they never
time each other) and prints lines that name a goal and say pass or FAIL; this collects them.
Usage: python benchmarks/run_all.py   (needs benchmarks/requirements.txt for vs_pytorch)
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SCRIPTS = [
    ("engine_overhead.py", ["--json", str(RESULTS / "engine_overhead.json")]),
    ("vs_pytorch.py", ["--json", str(RESULTS / "vs_pytorch.json")]),
    ("cnn_step.py", []),
    ("sweep_cache_memory.py", ["--json", str(RESULTS / "sweep_cache_memory.json")]),
    ("page_load.py", []),
    ("million_runs.py", []),
]


def main() -> int:
    RESULTS.mkdir(exist_ok=True)
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    table, started = [], time.perf_counter()
    for script, extra in SCRIPTS:
        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *extra], cwd=ROOT, env=env,
                              capture_output=True, text=True)
        print(f"== {script}: exit {done.returncode} in {time.perf_counter() - t0:.0f} s")
        print(done.stdout.rstrip() or done.stderr[-2000:])
        table += [(script, line.strip()) for line in done.stdout.splitlines() if "goal" in line and "goal -" not in line]
        if done.returncode != 0:
            table.append((script, f"FAILED to run (exit {done.returncode})"))
    print(f"\n== summary ({time.perf_counter() - started:.0f} s)")
    for script, line in table:
        print(f"{script:<24} {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
