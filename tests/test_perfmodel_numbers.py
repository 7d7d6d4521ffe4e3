"""engine.analysis.perfmodel and engine.analysis.traffic, number by number: the batch term and the
memory floor recovered from synthetic runs whose answer is known, predictions never below the
floor, the validation's leave-one-out and extrapolation errors, and the bytes a step moves by hand."""

import math

import numpy as np
import polars as pl
import pytest

from engine.analysis import traffic
from engine.analysis.perfmodel import (
    Fit,
    FitError,
    fit_curves,
    fit_line,
    fit_runs,
    measured_vs_fitted,
    predict,
    select_fit,
    validation,
    validation_summary,
)
from engine.analysis.workload import Workload
from engine.base.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from engine.base.counts import flops_per_step, parameter_count

OVERHEAD, RATE, HALF = 1e-4, 1e12, 64.0  # s/step, FLOP/s at large batches, batch at half the rate


def _truth(flops, batch, floor=0.0):
    return OVERHEAD + np.maximum(flops * (1 + HALF / batch) / RATE, floor)


def test_the_batch_term_is_recovered_exactly_from_noise_free_runs():
    flops = np.array([1e9, 2e9, 4e9, 1e9, 2e9, 4e9, 1e9, 4e9])
    batch = np.array([32, 32, 32, 256, 256, 256, 1024, 1024])
    line = fit_line(flops, _truth(flops, batch), batch)
    assert line.batch_half == HALF
    assert line.rate_flops_per_s == pytest.approx(RATE, rel=1e-6)
    assert line.overhead_s == pytest.approx(OVERHEAD, rel=1e-6)
    assert line.median_rel_error == pytest.approx(0.0, abs=1e-9) and line.band_factor == pytest.approx(1.0)
    assert line.rate_at(64) == pytest.approx(RATE / 2) and line.rate_at(192) == pytest.approx(RATE * 0.75)
    assert line.compute_seconds(2e9, 64) == pytest.approx(2 * 2e9 / RATE)
    assert line.compute_seconds(2e9) == pytest.approx(2e9 / RATE)  # no batch: a large batch
    # One batch size only: nothing to tell the batch term from, so none is fitted.
    single = fit_line(flops[:3], _truth(flops[:3], batch[:3]), batch[:3])
    assert single.batch_half == 0.0 and single.rate_at(32) == single.rate_flops_per_s


def test_runs_at_the_memory_floor_do_not_pull_the_rate():
    flops = np.array([1e9, 2e9, 4e9, 8e9, 16e9])
    floor = np.array([0.0, 0.0, 0.0, 0.5, 0.5])  # the two largest steps are memory-bound at 0.5 s
    seconds = OVERHEAD + np.maximum(flops / RATE, floor)
    line = fit_line(flops, seconds, floor=floor)
    assert line.rate_flops_per_s == pytest.approx(RATE, rel=1e-6)
    assert line.overhead_s == pytest.approx(OVERHEAD, rel=1e-6)
    assert line.seconds(16e9, floor=0.5) == pytest.approx(OVERHEAD + 0.5)
    assert line.seconds(1e9, floor=0.5) == pytest.approx(OVERHEAD + 0.5)  # never below the floor
    assert line.seconds(1e9) == pytest.approx(OVERHEAD + 1e9 / RATE)
    assert np.allclose(line.seconds(flops, None, floor), seconds)


def test_floor_runs_stay_in_when_too_few_sizes_would_remain():
    flops = np.array([1e9, 2e9, 4e9])
    floor = np.array([0.0, 1.0, 1.0])
    seconds = OVERHEAD + flops / RATE
    line = fit_line(flops, seconds, floor=floor)  # the floor is wrong here: the fit on every run stands
    assert line.rate_flops_per_s == pytest.approx(RATE, rel=1e-6)
    assert line.overhead_s == pytest.approx(OVERHEAD, rel=1e-6)


