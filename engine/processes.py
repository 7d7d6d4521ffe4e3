"""The command line's side of multi-process runs: flags, joining the processes, and a local launcher. No jax
at import (jax is imported only once the processes are joined).

- `--coordinator HOST:PORT --num-processes N --process-id K`: this process is K of N (a launcher started it:
  SLURM, Open MPI, a Kubernetes job, or by hand); `--cluster-auto`: JAX finds the three itself (SLURM,
  Open MPI, Cloud TPU). `join` calls `engine.measure.distributed.initialize` with them.
- `--processes N` on one machine: `launch_local` starts N copies of the same command with a coordinator on
  127.0.0.1 and a free port, passes process 0's output through, and stops the others when one fails.
Each process trains `--device-count` of its own devices; the batch is split over processes x devices, so it
must be a multiple of both together (checked before anything starts).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from engine.base.config import ConfigError, RunConfig

DEFAULT_INIT_TIMEOUT_S = 60.0
INIT_TIMEOUT_RANGE = (1.0, 3600.0)  # seconds
RANGES = {"processes": (1, 64), "num_processes": (1, 65_536), "process_id": (0, 65_535)}
LAUNCHER_FLAGS = ("--processes",)


def _whole(name: str):
    """argparse type: an integer, or a message naming the field; its range is checked by `check`."""

    def parse(text: str) -> int:
        try:
            return int(text)
        except ValueError:
            low, high = RANGES[name]
            raise argparse.ArgumentTypeError(f"{name}={text[:40]!r} is not allowed: expected an integer in "
                                             f"[{low:,}, {high:,}]") from None

    return parse


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    low, high = INIT_TIMEOUT_RANGE
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"init_timeout={text[:40]!r} is not allowed: expected a number in "
                                         f"[{low:g}, {high:g}]")
    return value


def _range(name: str) -> str:
    low, high = RANGES[name]
    return f"an integer in [{low:,}, {high:,}]"


def add_flags(p: argparse.ArgumentParser) -> None:
    """The multi-process flags of `run` and `sweep`."""
    p.add_argument("--processes", type=_whole("processes"), default=1,
                   help="N: start N processes of this command on this machine, joined by a coordinator on "
                        f"127.0.0.1, and train across all of them (CPU collectives through gloo): {_range('processes')} "
                        "(default 1)")
    p.add_argument("--coordinator", default=None,
                   help="HOST:PORT of process 0's coordinator, for a launcher that starts every process itself "
                        "(with --num-processes and --process-id)")
    p.add_argument("--num-processes", type=_whole("num_processes"), default=None,
                   help=f"how many processes the run spans, with --coordinator: {_range('num_processes')}")
    p.add_argument("--process-id", type=_whole("process_id"), default=None,
                   help=f"this process's id from 0, with --coordinator: {_range('process_id')}")
    p.add_argument("--cluster-auto", action="store_true",
                   help="let JAX find the coordinator, process count and id (SLURM, Open MPI, Cloud TPU)")
    p.add_argument("--init-timeout", type=_seconds, default=DEFAULT_INIT_TIMEOUT_S,
                   help="seconds to wait for every process to join before giving up (exit 2): a number in "
                        f"[{INIT_TIMEOUT_RANGE[0]:g}, {INIT_TIMEOUT_RANGE[1]:g}] (default %(default)s)")


class UsageProblem(ValueError):
    """Bad multi-process flags; the command line prints it on one line and exits 2."""


def requested(args) -> bool:
    """Whether this process is one of several (a launcher's child, or --cluster-auto)."""
    return bool(args.coordinator or args.cluster_auto or args.num_processes or args.process_id is not None)


def process_total(args) -> int:
    """How many processes the run spans as far as the flags say (1 when JAX is to find out)."""
    return args.processes if args.processes > 1 else (args.num_processes or 1)


def check(args, configs: list[RunConfig]) -> None:
    """Refuse flags that do not fit together, and a batch that does not split over processes x devices."""
    for name, (low, high) in RANGES.items():
        value = getattr(args, name)
        if value is not None and not low <= value <= high:
            raise ConfigError(name, value, f"an integer in [{low:,}, {high:,}]")
    explicit = [args.coordinator is not None, args.num_processes is not None, args.process_id is not None]
    if any(explicit) and not all(explicit):
        raise UsageProblem("--coordinator, --num-processes and --process-id go together: give all three (or "
                           "--cluster-auto, or --processes N on one machine)")
    if args.processes > 1 and (any(explicit) or args.cluster_auto):
        raise UsageProblem("--processes starts the processes on this machine itself: leave out --coordinator, "
                           "--num-processes, --process-id and --cluster-auto")
    if args.process_id is not None and args.process_id >= args.num_processes:
        raise ConfigError("process_id", args.process_id, f"an integer in [0, {args.num_processes - 1}] "
                          f"(--num-processes {args.num_processes})")
    processes = process_total(args)
    for config in configs:
        split = processes * config.bench.device_count
        if config.train.batch_size % split:
            raise ConfigError("batch_size", config.train.batch_size,
                              f"a multiple of {split} (--processes {processes} x --device-count "
                              f"{config.bench.device_count}), so that the batch splits evenly")


JOINED_DIR_VARIABLE = "CROSSOVER_JOINED_DIR"  # set by launch_local: each process marks that it has joined


def _wait_for_coordinator(address: str, timeout_s: float) -> None:
    """Until `timeout_s`, try to open a TCP connection to the coordinator; UsageProblem if it never answers.
    (JAX itself ends the process with a C++ stack trace when it cannot reach the coordinator.)"""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise UsageProblem(f"--coordinator={address[:80]!r} is not allowed: expected HOST:PORT, e.g. 10.0.0.1:1234")
    deadline, why = time.monotonic() + timeout_s, "no answer"
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=1.0):
                return
        except OSError as exc:
            why = exc.strerror or type(exc).__name__
            time.sleep(0.2)
    raise UsageProblem(f"could not reach the coordinator {address} within {timeout_s:g} s ({why}): is process 0 "
                       "running, and is the address one this machine can reach?")


