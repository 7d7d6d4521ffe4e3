"""Point 2 — resource guard: limits from the environment or secrets, estimates of memory and time,
refusals that show the estimate and the limit, the queue cap, and the CLI under
CROSSOVER_ENFORCE_LIMITS=1. No job starts here: refusals happen before any subprocess."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
from reliability_helpers import TINY_FLAGS, run_cli, tiny_config

from engine.analysis.perfmodel import Fit, fit_line
from engine.base.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from engine.base.limits import LimitError, Limits, enforce_requested
from engine.jobs import guard
from engine.jobs.worker import Job, JobRefused, QueueFull, SubmitRefused, Worker
from engine.runlog import store

GiB = 2**30
BIG_MLP = RunConfig(ModelConfig("mlp", width=4096, depth=4), DataConfig(samples=8192), TrainConfig(batch_size=256))


# --- limits -----------------------------------------------------------------------------------

def test_defaults_fit_a_public_one_gb_host():
    limits = Limits.from_env({})
    assert limits == Limits()
    assert limits.max_job_memory_bytes < GiB and limits.max_job_seconds <= 600 and limits.max_queued_jobs <= 10
    assert limits.max_params <= 20_000_000 and limits.max_samples <= 100_000


def test_environment_then_secrets_then_defaults():
    env = {"CROSSOVER_MAX_PARAMS": "5_000_000", "CROSSOVER_MAX_JOB_SECONDS": "60", "CROSSOVER_MAX_SAMPLES": ""}
    secrets = {"CROSSOVER_MAX_PARAMS": 1, "CROSSOVER_MAX_QUEUED_JOBS": 2, "CROSSOVER_MAX_SAMPLES": 1024}
    limits = Limits.from_env(env, secrets)
    assert limits.max_params == 5_000_000  # the environment wins
    assert limits.max_job_seconds == 60.0
    assert limits.max_queued_jobs == 2 and limits.max_samples == 1024  # from secrets (an empty variable is unset)
    assert limits.max_upload_bytes == Limits().max_upload_bytes  # default


class NoSecretsFile(dict):
    def __contains__(self, key):  # what st.secrets does when no secrets.toml exists
        raise FileNotFoundError("No secrets found")


def test_a_missing_secrets_file_means_defaults():
    assert Limits.from_env({}, NoSecretsFile()) == Limits()


@pytest.mark.parametrize("variable", ["CROSSOVER_MAX_PARAMS", "CROSSOVER_MAX_SAMPLES", "CROSSOVER_MAX_JOB_SECONDS",
                                      "CROSSOVER_MAX_QUEUED_JOBS", "CROSSOVER_MAX_JOB_MEMORY",
                                      "CROSSOVER_MAX_UPLOAD_BYTES", "CROSSOVER_MAX_IMPORT_ROWS"])
@pytest.mark.parametrize("value", ["abc", "0", "-5", "nan", "inf", "1e400", "9" * 60, " "])
def test_invalid_limit_values_name_the_variable(variable, value):
    if not value.strip():  # blank: treated as unset
        assert Limits.from_env({variable: value}) == Limits()
        return
    with pytest.raises(LimitError) as info:
        Limits.from_env({variable: value})
    assert str(info.value).startswith(f"{variable}=") and "environment variable" in str(info.value)
    assert "expected" in str(info.value) and "[" in str(info.value)


@pytest.mark.parametrize("value", [True, None, [1], 1.5, -1, math.nan])
def test_invalid_secret_values_name_the_variable(value):
    with pytest.raises(LimitError, match=r"CROSSOVER_MAX_QUEUED_JOBS=.*\(secret\)"):
        Limits.from_env({}, {"CROSSOVER_MAX_QUEUED_JOBS": value})


def test_enforce_switch():
    assert not enforce_requested({}) and not enforce_requested({"CROSSOVER_ENFORCE_LIMITS": "0"})
    assert enforce_requested({"CROSSOVER_ENFORCE_LIMITS": "1"})
    with pytest.raises(LimitError, match="CROSSOVER_ENFORCE_LIMITS"):
        enforce_requested({"CROSSOVER_ENFORCE_LIMITS": "maybe"})


# --- estimates and refusals -------------------------------------------------------------------

def test_a_small_job_is_allowed_with_its_estimates():
    config = tiny_config()
    decision = guard.check(config, Limits(), free_memory_bytes=4 * GiB)
    assert decision.allowed and decision.reasons == ()
    assert decision.memory_limit_bytes == Limits().max_job_memory_bytes
    assert 0 < decision.seconds_estimate < Limits().max_job_seconds
    assert "assumed" in decision.seconds_basis and "Estimated" in decision.message


def test_too_many_parameters_or_samples_are_refused_naming_the_limit():
    limits = Limits(max_params=1_000_000, max_samples=4096)
    decision = guard.check(BIG_MLP, limits, free_memory_bytes=64 * GiB)
    assert not decision.allowed
    text = decision.message
    assert f"{decision.params:,} parameters" in text and "CROSSOVER_MAX_PARAMS=1,000,000" in text
    assert "8,192 samples" in text and "CROSSOVER_MAX_SAMPLES=4,096" in text


def test_more_than_the_free_memory_is_refused_showing_estimate_and_limit():
    config = RunConfig(ModelConfig("mlp", width=1024, depth=2), DataConfig(samples=4096), TrainConfig(batch_size=128))
    allowed = guard.check(config, Limits(), free_memory_bytes=4 * GiB)
    assert allowed.allowed
    refused = guard.check(config, Limits(), free_memory_bytes=200 * 2**20)
    assert not refused.allowed and refused.memory_limit_bytes == 200 * 2**20
    (reason,) = refused.reasons
    assert "free memory" in reason and f"{refused.memory_estimate_bytes / 1e6:,.0f} MB" in reason and "210 MB" in reason


def test_the_free_memory_is_measured_when_not_given(monkeypatch):
    monkeypatch.setattr(guard, "available_memory_bytes", lambda: 50 * 2**20)
    decision = guard.check(tiny_config(), Limits())
    assert not decision.allowed and decision.free_memory_bytes == 50 * 2**20


def test_the_configured_memory_limit_applies_on_a_big_machine():
    decision = guard.check(BIG_MLP, Limits(max_params=10**9, max_samples=10**6, max_job_seconds=10**5),
                           free_memory_bytes=512 * GiB)
    assert not decision.allowed and "CROSSOVER_MAX_JOB_MEMORY" in decision.message


def test_cgroup_limits_count_as_free_memory(tmp_path):
    (tmp_path / "memory.max").write_text("1073741824\n")
    (tmp_path / "memory.current").write_text("805306368\n")
    assert guard.cgroup_free_bytes(tmp_path) == 256 * 2**20
    (tmp_path / "memory.max").write_text("max\n")
    assert guard.cgroup_free_bytes(tmp_path) is None


def test_a_job_estimated_past_the_time_limit_is_refused():
    decision = guard.check(BIG_MLP, Limits(max_params=10**9, max_job_memory_bytes=2**40, max_job_seconds=60),
                           free_memory_bytes=2**40)
    assert not decision.allowed and decision.seconds_estimate > 60
    (reason,) = decision.reasons
    assert "CROSSOVER_MAX_JOB_SECONDS=60 s" in reason and "assumed" in reason


def test_a_time_limit_above_the_maximum_is_refused():
    decision = guard.check(tiny_config(), Limits(max_job_seconds=300), 4 * GiB, time_limit_s=900)
    assert not decision.allowed and "time limit of 900 s" in decision.message


def _fit(rate: float, model: str = "mlp") -> Fit:
    flops = np.array([1e6, 1e7, 1e8])
    return Fit("CPU: test (2 cores)", "cpu", model, "float32", "default", "fused", fit_line(flops, 1e-5 + flops / rate))


def test_a_fit_of_this_machine_predicts_the_time():
    config = tiny_config(samples=4096)
    fast = guard.check(config, Limits(), 4 * GiB, fits=[_fit(1e12)])
    assert fast.allowed and "predicted from" in fast.seconds_basis
    slow = guard.check(config, Limits(), 4 * GiB, fits=[_fit(1e3)])  # 1 kFLOP/s: hours
    assert not slow.allowed and "predicted from" in slow.message
    other_kind = guard.check(config, Limits(), 4 * GiB, fits=[_fit(1e3, model="cnn")])  # no fit for an MLP
    assert other_kind.allowed and "assumed" in other_kind.seconds_basis


def test_a_sweep_is_one_job():
    configs = [tiny_config(width=w, samples=4096) for w in (16, 32, 64)]
    one = guard.check(configs[0], Limits(), 4 * GiB)
    sweep = guard.check_sweep(configs, Limits(max_job_seconds=one.seconds_estimate * 1.5), 4 * GiB)
    assert not sweep.allowed and "CROSSOVER_MAX_JOB_SECONDS" in sweep.message


def test_full_microbenchmarks_are_refused_on_a_small_host(monkeypatch):
    from engine.base import buffers

    monkeypatch.setattr(buffers, "llc_bytes", lambda: 8 * 2**20)  # quick: 64 MiB buffers at most
    assert guard.check_micro(("cpu",), False, Limits(), 4 * GiB).allowed
    refused = guard.check_micro(("cpu",), True, Limits(), 4 * GiB)
    assert not refused.allowed and "leave 'full' off" in refused.message


# --- the worker: queue cap, and the guard before queueing -------------------------------------

def _blocker() -> Job:
    config = tiny_config()
    return Job("run", [sys.executable, "-c", "import time; time.sleep(30)"], "blocker", 60.0, config=config,
               devices=config.bench.devices, total=1)


def test_the_queue_is_capped(tmp_path):
    worker = Worker(tmp_path, poll_s=0.02, kill_grace_s=0.5, max_queued_jobs=2)
    try:
        jobs = [worker.submit(_blocker())]
        while jobs[0].state != "running":
            worker.wait(jobs[0].id, timeout=0.05)
        jobs += [worker.submit(_blocker()), worker.submit(_blocker())]  # two waiting: the cap
        with pytest.raises(QueueFull) as info:
            worker.submit(_blocker())
        assert isinstance(info.value, SubmitRefused)
        assert "2 jobs are waiting" in str(info.value) and "CROSSOVER_MAX_QUEUED_JOBS=2" in str(info.value)
        assert len(worker.queue()) == 3
        worker.cancel(jobs[2].id)
        worker.submit(_blocker())  # room again
    finally:
        worker.shutdown()


def test_a_worker_with_limits_refuses_before_queueing(tmp_path):
    worker = Worker(tmp_path, limits=Limits(max_params=1_000, max_queued_jobs=3))
    try:
        with pytest.raises(JobRefused) as info:
            worker.submit_run(BIG_MLP, time_limit_s=60)
        assert not info.value.decision.allowed and "CROSSOVER_MAX_PARAMS=1,000" in str(info.value)
        with pytest.raises(JobRefused, match="time limit of 5000 s"):
            worker.submit_run(tiny_config(), time_limit_s=5000)
        with pytest.raises(JobRefused, match="full"):
            worker.submit_micro(("cpu",), 60, full=True)
        assert worker.queue() == [] and worker.jobs() == []
        assert worker.max_queued_jobs == 3
        assert store.load_runs([tmp_path]).frame.collect().height == 0  # nothing ran, nothing recorded
    finally:
        worker.shutdown()


# --- the CLI applies the guard only when asked ------------------------------------------------

@pytest.fixture
def no_measuring(monkeypatch):
    import engine.cli as cli

    seen = []
    monkeypatch.setattr(cli, "_measure_configs", lambda configs, args: seen.append(configs) or 0)
    monkeypatch.setattr(cli, "_check_devices_present", lambda devices, device_count=1: None)
    monkeypatch.setattr(cli, "enable_compilation_cache", lambda: None)
    return seen


def _refused_only_when_enforcing(argv: list[str], no_measuring: list, monkeypatch) -> str:
    """Run `argv` without, then with CROSSOVER_ENFORCE_LIMITS=1: measured once, then refused (exit 2, one line,
    nothing on stdout). Returns that line; enforcement stays on."""
    monkeypatch.delenv("CROSSOVER_ENFORCE_LIMITS", raising=False)
    assert run_cli(argv)[0] == 0 and len(no_measuring) == 1  # a workstation is not limited
    monkeypatch.setenv("CROSSOVER_ENFORCE_LIMITS", "1")
    code, out, err = run_cli(argv)
    assert code == 2 and out == "" and len(no_measuring) == 1
    (line,) = err.strip().splitlines()
    return line


def test_cli_refuses_over_the_limits_only_when_enforcing(no_measuring, monkeypatch, tmp_path):
    monkeypatch.setenv("CROSSOVER_MAX_PARAMS", "1000")
    line = _refused_only_when_enforcing(["run", *TINY_FLAGS, "--width", "512", "--out", str(tmp_path / "o")],
                                        no_measuring, monkeypatch)
    assert line.startswith("error: This job was not started") and "CROSSOVER_MAX_PARAMS=1,000" in line
    assert "6,147 parameters" in line  # 8*512+512 + 512*3+3: the estimate is shown


def test_cli_sweep_is_checked_as_one_job(no_measuring, monkeypatch):
    monkeypatch.setenv("CROSSOVER_ENFORCE_LIMITS", "1")
    code, _, err = run_cli(["sweep", "--preset", "reference"])
    assert code == 2 and "CROSSOVER_MAX_PARAMS" in err and not no_measuring
    code, _, err = run_cli(["sweep", "--preset", "quick", "--models", "mlp,cnn"])
    assert code == 0, err
    # The quick preset's wider Transformer (width 128, 32 tokens) peaked at 705 MB as a real job: over the 700 MB
    # default, so the whole preset is refused on a small public host, naming that config.
    code, _, err = run_cli(["sweep", "--preset", "quick"])
    assert code == 2 and "config 7 of 7" in err and "CROSSOVER_MAX_JOB_MEMORY (700 MB)" in err
    code, _, err = run_cli(["micro", "--full"])  # refused before jax is imported or anything measured
    assert code == 2 and "leave 'full' off" in err


def test_cli_names_a_bad_limit_variable(no_measuring, monkeypatch):
    monkeypatch.setenv("CROSSOVER_ENFORCE_LIMITS", "1")
    monkeypatch.setenv("CROSSOVER_MAX_JOB_SECONDS", "soon")
    code, _, err = run_cli(["run", *TINY_FLAGS])
    assert code == 2 and err.startswith("error: CROSSOVER_MAX_JOB_SECONDS='soon'") and not no_measuring


def test_cli_refuses_a_time_budget_above_the_maximum_when_enforcing(no_measuring, monkeypatch, tmp_path):
    """Issue 21: the command line under enforcement accepted --time-budget above CROSSOVER_MAX_JOB_SECONDS."""
    monkeypatch.setenv("CROSSOVER_MAX_JOB_SECONDS", "120")
    argv = ["run", *TINY_FLAGS, "--time-budget", "121", "--out", str(tmp_path / "o")]
    line = _refused_only_when_enforcing(argv, no_measuring, monkeypatch)
    assert line == ("error: --time-budget=121 is not allowed: at most CROSSOVER_MAX_JOB_SECONDS=120 seconds "
                    "(CROSSOVER_ENFORCE_LIMITS=1 applies this machine's limits)")
    assert run_cli([*argv[:-4], "--time-budget", "120", "--out", str(tmp_path / "o")])[0] == 0  # at the cap: fine
    assert run_cli([*argv[:-4], "--out", str(tmp_path / "o")])[0] == 0  # no flag: the default, clamped to the cap
    assert no_measuring[-1][0].bench.time_budget_s == 120.0
    code, _, err = run_cli(["sweep", "--preset", "quick", "--time-budget", "500"])
    assert code == 2 and "--time-budget=500" in err


CLOCKED = """
import sys, time
from engine.cli import JobClock, RecordSink
from engine.base.config import BenchConfig, DataConfig, ModelConfig, RunConfig, TrainConfig
config = RunConfig(ModelConfig("mlp", width=16, depth=1), DataConfig(samples=64, input_shape=(8,), n_classes=3),
                   TrainConfig(batch_size=16, epochs=1), BenchConfig(repeats=1, devices=("cpu:0",)))
