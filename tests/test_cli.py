"""`python -m engine ...` as a user (or the dashboard's worker) runs it: in a subprocess."""

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from engine.runlog import store

REPO = Path(__file__).resolve().parents[1]
TINY_RUN = ["run", "--model", "mlp", "--width", "16", "--depth", "1", "--samples", "64", "--input-shape", "8",
            "--batch-size", "16", "--epochs", "2", "--repeats", "2", "--classes", "3"]


def engine_cli(*args: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "JAX_PLATFORMS": "cpu",
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "CROSSOVER_COMPILE_CACHE": str(cwd / "jax-cache"),
    }
    return subprocess.run([sys.executable, "-m", "engine", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize(
    "args, named",
    [
        (["run", "--width", "0"], "width=0"),
        (["run", "--depth", "-2"], "depth=-2"),
        (["run", "--lr", "nan"], "learning_rate=nan"),
        (["run", "--lr", "inf"], "learning_rate=inf"),
        (["run", "--model", "foo"], "kind='foo'"),
        (["run", "--optimizer", "rmsprop"], "optimizer='rmsprop'"),
        (["run", "--samples", "100", "--batch-size", "500"], "batch_size=500"),
        (["run", "--input-shape", "3xq"], "input_shape='3xq'"),
        (["run", "--time-budget", "0"], "time_budget_s=0.0"),
        (["run", "--devices", "cuda"], "devices='cuda'"),
        (["run", "--devices", "gpu"], "devices='gpu'"),  # valid form, but this machine has no GPU
        (["run", "--bogus", "1"], "--bogus"),
        (["run", "--width", "abc"], "--width"),
        (["sweep", "--preset", "nope"], "--preset='nope'"),
        (["sweep", "--preset", "quick", "--models", "cnn,gan"], "--models='cnn,gan'"),
        (["sweep", "--preset", "quick", "--models", ","], "--models=','"),
        (["micro", "--devices", "tpu"], "devices='tpu'"),
        ([], "command"),
    ],
)
def test_bad_input_exits_2_with_one_line_naming_the_field(tmp_path, args, named):
    result = engine_cli(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and named in lines[0], lines[0]
    assert result.stdout == ""
    assert not (tmp_path / "data").exists()  # nothing written


def test_models_flag_keeps_the_named_kinds():
    from engine.cli import _parse_models

    assert _parse_models(None) is None
    assert _parse_models("cnn") == ("cnn",)
    assert _parse_models(" mlp , transformer ") == ("mlp", "transformer")


def test_refusals_do_not_import_jax():
    code = (
        "import sys; from engine.cli import main; rc = main(['run', '--width', '0']); "
        "assert rc == 2, rc; assert 'jax' not in sys.modules, 'jax imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_run_jsonl_writes_parquet_that_show_loads(tmp_path):
    out = tmp_path / "runs"
    result = engine_cli(*TINY_RUN, "--out", str(out), "--jsonl", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]  # every line is JSON
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done"
    assert events[0]["total"] == 1 and events[0]["batch_id"]
    assert {"phase", "epoch", "record", "saved"} <= set(kinds)
    assert kinds.count("epoch") == 1 + 2  # one warm-up + two timed epochs
    record = next(e["record"] for e in events if e["event"] == "record")
    assert record["status"] == "ok", record["error"]
    assert set(record) == set(store.RUN_SCHEMA)
    assert record["params"] == (8 * 16 + 16) + (16 * 3 + 3)
    assert len(record["epoch_times_s"]) == 2 and record["batch_id"] == events[0]["batch_id"]
    assert events[-1]["ok"] == 1 and events[-1]["failed"] == 0
    saved = Path(next(e["path"] for e in events if e["event"] == "saved"))
    assert saved.parent == out and saved.exists()

    frame = store.load_runs([out]).frame.collect()
    assert frame.height == 1 and frame["run_id"][0] == record["run_id"]
    import platform

    from engine.measure import allocator

    if sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc":
        assert frame["allocator"][0] == allocator.TUNED  # `python -m engine` tuned malloc before measuring

    shown = engine_cli("show", str(out), cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "1 runs in 1 files" in shown.stdout
    assert "mlp" in shown.stdout


@pytest.mark.slow
def test_run_human_output_to_a_parquet_file(tmp_path):
    out = tmp_path / "result.parquet"
    result = engine_cli(*TINY_RUN, "--mode", "per_step", "--out", str(out), "--no-compile-cache", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("[1/1] mlp w=16 d=1") and "[per_step]" in lines[0] and "s/epoch" in lines[0]
    assert lines[-1] == f"1 ok, 0 not ok; written to {out}"
    frame = pl.read_parquet(out)
    assert frame.height == 1 and frame["mode"][0] == "per_step" and frame["status"][0] == "ok"
    assert not (tmp_path / "jax-cache").exists()  # --no-compile-cache


def test_a_second_run_to_the_same_file_adds_rows_and_a_foreign_file_is_not_overwritten(tmp_path):
    out = tmp_path / "result.parquet"
    for seed in ("1", "2"):
        result = engine_cli(*TINY_RUN, "--seed", seed, "--out", str(out), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    assert pl.read_parquet(out)["seed"].to_list() == [1, 2]
    foreign = tmp_path / "notes.parquet"
    foreign.write_bytes(b"my own notes, not Parquet")
    refused = engine_cli(*TINY_RUN, "--out", str(foreign), cwd=tmp_path)
    assert refused.returncode == 2 and "notes.parquet" in refused.stderr
    assert foreign.read_bytes() == b"my own notes, not Parquet"


def test_show_names_a_skipped_file(tmp_path):
    store.append([{name: None for name in store.RUN_SCHEMA} | {"run_id": "x", "status": "ok"}], tmp_path)
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    shown = engine_cli("show", str(tmp_path), cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "1 runs in 1 files" in shown.stdout
    assert "broken.parquet" in shown.stderr


def test_import_good_and_bad_files(tmp_path):
    record = {name: None for name in store.RUN_SCHEMA}
    record.update(run_id="r1", created_at=None, platform="cpu", device_kind="cpu", model="mlp", params=10,
                  batch_size=2, dataset_size=8, dtype="float32", epoch_s_median=0.5, status="ok",
                  jax_version="0.10.2", epoch_times_s=[0.5, 0.5])
    good = tmp_path / "good.csv"
    store.export_csv(store.records_to_frame([record]), good)
    result = engine_cli("import", str(good), "--to", str(tmp_path / "runs"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    frame = store.load_runs([tmp_path / "runs"]).frame.collect()
    assert frame["source"].to_list() == ["imported"] and frame["jax_version"].to_list() == ["0.10.2"]

    bad = tmp_path / "bad.csv"
    bad.write_text("run_id,model\nr1,mlp\n")
    result = engine_cli("import", str(bad), "--to", str(tmp_path / "runs"), cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "bad.csv" in lines[0] and "missing columns" in lines[0] and "params" in lines[0]
    assert len(list((tmp_path / "runs").glob("*.parquet"))) == 1  # nothing added


def test_devices_json(tmp_path):
    result = engine_cli("devices", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["cpu_cores"] >= 1 and info["jax_version"]
    assert [d["platform"] for d in info["devices"]] == ["cpu"]


@pytest.mark.parametrize("command", [[*TINY_RUN, "--out"], ["micro", "--out"], ["sweep", "--preset", "quick", "--out"]])
def test_an_output_path_that_cannot_be_written_fails_before_measuring(tmp_path, command):
    """Issue 21: an unusable --out failed with a traceback after the measurement (the result lost)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = engine_cli(*command, str(blocker / "runs"), cwd=tmp_path, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert "--out=" in line and "cannot be written: Not a directory" in line
    assert not result.stdout.strip()  # nothing was measured


def test_show_of_a_missing_path_and_import_to_an_unusable_folder_exit_2(tmp_path):
    shown = engine_cli("show", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert shown.returncode == 2 and "does not exist" in shown.stderr and "nowhere" in shown.stderr
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    good = tmp_path / "good.csv"
    record = {name: None for name in store.RUN_SCHEMA} | {"run_id": "r1", "platform": "cpu", "model": "mlp",
                                                         "params": 10, "batch_size": 2, "dataset_size": 8,
                                                         "dtype": "float32", "epoch_s_median": 0.5, "status": "ok"}
    store.export_csv(store.records_to_frame([record]), good)
    result = engine_cli("import", str(good), "--to", str(blocker / "runs"), cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr and "--to=" in result.stderr


def test_a_record_that_cannot_be_written_mid_sweep_is_printed_not_lost(tmp_path, monkeypatch, capsys):
    """The disk fills after the check: exit 2 naming the cause, and the finished record on stderr as JSON."""
    import errno

    from engine import cli

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store, "append", full)
    sink = cli.RecordSink(str(tmp_path / "runs"))
    with pytest.raises(cli.UsageError, match="No space left on device"):
        sink.add({"run_id": "r-unsaved", "status": "ok"})
    assert json.loads(capsys.readouterr().err.strip())["unsaved_record"]["run_id"] == "r-unsaved"


def test_a_run_whose_listener_dies_is_still_measured_and_saved(tmp_path):
    """Issue 21: a dashboard killed mid-run closed the worker's pipe, and the record said only "BrokenPipeError".
    The listener leaves after the first progress line; the run goes on and its record is saved, status ok."""
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(REPO),
           "CROSSOVER_COMPILE_CACHE": str(tmp_path / "jax-cache")}
    out = tmp_path / "runs"
    proc = subprocess.Popen([sys.executable, "-m", "engine", *TINY_RUN, "--jsonl", "--out", str(out)], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert json.loads(proc.stdout.readline())["event"] == "start"
    proc.stdout.close()  # the listener is gone
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    frame = store.load_runs([out]).frame.collect()
    assert frame["status"].to_list() == ["ok"] and frame["error"].to_list() == [None]


def test_every_flag_of_every_subcommand_says_what_it_does():
    """Issue 18: the command line reads as well as the pages. Integer flags state their range as a literal here."""
    import argparse

    from engine.cli import build_parser

    parser = build_parser()
    (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert set(subparsers.choices) == {"devices", "run", "sweep", "micro", "import", "merge", "show"}
    for name, sub in subparsers.choices.items():
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help and len(action.help) > 10, (name, action.dest)
    run_help = subparsers.choices["run"].format_help().replace("\n", " ")
    run_help = " ".join(run_help.split())
    for flag, text in [("--depth", "an integer in [1, 64] (default 2)"), ("--repeats", "an integer in [1, 1,000]"),
                       ("--batch-size", "examples per training step"), ("--lr", "a number in [1e-08, 10]"),
                       ("--time-budget", "seconds per run, compile included")]:
        assert flag in run_help and text in run_help, (flag, text)


def test_show_lists_each_run_newest_first_with_its_device_and_times(tmp_path, capsys):
    from datetime import UTC, datetime

    from engine.cli import main

    def record(i: int, epoch_s: float, rate: float) -> dict:
        return {name: None for name in store.RUN_SCHEMA} | {
            "run_id": f"r{i}", "status": "ok", "created_at": datetime(2026, 12, 5, 8, i, tzinfo=UTC), "model": "mlp",
            "width": 64, "depth": 2, "batch_size": 32, "dataset_size": 1024, "dtype": "float32", "platform": "cpu",
            "device_kind": "cpu", "cpu_model": "Test CPU", "cpu_cores": 4, "device_count": 1,
            "epoch_s_median": epoch_s, "samples_per_s": rate}

    store.append([record(1, 0.25, 4096.0), record(3, 2.5, 409.6), record(2, 0.0123, 83_252.0)], tmp_path)
    assert main(["show", str(tmp_path), "--limit", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    at = out.index("the newest 2 runs, newest first:")
    assert out[at + 1:] == [
        "2026-12-05 08:03  mlp w=64 d=2 b=32 n=1024 float32  CPU: Test CPU (4 cores)  ok  epoch 2.5 s  410 samples/s",
        "2026-12-05 08:02  mlp w=64 d=2 b=32 n=1024 float32  CPU: Test CPU (4 cores)  ok  epoch 12.3 ms  "
        "83,300 samples/s",  # 3 significant figures, as everywhere
        "... and 1 older run (--limit 0 lists them all)"]
    assert main(["show", str(tmp_path), "--limit", "0"]) == 0
    assert "every run, newest first:" in capsys.readouterr().out
    assert main(["show", str(tmp_path), "--limit", "-1"]) == 2
    assert "limit='-1' is not allowed: expected an integer >= 0" in capsys.readouterr().err
