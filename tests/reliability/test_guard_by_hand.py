"""The guard's estimates rebuilt by hand (issue 21: planted bugs such as warm-up epochs left out of the time,
slack on the memory check, the cgroup "no limit" value taken as a limit, or the point prediction used instead
of the band's upper end survived the suite).

The guard's constants are written here as literals: the contract fitted on the probes of
benchmarks/guard_grid.py (module doc of engine.jobs.guard), not copies of the module's names. The network's own
bytes and FLOPs come from engine.analysis.memory and engine.base.counts, which have tests of their own.
"""

from __future__ import annotations

import math

import pytest

from engine.analysis.memory import estimate
from engine.analysis.perfmodel import Fit, LineFit
from engine.base import buffers
from engine.base.config import BenchConfig, DataConfig, ModelConfig, RunConfig, TrainConfig
from engine.base.counts import flops_per_step
from engine.base.limits import Limits
from engine.jobs import guard

MB = 1_000_000
MiB = 2**20
ROOMY = 2**50  # free memory: never the reason


def config(kind: str = "mlp", depth: int = 3, width: int = 64, samples: int = 4096, batch: int = 16,
           warmup: int = 1, repeats: int = 5, devices=("cpu",)) -> RunConfig:
    if kind == "transformer":
        model = ModelConfig("transformer", width=16, depth=depth, heads=2, seq_len=8, vocab=64)
        data = DataConfig(samples=samples, input_shape=(8,), n_classes=3)
    elif kind == "cnn":
        model = ModelConfig("cnn", width=16, depth=depth, channels=4)
        data = DataConfig(samples=samples, input_shape=(32, 32, 3), n_classes=3)
    else:
        model = ModelConfig("mlp", width=width, depth=depth)
        data = DataConfig(samples=samples, input_shape=(8,), n_classes=3)
    return RunConfig(model, data, TrainConfig(batch_size=batch), BenchConfig(warmup=warmup, repeats=repeats,
                                                                             devices=devices))


def own_bytes(c: RunConfig) -> int:
    """What the guard adds for the network on a CPU: 2 host copies of the dataset, 2x the memory estimate."""
    need = estimate(c)
    return 2 * need.dataset_bytes + math.ceil(2.0 * need.total_bytes)


@pytest.mark.parametrize("kind, depth, compile_bytes", [
    ("mlp", 1, 20 * MB + 1.5 * MB), ("mlp", 64, 20 * MB + 96 * MB),
    ("cnn", 1, 40 * MB + 16 * MB), ("cnn", 5, 40 * MB + 80 * MB),
    ("transformer", 1, 180 * MB + 5 * MB + 5 * MB), ("transformer", 4, 180 * MB + 20 * MB + 80 * MB),
    ("transformer", 12, 180 * MB + 60 * MB + 720 * MB),
])
def test_the_process_memory_is_base_plus_compile_plus_the_network(kind, depth, compile_bytes):
    c = config(kind, depth)
    decision = guard.check(c, Limits(), ROOMY)
    assert decision.memory_estimate_bytes == 400 * MB + compile_bytes + own_bytes(c)


def test_the_dataset_counts_twice_on_the_host_and_the_model_twice_on_a_cpu_device():
    small, big = config(samples=1024), config(samples=65_536)
    grew = guard.check(big, Limits(), ROOMY).memory_estimate_bytes - guard.check(small, Limits(), ROOMY).memory_estimate_bytes
    more_data = estimate(big).dataset_bytes - estimate(small).dataset_bytes
    assert grew == 2 * more_data + 2 * more_data  # host copies + 2.0 x the device's dataset


def test_an_accelerator_device_costs_the_host_nothing_but_has_its_own_need():
    c = config(devices=("gpu",))
    decision = guard.check(c, Limits(), ROOMY)
    assert decision.memory_estimate_bytes == 400 * MB + 20 * MB + 3 * 1.5 * MB + 2 * estimate(c).dataset_bytes
    (device,) = decision.devices
    assert device.memory_bytes == math.ceil(2.0 * estimate(c).total_bytes)
    refused = guard.check(c, Limits(), ROOMY, device_memory_bytes={"gpu": device.memory_bytes - 1})
    assert not refused.allowed and "on gpu" in refused.message
    assert guard.check(c, Limits(), ROOMY, device_memory_bytes={"gpu": device.memory_bytes}).allowed


