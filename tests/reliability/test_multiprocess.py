"""Issue 16: one training run across processes (jax.distributed), with real processes on the loopback.

`run --processes 2` starts two processes of the engine, one CPU device each, joined by a coordinator on
127.0.0.1; they train one MLP data-parallel, each feeding its half of every batch. Its losses must equal a
one-process run of the same global batch: if the two halves' gradients were not combined, each process
would step on half the data and the losses would part. Bad input exits 2 with one line, in bounded time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from reliability_helpers import run_cli

REPO = Path(__file__).resolve().parents[2]
TINY = ["run", "--model", "mlp", "--width", "32", "--depth", "2", "--samples", "512", "--input-shape", "8",
        "--classes", "3", "--batch-size", "64", "--warmup", "1", "--repeats", "2", "--epochs", "1",
        "--no-compile-cache"]


def engine(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(REPO)}
    env.pop("CROSSOVER_ENFORCE_LIMITS", None)
    return subprocess.run([sys.executable, "-m", "engine", *argv], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("mode", ["fused", "per_step"])
def test_two_processes_train_like_one_process_on_the_same_global_batch(tmp_path, mode):
    two, one = tmp_path / "two.parquet", tmp_path / "one.parquet"
    done = engine(*TINY, "--mode", mode, "--processes", "2", "--out", str(two))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == f"1 ok, 0 not ok; written to {two}"  # process 0 alone speaks
    assert engine(*TINY, "--mode", mode, "--out", str(one)).returncode == 0
    a, b = pl.read_parquet(two).row(0, named=True), pl.read_parquet(one).row(0, named=True)
    assert a["status"] == "ok" and a["process_count"] == 2 and a["device_count"] == 2 and a["mesh_shape"] == "data=2"
    assert a["hosts"].split(",") == [b["host"], b["host"]] and a["devices_emulated"]  # one machine: shared cores
    assert b["process_count"] == 1 and b["device_count"] == 1
    # warm-up + 2 timed epochs of 8 steps from the same weights: the same losses within float32 rounding
    assert len(a["epoch_losses"]) == 3
    assert a["epoch_losses"] == pytest.approx(b["epoch_losses"], rel=1e-5)
    assert a["loss_last"] == pytest.approx(b["loss_last"], rel=1e-5) and a["loss_last"] < a["loss_first"]
    assert pl.read_parquet(two).height == 1  # one record, from process 0


def test_a_batch_that_does_not_split_over_the_processes_is_refused_before_any_starts(tmp_path):
    code, out, err = run_cli([*TINY, "--processes", "3", "--out", str(tmp_path / "o.parquet")])
    assert code == 2 and out == ""
    assert err.strip() == ("error: batch_size=64 is not allowed: expected a multiple of 3 (--processes 3 x "
                           "--device-count 1), so that the batch splits evenly")
    assert not (tmp_path / "o.parquet").exists()


@pytest.mark.parametrize("extra, message", [
    (["--coordinator", "127.0.0.1:1234"], "--coordinator, --num-processes and --process-id go together"),
    (["--coordinator", "127.0.0.1:1234", "--num-processes", "2", "--process-id", "2"],
     "process_id=2 is not allowed: expected an integer in [0, 1] (--num-processes 2)"),
    (["--processes", "2", "--cluster-auto"], "--processes starts the processes on this machine itself"),
    (["--processes", "65"], "processes=65 is not allowed: expected an integer in [1, 64]"),
    (["--init-timeout", "0"], "init_timeout='0' is not allowed: expected a number in [1, 3600]"),
])
def test_multi_process_flags_that_do_not_fit_exit_2_with_one_line(tmp_path, extra, message):
    code, out, err = run_cli([*TINY, *extra, "--out", str(tmp_path / "o.parquet")])
    assert code == 2 and out == ""
    (line,) = err.strip().splitlines()
    assert line.startswith("error: ") and message in line


def test_an_unreachable_coordinator_exits_2_with_one_line_within_its_timeout(tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    done = engine(*TINY, "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2", "--process-id", "1",
                  "--init-timeout", "2", "--out", str(tmp_path / "o.parquet"), timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"error: could not reach the coordinator 127.0.0.1:{port} within 2 s")
    assert time.monotonic() - started < 30
    assert not (tmp_path / "o.parquet").exists()


@pytest.mark.parametrize("name", ["multihost.sbatch", "multihost-indexed-job.yaml"])
def test_the_multi_host_examples_are_valid_commands_of_this_engine(name):
    import re
    import shlex

    from engine import processes
    from engine.cli import build_parser, config_from_args

    text = (REPO / "examples" / "cluster" / name).read_text()
    body = " ".join(line.strip().rstrip("\\") for line in text.splitlines() if not line.lstrip().startswith("#"))
    command = re.search(r"python -m engine (run .*?--out \S+)", body).group(1)
    args = build_parser().parse_args(shlex.split(command.replace("$JOB_COMPLETION_INDEX", "1")))
    processes.check(args, [config_from_args(args)])  # flags fit together; the batch splits over the processes
    assert processes.requested(args) and args.init_timeout == 300
    if args.coordinator:
        assert args.num_processes == 2 and args.process_id == 1
