"""Is the guard's estimate an upper bound? Actual peak memory and time of real jobs against `engine.jobs.guard`.

    python benchmarks/guard_grid.py [--set grid|probes] [--only mlp,cnn,transformer] [--limit N] [--json out.json]
                                    [--markdown out.md]

Method (issue 21: "make the guard's memory and time estimate an upper bound"):
1. A grid of configurations of every model kind, varying depth, width, channels, sequence length, heads,
   batch and dataset size, each one the guard allows under GRID_LIMITS (the dashboard's defaults, <= 10 M
   parameters, <= 65,536 samples, <= 300 s, but 4 GB per job), several near the default 700 MB. They are
   kept apart from `probes()`, the tiny jobs the guard's constants were fitted on: a held-out check.
2. For each, the guard's estimate as the dashboard makes it on a host with no runs of its own
   (`guard.check(config, limits)`, the analytic time basis): the job process's memory (bytes) and the whole
   job's seconds.
3. The job itself, exactly as the dashboard's worker starts it (`engine.jobs.worker.run_argv`: a
   `python -m engine run ... --jsonl` subprocess, JAX's compilation cache off, so every compile is cold):
   its peak resident memory from the kernel (`os.wait4` rusage ru_maxrss of that process) and its wall
   time from start to exit. A job over 3x its estimate is killed (it has failed anyway).
4. Pass: actual <= estimate for memory and for time, on every configuration.
Runs one job at a time (the machine must be otherwise quiet for the times to mean anything).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.base.config import BenchConfig, DataConfig, ModelConfig, RunConfig, TrainConfig  # noqa: E402
from engine.base.counts import parameter_count  # noqa: E402
from engine.base.limits import Limits  # noqa: E402
from engine.jobs import guard  # noqa: E402
from engine.jobs.worker import run_argv  # noqa: E402

BENCH = BenchConfig(warmup=1, repeats=5, devices=("cpu",), time_budget_s=300.0)
# The dashboard's defaults but 4 GB per job: the default 700 MB would leave out every CNN and Transformer of
# interest. Rows within the defaults are marked in the output.
GRID_LIMITS = Limits(max_job_memory_bytes=4_000_000_000)


def _mlp(width, depth, batch, samples):
    return RunConfig(ModelConfig("mlp", width=width, depth=depth), DataConfig(samples=samples),
                     TrainConfig(batch_size=batch), BENCH)


def _cnn(channels, depth, width, batch, samples, size=32):
    return RunConfig(ModelConfig("cnn", width=width, depth=depth, channels=channels),
                     DataConfig(samples=samples, input_shape=(size, size, 3)), TrainConfig(batch_size=batch), BENCH)


def _transformer(width, depth, heads, seq_len, batch, samples, vocab=256):
    return RunConfig(ModelConfig("transformer", width=width, depth=depth, heads=heads, seq_len=seq_len, vocab=vocab),
                     DataConfig(samples=samples, input_shape=(seq_len,)), TrainConfig(batch_size=batch), BENCH)


def grid() -> list[RunConfig]:
    """The configurations measured (module doc, step 1): every one allowed by the guard under GRID_LIMITS."""
    mlps = [_mlp(64, 1, 32, 2048), _mlp(256, 2, 64, 8192), _mlp(1024, 2, 128, 16384), _mlp(512, 8, 128, 8192),
            _mlp(2048, 2, 256, 8192), _mlp(1024, 6, 512, 8192), _mlp(3072, 1, 1024, 16384),
            _mlp(128, 16, 32, 4096), _mlp(1536, 3, 64, 4096), _mlp(1536, 4, 2048, 8192), _mlp(32, 48, 16, 8192),
            _mlp(4096, 1, 512, 8192), _mlp(512, 2, 4096, 65536)]
    cnns = [_cnn(8, 1, 64, 32, 2048), _cnn(16, 2, 128, 64, 4096), _cnn(32, 2, 256, 128, 4096),
            _cnn(16, 3, 128, 256, 8192), _cnn(64, 1, 512, 64, 2048), _cnn(32, 3, 256, 512, 4096),
            _cnn(8, 2, 64, 128, 2048, size=64), _cnn(16, 4, 256, 64, 1024, size=64), _cnn(48, 2, 512, 256, 4096),
            _cnn(24, 2, 128, 1024, 8192), _cnn(8, 5, 64, 32, 4096), _cnn(4, 3, 32, 16, 16384),
            _cnn(8, 3, 64, 64, 1024, size=128)]
    transformers = [_transformer(64, 1, 2, 16, 32, 2048), _transformer(128, 2, 4, 32, 64, 2048),
                    _transformer(256, 2, 4, 64, 64, 512), _transformer(128, 4, 8, 128, 32, 512),
                    _transformer(256, 4, 4, 128, 32, 128), _transformer(512, 2, 8, 64, 64, 128),
                    _transformer(128, 2, 4, 256, 64, 512), _transformer(64, 4, 4, 64, 256, 2048),
                    _transformer(128, 3, 8, 256, 32, 256), _transformer(64, 2, 8, 512, 16, 256),
                    _transformer(256, 3, 4, 64, 128, 256, vocab=8192), _transformer(96, 6, 4, 64, 64, 1024),
                    _transformer(32, 6, 2, 16, 16, 8192), _transformer(16, 8, 2, 8, 16, 4096),
                    _transformer(32, 12, 2, 16, 16, 1024)]
    return mlps + cnns + transformers


def probes() -> list[RunConfig]:
    """Tiny networks that the guard's per-kind constants are fitted on (kept apart from `grid`, which checks them):
    memory and compile time of the process at depth 1 ... 24 (the model itself is negligible), and the fixed
    cost per training step at many steps per epoch."""
    out = [_mlp(16, d, 16, 64) for d in (1, 8, 32, 64)] + [_mlp(16, 4, 16, 32768)]
    out += [_cnn(4, d, 16, 16, 64) for d in (1, 3, 5)] + [_cnn(4, 3, 16, 16, 16384)]
    out += [_transformer(16, d, 2, 8, 16, 64) for d in (1, 2, 4, 8, 12)]
    out += [_transformer(16, d, 2, 8, 16, 16384) for d in (1, 4, 8)]
    return out


def describe(config: RunConfig) -> str:
    m, t, d = config.model, config.train, config.data
    if m.kind == "mlp":
        shape = f"w={m.width} d={m.depth}"
    elif m.kind == "cnn":
        shape = f"c={m.channels} d={m.depth} w={m.width} {d.input_shape[0]}px"
    else:
        shape = f"w={m.width} d={m.depth} h={m.heads} S={m.seq_len} V={m.vocab}"
    return f"{m.kind} {shape} b={t.batch_size} n={d.samples}"


def measure(config: RunConfig, kill_after_s: float, kill_above_bytes: int) -> dict:
    """Run the job as the worker does; its peak RSS (bytes), wall seconds and exit code."""
    import psutil

    with tempfile.TemporaryDirectory(prefix="crossover-guard-grid-") as out:
        argv = [*run_argv(config, Path(out)), "--no-compile-cache"]
        env = {**os.environ, "JAX_PLATFORMS": "cpu"}
        started = time.monotonic()
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        why = []

        def watch():  # kill a job far past its estimate: it has failed already, no need to wait it out
            handle = psutil.Process(proc.pid)
            while proc.returncode is None:
                try:
                    rss = handle.memory_info().rss
                except psutil.Error:
                    return
                if rss > kill_above_bytes or time.monotonic() - started > kill_after_s:
                    why.append(f"killed at {rss / 1e6:,.0f} MB after {time.monotonic() - started:,.0f} s")
                    proc.kill()
                    return
                time.sleep(0.05)

        threading.Thread(target=watch, daemon=True).start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        err = proc.stderr.read().decode(errors="replace")[-300:]
        proc.stderr.close()
        record = _record(Path(out))
    return {"peak_bytes": usage.ru_maxrss * 1024, "seconds": seconds, "exit": proc.returncode,
            "killed": why[0] if why else None, "stderr": err if proc.returncode else "", **record}


def _record(out: Path) -> dict:
    """What the job's run record says of where its time went: compile and median epoch seconds, steps per epoch."""
    from engine.runlog import store

    runs = store.load_runs([out]).frame.collect()
    if runs.is_empty():
        return {"compile_s": None, "epoch_s": None, "steps_per_epoch": None, "status": None}
    row = runs.row(0, named=True)
    return {"compile_s": row["compile_s"], "epoch_s": row["epoch_s_median"], "steps_per_epoch": row["steps_per_epoch"],
            "status": row["status"]}


