"""engine.analysis.tables: the speedup table (pairs, intervals, unpaired), crossovers, roofline helpers (no jax)."""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures"))

import fixture_data  # noqa: E402

from engine.analysis import tables  # noqa: E402
from engine.analysis.confidence import bootstrap_speedup  # noqa: E402
from engine.analysis.cost import Prices  # noqa: E402


@pytest.fixture(scope="module")
def cpu() -> pl.DataFrame:
    return pl.read_parquet(fixture_data.CPU_RUNS)


@pytest.fixture(scope="module")
def both(cpu) -> pl.DataFrame:
    return pl.concat([cpu, fixture_data.synthetic_gpu_runs(cpu).with_columns(pl.lit("reference").alias("source"))])


def test_pairs_same_config_across_devices_with_intervals(both):
    pairs = tables.speedup_table(both).pairs
    assert pairs.height == 7  # every CPU run has its GPU twin; nulls (an MLP's channels) pair as equal
    assert set(pairs["gpu_device"]) == {fixture_data.FAKE_GPU}
    assert pairs["cpu_device"][0] == "CPU: AMD EPYC (2 cores)"
    for row in pairs.iter_rows(named=True):
        assert row["speedup"] == pytest.approx(row["params"] / 1e5)
        assert row["ci_low"] <= row["speedup"] <= row["ci_high"]
        assert row["e2e_ci_low"] <= row["speedup_end_to_end"] <= row["e2e_ci_high"]
        assert row["cpu_source"] == "local" and row["gpu_source"] == "reference"
        want = (row["cpu_compile_s"] + row["cpu_transfer_s"] + row["epochs"] * row["cpu_epoch_s"]) / (
            row["gpu_compile_s"] + row["gpu_transfer_s"] + row["epochs"] * row["gpu_epoch_s"])
        assert row["speedup_end_to_end"] == pytest.approx(want)
        assert row["cpu_end_to_end_s"] / row["gpu_end_to_end_s"] == pytest.approx(want)


def test_the_interval_is_the_bootstrap_of_the_raw_epochs(both):
    row = tables.speedup_table(both).pairs.row(0, named=True)
    ci = bootstrap_speedup(row["epoch_times_s_cpu"], row["epoch_times_s_gpu"])
    assert (row["speedup"], row["ci_low"], row["ci_high"]) == pytest.approx((ci.speedup, ci.low, ci.high))


def test_end_to_end_for_a_chosen_number_of_epochs(both):
    pairs = tables.speedup_table(both, epochs=1000).pairs
    assert set(pairs["epochs"]) == {1000}
    # the longer the run, the nearer the end-to-end speedup gets to the per-epoch one
    short = tables.speedup_table(both, epochs=1).pairs
    for long_row, short_row in zip(pairs.iter_rows(named=True), short.iter_rows(named=True)):
        assert abs(long_row["speedup_end_to_end"] - long_row["speedup"]) <= abs(
            short_row["speedup_end_to_end"] - short_row["speedup"]) + 1e-12


def test_no_pair_across_different_configs_and_the_unpaired_are_listed(both):
    gpu = both.filter(pl.col("platform") == "gpu").with_columns(pl.col("dataset_size") * 2)
    table = tables.speedup_table(pl.concat([both.filter(pl.col("platform") == "cpu"), gpu]))
    assert table.pairs.height == 0
    assert table.unpaired.height == 14
    assert set(table.unpaired["reason"]) == {"no accelerator run of this configuration",
                                             "no CPU run of this configuration"}


def test_failed_runs_are_not_paired_but_listed(both):
    broken = both.with_columns(pl.when(pl.col("platform") == "gpu").then(pl.lit("oom")).otherwise(pl.col("status"))
                               .alias("status"))
    table = tables.speedup_table(broken)
    assert table.pairs.height == 0
    assert table.unpaired.filter(pl.col("reason").str.starts_with("status oom")).height == 7


