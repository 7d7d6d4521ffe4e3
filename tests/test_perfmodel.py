"""engine.analysis.perfmodel: recovers a known rate and overhead from noisy synthetic runs; refuses bad fits."""

import math

import numpy as np
import polars as pl
import pytest

from engine.analysis.perfmodel import FitError, fit_line, fit_runs, predict, select_fit
from engine.base.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from engine.base.counts import flops_per_step
from engine.runlog.store import load_runs

RATE, OVERHEAD = 2e12, 3e-4  # FLOP/s, seconds per step


def _noisy_points(seed=0, n=24, noise=0.05):
    rng = np.random.default_rng(seed)
    flops = np.geomspace(1e7, 1e12, n)
    seconds = (OVERHEAD + flops / RATE) * np.exp(noise * rng.standard_normal(n))
    return flops, seconds


def test_recovers_rate_and_overhead_within_ten_percent():
    flops, seconds = _noisy_points()
    line = fit_line(flops, seconds)
    assert line.rate_flops_per_s == pytest.approx(RATE, rel=0.10)
    assert line.overhead_s == pytest.approx(OVERHEAD, rel=0.10)
    assert line.median_rel_error < 0.06
    assert 1.0 < line.band_factor < 1.2
    assert line.n_points == line.n_sizes == 24


def test_outliers_do_not_pull_the_fit():
    flops, seconds = _noisy_points(seed=3)
    seconds[[5, 17]] *= 4.0  # two disturbed runs
    line = fit_line(flops, seconds)
    assert line.rate_flops_per_s == pytest.approx(RATE, rel=0.10)
    assert line.overhead_s == pytest.approx(OVERHEAD, rel=0.10)


def test_noise_free_line_is_exact_and_negative_overhead_is_clamped():
    flops = np.array([1e9, 2e9, 4e9])
    line = fit_line(flops, 1e-3 + flops / 1e12)
    assert line.rate_flops_per_s == pytest.approx(1e12) and line.overhead_s == pytest.approx(1e-3)
    clamped = fit_line(flops, flops / 1e12 - 1e-4)
    assert clamped.overhead_s == 0.0 and clamped.rate_flops_per_s > 0


def test_refuses_fewer_than_two_distinct_sizes():
    with pytest.raises(FitError, match="2 or more distinct FLOP counts"):
        fit_line([1e9, 1e9, 1e9], [0.1, 0.11, 0.09])
    with pytest.raises(FitError, match="got 0"):
        fit_line([], [])


def test_refuses_time_that_does_not_grow():
    with pytest.raises(FitError, match="does not grow"):
        fit_line([1e6, 1e7, 1e8], [0.3, 0.2, 0.1])


def test_two_points_give_no_error_estimate():
    line = fit_line([1e9, 2e9], [0.002, 0.003])
    assert math.isnan(line.band_factor) and math.isnan(line.median_rel_error)


def _synthetic_runs() -> pl.DataFrame:
    flops, seconds = _noisy_points(seed=1, n=8)
    rows = []
    for i, (f, s) in enumerate(zip(flops, seconds)):
        for platform, speed in (("cpu", 1.0), ("gpu", 50.0)):
            rows.append({"run_id": f"{platform}{i}", "status": "ok", "source": "reference", "host": "lab",
                         "platform": platform,
                         "device_kind": "cpu" if platform == "cpu" else "Test GPU", "cpu_model": "Test CPU",
                         "cpu_cores": 4, "model": "mlp", "dtype": "float32", "matmul_precision": "default",
                         "mode": "fused", "steps_per_epoch": 10, "flops_per_step_analytic": f,
                         "epoch_s_median": 10 * s / speed})
    rows.append({**rows[0], "run_id": "lonely", "model": "cnn"})  # one run: cannot be fitted
    rows.append({**rows[0], "run_id": "failed", "status": "oom", "flops_per_step_analytic": 1e15})
    return pl.DataFrame(rows)


def test_fit_runs_per_device_lists_unfittable_groups_and_predicts():
    fits, table = fit_runs(_synthetic_runs())
    assert table.height == 3
    assert table.filter(pl.col("model") == "cnn")["error"][0].startswith("needs runs at 2")
    cpu = select_fit(fits, platform="cpu", model="mlp")
    gpu = select_fit(fits, device="Test GPU")
    assert cpu.device == "CPU: Test CPU (4 cores)" and cpu.line.n_points == 8
    assert cpu.rate_flops_per_s == pytest.approx(RATE, rel=0.10)
    assert gpu.rate_flops_per_s == pytest.approx(50 * RATE, rel=0.10)
    assert gpu.overhead_s == pytest.approx(OVERHEAD / 50, rel=0.10)
    assert select_fit(fits, model="transformer") is None

    p = predict(cpu, 1e10, steps_per_epoch=100)
    assert p.is_prediction and p.extrapolation == 1.0
    assert p.seconds_per_step == pytest.approx(cpu.overhead_s + 1e10 / cpu.rate_flops_per_s)
    assert p.seconds_per_epoch == pytest.approx(100 * p.seconds_per_step)
    assert p.low < p.seconds_per_epoch < p.high
    assert "predicted" in p.describe() and "8 mlp float32 runs" in p.describe()
    far = predict(cpu, 1e14, steps_per_epoch=1)
    assert far.extrapolation == pytest.approx(1e14 / table["flops_high"].max())
    assert "extrapolated" in far.describe()
    with pytest.raises(ValueError, match="steps_per_epoch"):
        predict(cpu, 1e10)


def test_data_parallel_runs_stay_out_of_a_devices_fit():
    runs = _synthetic_runs().with_columns(pl.lit(1).alias("device_count"))
    four = runs.filter(pl.col("status") == "ok").with_columns(pl.lit(4).alias("device_count"),
                                                              pl.col("epoch_s_median") / 4)
    (cpu_alone,) = [f for f in fit_runs(runs)[0] if f.platform == "cpu"]
    (cpu_mixed,) = [f for f in fit_runs(pl.concat([runs, four]))[0] if f.platform == "cpu"]
    assert cpu_mixed.line.n_points == cpu_alone.line.n_points == 8
    assert cpu_mixed.rate_flops_per_s == cpu_alone.rate_flops_per_s


def test_predict_from_a_config_uses_its_flops_and_steps():
    fits, _ = fit_runs(_synthetic_runs())
    cfg = RunConfig(model=ModelConfig("mlp", width=256, depth=2), data=DataConfig(samples=1024),
                    train=TrainConfig(batch_size=64))
    p = predict(fits[0], cfg)
    assert p.flops_per_step == flops_per_step(cfg) and p.steps_per_epoch == 16


def test_reference_data_fits_every_device_and_kind_with_enough_runs():
    runs = load_runs(["data/reference"]).frame.collect()
    fits, table = fit_runs(runs)
    fp32 = {(f.platform, f.model) for f in fits if f.dtype == "float32" and f.matmul_precision == "default"}
    # issue 17's ladder (data/reference/*-ladder.parquet): ResNets and GPTs on the development CPU only, so far
    assert fp32 == {(p, m) for p in ("cpu", "gpu") for m in ("mlp", "cnn", "transformer")} | {("cpu", "resnet"),
                                                                                             ("cpu", "gpt")}
    for f in fits:
        assert f.rate_flops_per_s > 0 and f.overhead_s >= 0
    gpu = select_fit(fits, platform="gpu", model="mlp", dtype="float32", matmul_precision="default")
    cpu = select_fit(fits, platform="cpu", model="mlp", dtype="float32", matmul_precision="default")
    assert gpu.rate_flops_per_s > 20 * cpu.rate_flops_per_s