@pytest.mark.parametrize("kind, depth, per_layer, compile_s", [
    ("mlp", 3, 2e-5, 5.0 + 0.15), ("cnn", 2, 2e-4, 5.0 + 3.0), ("transformer", 8, 2.5e-4, 5.0 + 8.0 + 16.0),
])
def test_the_time_counts_start_compile_transfer_and_every_warm_up_and_timed_epoch(kind, depth, per_layer, compile_s):
    c = config(kind, depth, warmup=3, repeats=4)
    steps = c.steps_per_epoch
    epoch = steps * (1e-3 + depth * per_layer + flops_per_step(c) / 10e9)
    if kind == "cnn":
        assert c.resolved_mode("cpu") == "per_step"  # no fused-scan slowdown
    expected = 5.0 + compile_s + estimate(c).dataset_bytes / 1e9 + (3 + 4) * epoch
    decision = guard.check(c, Limits(), ROOMY)
    assert decision.seconds_estimate == pytest.approx(expected, rel=1e-12)
    assert "assumed 10 GFLOP/s" in decision.seconds_basis


def test_an_accelerator_is_assumed_faster_per_step_and_per_layer():
    c = config("transformer", 6, devices=("gpu",))
    epoch = c.steps_per_epoch * (2e-4 + 6 * 6e-5 + flops_per_step(c) / 1e12)
    expected = 5.0 + (5.0 + 6.0 + 9.0) + estimate(c).dataset_bytes / 1e9 + 6 * epoch
    assert guard.check(c, Limits(), ROOMY).seconds_estimate == pytest.approx(expected, rel=1e-12)


def test_a_fused_cnn_on_a_cpu_is_assumed_thirty_times_slower():
    per_step = config("cnn", 2)
    fused = RunConfig(per_step.model, per_step.data, TrainConfig(batch_size=16, mode="fused"), per_step.bench)
    slow = guard.check(fused, Limits(), ROOMY).devices[0].epoch_seconds
    assert slow == pytest.approx(30 * guard.check(per_step, Limits(), ROOMY).devices[0].epoch_seconds, rel=1e-12)


def test_a_fit_gives_the_upper_end_of_its_band_not_the_point_prediction():
    c = config(warmup=2, repeats=3)
    line = LineFit(overhead_s=2e-3, rate_flops_per_s=1e30, median_rel_error=0.1, band_factor=3.0, n_points=6,
                   n_sizes=3, flops_range=(1.0, 1e30))
    fit = Fit("CPU: test (2 cores)", "cpu", "mlp", "float32", "default", c.resolved_mode("cpu"), line)
    decision = guard.check(c, Limits(), ROOMY, fits=[fit])
    epoch_high = 3.0 * c.steps_per_epoch * 2e-3  # the band's upper end: 3x the point prediction
    expected = 5.0 + 5.0 + 0.15 + estimate(c).dataset_bytes / 1e9 + 5 * epoch_high
    assert decision.seconds_estimate == pytest.approx(expected, rel=1e-9)
    assert "upper end of its band" in decision.seconds_basis


def test_memory_at_the_limit_is_allowed_and_one_byte_more_is_not():
    c = config()
    need = guard.check(c, Limits(), ROOMY).memory_estimate_bytes
    assert guard.check(c, Limits(max_job_memory_bytes=need), ROOMY).allowed
    assert not guard.check(c, Limits(max_job_memory_bytes=need - 1), ROOMY).allowed
    assert guard.check(c, Limits(max_job_memory_bytes=2 * need), free_memory_bytes=need).allowed
    refused = guard.check(c, Limits(max_job_memory_bytes=2 * need), free_memory_bytes=need - 1)
    assert not refused.allowed and "free memory" in refused.message and refused.memory_limit_bytes == need - 1


def test_time_at_the_limit_is_allowed_and_a_little_more_is_not():
    c = config()
    seconds = guard.check(c, Limits(), ROOMY).seconds_estimate
    assert guard.check(c, Limits(max_job_seconds=seconds), ROOMY).allowed
    assert not guard.check(c, Limits(max_job_seconds=seconds * (1 - 1e-9)), ROOMY).allowed
    assert guard.check(c, Limits(max_job_seconds=100), ROOMY, time_limit_s=100).allowed
    assert not guard.check(c, Limits(max_job_seconds=100), ROOMY, time_limit_s=100.5).allowed


@pytest.mark.parametrize("files, free", [
    ({"memory.max": "max", "memory.current": "1000"}, None),  # v2: no limit
    ({"memory.max": "5000", "memory.current": "1000"}, 4000),
    ({"memory.max": "1000", "memory.current": "5000"}, 0),  # over its limit: nothing free
    ({"memory/memory.limit_in_bytes": "9223372036854771712", "memory/memory.usage_in_bytes": "1000000000"}, None),
    ({"memory/memory.limit_in_bytes": "1099511627776", "memory/memory.usage_in_bytes": "1073741824"},
     1099511627776 - 1073741824),  # v1 with a real 1 TiB limit
    ({"memory.max": "5000"}, None),  # no usage file: not a limit it can use
])
def test_cgroup_free_memory(tmp_path, files, free):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text + "\n")
    assert guard.cgroup_free_bytes(tmp_path) == free