def test_data_parallel_runs_are_not_pooled_with_single_device_runs_but_listed(both):
    four = both.filter(pl.col("platform") == "gpu").with_columns(
        pl.lit(4, pl.Int32).alias("device_count"), pl.col("epoch_s_median") / 4, pl.col("epoch_times_s") / 4,
        pl.col("run_id") + "x4")
    alone, mixed = tables.speedup_table(both), tables.speedup_table(pl.concat([both, four], how="diagonal_relaxed"))
    assert mixed.pairs["speedup"].to_list() == alone.pairs["speedup"].to_list()  # the 4x faster runs left out
    listed = mixed.unpaired.filter(pl.col("reason").str.contains("trained on 4 devices"))
    assert listed.height == four.height and set(listed["run_ids"].list.first()) == set(four["run_id"])


def test_repeated_runs_are_pooled(cpu):
    gpu = fixture_data.synthetic_gpu_runs(cpu)
    slower = gpu.with_columns(pl.col("epoch_s_median") * 3, pl.col("epoch_times_s") * 3, pl.col("run_id") + "b")
    pairs = tables.speedup_table(pl.concat([cpu, gpu, slower, slower.with_columns(pl.col("run_id") + "c")])).pairs
    assert pairs.height == 7 and set(pairs["gpu_runs"]) == {3}
    row = pairs.row(0, named=True)
    assert len(row["epoch_times_s_gpu"]) == 9  # all timed epochs of the three runs
    assert row["speedup"] == pytest.approx(row["params"] / 1e5 / 3, rel=0.1)  # two of three runs are 3x slower


def test_crossovers_faster_and_cheaper(both):
    levels = tables.thresholds(Prices(cpu_per_h=0.10, gpu_per_h=0.25))
    assert levels == {"faster": 1.0, "cheaper": pytest.approx(2.5)}
    table = tables.crossovers(tables.speedup_table(both).pairs, levels)
    mlp = table.filter(pl.col("model") == "mlp").sort("threshold")
    assert mlp["kind"].to_list() == ["crossing", "crossing"]
    assert mlp["size"].to_list() == pytest.approx([1e5, 2.5e5])
    assert mlp["text"][0].startswith("faster from about 100,000 parameters")
    assert mlp["text"][1].startswith("cheaper from about 250,000 parameters")
    never = table.filter(pl.col("kind") == "never")
    assert never.height and all("no crossover in range [" in t for t in never["text"])
    assert tables.crossovers(tables.speedup_table(both.head(0)).pairs, levels).height == 0
    sizes = tables.crossovers(tables.speedup_table(both).pairs, {"faster": 1.0}, size="dataset_size",
                                speedup="speedup_end_to_end", by=(*tables.SERIES_KEYS, "params"), unit="samples")
    assert sizes.height == 7 and "samples" in sizes["text"][0]


def test_same_config(both):
    record = both.filter(pl.col("model") == "transformer").row(0, named=True)
    same = tables.same_config(both, record)
    assert sorted(same["platform"]) == ["cpu", "gpu"]
    assert same["device"].n_unique() == 2


def test_roofs_and_intensity(cpu):
    micro = pl.read_parquet(fixture_data.CPU_MICRO)
    roofs = tables.device_roofs(pl.concat([micro, fixture_data.synthetic_gpu_micro(micro)]))
    assert roofs.height == 2
    gpu = roofs.filter(pl.col("device") == fixture_data.FAKE_GPU).row(0, named=True)
    cpu_roof = roofs.filter(pl.col("device") != fixture_data.FAKE_GPU).row(0, named=True)
    assert gpu["peak_flops_per_s"] == pytest.approx(cpu_roof["peak_flops_per_s"] * 50)
    runs = tables.with_intensity(cpu)
    row = runs.row(0, named=True)
    batch_bytes = row["dataset_bytes"] / row["dataset_size"] * row["batch_size"]
    assert row["bytes_per_step_estimate"] == pytest.approx(40 * row["params"] + batch_bytes)
    assert row["arithmetic_intensity"] == pytest.approx(row["flops_per_step_analytic"] / row["bytes_per_step_estimate"])


def test_source_summary(both, cpu):
    assert tables.source_summary(both) == {"cpu": 7, "gpu": 7, "tpu": 0}
    assert tables.source_summary(cpu)["gpu"] == 0
