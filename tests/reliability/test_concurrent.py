"""Point 5 — concurrent visitors: four sessions pressing Run together on one server (one Worker),
and two servers on one machine (two Workers sharing the lock file). Jobs run one at a time,
each sees its place in the queue, and every run lands in the log exactly once."""

from __future__ import annotations

import sys
import textwrap
import threading
import time

import pytest
from reliability_helpers import tiny_config

from engine.jobs.worker import Job, Worker
from engine.runlog import store


def _no_overlap(jobs):
    spans = sorted((job.started_at, job.finished_at) for job in jobs)
    for (_, end), (start, _) in zip(spans, spans[1:]):
        assert end <= start, spans


@pytest.fixture
def worker(tmp_path, monkeypatch):
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    monkeypatch.setenv("CROSSOVER_COMPILE_CACHE", str(tmp_path / "jax-cache"))
    w = Worker(tmp_path / "runs", poll_s=0.02)
    yield w
    w.shutdown()


def test_four_sessions_pressing_run_together(worker):
    sessions = 4
    ready = threading.Barrier(sessions)
    jobs: dict[int, Job] = {}
    seen: dict[int, list[int]] = {i: [] for i in range(sessions)}
    errors = []

    def session(i: int):
        try:
            ready.wait()
            job = worker.submit_run(tiny_config(width=8 * (i + 1)), time_limit_s=120)
            jobs[i] = job
            while job.active:  # what the page's progress fragment shows: the place in the queue
                position = worker.position(job.id)
                if position is not None and (not seen[i] or seen[i][-1] != position):
                    seen[i].append(position)
                time.sleep(0.01)
        except Exception as exc:  # surfaced below, with the thread's name
            errors.append((i, exc))

    threads = [threading.Thread(target=session, args=(i,)) for i in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert not errors and len(jobs) == sessions

    for i, job in jobs.items():
        assert job.state == "done", (job.message, job.stderr_tail)
        assert seen[i] == sorted(seen[i], reverse=True) and seen[i][-1] == 0, seen  # only ever moves forward
    assert sorted(positions[0] for positions in seen.values()) == list(range(sessions))  # places 0, 1, 2, 3
    _no_overlap(jobs.values())

    runs = store.load_runs([worker.runs_dir]).frame.collect()
    assert runs.height == sessions and runs["run_id"].n_unique() == sessions
    assert sorted(runs["run_id"]) == sorted(job.records[0]["run_id"] for job in jobs.values())
    assert sorted(runs["width"]) == [8, 16, 24, 32] and set(runs["status"]) == {"ok"}


# A stand-in for the engine that writes one record (fast: no jax), so two servers can be raced.
WRITE_ONE = textwrap.dedent("""
    import json, sys, time
    from engine.runlog import store
    record = {name: None for name in store.RUN_SCHEMA}
    record.update(run_id=sys.argv[1], created_at=None, platform="cpu", device_kind="cpu", model="mlp", params=1,
                  batch_size=1, dataset_size=1, dtype="float32", epoch_s_median=1.0, status="ok")
    print(json.dumps({"event": "start", "total": 1}), flush=True)
    time.sleep(0.3)
    path = store.append([record], sys.argv[2])
    print(json.dumps({"event": "record", "record": {"run_id": sys.argv[1], "device_spec": "cpu:0"}}), flush=True)
    print(json.dumps({"event": "saved", "path": str(path)}), flush=True)
""")


def test_two_servers_on_one_machine_take_turns(tmp_path):
    servers = [Worker(tmp_path, poll_s=0.02), Worker(tmp_path, poll_s=0.02)]
    config = tiny_config()
    try:
        jobs = []
        for n in range(4):
            argv = [sys.executable, "-c", WRITE_ONE, f"job-{n}", str(tmp_path)]
            job = Job("run", argv, f"job {n}", 60.0, config=config, devices=config.bench.devices, total=1)
            jobs.append(servers[n % 2].submit(job))
        for n, job in enumerate(jobs):
            servers[n % 2].wait(job.id, timeout=60)
        assert [job.state for job in jobs] == ["done"] * 4, [job.message for job in jobs]
        _no_overlap(jobs)
        ids = store.load_runs([tmp_path]).frame.collect()["run_id"].to_list()
        assert sorted(ids) == [f"job-{n}" for n in range(4)]
    finally:
        for server in servers:
            server.shutdown()
