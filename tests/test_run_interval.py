"""The run-level speedup interval (engine.analysis.run_interval), pinned on small cases worked by hand, and its
coverage on synthetic runs with a known answer (issue 19: pooled epochs treated as independent covered 68-73 %)."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from engine.analysis import tables
from engine.analysis.run_interval import BASIS_ONE_RUN, BASIS_RUNS, run_intervals, speedup_interval, widest
from engine.runlog.store import records_to_frame

T_4_975 = 2.7764451051977987  # Student's t, 4 degrees of freedom, 97.5 % (printed tables: 2.776)


def test_three_runs_a_side_by_hand():
    """Log run medians log 2 + (-0.1, 0, 0.1) and log 0.5 + (-0.1, 0, 0.1): d = log 4, each variance 0.01,
    se = sqrt(0.01/3 + 0.01/3), Welch df = 4 exactly (equal variances and sizes)."""
    half = T_4_975 * math.sqrt(0.02 / 3)
    low, high = run_intervals([3], [math.log(2)], [0.01], [3], [math.log(0.5)], [0.01])
    assert (low[0], high[0]) == pytest.approx((4 * math.exp(-half), 4 * math.exp(half)), rel=1e-9)
    assert (low[0], high[0]) == pytest.approx((3.188, 5.018), abs=1e-3)


def test_end_to_end_by_the_delta_method_by_hand():
    """CPU: 2 s fixed + 10 x 2 s = 22 s, epoch share w = 20/22; GPU: 5 s + 10 x 0.5 s = 10 s, w = 1/2."""
    a, b = (20 / 22) ** 2 * 0.01 / 3, 0.25 * 0.04 / 5
    df = (a + b) ** 2 / (a**2 / 2 + b**2 / 4)
    from scipy.stats import t  # the distribution object, not the special function the module uses

    half = t.ppf(0.975, df) * math.sqrt(a + b)
    low, high = run_intervals([3], [math.log(2)], [0.01], [5], [math.log(0.5)], [0.04],
                              cpu_fixed=[2.0], other_fixed=[5.0], epochs=[10])
    assert (low[0], high[0]) == pytest.approx((2.2 * math.exp(-half), 2.2 * math.exp(half)), rel=1e-9)


def test_one_run_on_either_side_has_no_run_level_interval():
    low, high = run_intervals([1, 3, 2], [0.0, 0.0, 0.0], [math.nan, 0.01, 0.01], [3, 1, 2], [0.0] * 3,
                              [0.01, math.nan, 0.01])
    assert np.isnan(low[:2]).all() and np.isnan(high[:2]).all() and np.isfinite([low[2], high[2]]).all()


def test_the_wider_end_wins_and_the_epochs_stand_in_for_missing_runs():
    low, high = widest([0.9, 0.8, math.nan], [1.1, 1.3, math.nan], [0.95, 0.7, 0.5], [1.2, 1.2, 2.0])
    assert low.tolist() == [0.9, 0.7, 0.5] and high.tolist() == [1.2, 1.3, 2.0]


def test_one_pair_says_what_its_interval_rests_on():
    cpu, gpu = [1.0, 1.1, 0.9, 1.05, 0.95, 1.0], [0.1, 0.11, 0.09, 0.1, 0.1, 0.1]
    one = speedup_interval(cpu, gpu, (1, 0.0, None), (1, math.log(0.1), None))
    assert one.basis == BASIS_ONE_RUN and one.speedup == pytest.approx(10)
    spread = math.log(1.2) ** 2  # two runs 20 % apart: a wide run-level interval
    two = speedup_interval(cpu, gpu, (2, 0.0, spread), (2, math.log(0.1), spread))
    assert two.basis == BASIS_RUNS and two.low < one.low and two.high > one.high


def _synthetic(pairs: int, runs: int, run_sd: float, seed: int) -> pl.DataFrame:
    """Pairs of a 1 s CPU epoch and a 0.1 s GPU epoch (true speedup 10): whole runs log-normally faster or
    slower by `run_sd`, five epochs a run with 5 % noise."""
    rng = np.random.default_rng(seed)
    records = []
    for side, median in (("cpu", 1.0), ("gpu", 0.1)):
        times = median * np.exp(rng.normal(0, run_sd, (pairs, runs, 1)) + rng.normal(0, 0.05, (pairs, runs, 5)))
        for p in range(pairs):
            for r in range(runs):
                records.append({"run_id": f"{side}{p}-{r}", "status": "ok", "source": "reference", "platform": side,
                                "device_kind": "cpu" if side == "cpu" else "G", "cpu_model": "C", "cpu_cores": 4,
                                "model": "mlp", "width": p + 1, "depth": 1, "batch_size": 8, "dataset_size": 64,
                                "dtype": "float32", "matmul_precision": "default", "params": p + 1, "epochs": 5,
                                "epoch_times_s": times[p, r].tolist(), "epoch_s_median": float(np.median(times[p, r]))})
    return records_to_frame(records)


def test_coverage_with_run_to_run_variation_is_near_nominal():
    """5 % run-to-run variation, 3 runs a side: the table's intervals hold the true speedup (10) about 95 % of
    the time; the pooled-epoch bootstrap held it ~80 % (docs/PERFORMANCE.md). 400 pairs: 1 s.e. ~1.1 %."""
    pairs = tables.speedup_table(_synthetic(400, 3, 0.05, seed=7)).pairs
    assert (pairs["ci_basis"] == BASIS_RUNS).all()
    covered = ((pairs["ci_low"] <= 10) & (10 <= pairs["ci_high"])).mean()
    assert covered >= 0.92, covered
    from engine.analysis.confidence import with_speedup_ci

    pooled_epochs = with_speedup_ci(pairs)
    assert ((pooled_epochs["ci_low"] <= 10) & (10 <= pooled_epochs["ci_high"])).mean() < 0.88
