"""Point 4 — the run log: a writer killed mid-write leaves nothing that loads as data; truncated,
empty, foreign or wrong-schema files are skipped by name while the rest loads; two processes
appending at once (to a folder, or to one named file) lose no rows; old schema versions load."""

from __future__ import annotations

import io
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import polars as pl
import pytest
from reliability_helpers import valid_record

from engine.runlog import store

REPO = Path(__file__).resolve().parents[2]

# A writer whose Parquet output stalls halfway through the file; the test kills it there.
SLOW_WRITER = textwrap.dedent("""
    import io, os, sys, time
    import polars as pl
    from engine.runlog import store

    real = pl.DataFrame.write_parquet
    def half_then_stall(frame, target, *args, **kwargs):
        buffer = io.BytesIO()
        real(frame, buffer, *args, **kwargs)
        data = buffer.getvalue()
        target.write(data[: len(data) // 2])
        target.flush()
        os.fsync(target.fileno())
        print("HALF", flush=True)
        time.sleep(60)
    pl.DataFrame.write_parquet = half_then_stall
    record = {name: None for name in store.RUN_SCHEMA}
    record.update(run_id="partial", created_at=None, platform="cpu", device_kind="cpu", model="mlp", params=1,
                  batch_size=1, dataset_size=1, dtype="float32", epoch_s_median=1.0, status="ok",
                  epoch_times_s=[1.0] * 100_000)
    store.append([record], sys.argv[1])
""")


def test_a_writer_killed_mid_write_leaves_no_partial_data(tmp_path):
    store.append([valid_record(0)], tmp_path)
    proc = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "HALF"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    leftovers = [p for p in tmp_path.iterdir() if p.name.startswith(store.TEMP_PREFIX)]
    assert len(leftovers) == 1 and leftovers[0].stat().st_size > 0  # the half-written file exists...
    loaded = store.load_runs([tmp_path])
    assert loaded.skipped == [] and len(loaded.files) == 1  # ...but is neither loaded nor even seen as a run file
    assert loaded.frame.collect()["run_id"].to_list() == ["run-00000"]

    old = time.time() - store.STALE_TEMP_S - 60
    os.utime(leftovers[0], (old, old))
    store.append([valid_record(1)], tmp_path)  # the next writer sweeps up what a killed one left
    assert not leftovers[0].exists()
    assert sorted(store.load_runs([tmp_path]).frame.collect()["run_id"]) == ["run-00000", "run-00001"]


