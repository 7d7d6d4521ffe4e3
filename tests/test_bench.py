"""engine.measure.bench.measure: a complete, self-consistent record for every run, and a record (never
an exception) for every failure."""

import math
import time
import types

import numpy as np
import polars as pl
import pytest

import engine.measure.bench as bench
from engine.base import counts
from engine.base.config import BenchConfig, DataConfig, ModelConfig, RunConfig, TrainConfig
from engine.runlog import store


def tiny(kind="mlp", mode="auto", repeats=3, warmup=1, budget=600.0, epochs=7) -> RunConfig:
    models = {
        "mlp": (ModelConfig("mlp", width=32, depth=2), DataConfig(samples=128, input_shape=(16,), n_classes=4)),
        "cnn": (ModelConfig("cnn", width=16, depth=1, channels=4), DataConfig(samples=64, input_shape=(8, 8, 1))),
        "transformer": (
            ModelConfig("transformer", width=32, depth=1, heads=2, seq_len=8, vocab=32),
            DataConfig(samples=64, n_classes=4),
        ),
    }
    model, data = models[kind]
    return RunConfig(
        model=model,
        data=data,
        train=TrainConfig(batch_size=16, epochs=epochs, mode=mode),
        bench=BenchConfig(warmup=warmup, repeats=repeats, time_budget_s=budget),
    )


@pytest.fixture(scope="module")
def fused_run():
    events = []
    config = tiny("mlp", repeats=4)
    return config, bench.measure(config, "cpu", progress=events.append, batch_id="b1"), events


@pytest.fixture(scope="module")
def per_step_run():
    config = tiny("cnn")  # auto -> per_step for a CNN on the CPU
    return config, bench.measure(config, "cpu")


def check_consistent(config: RunConfig, r: dict):
    """Every derived number of an ok record follows from its raw numbers."""
    assert set(r) == set(store.RUN_SCHEMA), set(r) ^ set(store.RUN_SCHEMA)
    assert r["status"] == "ok" and r["error"] is None
    times = r["epoch_times_s"]
    assert len(times) == config.bench.repeats and all(t > 0 for t in times)
    assert len(r["epoch_losses"]) == config.bench.warmup + config.bench.repeats
    median = float(np.median(times))
    q25, q75 = np.percentile(times, [25, 75])
    assert r["epoch_s_median"] == pytest.approx(median)
    assert min(times) <= r["epoch_s_median"] <= max(times)
    assert r["epoch_s_iqr"] == pytest.approx(q75 - q25)
    assert 0 <= r["epoch_s_iqr"] <= max(times) - min(times)
    assert r["noisy"] is bool((q75 - q25) / median > 0.10)
    assert r["compile_s"] > 0 and r["transfer_s"] >= 0 and r["first_epoch_s"] > 0
    assert r["end_to_end_s"] == pytest.approx(r["compile_s"] + r["transfer_s"] + config.train.epochs * median)
    steps = config.steps_per_epoch
    assert r["steps_per_epoch"] == steps
    assert r["steps_per_s"] == pytest.approx(steps / median)
    assert r["samples_per_s"] == pytest.approx(steps * config.train.batch_size / median)
    assert r["flops_per_step_analytic"] == counts.flops_per_step(config)
    assert r["achieved_flops_per_s"] == pytest.approx(r["flops_per_step_analytic"] * steps / median)
    assert r["params"] == counts.parameter_count(config)
    assert r["flops_per_step_xla"] > 0
    assert r["dataset_bytes"] == steps * config.train.batch_size * (math.prod(config.input_shape) * 4 + 4)
    assert math.isfinite(r["loss_first"]) and math.isfinite(r["loss_last"])
    assert isinstance(r["compile_cache_hit"], bool)
    assert r["created_at"].tzinfo is not None and r["created_at"].utcoffset().total_seconds() == 0
    from engine import ENGINE_VERSION

    assert r["engine_version"] == ENGINE_VERSION  # which measuring code made it


def test_fused_record_is_complete_and_consistent(fused_run):
    config, r, _ = fused_run
    check_consistent(config, r)
    assert r["mode"] == "fused" and r["mode_requested"] == "auto"
    assert r["platform"] == "cpu" and r["device_spec"] == "cpu" and r["device_kind"]
    assert r["batch_id"] == "b1" and r["source"] == "local"
    assert r["model"] == "mlp" and r["width"] == 32 and r["channels"] is None and r["input_shape"] == "16"
    assert r["epochs"] == 7 and r["repeats"] == 4 and r["warmup"] == 1
    assert r["xla_options"] == ""  # an MLP keeps XLA's defaults (engine.measure.xla_options)