def _s(seconds) -> str:
    return "-" if seconds is None else f"{seconds:.3g} s"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=("grid", "probes"), default="grid",
                        help="grid: the held-out check (default); probes: the tiny jobs the constants are fitted on")
    parser.add_argument("--only", default="mlp,cnn,transformer", help="model kinds to run")
    parser.add_argument("--limit", type=int, default=None, help="at most this many configurations (a smoke run)")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--markdown", help="write the table here")
    args = parser.parse_args(argv)
    limits = GRID_LIMITS
    kinds = args.only.split(",")
    configs = [c for c in (grid() if args.set == "grid" else probes()) if c.model.kind in kinds][: args.limit]
    rows = []
    for config in configs:
        decision = guard.check(config, limits, free_memory_bytes=2**40)
        est_bytes, est_s = decision.memory_estimate_bytes, decision.seconds_estimate
        got = measure(config, kill_after_s=max(3 * est_s, 60.0), kill_above_bytes=max(3 * est_bytes, 2 * 2**30))
        row = {"config": describe(config), "params": parameter_count(config), "allowed": decision.allowed,
               "within_defaults": guard.check(config, Limits(), free_memory_bytes=2**40).allowed,
               "estimate_bytes": est_bytes, "estimate_s": est_s, **got}
        row["memory_ok"] = got["exit"] == 0 and got["peak_bytes"] <= est_bytes
        row["time_ok"] = got["exit"] == 0 and got["seconds"] <= est_s
        rows.append(row)
        print(f"{row['config']:58s} {row['params']:>11,} params  memory {got['peak_bytes'] / 1e6:7,.0f} of "
              f"{est_bytes / 1e6:7,.0f} MB  time {got['seconds']:6.1f} of {est_s:6.1f} s  "
              f"(compile {_s(got['compile_s'])}, epoch {_s(got['epoch_s'])} x {got['steps_per_epoch']} steps)  "
              f"{'ok' if row['memory_ok'] and row['time_ok'] else 'OVER'}"
              f"{'' if decision.allowed else ' (refused by the guard)'}{' *' if row['within_defaults'] else ''}"
              f"{' ' + got['killed'] if got['killed'] else ''}"
              f"{' exit ' + str(got['exit']) + ': ' + got['stderr'][-120:] if got['exit'] else ''}", flush=True)
    worst_memory = max(r["peak_bytes"] / r["estimate_bytes"] for r in rows)
    worst_time = max(r["seconds"] / r["estimate_s"] for r in rows)
    passed = all(r["memory_ok"] and r["time_ok"] for r in rows)
    print(f"{len(rows)} configurations; worst actual/estimate: memory {worst_memory:.2f}, time {worst_time:.2f}; "
          f"{'every estimate is an upper bound' if passed else 'SOME ESTIMATES ARE BELOW THE ACTUAL'}")
    meta = {"date": datetime.now(UTC).isoformat(timespec="minutes"), "machine": platform.node(),
            "cpus": os.cpu_count(), "python": sys.version.split()[0]}
    if args.json:
        Path(args.json).write_text(json.dumps({**meta, "rows": rows}, indent=1))
    if args.markdown:
        lines = ["| configuration | parameters | memory: actual / estimate (MB) | time: actual / estimate (s) "
                 "| within the 700 MB default | estimate >= actual |", "|---|---:|---:|---:|---|---|"]
        for r in rows:
            lines.append(f"| {r['config']} | {r['params']:,} | {r['peak_bytes'] / 1e6:,.0f} / "
                         f"{r['estimate_bytes'] / 1e6:,.0f} | {r['seconds']:.1f} / {r['estimate_s']:.1f} | "
                         f"{'yes' if r['within_defaults'] else 'no'} | "
                         f"{'yes' if r['memory_ok'] and r['time_ok'] else 'NO'} |")
        Path(args.markdown).write_text("\n".join(lines) + "\n")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