def _parquet_bytes(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


def test_broken_files_are_skipped_by_name_and_every_other_run_loads(tmp_path):
    good = [store.append([valid_record(i), valid_record(i + 10)], tmp_path) for i in range(3)]
    full = _parquet_bytes(store.records_to_frame([valid_record(99)]))
    broken = {
        "truncated.parquet": full[: len(full) // 2],
        "empty.parquet": b"",
        "notes.parquet": b"these are my notes, not Parquet",
        "foreign.parquet": _parquet_bytes(pl.DataFrame({"a": [1, 2], "b": ["x", "y"]})),
        "wrong-types.parquet": _parquet_bytes(
            store.records_to_frame([valid_record(98)]).with_columns(pl.lit("many").alias("params"))),
    }
    for name, data in broken.items():
        (tmp_path / name).write_bytes(data)

    loaded = store.load_runs([tmp_path])
    assert sorted(loaded.files) == sorted(good)
    assert loaded.frame.collect().height == 6
    assert {path.name for path, _ in loaded.skipped} == set(broken)
    for name in broken:
        assert any(name in warning for warning in loaded.warnings), name
    why = dict((path.name, reason) for path, reason in loaded.skipped)
    assert "missing columns" in why["foreign.parquet"] and "params" in why["wrong-types.parquet"]


def test_an_old_schema_version_still_loads(tmp_path):
    old = {name: valid_record(0)[name] for name in store.REQUIRED_RUN_COLUMNS}
    frame = pl.DataFrame([old]).with_columns(
        pl.lit(0, pl.Int8).alias("schema_version"),  # version 0: fewer columns, narrower types, a retired column
        pl.col("params").cast(pl.Int32), pl.col("epoch_s_median").cast(pl.Float32),
        pl.lit("gone").alias("retired_column"),
    )
    frame.write_parquet(tmp_path / "version0.parquet")
    store.append([valid_record(1)], tmp_path)
    loaded = store.load_runs([tmp_path])
    assert loaded.skipped == []
    out = loaded.frame.collect().sort("run_id")
    assert dict(out.schema) == store.RUN_SCHEMA
    v0, v1 = out.to_dicts()
    assert v0["schema_version"] == 0 and v0["params"] == 195 and v0["epoch_s_median"] == pytest.approx(0.0025)
    assert v0["width"] is None and v0["epoch_times_s"] is None  # columns it never had
    assert v1["schema_version"] == store.SCHEMA_VERSION and v1["width"] == 16


# --- concurrent writers -----------------------------------------------------------------------

def _append_many(folder: str, writer: int, count: int, start) -> None:
    start.wait()
    for i in range(count):
        store.append([valid_record(i, run_id=f"w{writer}-{i}")], folder)


def _add_to_one_file(path: str, writer: int, count: int, start) -> None:
    start.wait()
    for i in range(count):
        store.add_to_file([valid_record(i, run_id=f"w{writer}-{i}")], path)


@pytest.mark.parametrize("target", ["folder", "one file"])
def test_two_processes_appending_at_the_same_moment_lose_no_rows(tmp_path, target):
    ctx = multiprocessing.get_context("spawn")  # never fork a process that may hold JAX threads
    start = ctx.Barrier(2)  # both writers imported and ready: then they write at the same moment
    count = 30 if target == "folder" else 15
    where, work = ((str(tmp_path), _append_many) if target == "folder"
                   else (str(tmp_path / "shared.parquet"), _add_to_one_file))
    procs = [ctx.Process(target=work, args=(where, w, count, start)) for w in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    loaded = store.load_runs([tmp_path])
    ids = loaded.frame.collect()["run_id"].to_list()
    assert loaded.skipped == []
    assert sorted(ids) == sorted(f"w{w}-{i}" for w in range(2) for i in range(count))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(store.TEMP_PREFIX)]


# --- a named file is read whatever its name -----------------------------------------------------

def _micro_record(i: int) -> dict:
    record = {name: None for name in store.MICRO_SCHEMA}
    record.update(run_id=f"m{i}", benchmark="matmul", device_kind="cpu", platform="cpu", size=128, dtype="float32",
                  seconds_median=0.001, status="ok")
    return record


def test_records_added_to_a_named_micro_file_are_kept_whatever_its_name(tmp_path):
    """A microbenchmark sweep written to 'micro.parquet' (no '.micro.parquet' suffix) kept only its last record:
    the file was not read back before each rewrite. Every name now keeps every record."""
    for name in ("micro.parquet", "box.micro.parquet"):
        path = tmp_path / name
        for i in range(3):
            store.add_to_file([_micro_record(i)], path, micro=True)
        assert store.load_micro([path]).frame.collect()["run_id"].to_list() == ["m0", "m1", "m2"]


def test_a_named_file_of_the_other_kind_is_refused_not_overwritten(tmp_path):
    path = tmp_path / "runs.parquet"
    store.add_to_file([valid_record(0)], path)
    before = path.read_bytes()
    with pytest.raises(ValueError, match="not a usable run file"):
        store.add_to_file([_micro_record(0)], path, micro=True)
    assert path.read_bytes() == before


@pytest.mark.parametrize("argv, message", [
    (["micro", "--out", "{tmp}/micro.parquet"], "a microbenchmark file's name must end in .micro.parquet"),
    (["run", "--out", "{tmp}/box.micro.parquet"], "a run file's name must not end in .micro.parquet"),
])
def test_the_cli_refuses_an_out_file_named_for_the_other_kind_before_measuring(tmp_path, monkeypatch, argv, message):
    from reliability_helpers import run_cli

    import engine.cli as cli

    monkeypatch.setattr(cli, "_check_devices_present", lambda *a: pytest.fail("measuring started"))
    code, out, err = run_cli([a.format(tmp=tmp_path) for a in argv])
    assert code == 2 and out == ""
    (line,) = err.strip().splitlines()
    assert message in line and "--out=" in line
    assert list(tmp_path.iterdir()) == []