def test_bad_points_are_dropped_and_refusals_name_why():
    line = fit_line([1e9, 2e9, -1, np.nan, 4e9], [0.001, 0.002, 0.1, 0.1, 0.004])
    assert line.n_points == 3 and line.flops_range == (1e9, 4e9)
    with pytest.raises(FitError, match="got 1"):
        fit_line([1e9, 1e9], [0.1, 0.2])
    with pytest.raises(FitError, match="does not grow with FLOPs"):
        fit_line([1e9, 2e9, 4e9], [0.3, 0.3, 0.3])


def _workload(params=10**9, batch=128, samples=128 * 100, flops=1e12, optimizer="adam"):
    return Workload("w", "mlp", params, flops, batch, samples, 10, samples * 100, optimizer=optimizer)


def test_bytes_a_step_moves_by_hand():
    assert traffic.bytes_per_param("adam") == 40 and traffic.bytes_per_param("adamw") == 40
    assert traffic.bytes_per_param("sgd") == 32
    w = _workload(params=1000, batch=10, samples=100)  # 100 bytes per sample
    assert traffic.batch_input_bytes(w) == pytest.approx(1000)
    assert traffic.bytes_per_step(w) == pytest.approx(40 * 1000 + 1000)
    assert traffic.bytes_per_step(_workload(params=1000, batch=10, samples=100, optimizer="sgd")) == pytest.approx(
        32 * 1000 + 1000)
    rows = pl.DataFrame({"params": [1000, 1000], "optimizer": ["adam", "sgd"], "dataset_bytes": [10_000, 10_000],
                         "dataset_size": [100, 100], "batch_size": [10, 10]})
    assert rows.select(traffic.bytes_per_step_expr())["bytes_per_step"].to_list() == [41_000.0, 33_000.0]


def test_device_bandwidth_is_the_largest_buffer_raised_by_training_runs():
    micro = pl.DataFrame({"device": ["A", "A", "A", "B"], "benchmark": ["memory_bandwidth"] * 4,
                          "status": ["ok"] * 4, "size": [2**20, 2**30, 2**24, 2**30],
                          "bytes_per_s": [50e9, 6e9, 20e9, 1e12]})
    runs = pl.DataFrame({"device": ["A", "B", "C"], "step_s": [0.1, 1.0, 1.0], "params": [20_000_000] * 3,
                         "optimizer": ["adam"] * 3, "dataset_bytes": [0] * 3, "dataset_size": [1] * 3,
                         "batch_size": [1] * 3})
    table = {r["device"]: r for r in traffic.device_bandwidths(runs, micro).iter_rows(named=True)}
    # A: the 1 GiB buffer read 6 GB/s, but a training step moved 800 MB in 0.1 s = 8 GB/s: raised to 8.
    assert table["A"]["micro_bytes_per_s"] == 6e9 and table["A"]["bandwidth_bytes_per_s"] == pytest.approx(8e9)
    assert table["A"]["basis"] == "training runs"
    assert table["B"]["bandwidth_bytes_per_s"] == 1e12 and table["B"]["basis"] == "micro benchmark"
    assert table["C"]["bandwidth_bytes_per_s"] is None  # no micro benchmark: no floor
    assert traffic.device_bandwidths(runs, None)["bandwidth_bytes_per_s"].null_count() == 3


def _config(width, batch=64, samples=4096):
    return RunConfig(model=ModelConfig("mlp", width=width, depth=2), data=DataConfig(samples=samples),
                     train=TrainConfig(batch_size=batch))


def _runs(widths=(16, 64, 256, 1024), batches=(64,), device="GPU X", step=None):
    rows = []
    for w in widths:
        for b in batches:
            cfg = _config(w, b)
            f = flops_per_step(cfg)
            s = step(f, b) if step else float(_truth(f, b))
            rows.append({"run_id": f"{device}-{w}-{b}", "status": "ok", "source": "reference", "host": "lab",
                         "platform": "gpu", "device_kind": device, "cpu_model": "c", "cpu_cores": 4, "model": "mlp", "dtype": "float32",
                         "matmul_precision": "default", "mode": "fused", "params": parameter_count(cfg),
                         "optimizer": "adam", "dataset_bytes": 4096 * 3140, "dataset_size": 4096, "batch_size": b,
                         "steps_per_epoch": cfg.steps_per_epoch, "flops_per_step_analytic": float(f),
                         "epoch_s_median": s * cfg.steps_per_epoch})
    return pl.DataFrame(rows)


