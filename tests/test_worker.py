"""engine.jobs.worker: subprocess jobs, one at a time, progress, cancel, time limit, crashes."""

from __future__ import annotations

import sys
import textwrap

import polars as pl
import pytest

from engine.base.config import BenchConfig, DataConfig, ModelConfig, RunConfig, TrainConfig
from engine.cli import build_parser, config_from_args
from engine.jobs.worker import Job, Worker, list_devices, run_argv, unfinished_record
from engine.runlog import store


def tiny(devices=("cpu:0",), width=32) -> RunConfig:
    return RunConfig(ModelConfig("mlp", width=width, depth=1), DataConfig(samples=256),
                     TrainConfig(batch_size=64, epochs=2), BenchConfig(repeats=1, devices=devices))


@pytest.fixture
def worker(tmp_path, monkeypatch):
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    w = Worker(tmp_path / "runs", poll_s=0.05, kill_grace_s=1.0)
    yield w
    w.shutdown()


def fake_job(argv_code: str, config: RunConfig | None = None, limit: float = 30.0) -> Job:
    """A job whose subprocess runs `argv_code` instead of the engine (fast, controllable)."""
    config = config or tiny()
    return Job("run", [sys.executable, "-c", textwrap.dedent(argv_code)], "fake", limit, config=config,
               devices=config.bench.devices, total=len(config.bench.devices))


def saved_runs(w: Worker) -> pl.DataFrame:
    return store.load_runs([w.runs_dir]).frame.collect()


def test_two_jobs_run_one_after_the_other(worker):
    first, second = worker.submit_run(tiny(), 60), worker.submit_run(tiny(width=16), 60)
    assert worker.position(first.id) == 0 and worker.position(second.id) == 1
    worker.wait(second.id, timeout=90)
    assert first.state == second.state == "done", (first.message, second.message, second.stderr_tail)
    assert first.finished_at <= second.started_at  # no overlap
    runs = saved_runs(worker)
    assert sorted(runs["width"].to_list()) == [16, 32] and set(runs["status"]) == {"ok"}
    assert first.fraction == 1.0 and first.records[0]["epoch_losses"]


def test_two_workers_on_one_machine_share_the_lock(tmp_path):
    """Two servers (here two Worker objects) serialize through the flock in the runs folder."""
    sleeper = 'import time; print("{\\"event\\": \\"start\\", \\"total\\": 1}", flush=True); time.sleep(0.6)'
    a, b = Worker(tmp_path, poll_s=0.02), Worker(tmp_path, poll_s=0.02)
    try:
        ja, jb = a.submit(fake_job(sleeper)), b.submit(fake_job(sleeper))
        a.wait(ja.id, 20), b.wait(jb.id, 20)
        spans = sorted([(ja.started_at, ja.finished_at), (jb.started_at, jb.finished_at)])
        assert spans[0][1] <= spans[1][0]
        assert ja.state == jb.state == "done"
    finally:
        a.shutdown(), b.shutdown()


def test_progress_events_are_parsed(worker):
    code = """
        import json, time
        def say(**e): print(json.dumps(e), flush=True)
        say(event="start", total=1, batch_id="b1")
        say(event="phase", phase="compile", device="cpu:0")
        time.sleep(0.5)
        say(event="epoch", phase="measure", device="cpu:0", epoch=2, of=4, seconds=0.1, loss=1.0)
        time.sleep(0.5)
    """
    job = worker.submit(fake_job(code))
    seen = set()
    while job.active:
        seen.add(job.describe_progress().split(";")[0])
        worker.wait(job.id, timeout=0.05)
    assert "compiling on cpu:0" in seen and "measuring epoch 2/4 on cpu:0" in seen
    assert job.batch_id == "b1"


def test_cancel_kills_and_records(worker):
    code = 'import time; print("{\\"event\\": \\"start\\", \\"total\\": 1}", flush=True); time.sleep(60)'
    job = worker.submit(fake_job(code))
    while job.state != "running" or not job.total:
        worker.wait(job.id, timeout=0.05)
    assert worker.cancel(job.id)
    worker.wait(job.id, timeout=10)
    assert job.state == "cancelled"
    (row,) = saved_runs(worker).to_dicts()
    assert row["status"] == "error" and row["error"].startswith("cancelled by the user")
    assert row["width"] == 32 and row["device_spec"] == "cpu:0" and row["params"] > 0


