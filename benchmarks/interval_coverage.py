"""How often the speedup table's 95 % intervals contain the true speedup, on synthetic runs with a known answer.

Usage: python benchmarks/interval_coverage.py [--pairs 1000] [--seed 0] [--out results.md]

Each synthetic pair is one configuration measured on a "CPU" (median epoch 1.0 s) and a "GPU" (0.1 s), so the
true steady-state speedup is 10 and, with compile + transfer of 2 s and 5 s and 10 epochs, the true end-to-end
speedup is (2 + 10 x 1.0) / (5 + 10 x 0.1) = 2.0. A run's epochs are

    epoch seconds = median x exp(run effect) x exp(epoch noise),  run effect ~ N(0, run_sd), noise ~ N(0, 0.05)

so run_sd = 0 is iid epochs and 0.05 / 0.20 are 5 % / 20 % run-to-run variation (log-normal, whole runs faster
or slower, as the development machine shows). Every scenario (run_sd x runs per side x timed epochs per run)
builds real run records, pools and pairs them with `engine.analysis.tables.speedup_table` (the production path:
run-level t interval with two or more runs a side, else the epoch bootstrap), and counts how many of the
`--pairs` intervals hold the truth. For comparison, "pooled-epoch bootstrap" is the interval the table gave
before (every pooled epoch resampled as independent: `engine.analysis.confidence.with_speedup_ci`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.analysis import tables  # noqa: E402
from engine.analysis.confidence import with_speedup_ci  # noqa: E402
from engine.runlog.store import records_to_frame  # noqa: E402

CPU_EPOCH, GPU_EPOCH = 1.0, 0.1
CPU_FIXED, GPU_FIXED, EPOCHS = 2.0, 5.0, 10
EPOCH_SD = 0.05
TRUE_SPEEDUP = CPU_EPOCH / GPU_EPOCH
TRUE_E2E = (CPU_FIXED + EPOCHS * CPU_EPOCH) / (GPU_FIXED + EPOCHS * GPU_EPOCH)


def synthetic_runs(pairs: int, runs: int, epochs: int, run_sd: float, rng: np.random.Generator) -> pl.DataFrame:
    """`pairs` configurations (width = pair number) x 2 devices x `runs` runs of `epochs` timed epochs."""
    records = []
    for side, median, fixed in (("cpu", CPU_EPOCH, CPU_FIXED), ("gpu", GPU_EPOCH, GPU_FIXED)):
        effect = rng.normal(0, run_sd, (pairs, runs, 1))
        noise = rng.normal(0, EPOCH_SD, (pairs, runs, epochs))
        times = median * np.exp(effect + noise)
        for p in range(pairs):
            for r in range(runs):
                records.append({
                    "run_id": f"{side}-{p}-{r}", "status": "ok", "source": "reference", "platform": side,
                    "device_kind": "cpu" if side == "cpu" else "Synthetic GPU", "cpu_model": "Synthetic CPU",
                    "cpu_cores": 8, "model": "mlp", "width": p + 1, "depth": 2, "input_shape": "784",
                    "n_classes": 10, "batch_size": 64, "dataset_size": 1024, "dtype": "float32",
                    "matmul_precision": "default", "params": p + 1, "epochs": EPOCHS, "compile_s": fixed,
                    "transfer_s": 0.0, "epoch_times_s": times[p, r].tolist(),
                    "epoch_s_median": float(np.median(times[p, r]))})
    return records_to_frame(records)


def scenario(pairs: int, runs: int, epochs: int, run_sd: float, seed: int) -> dict:
    rng = np.random.default_rng([seed, runs, epochs, int(run_sd * 1000)])
    table = tables.speedup_table(synthetic_runs(pairs, runs, epochs, run_sd, rng), epochs=EPOCHS).pairs
    old = with_speedup_ci(table)
    old_e2e = with_speedup_ci(table, cpu_fixed_col="cpu_fixed_s", other_fixed_col="gpu_fixed_s", epochs=EPOCHS)

    def covered(frame, low, high, truth) -> float:
        return float(((frame[low] <= truth) & (truth <= frame[high])).mean())

    return {
        "run_sd": run_sd, "runs": runs, "epochs": epochs, "basis": table["ci_basis"][0],
        "coverage": covered(table, "ci_low", "ci_high", TRUE_SPEEDUP),
        "e2e_coverage": covered(table, "e2e_ci_low", "e2e_ci_high", TRUE_E2E),
        "old_coverage": covered(old, "ci_low", "ci_high", TRUE_SPEEDUP),
        "old_e2e_coverage": covered(old_e2e, "ci_low", "ci_high", TRUE_E2E),
        "median_width": float((table["ci_high"] / table["ci_low"]).median()),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1000, help="synthetic pairs per scenario (default 1000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="also write the table as Markdown here")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows = [scenario(args.pairs, runs, epochs, run_sd, args.seed)
            for run_sd in (0.0, 0.05, 0.20) for runs in (1, 2, 3, 5) for epochs in (3, 5)]
    lines = [
        f"Interval coverage, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {args.pairs} pairs per scenario, "
        f"seed {args.seed}, python {platform.python_version()}, {time.perf_counter() - started:.0f} s",
        "",
        "| run-to-run sd | runs a side | epochs a run | interval | 95 % interval covers (epoch) | (end to end) "
        "| pooled-epoch bootstrap (epoch) | (end to end) | median width (high/low) |",
        "|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['run_sd']:.0%} | {r['runs']} | {r['epochs']} | {r['basis']} | {r['coverage']:.1%} "
                     f"| {r['e2e_coverage']:.1%} | {r['old_coverage']:.1%} | {r['old_e2e_coverage']:.1%} "
                     f"| {r['median_width']:.3f} |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    goal = [r for r in rows if r["runs"] >= 3]
    worst = min(min(r["coverage"], r["e2e_coverage"]) for r in goal)
    print(f"\nworst coverage with >= 3 runs a side: {worst:.1%} (goal >= 93 %)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
