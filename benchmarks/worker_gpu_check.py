"""Check the dashboard's worker on a machine with a GPU (not a test: CI has no GPU).

    python benchmarks/worker_gpu_check.py [--out FOLDER] [--accel gpu:0]

(`--accel cpu:0` is a dry run of the same steps on a machine without a GPU.)

1. `list_devices()` (a subprocess; this process never imports jax) sees a GPU.
2. Two jobs submitted together, a tiny MLP on cpu:0 and gpu:0 each, run one after the other,
   and each leaves an ok record per device.
3. A long GPU job cancelled while it measures is killed with its process group; a record with
   status "error" is written, and no process holds GPU memory afterwards (nvidia-smi).
4. A GPU job past its time limit is killed and recorded as "timeout".
Prints one line per check and exits non-zero on the first failure.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.base.config import BenchConfig, DataConfig, ModelConfig, RunConfig, TrainConfig  # noqa: E402
from engine.jobs.worker import Worker, list_devices  # noqa: E402
from engine.runlog import store  # noqa: E402


def config(width: int, samples: int, repeats: int, devices: tuple[str, ...]) -> RunConfig:
    return RunConfig(ModelConfig("mlp", width=width, depth=2), DataConfig(samples=samples),
                     TrainConfig(batch_size=64, epochs=2, mode="per_step"), BenchConfig(repeats=repeats, devices=devices))


def gpu_processes() -> list[str]:
    try:
        out = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader"],
                             capture_output=True, text=True).stdout
    except FileNotFoundError:  # no NVIDIA driver: nothing can hold GPU memory
        return []
    return [line for line in out.splitlines() if line.strip()]


def check(ok: bool, what: str):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        raise SystemExit(1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=tempfile.mkdtemp(prefix="worker-gpu-"))
    parser.add_argument("--accel", default="gpu:0")
    args = parser.parse_args()
    out, accel = Path(args.out), args.accel
    info = list_devices()
    found = [d["spec"] for d in info["devices"]]
    check(accel in found, f"devices: {[(d['spec'], d['device_kind']) for d in info['devices']]}")

    w = Worker(out, poll_s=0.05)
    first = w.submit_run(config(64, 512, 2, ("cpu:0", accel)), 120)
    second = w.submit_run(config(128, 512, 2, ("cpu:0", accel)), 120)
    w.wait(second.id, 180)
    check(first.state == second.state == "done", f"two jobs: {first.message} | {second.message}")
    check(first.finished_at <= second.started_at, "the second job started after the first had finished")
    kinds = sorted(r["device_kind"] for r in first.records + second.records if r["status"] == "ok")
    check(len(kinds) == 4, f"ok records per device: {kinds}")

    long = w.submit_run(config(1024, 65536, 1000, (accel,)), 300)
    while long.active and long.phase != "measure":
        w.wait(long.id, 0.1)
    check(long.phase == "measure", f"long GPU job reached its timed epochs: {long.describe_progress()}")
    w.cancel(long.id)
    w.wait(long.id, 30)
    check(long.state == "cancelled", f"cancel: {long.message}")
    time.sleep(2)
    check(not gpu_processes(), f"no process holds GPU memory after cancel: {gpu_processes()}")

    timed = w.submit_run(config(1024, 65536, 1000, (accel,)), 15)
    w.wait(timed.id, 60)
    check(timed.state == "timeout", f"time limit: {timed.message}")
    rows = store.load_runs([out]).frame.collect()
    statuses = sorted(rows["status"].to_list())
    check(statuses.count("error") == 1 and statuses.count("timeout") == 1, f"records written: {statuses}")
    time.sleep(2)
    check(not gpu_processes(), "no process holds GPU memory after the timeout")
    w.shutdown()


if __name__ == "__main__":
    main()
