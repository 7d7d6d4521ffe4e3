"""engine.analysis: pairing, speedup, crossover, scaling and cost (Polars only, no jax)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures"))

import fixture_data  # noqa: E402

from engine import analysis  # noqa: E402


@pytest.fixture(scope="module")
def cpu() -> pl.DataFrame:
    return pl.read_parquet(fixture_data.CPU_RUNS)


@pytest.fixture(scope="module")
def both(cpu) -> pl.DataFrame:
    return pl.concat([cpu, fixture_data.synthetic_gpu_runs(cpu).with_columns(pl.lit("reference").alias("source"))])


def test_pairs_same_config_across_devices(both):
    pairs = analysis.pair_runs(both)
    assert pairs.height == 7  # every CPU run has its GPU twin; nulls (an MLP's channels) pair as equal
    assert set(pairs["gpu_device"]) == {fixture_data.FAKE_GPU}
    assert pairs["cpu_device"][0] == "CPU: AMD EPYC (2 cores)"
    for row in pairs.iter_rows(named=True):
        assert row["speedup"] == pytest.approx(row["params"] / 1e5)
        assert row["cpu_source"] == "local" and row["gpu_source"] == "reference"
        want = (row["cpu_compile_s"] + row["cpu_transfer_s"] + row["epochs"] * row["cpu_epoch_s"]) / (
            row["gpu_compile_s"] + row["gpu_transfer_s"] + row["epochs"] * row["gpu_epoch_s"])
        assert row["speedup_end_to_end"] == pytest.approx(want)


def test_no_pair_across_different_configs(both):
    gpu = both.filter(pl.col("platform") == "gpu").with_columns(pl.col("dataset_size") * 2)
    assert analysis.pair_runs(pl.concat([both.filter(pl.col("platform") == "cpu"), gpu])).height == 0


def test_failed_runs_are_left_out(both):
    broken = both.with_columns(pl.when(pl.col("platform") == "gpu").then(pl.lit("oom")).otherwise(pl.col("status"))
                               .alias("status"))
    assert analysis.pair_runs(broken).height == 0


def test_repeated_runs_are_combined_by_median(cpu):
    gpu = fixture_data.synthetic_gpu_runs(cpu)
    slower = gpu.with_columns(pl.col("epoch_s_median") * 3, pl.col("run_id") + "b")
    pairs = analysis.pair_runs(pl.concat([cpu, gpu, slower, slower.with_columns(pl.col("run_id") + "c")]))
    assert pairs.height == 7 and set(pairs["gpu_runs"]) == {3}
    row = pairs.row(0, named=True)
    assert row["speedup"] == pytest.approx(row["params"] / 1e5 / 3)  # median of (t, 3t, 3t) is 3t


def test_crossover_interpolates_in_log_log():
    c = analysis.crossover([1e4, 1e6], [0.1, 10.0], 1.0)
    assert c.state == "crosses" and c.x == pytest.approx(1e5)
    assert "100,000" in c.describe()


def test_crossover_states():
    above = analysis.crossover([1e3, 1e4], [2.0, 3.0])
    assert above.state == "above" and above.describe() == (
        "below the measured range [1,000, 10,000] parameters: at or above 1 throughout")
    below = analysis.crossover([1e3, 1e4], [0.2, 0.5])
    assert below.state == "below" and below.describe() == "none in measured range [1,000, 10,000] parameters"
    assert analysis.crossover([], []).state == "empty"
    assert analysis.crossover([1e3, 2e3, 4e3], [0.5, 0.9, 1.8], 1.0).x == pytest.approx(
        math.exp(math.log(2e3) + (math.log(1.0) - math.log(0.9)) / (math.log(1.8) - math.log(0.9)) * math.log(2)))


def test_crossover_takes_the_median_of_repeated_x():
    c = analysis.crossover([10, 10, 10, 100], [0.1, 0.5, 100.0, 5.0], 1.0)
    assert c.state == "crosses" and 10 < c.x < 100


def test_crossovers_table(both):
    table = analysis.crossovers(analysis.pair_runs(both), (1.0, 2.5))
    mlp = table.filter(pl.col("model") == "mlp").sort("threshold")
    assert mlp["state"].to_list() == ["crosses", "crosses"]
    assert mlp["x"].to_list() == pytest.approx([1e5, 2.5e5])
    assert analysis.crossovers(analysis.pair_runs(both.head(0)), (1.0,)).height == 0
    sizes = analysis.crossovers(analysis.pair_runs(both), (1.0,), x="dataset_size", y="speedup_end_to_end",
                                by=(*analysis.SERIES_KEYS, "params"), unit="samples")
    assert sizes.height == 7 and "samples" in sizes["text"][0]


def test_scaled_seconds_and_cost():
    # 10 steps measured at 1 s/epoch; 20 steps asked for 3 epochs: 2 + 0.5 x 2 + 3 x 2
    assert analysis.scaled_seconds(2.0, 0.5, 1.0, 1280, 2560, 128, 3) == pytest.approx(9.0)
    assert analysis.scaled_seconds(None, None, 1.0, 100, 100, 10, 1) == pytest.approx(1.0)
    assert analysis.cost(3600, 0.25) == pytest.approx(0.25)
    assert analysis.price_ratio(0.25, 0.1) == pytest.approx(2.5)


def test_nearest_pair_prefers_own_runs_then_closeness(both):
    pairs = analysis.pair_runs(both)
    row = analysis.nearest_pair(pairs, "mlp", "float32", 300_000, 128, 2048)
    assert row["width"] == 256
    row = analysis.nearest_pair(pairs, "cnn", "float32", 10**6, 64, 1024)
    assert row["channels"] == 16
    assert analysis.nearest_pair(pairs, "mlp", "bfloat16", 300_000, 128, 2048)["dtype"] == "float32"  # falls back
    assert analysis.nearest_pair(pairs.filter(pl.col("model") == "cnn"), "mlp", "float32", 1, 1, 1) is None


def test_nearest_run_and_same_config(both):
    run = analysis.nearest_run(both, "gpu", "transformer", "float32", 120_000, 64, 1024)
    assert run["params"] == 119178 and run["device"] == fixture_data.FAKE_GPU
    same = analysis.same_config(both, run)
    assert sorted(same["platform"]) == ["cpu", "gpu"]


def test_roofs_and_intensity(cpu):
    micro = pl.read_parquet(fixture_data.CPU_MICRO)
    roofs = analysis.device_roofs(pl.concat([micro, fixture_data.synthetic_gpu_micro(micro)]))
    assert roofs.height == 2
    gpu = roofs.filter(pl.col("device") == fixture_data.FAKE_GPU).row(0, named=True)
    cpu_roof = roofs.filter(pl.col("device") != fixture_data.FAKE_GPU).row(0, named=True)
    assert gpu["peak_flops_per_s"] == pytest.approx(cpu_roof["peak_flops_per_s"] * 50)
    runs = analysis.with_intensity(cpu)
    row = runs.row(0, named=True)
    batch_bytes = row["dataset_bytes"] / row["dataset_size"] * row["batch_size"]
    assert row["bytes_per_step_estimate"] == pytest.approx(40 * row["params"] + batch_bytes)
    assert row["arithmetic_intensity"] == pytest.approx(row["flops_per_step_analytic"] / row["bytes_per_step_estimate"])


def test_source_summary(both, cpu):
    assert analysis.source_summary(both) == {"cpu": 7, "gpu": 7, "tpu": 0}
    assert analysis.source_summary(cpu)["gpu"] == 0