def join(args) -> None:
    """Join the other processes (engine.measure.distributed.initialize); UsageProblem when they do not come."""
    from engine.measure import distributed

    if args.coordinator and args.process_id:  # process 0 hosts the coordinator; the others must reach it
        _wait_for_coordinator(args.coordinator, args.init_timeout)
    try:
        distributed.initialize(args.coordinator, args.num_processes, args.process_id, args.init_timeout)
    except distributed.DistributedError as exc:
        raise UsageProblem(str(exc)) from None
    marks = os.environ.get(JOINED_DIR_VARIABLE)
    if marks:
        Path(marks, f"joined-{args.process_id}").touch()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _without_launcher_flags(argv: list[str]) -> list[str]:
    out, skip = [], False
    for item in argv:
        if skip:
            skip = False
            continue
        if item in LAUNCHER_FLAGS:
            skip = True
            continue
        if any(item.startswith(flag + "=") for flag in LAUNCHER_FLAGS):
            continue
        out.append(item)
    return out


def _last_line(path: Path) -> str:
    """The process's own one-line message if it printed one ("error: ..."), else its last line."""
    lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    ours = [line for line in lines if line.startswith(("error:", "warning:"))]
    return (ours or lines or ["(no output)"])[-1][:400]


def launch_local(argv: list[str], processes: int, timeout_s: float) -> int:
    """Run `python -m engine <argv>` as `processes` processes on this machine (module doc). Returns 0 when all
    succeed; 2 with one line when they could not join; else the first failure's exit code, after stopping the
    rest and printing its last line. Process 0's stdout is passed through; every stderr goes to a file (a
    failing join makes JAX print a C++ stack trace), and process 0's own warnings are passed on at the end."""
    port = _free_port()
    base = [sys.executable, "-m", "engine", *_without_launcher_flags(argv), "--coordinator", f"127.0.0.1:{port}",
            "--num-processes", str(processes), "--init-timeout", f"{timeout_s:g}"]
    with tempfile.TemporaryDirectory(prefix="crossover-processes-") as work:
        work = Path(work)
        env = {**os.environ, JOINED_DIR_VARIABLE: str(work)}
        children, logs = [], []
        for pid in range(processes):
            logs.append(work / f"stderr-{pid}.txt")
            with open(logs[-1], "wb") as err:
                children.append(subprocess.Popen([*base, "--process-id", str(pid)], env=env, stderr=err,
                                                 stdout=None if pid == 0 else subprocess.DEVNULL))
        failed = _wait_all(children)
        if failed is None:
            for line in logs[0].read_text(errors="replace").splitlines():
                if line.startswith("warning:"):
                    print(line, file=sys.stderr)
            return 0
        pid, code = failed
        joined = len(list(work.glob("joined-*")))
        if joined < processes:
            print(f"error: the {processes} processes could not join ({joined} did; process {pid} exited with "
                  f"{code}): {_last_line(logs[pid])}", file=sys.stderr)
            return 2
        print(f"error: process {pid} of {processes} exited with {code}: {_last_line(logs[pid])}", file=sys.stderr)
        return code if code > 0 else 1


def _wait_all(children: list[subprocess.Popen]) -> tuple[int, int] | None:
    """Wait for every child; at the first that fails, stop the others and return (its index, its code)."""
    pending = set(range(len(children)))
    while pending:
        for pid in sorted(pending):
            code = children[pid].poll()
            if code is None:
                continue
            pending.discard(pid)
            if code != 0:
                for child in children:
                    if child.poll() is None:
                        child.terminate()
                for child in children:
                    try:
                        child.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        child.kill()
                        child.wait()
                return pid, code
        time.sleep(0.05)
    return None
