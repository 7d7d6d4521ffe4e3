"""dashboard.warmup: the server's start-up warm-up fills the run-file caches and never raises."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures"))

import fixture_data  # noqa: E402

from dashboard import data, warmup  # noqa: E402


@pytest.fixture
def folders(tmp_path, monkeypatch):
    runs, reference = fixture_data.make_folders(tmp_path)
    monkeypatch.setenv("CROSSOVER_RUNS_DIR", str(runs))
    monkeypatch.setenv("CROSSOVER_REFERENCE_DIR", str(reference))
    return runs, reference


def test_warm_loads_both_folders_into_the_cache_a_visit_reads(folders, monkeypatch):
    runs, reference = folders
    loaded = []
    original = data._load

    def counting(folder, *args):
        loaded.append(Path(folder))
        return original(folder, *args)

    original.clear()  # a cold cache, as at server start
    monkeypatch.setattr(data, "_load", counting)
    seconds = warmup.warm()
    assert seconds > 0
    assert loaded.count(runs) == 2 and loaded.count(reference) == 2  # runs and micro files of each folder


def test_warm_works_on_empty_folders(tmp_path, monkeypatch):
    for name in ("runs", "reference"):
        (tmp_path / name).mkdir()
    monkeypatch.setenv("CROSSOVER_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("CROSSOVER_REFERENCE_DIR", str(tmp_path / "reference"))
    assert warmup.warm() > 0


def test_a_failing_warm_up_is_logged_and_the_lifespan_still_serves(monkeypatch):
    def broken():
        raise OSError("disk gone")

    said = []
    monkeypatch.setattr(warmup, "warm", broken)
    monkeypatch.setattr(warmup.LOG, "exception", lambda message, *args: said.append(message % args))
    warmup._warm_logged()  # must not raise
    assert said and said[0].startswith("warm-up failed")

    async def serve():
        async with warmup.lifespan(None):
            return "served"

    assert asyncio.run(serve()) == "served"