def test_fit_runs_predicts_with_the_batch_term_and_the_floor_of_the_measured_bandwidth():
    runs = _runs(batches=(16, 64, 512))
    micro = pl.DataFrame({"device": ["GPU X"], "benchmark": ["memory_bandwidth"], "status": ["ok"],
                          "size": [2**30], "bytes_per_s": [1e15]})  # fast memory: every run compute-bound
    fits, table = fit_runs(runs, micro=micro)
    (fit,) = fits
    assert fit.line.batch_half == HALF and fit.rate_flops_per_s == pytest.approx(RATE, rel=1e-6)
    assert fit.bandwidth_bytes_per_s == 1e15 and fit.typical_batch == 64
    assert table["batch_half"].to_list() == [HALF] and table["bandwidth_bytes_per_s"].to_list() == [1e15]
    assert "x batch / (batch + 64)" in fit.describe() and "memory floor at 1,000,000 GB/s" in fit.describe()
    w = _workload(params=10**9, batch=32, flops=1e12)
    p = predict(fit, w)
    compute = 1e12 * (1 + HALF / 32) / RATE
    floor = (40 * 10**9 + 100 * 32) / 1e15
    assert p.seconds_per_step == pytest.approx(OVERHEAD + max(compute, floor))
    assert p.seconds_per_epoch == pytest.approx(p.seconds_per_step * 400) and p.steps_per_epoch == 400
    assert p.floor_seconds_per_step == pytest.approx(floor) and not p.memory_bound
    slow = Fit(**{**fit.__dict__, "bandwidth_bytes_per_s": 1e9})  # 40 GB at 1 GB/s: 40 s per step
    q = predict(slow, w)
    assert q.memory_bound and q.seconds_per_step == pytest.approx(OVERHEAD + (40 * 10**9 + 3200) / 1e9)
    assert q.low >= (OVERHEAD + q.floor_seconds_per_step) * 400 - 1e-9  # the band stays above the floor too
    assert "memory-bound: at the floor of" in q.describe()


def test_extrapolation_is_measured_both_ways():
    (fit,) = fit_runs(_runs())[0]
    lo, hi = fit.line.flops_range
    assert predict(fit, hi * 10, steps_per_epoch=1).extrapolation == pytest.approx(10)
    assert predict(fit, lo / 4, steps_per_epoch=1).extrapolation == pytest.approx(4)
    assert predict(fit, (lo + hi) / 2, steps_per_epoch=1).extrapolation == 1.0
    with pytest.raises(ValueError, match="steps_per_epoch"):
        predict(fit, 1e9)
    with pytest.raises(ValueError, match="expected positive"):
        predict(fit, -1.0, steps_per_epoch=3)


def test_select_fit_takes_the_one_with_most_runs():
    few, many = fit_runs(_runs(widths=(16, 64)))[0][0], fit_runs(_runs())[0][0]
    assert select_fit([few, many], device="GPU X") is many
    assert select_fit([few, many], device="Y") is None


def test_measured_against_fitted_and_the_curves():
    runs = _runs(batches=(16, 512))
    fits, _ = fit_runs(runs)
    table = measured_vs_fitted(runs, fits)
    assert table.height == runs.height and table["ratio"].to_list() == pytest.approx([1.0] * runs.height, rel=1e-6)
    curves = fit_curves(fits, points=5)
    assert curves.height == 5 and curves["fitted_step_s"].is_sorted()
    lo, hi = fits[0].line.flops_range
    assert curves["flops_per_step"][0] == pytest.approx(lo) and curves["flops_per_step"][-1] == pytest.approx(hi)