def test_cancel_a_queued_job(worker):
    blocker = worker.submit(fake_job("import time; time.sleep(2)"))
    queued = worker.submit(fake_job("pass"))
    assert worker.position(queued.id) == 1
    assert worker.cancel(queued.id) and queued.state == "cancelled"
    worker.cancel(blocker.id)
    worker.wait(blocker.id, timeout=10)
    assert not worker.cancel(queued.id)  # already ended


def test_time_limit_kills_and_records_timeout(worker):
    job = worker.submit(fake_job("import time; time.sleep(60)", config=tiny(devices=("cpu:0", "gpu:0")), limit=0.5))
    worker.wait(job.id, timeout=15)
    assert job.state == "timeout"
    rows = saved_runs(worker)
    assert sorted(rows["device_spec"]) == ["cpu:0", "gpu:0"]
    assert set(rows["status"]) == {"timeout"} and "time limit of 0.5 s" in rows["error"][0]


def test_crash_is_reported_and_the_next_job_starts_fresh(worker):
    crash = worker.submit(fake_job("import os; os.abort()"))
    after = worker.submit_run(tiny(), 60)
    worker.wait(after.id, timeout=60)
    assert crash.state == "failed" and "exited with code" in crash.message
    assert after.state == "done"
    rows = saved_runs(worker).sort("status")
    assert rows["status"].to_list() == ["error", "ok"]


def test_refused_input_is_reported_without_records(worker):
    job = worker.submit_run(tiny(devices=("gpu:7",)), 60)  # no such device here
    worker.wait(job.id, timeout=60)
    assert job.state == "failed" and "refused" in job.message and "gpu:7" in job.message
    assert saved_runs(worker).height == 0


def test_run_argv_round_trips_through_the_cli(tmp_path):
    config = RunConfig(ModelConfig("transformer", width=64, depth=2, heads=8, seq_len=16, vocab=100),
                       DataConfig(samples=300, n_classes=3, seed=7),
                       TrainConfig(batch_size=30, epochs=4, optimizer="sgd", learning_rate=0.0123, dtype="bfloat16",
                                   matmul_precision="highest", mode="per_step"),
                       BenchConfig(warmup=2, repeats=4, devices=("cpu:0", "gpu:0"), time_budget_s=12.5, device_count=2))
    argv = run_argv(config, tmp_path)
    assert argv[1:4] == ["-m", "engine", "run"] and "--jsonl" in argv
    assert config_from_args(build_parser().parse_args(argv[3:])) == config


def test_unfinished_record_matches_the_engines_columns():
    from engine.runlog.record import config_columns

    config = RunConfig(ModelConfig("cnn", width=32, depth=2, channels=8), DataConfig(samples=128),
                       TrainConfig(batch_size=32))
    record = unfinished_record(config, "cpu:0", "timeout", "why", None)
    for key, value in config_columns(config).items():
        assert record[key] == value, key
    store.records_to_frame([record])  # fits the schema


def test_list_devices_sees_the_cpu(monkeypatch):
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    info = list_devices()
    assert info["devices"][0]["platform"] == "cpu" and info["cpu_cores"] >= 1


def test_a_disk_that_cannot_take_the_results_is_named_and_the_worker_carries_on(worker, monkeypatch):
    """Issue 21: a full disk gave a misleading message and no status row; the worker must say why and go on."""
    import errno

    script = """
        import sys
        print("error: --out='runs': cannot write the record (No space left on device); it is printed above",
              file=sys.stderr)
        sys.exit(2)
    """
    original = store.append

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store, "append", full)
    job = worker.submit(fake_job(script))
    worker.wait(job.id, timeout=15)
    assert job.state == "failed" and job.message.startswith("the results could not be saved")
    assert "no status row could be written" in job.message and "No space left on device" in job.message
    monkeypatch.setattr(store, "append", original)  # the disk has room again: the next job runs as usual
    after = worker.submit_run(tiny(), 60)
    worker.wait(after.id, timeout=60)
    assert after.state == "done"
