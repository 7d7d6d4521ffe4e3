"""The dashboard's analysis on a large run log (issue 6, goal 4: 1,000,000 runs, speedup table and
crossover <= 0.5 s). Measures, per stage and for growing logs, where the time goes today.

Synthetic log (generated with Polars, never shown as data): `configs` MLP configurations, each
run `runs_per_config` times on a CPU and on a GPU, 5 raw epoch times per run drawn around a
speedup that grows with parameter count. Stages timed: load (scan + collect of the Parquet
file), pairing (`engine.pairing.pair_with_times`, repeats pooled), the full speedup table with
bootstrap intervals (`engine.analysis.speedup_table`), and the crossover table.
Usage: python benchmarks/million_runs.py [--max-runs N] [--max-table-runs N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import analysis, store  # noqa: E402
from engine.cost import Prices  # noqa: E402
from engine.pairing import pair_with_times  # noqa: E402


def synthetic_log(configs: int, runs_per_config: int, seed: int = 0) -> pl.DataFrame:
    """2 x configs x runs_per_config run records of RUN_SCHEMA (MLPs of growing width)."""
    rng = np.random.default_rng(seed)
    n = configs * runs_per_config
    width = np.repeat(np.arange(configs) + 8, runs_per_config)
    params = 784 * width + width + width * 10 + 10
    frames = []
    for platform, kind, base in (("cpu", "cpu", 1e-6), ("gpu", "TEST GPU", 1e-6 / 4)):
        speed = base * params * (1.0 if platform == "cpu" else 1e5 / (1e5 + params))
        times = speed[:, None] * rng.lognormal(0.0, 0.05, (n, 5))
        frames.append(pl.DataFrame({
            "schema_version": 1, "run_id": [f"{platform}{i}" for i in range(n)], "platform": platform,
            "device_kind": kind, "cpu_model": "synthetic", "cpu_cores": 2, "model": "mlp", "width": width,
            "depth": 1, "input_shape": "784", "n_classes": 10, "params": params, "batch_size": 128,
            "dataset_size": 4096, "steps_per_epoch": 32, "epochs": 10, "dtype": "float32",
            "matmul_precision": "default", "mode": "fused", "compile_s": 0.5, "transfer_s": 0.01,
            "epoch_times_s": times.tolist(), "epoch_s_median": np.median(times, axis=1), "status": "ok",
        }))
    return store.conform(pl.concat(frames), store.RUN_SCHEMA).collect()


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-runs", type=int, default=1_000_000)
    parser.add_argument("--max-table-runs", type=int, default=100_000, help="largest log to bootstrap")
    args = parser.parse_args()
    print("runs       configs  load s   pairing s  speedup table (with bootstrap CIs) s  crossovers s")
    for total, configs in ((10_000, 500), (100_000, 5_000), (1_000_000, 5_000)):
        if total > args.max_runs:
            break
        frame = synthetic_log(configs, total // (2 * configs))
        with tempfile.TemporaryDirectory() as tmp:
            frame.write_parquet(Path(tmp) / "runs.parquet")
            runs, load_s = timed(lambda tmp=tmp: store.load_runs([tmp]).frame.collect())
        _, pair_s = timed(lambda runs=runs: pair_with_times(analysis.with_device(runs)))
        if total > args.max_table_runs:  # the bootstrap grows with pooled epochs: minutes at 1M today
            print(f"{total:>9,}  {configs:>7,}  {load_s:6.2f}   {pair_s:8.2f}   {'not run (--max-table-runs)':>36}")
            continue
        table, table_s = timed(lambda runs=runs: analysis.speedup_table(analysis.with_device(runs)))
        _, cross_s = timed(lambda table=table: analysis.crossovers(table.pairs, analysis.thresholds(Prices())))
        print(f"{total:>9,}  {configs:>7,}  {load_s:6.2f}   {pair_s:8.2f}   {table_s:36.2f}  {cross_s:11.2f}")
    print("goal: speedup table + crossover <= 0.5 s at 1,000,000 runs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