def test_validation_is_exact_on_noise_free_runs_and_measures_a_known_error():
    exact = validation(_runs(batches=(16, 512)))
    assert exact["loo_error"].abs().max() == pytest.approx(0.0, abs=1e-6)
    assert exact.filter(pl.col("extrapolated"))["extrapolation_error"].abs().max() == pytest.approx(0.0, abs=1e-6)
    assert exact.filter(~pl.col("extrapolated"))["extrapolation_step_s"].null_count() == exact.filter(
        ~pl.col("extrapolated")).height
    sizes = sorted(set(exact["flops_per_step"]))
    assert set(exact.filter(pl.col("extrapolated"))["flops_per_step"]) == set(sizes[len(sizes) // 2:])
    # One run 30 % slow: left out, the model misses it by 1/1.3 - 1; the others stay near exact.
    slow_id = "GPU X-256-64"
    runs = _runs().with_columns(pl.when(pl.col("run_id") == slow_id).then(pl.col("epoch_s_median") * 1.3)
                                .otherwise(pl.col("epoch_s_median")).alias("epoch_s_median"))
    table = validation(runs)
    miss = table.filter(pl.col("run_id") == slow_id)["loo_error"][0]
    assert miss == pytest.approx(1 / 1.3 - 1, abs=0.02)
    summary = validation_summary(table).row(0, named=True)
    assert summary["runs"] == 4 and summary["loo_runs"] == 4
    assert summary["loo_median_abs_error"] == pytest.approx(
        float(np.median(np.abs(table["loo_error"].to_numpy()))))
    assert summary["extrapolated_runs"] == table["extrapolation_error"].drop_nulls().len()


def test_a_group_that_cannot_be_fitted_leaves_its_runs_unpredicted():
    table = validation(_runs(widths=(16, 64)))  # two sizes: leaving one out leaves one
    assert table["loo_step_s"].null_count() == table.height
    assert math.isnan(validation_summary(table)["loo_median_abs_error"][0] or math.nan)


@pytest.mark.parametrize("half", [0.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0])
def test_every_batch_half_of_the_grid_is_recovered_exactly(half):
    """The grid of batch sizes at half the rate runs from 4 to 4,096 (and 0: no batch term)."""
    flops = np.array([1e9, 4e9, 1e9, 4e9, 1e9, 4e9])
    batch = np.array([8.0, 8.0, 512.0, 512.0, 16384.0, 16384.0])
    seconds = OVERHEAD + flops * (1 + half / batch) / RATE
    line = fit_line(flops, seconds, batch)
    assert line.batch_half == half and line.rate_flops_per_s == pytest.approx(RATE, rel=1e-6)


def test_one_disturbed_run_is_weighed_out_exactly():
    """Exact runs and one 4x slower: the Huber reweighting must remove it, not just damp it."""
    flops = np.geomspace(1e8, 1e11, 9)
    seconds = OVERHEAD + flops / RATE
    seconds[4] *= 4.0
    line = fit_line(flops, seconds)
    assert line.rate_flops_per_s == pytest.approx(RATE, rel=1e-4)
    assert line.overhead_s == pytest.approx(OVERHEAD, rel=1e-3)
    assert line.median_rel_error == pytest.approx(0.0, abs=1e-4)


def test_a_negative_intercept_is_refitted_through_the_origin_by_hand():
    flops = np.array([1e9, 2e9, 4e9])
    seconds = flops / RATE - 2e-4  # would need a negative overhead
    line = fit_line(flops, seconds)
    # Through the origin, minimising sum ((y - b x) / y)^2 gives b = sum(x / y) / sum(x^2 / y^2).
    b = np.sum(flops / seconds) / np.sum(flops**2 / seconds**2)
    assert line.overhead_s == 0.0 and line.rate_flops_per_s == pytest.approx(1 / b, rel=1e-9)


def test_three_runs_have_an_error_estimate_and_two_do_not():
    flops = np.array([1e9, 2e9, 4e9])
    three = fit_line(flops, OVERHEAD + flops / RATE)
    assert three.median_rel_error == pytest.approx(0.0, abs=1e-9) and three.band_factor == pytest.approx(1.0)
    two = fit_line(flops[:2], OVERHEAD + flops[:2] / RATE)
    assert math.isnan(two.median_rel_error) and math.isnan(two.band_factor)


def test_zero_sizes_times_and_batches_are_left_out():
    flops = np.array([0.0, 1e9, 2e9, 4e9, 8e9])
    seconds = OVERHEAD + flops / RATE
    batch = np.array([64, 0, 64, 64, 64])
    line = fit_line(flops, np.where(flops == 8e9, 0.0, seconds), batch)
    assert line.n_points == 2 and line.flops_range == (2e9, 4e9)
    assert fit_line(flops[1:], seconds[1:], np.array([1, 1, 64, 64])).n_points == 4  # a batch of one is a batch


def test_the_band_never_reaches_below_the_floor():
    from engine.analysis.perfmodel import LineFit

    line = LineFit(OVERHEAD, RATE, 0.2, 2.0, 10, 10, (1e9, 1e10))
    fit = Fit("D", "gpu", "mlp", "float32", "default", "fused", line, bandwidth_bytes_per_s=1e9)
    w = _workload(params=10**9, batch=128, flops=1e9)  # 40 GB at 1 GB/s: memory-bound
    p = predict(fit, w)
    floor = (40 * 10**9 + 100 * 128) / 1e9
    assert p.memory_bound and p.floor_seconds_per_step == pytest.approx(floor)
    assert p.seconds_per_epoch == pytest.approx((OVERHEAD + floor) * 100)
    assert p.low == pytest.approx(p.seconds_per_epoch)  # not epoch / 2: nothing is faster than the floor
    assert p.high == pytest.approx(2 * p.seconds_per_epoch)
    compute_bound = predict(Fit(**{**fit.__dict__, "bandwidth_bytes_per_s": 1e15}), w)
    assert not compute_bound.memory_bound
    assert compute_bound.low == pytest.approx(compute_bound.seconds_per_epoch / 2)


def test_predictions_refuse_nothing_to_predict():
    (fit,) = fit_runs(_runs())[0]
    for flops, steps in ((0.0, 1), (1e9, 0), (math.inf, 1)):
        with pytest.raises(ValueError, match="expected positive"):
            predict(fit, flops, steps_per_epoch=steps)


def test_the_words_of_a_prediction():
    from engine.analysis.perfmodel import _seconds

    (fit,) = fit_runs(_runs())[0]
    lo, hi = fit.line.flops_range
    inside = predict(fit, (lo + hi) / 2, steps_per_epoch=1).describe()
    assert "extrapolated" not in inside and f"fitted on {fit.fitted_on}" in inside
    assert "extrapolated 10x beyond the measured FLOP range" in predict(fit, hi * 10, steps_per_epoch=1).describe()
    assert "extrapolated 1.5x beyond" in predict(fit, hi * 1.5, steps_per_epoch=1).describe()
    assert predict(fit, 0.5, steps_per_epoch=1).seconds_per_step > 0  # any positive FLOP count is a size
    # the same units as every other time on the pages (fmt.seconds): seconds below 2 min, minutes below 2 h,
    # hours below 3 days, never an exponent
    assert [_seconds(s) for s in (3.97e-6, 59.9, 119, 3600, 86_400, 5e8)] == [
        "3.97 µs", "59.9 s", "119 s", "60 min", "24 h", "5,790 days"]


def test_runs_without_time_or_flops_stay_out_of_a_fit():
    runs = _runs()
    broken = pl.concat([runs, runs.head(1).with_columns(pl.lit("zero-time").alias("run_id"),
                                                         pl.lit(0.0).alias("epoch_s_median")),
                        runs.head(1).with_columns(pl.lit("zero-flops").alias("run_id"),
                                                  pl.lit(0.0).alias("flops_per_step_analytic")),
                        runs.head(1).with_columns(pl.lit("zero-steps").alias("run_id"),
                                                  pl.lit(0, pl.Int64).alias("steps_per_epoch"))])
    (fit,) = fit_runs(broken)[0]
    assert fit.line.n_points == runs.height
    assert not {"zero-time", "zero-flops", "zero-steps"} & set(fit.run_ids)


def test_the_fit_table_reports_the_range_and_an_exact_fit_without_a_floor():
    runs = _runs(batches=(16, 512))
    _, table = fit_runs(runs)
    row = table.row(0, named=True)
    assert row["flops_low"] == runs["flops_per_step_analytic"].min()
    assert row["flops_high"] == runs["flops_per_step_analytic"].max()
    assert row["median_rel_error"] == pytest.approx(0.0, abs=1e-6) and row["bandwidth_bytes_per_s"] is None


def _memory_bound_runs():
    """Noise-free runs, the two smallest at a memory floor of bytes / 70 GB/s (they move 78-101 GB per
    second of compute), the three largest compute-bound."""
    bandwidth = 70e9
    rows = _runs(widths=(16, 64, 256, 1024, 2048))
    bytes_per_step = rows.select(traffic.bytes_per_step_expr())["bytes_per_step"]
    steps = rows["steps_per_epoch"]
    truth = [float(OVERHEAD + max(f * (1 + HALF / b) / RATE, n / bandwidth)) * s
             for f, b, n, s in zip(rows["flops_per_step_analytic"], rows["batch_size"], bytes_per_step, steps)]
    micro = pl.DataFrame({"device": ["GPU X"], "benchmark": ["memory_bandwidth"], "status": ["ok"],
                          "size": [2**30], "bytes_per_s": [bandwidth]})
    return rows.with_columns(pl.Series("epoch_s_median", truth)), micro


def test_memory_bound_runs_are_fitted_and_validated_exactly_with_their_floor():
    runs, micro = _memory_bound_runs()
    fits, _ = fit_runs(runs, micro=micro)
    (fit,) = fits
    # One batch size (64): the rate fitted is the one reached at batch 64, RATE x 64 / (64 + HALF).
    assert fit.bandwidth_bytes_per_s == 70e9 and fit.rate_flops_per_s == pytest.approx(RATE / 2, rel=1e-6)
    ratios = measured_vs_fitted(runs, fits)["ratio"].to_list()
    assert ratios == pytest.approx([1.0] * runs.height, rel=1e-6)
    table = validation(runs, micro)
    assert table["loo_error"].drop_nulls().abs().max() == pytest.approx(0.0, abs=1e-6)


def test_an_odd_number_of_sizes_extrapolates_the_larger_half():
    table = validation(_runs(widths=(16, 64, 256, 1024, 2048)))
    sizes = sorted(set(table["flops_per_step"]))
    assert set(table.filter(pl.col("extrapolated"))["flops_per_step"]) == set(sizes[3:])


def test_the_summary_by_hand():
    table = pl.DataFrame({"device": ["D"] * 5, "loo_error": [0.1, -0.2, 0.3, None, -0.5],
                          "extrapolation_error": [None, None, 0.4, -0.6, None]})
    row = validation_summary(table).row(0, named=True)
    assert row["runs"] == 5 and row["loo_runs"] == 4 and row["extrapolated_runs"] == 2
    assert row["loo_median_abs_error"] == pytest.approx(0.25)
    assert row["loo_p90_abs_error"] == pytest.approx(0.44)  # linear between 0.3 and 0.5 at 0.9 of the way
    assert row["extrapolation_median_abs_error"] == pytest.approx(0.5)


def test_traffic_of_rows_with_missing_sizes_and_zero_times():
    rows = pl.DataFrame({"params": [1000], "optimizer": [None], "dataset_bytes": [None], "dataset_size": [100],
                         "batch_size": [10]}, schema_overrides={"optimizer": pl.String, "dataset_bytes": pl.Int64})
    assert rows.select(traffic.bytes_per_step_expr())["bytes_per_step"].to_list() == [40_000.0]  # Adam, no batch
    runs = pl.DataFrame({"device": ["A", "A"], "step_s": [0.0, 1.0], "params": [1000, 1000],
                         "optimizer": ["adam", "adam"], "dataset_bytes": [0, 0], "dataset_size": [1, 1],
                         "batch_size": [1, 1]})
    micro = pl.DataFrame({"device": ["A"], "benchmark": ["memory_bandwidth"], "status": ["ok"], "size": [2**30],
                          "bytes_per_s": [1.0]})
    # A run with no time moves nothing measurable: 40 kB in 1 s, not infinite bandwidth.
    assert traffic.device_bandwidths(runs, micro)["bandwidth_bytes_per_s"].to_list() == [40_000.0]


def _reference_huber_fit(x, y):
    """The module doc's robust fit written out independently: least squares on relative residuals
    (rows scaled by sqrt(w) / y), overhead >= 0 (else through the origin), Huber weights
    min(1, 1.345 s / |r|) with s = 1.4826 x the MAD of the relative residuals, until they settle."""
    w = np.ones_like(y)
    for _ in range(100):
        scale = np.sqrt(w) / y
        a, b = np.linalg.lstsq(np.column_stack([scale, scale * x]), np.sqrt(w), rcond=None)[0]
        if a < 0:
            a, b = 0.0, np.linalg.lstsq((scale * x)[:, None], np.sqrt(w), rcond=None)[0][0]
        r = (y - a - b * x) / y
        s = max(1.4826 * np.median(np.abs(r - np.median(r))), 1e-9)
        new_w = np.minimum(1.0, 1.345 * s / np.maximum(np.abs(r), 1e-300))
        if np.allclose(new_w, w, rtol=0, atol=1e-9):
            break
        w = new_w
    return a, b


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_robust_fit_matches_an_independent_huber_fit_on_noisy_runs(seed):
    rng = np.random.default_rng(seed)
    flops = np.geomspace(1e7, 1e11, 15)
    seconds = (OVERHEAD + flops / RATE) * np.exp(0.08 * rng.standard_normal(15))
    seconds[[3, 11]] *= (2.5, 0.5)  # two disturbed runs
    a, b = _reference_huber_fit(flops, seconds)
    line = fit_line(flops, seconds)
    assert line.overhead_s == pytest.approx(a, rel=1e-6, abs=1e-12)
    assert line.rate_flops_per_s == pytest.approx(1 / b, rel=1e-6)


def test_tiny_units_and_single_step_runs_are_sizes_like_any_other():
    line = fit_line([0.25, 0.5, 1.0], [1.25, 1.5, 2.0])  # FLOPs in any unit: seconds = 1 + flops
    assert line.n_points == 3 and line.overhead_s == pytest.approx(1.0) and line.rate_flops_per_s == pytest.approx(1)
    runs = _runs(widths=(16, 64, 256))
    one_step = _runs(widths=(1024,)).with_columns(pl.lit(1, pl.Int64).alias("steps_per_epoch"),
                                                  pl.col("epoch_s_median") / 64)
    (fit,) = fit_runs(pl.concat([runs, one_step]))[0]
    assert fit.line.n_points == 4


def test_no_prediction_beats_the_devices_best_measured_rate():
    """Issue 17's GPT ladder: three runs, three parameters, and a batch term that promised 0.65 TFLOP/s at batch 8
    on a CPU whose matmul peaks at 0.49. With a matmul micro benchmark the step is at least FLOPs / peak, and says
    so; the runs (true rate 1e12, at most 1e12 x 512/576 seen) are slower than that peak, so it is the matmul's."""
    runs = _runs(batches=(16, 64, 512))
    peak = 4e11  # below RATE: the fit alone would predict faster steps than the device can do
    micro = pl.DataFrame({"device": ["GPU X", "GPU X"], "benchmark": ["memory_bandwidth", "matmul"],
                          "status": ["ok", "ok"], "size": [2**30, 4096], "bytes_per_s": [1e15, None],
                          "flops_per_s": [None, peak]})
    (fit,) = fit_runs(runs, micro=micro)[0]
    best_seen = max(runs["flops_per_step_analytic"] / (runs["epoch_s_median"] / runs["steps_per_epoch"]))
    assert fit.peak_flops_per_s == pytest.approx(max(peak, best_seen))  # a run faster than the matmul raises it
    flops = 1e13
    q = predict(fit, flops, steps_per_epoch=1)
    assert q.seconds_per_step == pytest.approx(OVERHEAD + flops / fit.peak_flops_per_s, rel=1e-6)
    assert q.peak_bound and not q.memory_bound and "capped at this device's best measured rate" in q.describe()
    (unbounded,) = fit_runs(runs)[0]  # no micro benchmark: no ceiling
    assert unbounded.peak_flops_per_s is None and not predict(unbounded, flops, steps_per_epoch=1).peak_bound
