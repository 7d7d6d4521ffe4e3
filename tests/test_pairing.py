"""engine.analysis.pairing: same-config CPU/GPU pairs with pooled raw times; unpaired runs are listed."""

import polars as pl
import pytest

from engine.analysis.confidence import with_speedup_ci
from engine.analysis.pairing import CONFIG_KEYS, config_key, matches, pair_sides, pair_with_times, pool
from engine.base.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from engine.runlog.store import records_to_frame


def _run(run_id, platform, width, times, status="ok", dataset=1024, error=None):
    kind = "cpu" if platform == "cpu" else "Test GPU"
    median = sorted(times)[len(times) // 2] if times else None
    return {"run_id": run_id, "status": status, "error": error, "platform": platform, "device_kind": kind,
            "cpu_model": "Test CPU", "cpu_cores": 8, "source": "local", "model": "mlp", "width": width, "depth": 2,
            "input_shape": "784", "n_classes": 10, "batch_size": 64, "dataset_size": dataset, "dtype": "float32",
            "matmul_precision": "default", "params": width * 1000, "epochs": 10, "compile_s": 1.0,
            "transfer_s": 0.1, "epoch_times_s": times, "epoch_s_median": median if status == "ok" else None,
            "flops_per_step_analytic": 1e6 * width, "optimizer": "adam"}


def _frame():
    return records_to_frame([
        _run("c1", "cpu", 64, [1.0, 1.1, 0.9]),
        _run("c1b", "cpu", 64, [1.0, 1.0]),  # a repeat of the same config: pooled
        _run("g1", "gpu", 64, [0.25, 0.25, 0.25]),
        _run("c2", "cpu", 128, [2.0, 2.0, 2.0]),  # no GPU run: unpaired
        _run("g3", "gpu", 256, [], status="oom", error="RESOURCE_EXHAUSTED"),  # failed: listed
        _run("g4", "gpu", 512, [0.5, 0.5]),  # no CPU run: unpaired
    ])


def test_pairs_pool_repeated_runs_and_feed_the_bootstrap():
    paired = pair_with_times(_frame())
    assert paired.pairs.height == 1
    row = paired.pairs.row(0, named=True)
    assert sorted(row["epoch_times_s_cpu"]) == [0.9, 1.0, 1.0, 1.0, 1.1]
    assert row["cpu_runs"] == 2 and sorted(row["cpu_run_ids"]) == ["c1", "c1b"]
    assert row["cpu_device"] == "CPU: Test CPU (8 cores)" and row["gpu_device"] == "Test GPU"
    out = with_speedup_ci(paired.pairs)
    assert out["speedup"][0] == pytest.approx(4.0)
    assert out["ci_low"][0] <= 4.0 <= out["ci_high"][0]


def test_unpaired_runs_appear_in_the_unpaired_list():
    unpaired = pair_with_times(_frame()).unpaired
    reasons = {ids[0]: reason for ids, reason in zip(unpaired["run_ids"].to_list(), unpaired["reason"].to_list())}
    assert reasons == {
        "c2": "no accelerator run of this configuration",
        "g4": "no CPU run of this configuration",
        "g3": "status oom: RESOURCE_EXHAUSTED",
    }


def test_config_key_selects_the_runs_of_a_config():
    cfg = RunConfig(model=ModelConfig("mlp", width=64, depth=2), data=DataConfig(samples=1024),
                    train=TrainConfig(batch_size=64))
    key = config_key(cfg)
    assert set(key) == set(CONFIG_KEYS)
    assert sorted(_frame().filter(matches(key))["run_id"].to_list()) == ["c1", "c1b", "g1"]


def test_config_key_mirrors_the_harness():
    bench = pytest.importorskip("engine.measure.bench")
    for cfg in (
        RunConfig(model=ModelConfig("mlp", width=64, depth=2), data=DataConfig(samples=256),
                  train=TrainConfig(batch_size=64)),
        RunConfig(model=ModelConfig("cnn", width=32, depth=2, channels=4), data=DataConfig(samples=64),
                  train=TrainConfig(batch_size=8, dtype="bfloat16")),
        RunConfig(model=ModelConfig("transformer", width=16, depth=1, heads=2, seq_len=8, vocab=32),
                  data=DataConfig(samples=64), train=TrainConfig(batch_size=8, matmul_precision="highest")),
    ):
        recorded = bench.config_columns(cfg)
        assert config_key(cfg) == {k: recorded[k] for k in CONFIG_KEYS}


def test_empty_frame():
    paired = pair_with_times(records_to_frame([]))
    assert paired.pairs.height == 0 and paired.unpaired.height == 0
    assert "epoch_times_s_cpu" in paired.pairs.columns
    assert paired.unpaired.schema["reason"] == pl.String


def _like(run_id, platform, *, model="mlp", optimizer="adam", mode="fused", engine=6, epoch=1.0):
    return {**_run(run_id, platform, 64, [epoch] * 3), "model": model, "optimizer": optimizer, "mode": mode,
            "engine_version": engine}


def test_pairs_compare_like_with_like():
    """Issue 19: the same optimizer, engine version and epoch runner (or each device's own `auto` runner)."""
    runs = records_to_frame([
        _like("c-adam", "cpu"), _like("g-adam", "gpu", epoch=0.1),
        _like("c-sgd", "cpu", optimizer="sgd"),  # no SGD run on the GPU
        _like("c-old", "cpu", engine=1), _like("c-old2", "cpu", engine=1, epoch=1.2),  # an older engine
        _like("c-step", "cpu", mode="per_step"),  # an MLP per step on the CPU against a fused GPU: not like
        _like("c-cnn", "cpu", model="cnn", mode="per_step"), _like("g-cnn", "gpu", model="cnn", epoch=0.1),
    ])
    paired = pair_with_times(runs)
    got = sorted((r["model"], r["cpu_run_ids"][0], r["gpu_run_ids"][0]) for r in paired.pairs.iter_rows(named=True))
    assert got == [("cnn", "c-cnn", "g-cnn"), ("mlp", "c-adam", "g-adam")]  # auto's CNN runners pair
    reasons = {tuple(sorted(r["run_ids"])): r["reason"] for r in paired.unpaired.iter_rows(named=True)}
    assert reasons[("c-sgd",)] == "no accelerator run of this configuration"
    assert reasons[("c-old", "c-old2")].startswith("accelerator runs of this configuration were measured by another "
                                                   "engine version or epoch runner")  # pooled: one side, 2 runs
    assert reasons[("c-step",)].startswith("accelerator runs of this configuration were measured by another")


def test_mixed_engine_versions_pair_only_when_asked():
    runs = records_to_frame([_like("c", "cpu", engine=6), _like("g", "gpu", engine=1, epoch=0.1)])
    pooled = pool(runs)
    assert pair_sides(pooled.sides)[0].height == 0
    mixed = pair_sides(pooled.sides, mixed_versions=True)[0]
    assert mixed.height == 1 and mixed.row(0, named=True)["cpu_engine_version"] == 6
    assert mixed.row(0, named=True)["gpu_engine_version"] == 1