def test_the_free_memory_is_the_smaller_of_the_machine_and_the_cgroup(monkeypatch):
    monkeypatch.setattr(guard, "cgroup_free_bytes", lambda: 123)
    assert guard.available_memory_bytes() == 123
    monkeypatch.setattr(guard, "cgroup_free_bytes", lambda: 2**62)
    import psutil

    assert guard.available_memory_bytes() <= psutil.virtual_memory().total


@pytest.mark.parametrize("devices, full, llc, largest", [
    (("cpu",), False, 32 * MiB, 128 * MiB), (("cpu",), False, 8 * MiB, 64 * MiB), (("cpu",), True, 32 * MiB, 1024 * MiB),
    (("gpu",), False, 32 * MiB, 1024 * MiB), (("cpu", "gpu:1"), False, 8 * MiB, 1024 * MiB),
])
def test_microbenchmark_memory_is_the_base_and_three_of_the_largest_buffer(monkeypatch, devices, full, llc, largest):
    monkeypatch.setattr(buffers, "llc_bytes", lambda: llc)
    decision = guard.check_micro(devices, full, Limits(max_job_memory_bytes=10**13), ROOMY)
    assert decision.memory_estimate_bytes == 400 * MB + 3 * largest and decision.allowed


def test_quick_microbenchmarks_past_the_memory_limit_say_why_the_buffer_is_large(monkeypatch):
    monkeypatch.setattr(buffers, "llc_bytes", lambda: 32 * MiB)  # 128 MiB: 400 MB + 403 MB > 700 MB
    refused = guard.check_micro(("cpu",), False, Limits(), ROOMY)
    assert not refused.allowed and "128 MiB" in refused.message and "CROSSOVER_MAX_JOB_MEMORY" in refused.message
    monkeypatch.setattr(buffers, "llc_bytes", lambda: 8 * MiB)  # 64 MiB: 601 MB
    assert guard.check_micro(("cpu",), False, Limits(), ROOMY).allowed


# --- what the mutation run (benchmarks/mutation.py --modules guard) found untested ---------------------------

@pytest.mark.parametrize("platform, kind, depth, step, per_layer", [
    ("gpu", "mlp", 3, 2e-4, 5e-6), ("gpu", "cnn", 2, 2e-4, 5e-5), ("tpu", "mlp", 3, 2e-4, 5e-6),
    ("tpu", "transformer", 2, 2e-4, 6e-5),
])
def test_accelerators_are_assumed_at_a_teraflop_with_their_own_step_and_layer_costs(platform, kind, depth, step,
                                                                                     per_layer):
    c = config(kind, depth, devices=(platform,))
    (device,) = guard.check(c, Limits(), ROOMY).devices
    expected = c.steps_per_epoch * (step + depth * per_layer + flops_per_step(c) / 1e12)
    assert device.epoch_seconds == pytest.approx(expected, rel=1e-12)


def test_a_fit_without_a_band_gives_twice_its_point_prediction():
    c = config()
    line = LineFit(overhead_s=1e-3, rate_flops_per_s=1e30, median_rel_error=0.0, band_factor=math.inf, n_points=2,
                   n_sizes=2, flops_range=(1.0, 1e30))
    fit = Fit("CPU: test (2 cores)", "cpu", "mlp", "float32", "default", c.resolved_mode("cpu"), line)
    (device,) = guard.check(c, Limits(), ROOMY, fits=[fit]).devices
    assert device.epoch_seconds == pytest.approx(2 * c.steps_per_epoch * 1e-3, rel=1e-9)


@pytest.mark.parametrize("n, text", [(999_999_999, "1,000 MB"), (1e9, "1.00 GB"), (999_999_999_999, "1,000.00 GB"),
                                     (1e12, "1.00 TB"), (2.5e12, "2.50 TB")])
def test_bytes_read_in_decimal_units(n, text):
    assert guard._bytes(n) == text


@pytest.mark.parametrize("s, text", [(119.4, "119 s"), (120, "2.0 min"), (3599, "60.0 min"), (3600, "1.0 h")])
def test_seconds_read_in_seconds_minutes_or_hours(s, text):
    assert guard._seconds(s) == text


def test_exactly_the_parameter_and_sample_limits_are_allowed():
    c = config()
    params = guard.check(c, Limits(), ROOMY).params
    assert guard.check(c, Limits(max_params=params, max_samples=4096), ROOMY).allowed
    over = guard.check(c, Limits(max_params=params - 1, max_samples=4095), ROOMY)
    assert over.reasons == (f"the network has {params:,} parameters, more than CROSSOVER_MAX_PARAMS={params - 1:,}",
                            "the dataset has 4,096 samples, more than CROSSOVER_MAX_SAMPLES=4,095")
    assert over.message == "This job was not started: " + "; ".join(over.reasons) + "."


