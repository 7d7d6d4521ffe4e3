"""Speedup intervals whose unit is the run, not the epoch. NumPy + SciPy (Student's t quantile), no jax.

Why: epochs of one run share that run's conditions (clock, cache, neighbours, whole runs at half
speed on a shared machine), so pooling epochs of several runs and resampling them as if they were
independent understates the spread (docs/PERFORMANCE.md, "Interval coverage": a nominal 95 %
percentile bootstrap over pooled epochs covered 68-73 % of true speedups with 5 % run-to-run
variation and 2-3 runs a side). The runs are the independent units, so the interval is built on them:

    per run: m = log(median of its timed epochs)            (seconds, logged)
    per side: mean and sample variance of m over its runs,  n runs
    d = mean_cpu - mean_other                               (log of the run-level speedup)
    se^2 = var_cpu / n_cpu + var_other / n_other,           Welch-Satterthwaite degrees of freedom
    interval = exp(d -/+ t(df, (1 + confidence) / 2) * se)

End to end, each side is (fixed + epochs x epoch) seconds with the fixed part held constant, and by
the delta method a side's log-variance is scaled by w^2, w = epochs x epoch / (fixed + epochs x epoch).
It needs two or more runs on BOTH sides; with one run the between-run spread is unknown and the
caller falls back to the epoch bootstrap, labelled as not covering run-to-run variation (`BASIS_*`).
Where both are known the interval shown is the wider of the two at each end (`widest`): a few runs
that happen to agree closely (or identical synthetic runs) must not give a narrower interval than
the epochs' own noise does.
Coverage measured on synthetic data with a known answer: `benchmarks/interval_coverage.py`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from engine.analysis.confidence import SpeedupInterval, bootstrap_speedup

BASIS_RUNS = "runs"  # the run-level t interval above
BASIS_ONE_RUN = "one run: epochs only"  # a side has one run: the epoch bootstrap, run-to-run spread not included


def run_intervals(cpu_n, cpu_mean, cpu_var, other_n, other_mean, other_var, *, cpu_fixed=None, other_fixed=None,
                  epochs=None, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) speedup intervals for many pairs at once; NaN where a side has fewer than 2 runs.

    cpu_n, other_n: runs per side; *_mean, *_var: mean and sample variance (ddof 1) of the runs' log
    median epoch seconds. cpu_fixed, other_fixed (seconds) and epochs: for end-to-end speedups
    (None: the steady-state epoch). Arrays of one length, one entry per pair.
    """
    c_n, o_n = np.asarray(cpu_n, dtype=float), np.asarray(other_n, dtype=float)
    c_mean, o_mean = np.asarray(cpu_mean, dtype=float), np.asarray(other_mean, dtype=float)
    c_var, o_var = np.asarray(cpu_var, dtype=float), np.asarray(other_var, dtype=float)
    c_epoch, o_epoch = np.exp(c_mean), np.exp(o_mean)
    if epochs is None:
        c_w = o_w = np.ones_like(c_mean)
        center = c_mean - o_mean
    else:
        ep = np.asarray(epochs, dtype=float)
        c_total = np.asarray(cpu_fixed, dtype=float) + ep * c_epoch
        o_total = np.asarray(other_fixed, dtype=float) + ep * o_epoch
        c_w, o_w = ep * c_epoch / c_total, ep * o_epoch / o_total
        center = np.log(c_total) - np.log(o_total)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = c_w**2 * c_var / c_n  # each side's share of the log-ratio's variance
        b = o_w**2 * o_var / o_n
        se = np.sqrt(a + b)
        df = (a + b) ** 2 / (a**2 / (c_n - 1) + b**2 / (o_n - 1))
        from scipy.special import stdtrit  # Student's t quantile; imported here: SciPy costs ~0.2 s to load

        t = stdtrit(np.where(df > 0, df, np.inf), (1 + confidence) / 2)
        half = np.where(se > 0, t * se, 0.0)
    usable = (c_n >= 2) & (o_n >= 2) & np.isfinite(center) & np.isfinite(half)
    low = np.where(usable, np.exp(center - half), np.nan)
    high = np.where(usable, np.exp(center + half), np.nan)
    return low, high


def widest(run_low, run_high, epoch_low, epoch_high) -> tuple[np.ndarray, np.ndarray]:
    """The run-level interval widened to the epoch bootstrap's where that is wider; the epoch bootstrap
    alone where there is no run-level interval (NaN)."""
    run_low, run_high = np.asarray(run_low, dtype=float), np.asarray(run_high, dtype=float)
    epoch_low, epoch_high = np.asarray(epoch_low, dtype=float), np.asarray(epoch_high, dtype=float)
    known = np.isfinite(run_low) & np.isfinite(run_high)
    return (np.where(known, np.fmin(run_low, epoch_low), epoch_low),
            np.where(known, np.fmax(run_high, epoch_high), epoch_high))


def speedup_interval(cpu_times, other_times, cpu_runs: tuple, other_runs: tuple) -> SpeedupInterval:
    """One pair's steady-state speedup: the point from the pooled epochs (median / median), the interval
    over runs when both sides have two or more (`run_intervals`), else the epoch bootstrap with basis
    BASIS_ONE_RUN. cpu_runs, other_runs: (runs, log_run_mean, log_run_var) of each side, as
    `engine.analysis.pairing.pool` gives them."""
    boot = bootstrap_speedup(cpu_times, other_times)
    (n_c, m_c, v_c), (n_o, m_o, v_o) = ((x if x is not None else np.nan for x in side) for side in
                                        (cpu_runs, other_runs))
    low, high = run_intervals([n_c], [m_c], [v_c], [n_o], [m_o], [v_o], confidence=boot.confidence)
    if np.isfinite(low[0]):
        low, high = widest(low, high, [boot.low], [boot.high])
        return dataclasses.replace(boot, low=float(low[0]), high=float(high[0]), basis=BASIS_RUNS)
    return dataclasses.replace(boot, basis=BASIS_ONE_RUN)


def interval_name(basis: str) -> str:
    """How an interval of this basis is named on screen."""
    if basis == BASIS_RUNS:
        return "95% CI over runs"
    return "95% CI over one run's epochs only"  # the answer's notes say a single run leaves run-to-run spread out
