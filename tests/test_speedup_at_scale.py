"""The vectorised speedup table (issue 6, goal 4): same answers as the plain definitions, on small
synthetic logs with known results. engine.analysis.confidence (order-statistic bootstrap), engine.analysis.pairing
(pooling), engine.analysis.tables.speedup_table (caps, reuse of pooled sides), engine.analysis.crossover (table)."""

from __future__ import annotations

import itertools
import math
from collections import Counter

import numpy as np
import polars as pl
import pytest
from scipy import stats

from engine.analysis import tables
from engine.analysis.confidence import bootstrap_intervals, bootstrap_speedup, median_ranks
from engine.analysis.crossover import crossover_table, find_crossover
from engine.analysis.pairing import pool
from engine.runlog.store import records_to_frame


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6])
def test_resample_medians_follow_the_exact_bootstrap_distribution(n):
    """The (lo, hi) middle ranks of a resample of n sorted values, drawn by exponential spacings,
    have the distribution of enumerating all n**n resamples with replacement."""
    exact = Counter()
    for draw in itertools.product(range(n), repeat=n):
        s = sorted(draw)
        exact[(s[(n - 1) // 2], s[n // 2])] += 1
    resamples = 40_000
    lo, hi = median_ranks(0, [n], resamples, seed=11)[n]
    got = Counter(zip(lo.tolist(), hi.tolist()))
    assert set(got) <= set(exact)
    for key, count in exact.items():
        p = count / n**n
        assert abs(got[key] / resamples - p) <= 4.5 * math.sqrt(p * (1 - p) / resamples) + 1e-9, key


def test_ranks_do_not_depend_on_the_other_sizes_asked_for():
    alone = median_ranks(1, [7], 500, seed=3)[7]
    together = median_ranks(1, [3, 7, 200, 1000], 500, seed=3)[7]
    assert np.array_equal(alone[0], together[0]) and np.array_equal(alone[1], together[1])


def _classic_interval(cpu, gpu, resamples, seed, confidence=0.95):
    """The textbook percentile bootstrap: resample each side's raw times, take medians, quantiles."""
    rng = np.random.default_rng(seed)
    cpu, gpu = np.asarray(cpu), np.asarray(gpu)
    c = np.median(cpu[rng.integers(0, cpu.size, (resamples, cpu.size))], axis=1)
    g = np.median(gpu[rng.integers(0, gpu.size, (resamples, gpu.size))], axis=1)
    return np.quantile(c / g, [(1 - confidence) / 2, (1 + confidence) / 2])


@pytest.mark.parametrize("n_cpu,n_gpu", [(9, 5), (40, 12), (6, 6)])
def test_interval_agrees_with_the_textbook_bootstrap(n_cpu, n_gpu):
    rng = np.random.default_rng(n_cpu)
    cpu = rng.lognormal(0.0, 0.2, n_cpu)
    gpu = rng.lognormal(np.log(0.25), 0.2, n_gpu)
    ours = bootstrap_speedup(cpu, gpu, resamples=40_000)
    low, high = _classic_interval(cpu, gpu, 40_000, seed=5)
    assert ours.speedup == pytest.approx(np.median(cpu) / np.median(gpu))
    assert ours.low == pytest.approx(low, rel=0.02) and ours.high == pytest.approx(high, rel=0.02)
    assert ours.low < ours.speedup < ours.high


def test_many_rows_at_once_equal_one_row_at_a_time():
    rng = np.random.default_rng(2)
    cpu = [np.sort(rng.lognormal(0, 0.1, n)) for n in (5, 9, 50, 1, 5)]
    gpu = [np.sort(rng.lognormal(-1, 0.1, n)) for n in (5, 3, 20, 1, 8)]

    def csr(samples):
        sizes = np.array([s.size for s in samples])
        return np.concatenate(samples), np.concatenate([[0], np.cumsum(sizes)[:-1]]), sizes

    rows = len(cpu)
    fixed = (np.full(rows, 2.0), np.full(rows, 5.0), np.full(rows, 10.0))
    (p, lo, hi), (e2e, e2e_lo, e2e_hi) = bootstrap_intervals(
        csr(cpu), csr(gpu), [(np.zeros(rows), np.zeros(rows), np.ones(rows)), fixed])
    for i in range(rows):
        one = bootstrap_speedup(cpu[i], gpu[i])
        assert (p[i], lo[i], hi[i]) == pytest.approx((one.speedup, one.low, one.high))
        e2e_one = bootstrap_speedup(cpu[i], gpu[i], cpu_fixed_s=2.0, other_fixed_s=5.0, epochs=10)
        assert (e2e[i], e2e_lo[i], e2e_hi[i]) == pytest.approx((e2e_one.speedup, e2e_one.low, e2e_one.high))
    assert lo[3] == hi[3] == p[3]  # one epoch on each side: the interval is the point


def _run(run_id, platform, width, times, dataset=1024, source="local"):
    return {"run_id": run_id, "status": "ok", "platform": platform,
            "device_kind": "cpu" if platform == "cpu" else "Test GPU", "cpu_model": "Test CPU", "cpu_cores": 8,
            "source": source, "model": "mlp", "width": width, "depth": 2, "input_shape": "784", "n_classes": 10,
            "batch_size": 64, "dataset_size": dataset, "dtype": "float32", "matmul_precision": "default",
            "params": width * 1000, "epochs": 10, "compile_s": 1.0, "transfer_s": 0.5 if platform == "gpu" else 0.0,
            "epoch_times_s": times, "epoch_s_median": float(np.median(times))}


def _log(configs: int = 6, repeats: int = 3, seed: int = 0) -> pl.DataFrame:
    """CPU and GPU runs of `configs` widths, `repeats` runs each with 3 to 7 raw epoch times."""
    rng = np.random.default_rng(seed)
    records = []
    for w in range(configs):
        for r in range(repeats):
            for platform, scale in (("cpu", 1.0), ("gpu", 0.1 * (w + 1))):
                times = (scale * rng.lognormal(0, 0.1, rng.integers(3, 8))).tolist()
                records.append(_run(f"{platform}-{w}-{r}", platform, 16 * (w + 1), times))
    return records_to_frame(records)


def test_table_matches_the_definitions_pair_by_pair():
    runs = _log()
    pairs = tables.speedup_table(runs).pairs
    assert pairs.height == 6 and pairs["params"].is_sorted()
    for row in pairs.iter_rows(named=True):
        mine = runs.filter(pl.col("width") == row["width"])
        cpu = mine.filter(pl.col("platform") == "cpu")["epoch_times_s"].explode().to_numpy()
        gpu = mine.filter(pl.col("platform") == "gpu")["epoch_times_s"].explode().to_numpy()
        assert row["speedup"] == pytest.approx(np.median(cpu) / np.median(gpu), rel=1e-12)
        assert row["cpu_n_epochs"] == cpu.size and row["gpu_n_epochs"] == gpu.size
        assert sorted(row["epoch_times_s_cpu"]) == row["epoch_times_s_cpu"] == sorted(cpu.tolist())
        # Three runs a side: the run-level Welch t interval on log run medians, by hand.
        logs = [np.log([np.median(t) for t in mine.filter(pl.col("platform") == p)["epoch_times_s"].to_list()])
                for p in ("cpu", "gpu")]
        assert row["ci_basis"] == "runs"
        for prefix, fixed, epochs in (("", (0.0, 0.0), 1), ("e2e_", (1.0, 1.5), 10)):
            totals = [f + epochs * np.exp(m.mean()) for f, m in zip(fixed, logs)]
            shares = [(epochs * np.exp(m.mean()) / t) ** 2 * m.var(ddof=1) / m.size for t, m in zip(totals, logs)]
            df = sum(shares) ** 2 / sum(v**2 / (m.size - 1) for v, m in zip(shares, logs))
            half = stats.t.ppf(0.975, df) * math.sqrt(sum(shares))
            center = math.log(totals[0] / totals[1])
            boot = bootstrap_speedup(cpu, gpu, cpu_fixed_s=fixed[0], other_fixed_s=fixed[1], epochs=epochs)
            # ... widened to the epoch bootstrap's ends where those are wider
            assert (row[f"{prefix}ci_low"], row[f"{prefix}ci_high"]) == pytest.approx(
                (min(math.exp(center - half), boot.low), max(math.exp(center + half), boot.high)), rel=1e-9)
        e2e = bootstrap_speedup(cpu, gpu, cpu_fixed_s=1.0, other_fixed_s=1.5, epochs=10)
        assert row["speedup_end_to_end"] == pytest.approx(e2e.speedup, rel=1e-12)
        assert sorted(row["cpu_run_ids"]) == sorted(mine.filter(pl.col("platform") == "cpu")["run_id"])


def test_one_run_a_side_keeps_the_epoch_bootstrap_and_says_so():
    runs = _log(repeats=1, seed=2)
    for row in tables.speedup_table(runs).pairs.iter_rows(named=True):
        cpu, gpu = row["epoch_times_s_cpu"], row["epoch_times_s_gpu"]
        ci = bootstrap_speedup(cpu, gpu)
        e2e = bootstrap_speedup(cpu, gpu, cpu_fixed_s=1.0, other_fixed_s=1.5, epochs=10)
        assert row["ci_basis"] == "one run: epochs only"
        assert (row["ci_low"], row["ci_high"], row["e2e_ci_low"], row["e2e_ci_high"]) == pytest.approx(
            (ci.low, ci.high, e2e.low, e2e.high))


def test_pooled_sides_are_reused_and_filtered_like_the_runs():
    runs = _log(seed=4)
    pooled = pool(runs, run_ids=False)
    full = tables.speedup_table(runs, times=False)
    again = tables.speedup_table(pooled, times=False)
    assert again.pairs.equals(full.pairs)
    narrow = pl.col("width") <= 48
    from_runs = tables.speedup_table(tables.with_device(runs).filter(narrow), times=False).pairs
    from_pool = tables.speedup_table(pooled, where=narrow, times=False).pairs
    assert from_pool.height == 3
    assert from_pool.drop("cpu_side", "gpu_side").equals(from_runs.drop("cpu_side", "gpu_side"))


def test_pooled_times_come_back_sorted_for_any_sides():
    runs = _log(configs=3, seed=9)
    pooled = pool(runs)
    flat, offsets, sizes = pooled.sorted_times([4, 0, 4])
    sides = pooled.sides
    for i, side in enumerate([4, 0, 4]):
        row = sides.filter(pl.col("side") == side).row(0, named=True)
        mine = runs.filter((pl.col("width") == row["width"]) & (pl.col("platform") == row["platform"]))
        want = np.sort(mine["epoch_times_s"].explode().to_numpy())
        assert np.array_equal(flat[offsets[i]:offsets[i] + sizes[i]], want)
        assert row["n_epochs"] == want.size and row["epoch_s"] == pytest.approx(np.median(want), rel=1e-12)


def test_intervals_are_capped_and_the_cap_is_said():
    runs = _log()
    capped = tables.speedup_table(runs, max_intervals=2)
    full = tables.speedup_table(runs)
    assert capped.pairs["ci_low"].is_not_null().to_list() == [True, True, False, False, False, False]
    assert capped.pairs["speedup"].equals(full.pairs["speedup"])  # every point speedup is still there
    assert capped.pairs.head(2)["ci_high"].equals(full.pairs.head(2)["ci_high"])
    assert "first 2 of 6 pairs" in capped.note and full.note is None


def test_unusable_times_give_a_point_speedup_of_null_not_a_wrong_one():
    records = [_run("c", "cpu", 16, [1.0, 2.0]), _run("g", "gpu", 16, [0.5, 0.0])]  # a zero epoch time
    pairs = tables.speedup_table(records_to_frame(records)).pairs
    assert pairs.height == 1 and pairs["speedup"][0] is None and pairs["ci_low"][0] is None


def test_crossover_table_agrees_with_find_crossover_series_by_series():
    rng = np.random.default_rng(8)
    rows = []
    for series in range(40):
        n = int(rng.integers(1, 9))
        sizes = rng.choice([1e3, 1e4, 1e5, 1e6, 1e7], n)  # repeats: medians per size
        speedups = np.exp(rng.normal(0, 1.2, n))
        if series % 7 == 0:
            speedups[0] = -1.0  # an unusable point
        rows += [{"s": series, "params": float(x), "speedup": float(y)} for x, y in zip(sizes, speedups)]
    pairs = pl.DataFrame(rows)
    levels = {"faster": 1.0, "cheaper": 2.5}
    table = crossover_table(pairs, levels, by=("s",))
    assert table.height == 80
    for row in table.iter_rows(named=True):
        group = pairs.filter(pl.col("s") == row["s"])
        try:
            want = find_crossover(group["params"].to_list(), group["speedup"].to_list(), row["threshold"])
        except ValueError as err:
            assert row["kind"] is None and row["text"] == str(err)
            continue
        assert row["kind"] == want.kind and row["points"] == want.points
        assert (row["range_low"], row["range_high"]) == want.measured_range
        assert row["falls_below_at"] == want.falls_below_at
        assert (row["size"] is None) == (want.size is None)
        if want.size is not None:
            assert row["size"] == pytest.approx(want.size, rel=1e-9)
        assert row["text"] == want.describe("parameters", None if row["label"] == "faster" else row["label"])


@pytest.mark.parametrize("n", [4097, 6000])
def test_large_samples_draw_their_middle_ranks_from_the_right_beta(n):
    """Above SPACINGS_UP_TO the ranks come from Gamma draws: floor(n U_(k)), U_(k) ~ Beta(k, n + 1 - k)."""
    resamples = 20_000
    lo, hi = median_ranks(0, [n], resamples, seed=2)[n]
    k = (n + 1) // 2
    mean, var = k / (n + 1), k * (n + 1 - k) / ((n + 1) ** 2 * (n + 2))
    u = (lo + 0.5) / n
    assert abs(u.mean() - mean) < 5 * math.sqrt(var / resamples)
    assert u.std() == pytest.approx(math.sqrt(var), rel=0.05)
    assert np.all(hi >= lo) and (np.all(hi == lo) if n % 2 else np.any(hi > lo))
    cpu = np.random.default_rng(n).lognormal(0, 0.3, n)
    ours = bootstrap_speedup(cpu, [0.5], resamples=4_000)
    low, high = _classic_interval(cpu, [0.5], 4_000, seed=1)
    assert ours.low == pytest.approx(low, rel=0.01) and ours.high == pytest.approx(high, rel=0.01)


def test_a_bad_threshold_is_a_row_that_says_so_as_before():
    pairs = pl.DataFrame({"s": [0, 0], "params": [1e3, 1e4], "speedup": [0.5, 2.0]})
    table = crossover_table(pairs, {"faster": 1.0, "broken": 0.0}, by=("s",))
    assert table["kind"].to_list() == ["crossing", None]
    assert table["text"][1] == "threshold=0.0: expected a positive number"
    with pytest.raises(ValueError, match="threshold"):
        find_crossover([1e3], [1.0], 0.0)