def test_a_refusal_at_the_configured_limit_names_the_variable_not_the_free_memory():
    c = config()
    need = guard.check(c, Limits(), ROOMY).memory_estimate_bytes
    at_both = guard.check(c, Limits(max_job_memory_bytes=need - 1), free_memory_bytes=need - 1)
    (reason,) = at_both.reasons
    assert "CROSSOVER_MAX_JOB_MEMORY" in reason and "free memory" not in reason


def test_a_sweep_takes_its_largest_config_and_names_each_config_it_refuses():
    small, big = config(width=16), config(width=512, samples=65_536)
    one = guard.check(big, Limits(), ROOMY)
    sweep = guard.check_sweep([small, big, small], Limits(max_params=one.params - 1), ROOMY)
    assert sweep.memory_estimate_bytes == one.memory_estimate_bytes and sweep.params == one.params
    assert sweep.samples == 65_536
    assert sweep.reasons == (f"config 2 of 3: the network has {one.params:,} parameters, more than "
                             f"CROSSOVER_MAX_PARAMS={one.params - 1:,}",)
    alone = guard.check(big, Limits(max_params=one.params - 1), ROOMY)
    assert alone.reasons[0].startswith("the network has")  # one config: no "config 1 of 1"
    pair = guard.check_sweep([big, small], Limits(max_params=one.params - 1), ROOMY)
    assert pair.reasons[0].startswith("config 1 of 2: the network has")


def test_a_job_on_two_platforms_states_both_time_bases():
    decision = guard.check(config(devices=("cpu", "gpu")), Limits(), ROOMY)
    assert "on cpu" in decision.seconds_basis and "on gpu" in decision.seconds_basis
    assert "; " in decision.seconds_basis
    single = guard.check(config(), Limits(), ROOMY)
    assert single.seconds_basis == single.devices[0].basis


@pytest.mark.parametrize("limit", [2**60, 2**60 + 4096, 2**61])
def test_cgroup_v1_values_from_an_exbibyte_up_mean_no_limit(tmp_path, limit):
    (tmp_path / "memory").mkdir()
    (tmp_path / "memory/memory.limit_in_bytes").write_text(f"{limit}\n")
    (tmp_path / "memory/memory.usage_in_bytes").write_text("1000\n")
    assert guard.cgroup_free_bytes(tmp_path) is None


def test_microbenchmarks_report_no_network_and_nothing_on_the_device():
    decision = guard.check_micro(("cpu",), False, Limits(max_job_memory_bytes=10**13), ROOMY)
    assert decision.params == 0 and decision.samples == 0
    assert [(d.spec, d.memory_bytes) for d in decision.devices] == [("cpu", 0)]
    assert guard.check_micro((), False, Limits(), ROOMY).memory_estimate_bytes == 400 * MB


def test_the_memory_of_a_process_group_is_its_processes_resident_memory():
    import subprocess
    import sys
    import time

    import psutil

    assert guard.process_group_rss_bytes(2**22 + 12_345) == 0  # no such process
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        for _ in range(50):  # until its interpreter has started and its memory stays put between the reads
            before = psutil.Process(child.pid).memory_info().rss
            got = guard.process_group_rss_bytes(child.pid)
            if before == got == psutil.Process(child.pid).memory_info().rss:
                break
            time.sleep(0.1)
        assert got == before > 0
    finally:
        child.kill()
        child.wait()


def test_fits_for_host_keeps_only_runs_of_this_host_cpu_and_core_count(monkeypatch):
    import polars as pl

    import engine.analysis.perfmodel as perfmodel
    from engine.base.hostinfo import cpu_cores, cpu_model

    rows = [{"host": host, "cpu_model": model, "cpu_cores": cpu_cores(), "i": i}
            for i in range(4) for host, model in (("box-a", cpu_model()), ("box-b", cpu_model()),
                                                  ("box-a", "another CPU"))]
    seen = []
    monkeypatch.setattr(perfmodel, "fit_runs", lambda runs: (seen.append(runs) or ["a fit"], None))
    assert guard.fits_for_host(pl.DataFrame(rows), host="box-a") == ["a fit"]
    (kept,) = seen
    assert kept.height == 4 and set(kept["host"]) == {"box-a"} and set(kept["cpu_model"]) == {cpu_model()}
    assert guard.fits_for_host(pl.DataFrame(rows), host="box-c") == []  # no run of that host
