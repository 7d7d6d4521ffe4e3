"""Point 3 — faults in a job: device out-of-memory, an XLA error, a worker killed with SIGKILL
mid-run, and a job past its time limit each leave a record with the right status and message,
and the next job on the same engine / worker still runs and finishes ok."""

from __future__ import annotations

import os
import signal
import time

import pytest
from reliability_helpers import TINY_FLAGS, run_cli, tiny_config

from engine.jobs.worker import Worker
from engine.runlog import store


def _runs(folder) -> list[dict]:
    loaded = store.load_runs([folder])
    assert loaded.skipped == []
    return loaded.frame.collect().sort("created_at").to_dicts()


@pytest.fixture
def engine_in_process(monkeypatch, tmp_path):
    """`python -m engine run` in this process (jax on the CPU), writing to tmp_path/runs."""
    monkeypatch.delenv("CROSSOVER_ENFORCE_LIMITS", raising=False)
    out = tmp_path / "runs"

    def run() -> int:
        code, _, err = run_cli(["run", *TINY_FLAGS, "--out", str(out), "--no-compile-cache"])
        assert code == 0, err
        return code

    return run, out


def test_out_of_memory_and_xla_errors_are_recorded_and_the_next_run_works(engine_in_process, monkeypatch):
    import jax

    import engine.measure.bench as bench

    run, out = engine_in_process
    real = bench.make_dataset

    def oom(config):
        raise RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 68719476736 bytes.")

    def xla_error(config):
        raise jax.errors.JaxRuntimeError("INTERNAL: Failed to execute XLA Runtime executable: run time error")

    def host_oom(config):
        raise MemoryError("Unable to allocate 64.0 GiB for an array")

    for fault in (oom, xla_error, host_oom):
        monkeypatch.setattr(bench, "make_dataset", fault)
        run()
    monkeypatch.setattr(bench, "make_dataset", real)
    run()  # the same engine, after three failures

    rows = _runs(out)
    assert [r["status"] for r in rows] == ["oom", "error", "oom", "ok"]
    assert "RESOURCE_EXHAUSTED" in rows[0]["error"] and rows[0]["error"].startswith("RuntimeError")
    assert rows[1]["error"].startswith("JaxRuntimeError: INTERNAL")
    assert rows[2]["error"].startswith("MemoryError")
    for failed in rows[:3]:  # what was asked stays on record, with no made-up timings
        assert failed["params"] == 195 and failed["width"] == 16 and failed["epoch_s_median"] is None
    assert rows[3]["epoch_s_median"] > 0 and rows[3]["error"] is None


@pytest.fixture
def worker(tmp_path, monkeypatch):
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    monkeypatch.setenv("CROSSOVER_COMPILE_CACHE", str(tmp_path / "jax-cache"))
    w = Worker(tmp_path / "runs", poll_s=0.05, kill_grace_s=1.0)
    yield w
    w.shutdown()


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_a_worker_killed_by_sigkill_mid_run_leaves_an_error_record_and_the_next_job_runs(worker):
    long = tiny_config(repeats=1000, samples=4096)  # ~1,000 timed epochs: still measuring when killed
    job = worker.submit_run(long, time_limit_s=120)
    _wait_for(lambda: job.phase == "measure" and job.pid is not None, 60, "the run to be measuring")
    os.kill(job.pid, signal.SIGKILL)  # as the kernel's out-of-memory killer would
    worker.wait(job.id, timeout=30)
    assert job.state == "failed" and job.returncode == -signal.SIGKILL
    assert "SIGKILL" in job.message and "next job starts a fresh process" in job.message

    after = worker.submit_run(tiny_config(), time_limit_s=120)
    worker.wait(after.id, timeout=60)
    assert after.state == "done", (after.message, after.stderr_tail)

    killed, ok = _runs(worker.runs_dir)
    assert killed["status"] == "error" and "SIGKILL" in killed["error"] and killed["repeats"] == 1000
    assert killed["device_spec"] == "cpu:0" and killed["dataset_size"] == 4096
    assert ok["status"] == "ok" and ok["run_id"] == after.records[0]["run_id"]


def test_a_job_past_its_time_limit_leaves_a_timeout_record_and_the_next_job_runs(worker):
    late = worker.submit_run(tiny_config(repeats=1000, samples=4096), time_limit_s=1.0)  # takes several seconds
    worker.wait(late.id, timeout=30)
    assert late.state == "timeout" and "time limit of 1 s" in late.message

    after = worker.submit_run(tiny_config(), time_limit_s=120)
    worker.wait(after.id, timeout=60)
    assert after.state == "done", (after.message, after.stderr_tail)

    timed_out, ok = _runs(worker.runs_dir)
    assert timed_out["status"] == "timeout" and "time limit of 1 s" in timed_out["error"]
    assert ok["status"] == "ok"


def test_garbled_progress_lines_do_not_stop_the_worker(worker):
    import sys
    import textwrap

    from engine.jobs.worker import Job

    code = textwrap.dedent("""
        import json
        print("jax says hello", flush=True)
        print('{"event": "start", "total": "many"}', flush=True)
        print('{"event": "epoch", "epoch": [], "of": {}}', flush=True)
        print('{"event": "record", "record": 5}', flush=True)
        print("{not json", flush=True)
        for i in range(20000):  # more than a pipe buffer: the reader must still be draining
            print(json.dumps({"event": "phase", "phase": "measure", "device": "cpu:0"}), flush=False)
        print(json.dumps({"event": "saved", "path": "x"}), flush=True)
    """)
    config = tiny_config()
    job = worker.submit(Job("run", [sys.executable, "-c", code], "garbled", 30.0, config=config,
                            devices=config.bench.devices, total=1))
    worker.wait(job.id, timeout=30)
    assert job.state == "done" and job.saved == ["x"], (job.state, job.message)