def test_per_step_record_is_complete_and_consistent(per_step_run):
    config, r = per_step_run
    check_consistent(config, r)
    assert r["mode"] == "per_step" and r["channels"] == 4 and r["input_shape"] == "8x8x1"
    from engine.measure.xla_options import CPU_CONV_OPTIONS, describe

    assert r["xla_options"] == describe(CPU_CONV_OPTIONS)  # a CNN on the CPU: convolutions left to XLA


def test_xla_flops_within_15_percent_of_analytic(fused_run, per_step_run):
    for _, r in (fused_run[:2], per_step_run):
        assert r["flops_per_step_xla"] == pytest.approx(r["flops_per_step_analytic"], rel=0.15)


def test_progress_events(fused_run):
    config, _, events = fused_run
    phases = [e["phase"] for e in events if e["event"] == "phase"]
    assert phases == ["prepare", "transfer", "compile"]
    epochs = [e for e in events if e["event"] == "epoch"]
    total = config.bench.warmup + config.bench.repeats
    assert [e["epoch"] for e in epochs] == list(range(1, total + 1))
    assert [e["phase"] for e in epochs] == ["warmup"] * config.bench.warmup + ["measure"] * config.bench.repeats
    assert all(e["of"] == total and e["seconds"] > 0 and e["device"] == "cpu" for e in epochs)


def test_record_round_trips_through_the_store(fused_run, tmp_path):
    _, r, _ = fused_run
    store.append([r], tmp_path)
    loaded = store.load_runs([tmp_path])
    assert not loaded.skipped
    row = loaded.frame.collect().row(0, named=True)
    for name, value in r.items():
        assert row[name] == value, name


@pytest.mark.slow
def test_transformer_measures_ok():
    config = tiny("transformer", repeats=2)
    r = bench.measure(config, "cpu")
    check_consistent(config, r)
    assert r["heads"] == 2 and r["seq_len"] == 8 and r["vocab"] == 32


def test_same_start_on_both_runners():
    """Same seed, same data: the first loss does not depend on the runner."""
    fused = bench.measure(tiny("mlp", mode="fused", repeats=1), "cpu")
    per_step = bench.measure(tiny("mlp", mode="per_step", repeats=1), "cpu")
    assert (fused["mode"], per_step["mode"]) == ("fused", "per_step")
    assert fused["loss_first"] == pytest.approx(per_step["loss_first"], rel=1e-5)


# --- failures become records -------------------------------------------------------------


def _assert_failed(r: dict, status: str):
    assert r["status"] == status, r["error"]
    assert isinstance(r["error"], str) and r["error"]
    assert set(r) == set(store.RUN_SCHEMA)
    store.records_to_frame([r])  # a failed record still fits the schema


@pytest.mark.parametrize(
    "exc, status",
    [
        (RuntimeError("XLA compilation failed: boom"), "error"),
        (ValueError("shape mismatch"), "error"),
        (RuntimeError("RESOURCE_EXHAUSTED: Failed to allocate request for 1.00TiB on device"), "oom"),
        (RuntimeError("CUDA_ERROR_OUT_OF_MEMORY: out of memory"), "oom"),
        (MemoryError("host allocation failed"), "oom"),
    ],
)
def test_forced_failure_becomes_a_record(monkeypatch, exc, status):
    def fail(config):
        raise exc

    monkeypatch.setattr(bench, "make_dataset", fail)
    r = bench.measure(tiny(), "cpu")  # must not raise
    _assert_failed(r, status)
    assert str(exc) in r["error"] and type(exc).__name__ in r["error"]
    assert r["epoch_times_s"] == [] and r["epoch_s_median"] is None and r["end_to_end_s"] is None


def test_failing_progress_callback_is_an_error_record():
    def progress(event):
        raise KeyError("callback broke")

    _assert_failed(bench.measure(tiny(), "cpu", progress=progress), "error")


@pytest.mark.parametrize("spec", ["gpu", "tpu", "gpu:1", "cpu:99"])
def test_missing_device_is_skipped(spec):
    r = bench.measure(tiny(), spec)
    _assert_failed(r, "skipped")
    assert spec in r["error"]
    assert r["platform"] == spec.partition(":")[0] and r["device_spec"] == spec