clock = JobClock(RecordSink(sys.argv[1]), "batch-1")
clock.running = (config, "cpu:0")
print("measuring", flush=True)
time.sleep(60)  # a step that runs past the limit
print("not reached", flush=True)
"""


def test_the_whole_command_stops_at_the_job_time_limit_and_records_the_run_in_progress(tmp_path):
    """Issue 21: under enforcement the command line had no whole-job time limit. A real process runs 'a step'
    that outlasts CROSSOVER_MAX_JOB_SECONDS=1: it exits 3 within seconds, leaving a timeout record."""
    import os
    import subprocess
    import time
    from pathlib import Path

    env = {**os.environ, "CROSSOVER_ENFORCE_LIMITS": "1", "CROSSOVER_MAX_JOB_SECONDS": "1", "JAX_PLATFORMS": "cpu",
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", CLOCKED, str(tmp_path / "runs")], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 3, done.stderr
    assert time.monotonic() - started < 30
    assert done.stdout.splitlines() == ["measuring"]
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: stopped at CROSSOVER_MAX_JOB_SECONDS=1 s") and "recorded as timeout" in line
    rows = store.load_runs([tmp_path / "runs"]).frame.collect()
    assert rows.height == 1 and rows["status"][0] == "timeout" and rows["batch_id"][0] == "batch-1"
    assert "CROSSOVER_MAX_JOB_SECONDS=1" in rows["error"][0] and rows["width"][0] == 16
    # Without enforcement the clock does nothing: the same script would run on (not waited for here).
    env["CROSSOVER_ENFORCE_LIMITS"] = "0"
    check = subprocess.run([sys.executable, "-c", "from engine.cli import JobClock; print(JobClock().limit_s)"],
                           env=env, capture_output=True, text=True, timeout=60)
    assert check.stdout.strip() == "None", check.stderr