def test_tiny_time_budget_times_out_before_the_epochs(monkeypatch):
    real = bench.make_dataset

    def slow_dataset(config):
        time.sleep(0.15)  # past the 0.1 s budget before compilation even ends
        return real(config)

    monkeypatch.setattr(bench, "make_dataset", slow_dataset)
    r = bench.measure(tiny(budget=0.1), "cpu")
    _assert_failed(r, "timeout")
    assert "time_budget_s=0.1" in r["error"]
    assert r["epoch_times_s"] == [] and r["epoch_s_median"] is None


def test_time_budget_keeps_the_epochs_already_measured(monkeypatch):
    """Each epoch appears to take 10 s (a clock that jumps), the budget is 25 s: warm-up and one
    timed epoch fit, the next would not. The record keeps the timed epoch and its summary."""
    offset = [0.0]
    monkeypatch.setattr(bench, "time", types.SimpleNamespace(perf_counter=lambda: time.perf_counter() + offset[0]))
    real = bench.run_per_step_epoch

    def slow_epoch(step, state, batches):
        offset[0] += 10.0
        return real(step, state, batches)

    monkeypatch.setattr(bench, "run_per_step_epoch", slow_epoch)
    config = tiny(mode="per_step", warmup=1, repeats=5, budget=25.0)
    r = bench.measure(config, "cpu")
    assert r["status"] == "timeout", r["error"]
    assert "time_budget_s=25" in r["error"]
    assert len(r["epoch_times_s"]) == 1 and r["epoch_times_s"][0] >= 10.0
    assert r["epoch_s_median"] == r["epoch_times_s"][0]
    assert r["end_to_end_s"] == pytest.approx(r["compile_s"] + r["transfer_s"] + config.train.epochs * r["epoch_s_median"])


# --- the summary arithmetic ---------------------------------------------------------------


@pytest.mark.parametrize(
    "times, median, iqr, noisy",
    [
        ([1.0, 1.0, 1.0, 1.0, 1.0], 1.0, 0.0, False),
        ([0.95, 1.0, 1.05], 1.0, 0.05, False),  # IQR/median = 0.05
        ([0.905, 1.0, 1.095], 1.0, 0.095, False),  # just under the 0.10 threshold
        ([0.895, 1.0, 1.105], 1.0, 0.105, True),  # just over it
        ([0.8, 1.0, 1.2], 1.0, 0.20, True),
        ([1.0, 2.0, 3.0, 4.0, 5.0], 3.0, 2.0, True),
        ([2.0], 2.0, 0.0, False),
    ],
)
def test_summary_median_iqr_and_noisy(times, median, iqr, noisy):
    config = tiny(epochs=10)
    record = {"epoch_times_s": times, "compile_s": 1.5, "transfer_s": 0.25, "flops_per_step_analytic": 1000}
    bench._summarise(record, config)
    assert record["epoch_s_median"] == pytest.approx(median)
    assert record["epoch_s_iqr"] == pytest.approx(iqr)
    assert record["noisy"] is noisy
    assert record["end_to_end_s"] == pytest.approx(1.5 + 0.25 + 10 * median)
    assert record["steps_per_s"] == pytest.approx(config.steps_per_epoch / median)


def test_noisy_threshold_constant():
    assert bench.NOISY_IQR_RATIO == 0.10


def test_records_of_a_batch_make_one_frame(fused_run, per_step_run):
    frame = store.records_to_frame([fused_run[1], per_step_run[1]])
    assert frame.height == 2 and dict(frame.schema) == store.RUN_SCHEMA
    assert frame["epoch_times_s"].dtype == pl.List(pl.Float64)


def test_a_runs_peak_memory_is_its_own_or_empty():
    """Issue 19: every CNN and Transformer row read 726 MB, an earlier large MLP's peak (the backend's
    high-water mark is per process and cannot be reset): a run reports the mark only when it raised it."""
    from engine.measure.bench import run_peak

    assert run_peak(None, 100) == 100  # the first run in the process
    assert run_peak(726, 900) == 900  # this run went higher than any before it: its own peak
    assert run_peak(726, 726) is None  # stayed below an earlier run's peak: unknown, not 726
    assert run_peak(726, None) is None and run_peak(None, None) is None  # no allocator statistics (CPU)
