"""`python -m engine devices | run | sweep | micro | import | show`.

`run` and `sweep` take `--device-count N` (train data-parallel on N devices of each platform in
--devices) or `--device-counts 1,2,4` (every config once per N: a scaling sweep; `--preset
scaling` without it uses 1, 2, 4, ... up to the devices present).

Human progress by default (a progress line on stderr, each finished run on one line of
stdout); `--jsonl` prints one JSON event per line on stdout for the dashboard's worker:
  {"event": "start", "total": N, "batch_id": ...}
  {"event": "phase" | "epoch", ...}            progress inside a run
  {"event": "record", "record": {...}}         a finished run (or micro) record
  {"event": "saved", "path": ...}              where it was written
  {"event": "done", "ok": n, "failed": m}
Bad flags or values exit 2 with a one-line message naming the field and what is allowed;
nothing imports jax until the arguments are valid, so refusals are instant. With
CROSSOVER_ENFORCE_LIMITS=1 (a public host), `run` and `sweep` also apply `engine.jobs.guard` with
the limits of `engine.base.limits` and exit 2 with the estimate and the limit when refused (or when
--time-budget is above CROSSOVER_MAX_JOB_SECONDS); `run`, `sweep` and `micro` then also stop after
CROSSOVER_MAX_JOB_SECONDS of wall time: the runs finished so far are saved, the one in progress gets a
"timeout" record, and the command exits with code 3 (`JobClock`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import threading
import time
import uuid
from datetime import date, datetime
from pathlib import Path

from engine import processes
from engine.base import fmt
from engine.base.config import (
    DTYPES,
    LEARNING_RATE_RANGE,
    LIMITS,
    MATMUL_PRECISIONS,
    MODEL_KINDS,
    MODES,
    OPTIMIZERS,
    TIME_BUDGET_RANGE,
    BenchConfig,
    ConfigError,
    DataConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
    with_device_count,
)
from engine.base.limits import LimitError, Limits, enforce_requested
from engine.base.presets import NAMED_NETWORKS, PRESETS

DEFAULT_RUNS = Path("data/runs")
TIME_LIMIT_EXIT = 3  # stopped by CROSSOVER_MAX_JOB_SECONDS under CROSSOVER_ENFORCE_LIMITS=1 (2 is bad input)


class UsageError(Exception):
    """Bad command-line input; printed on one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse prints usage + message over several lines; we want one
        raise UsageError(message)


def _int_flag(field_name: str):
    """argparse type: an integer, or a message naming the config field and its range."""
    low, high = LIMITS[field_name]

    def parse(text: str) -> int:
        try:
            return int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{field_name}={text[:40]!r} is not allowed: expected an integer in [{low}, {high}]") from None

    return parse


def _count_flag(flag: str):
    """argparse type: a whole number >= 0, or a message naming the flag."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = -1
        if value < 0:
            raise argparse.ArgumentTypeError(f"{flag}={text[:40]!r} is not allowed: expected an integer >= 0")
        return value

    return parse


def _float_flag(field_name: str, low: float, high: float):
    """argparse type: a number, or a message naming the config field and its range."""

    def parse(text: str) -> float:
        try:
            return float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{field_name}={text[:40]!r} is not allowed: expected a number in [{low:g}, {high:g}]") from None

    return parse


def _int_help(field_name: str, what: str) -> str:
    """A flag's help: what it sets, its unit, the allowed range (engine.base.config.LIMITS) and its default."""
    low, high = LIMITS[field_name]
    return f"{what}: an integer in [{low:,}, {high:,}] (default %(default)s)"


# run's integer flags: (flag, engine.base.config.LIMITS field, (config part, attribute) of its default, what it sets)
RUN_INT_FLAGS = (
    ("--width", "width", ("model", "width"),
     "units per hidden layer (MLP), dense-head units (CNN) or model width (Transformer, GPT); unused by a ResNet"),
    ("--depth", "depth", ("model", "depth"), "hidden layers (MLP), conv blocks (CNN), encoder layers (Transformer) "
     "or decoder blocks (GPT); a ResNet's depth is one of 10, 18, 34, 50, 101"),
    ("--channels", "channels", ("model", "channels"),
     "channels of the first conv block, doubling per block (CNN); stem width, at most 128, 64 standard (ResNet)"),
    ("--heads", "heads", ("model", "heads"), "attention heads, a divisor of --width (Transformer, GPT)"),
    ("--seq-len", "seq_len", ("model", "seq_len"), "tokens per example (Transformer, GPT)"),
    ("--vocab", "vocab", ("model", "vocab"), "vocabulary size, tokens (Transformer, GPT)"),
    ("--samples", "samples", ("data", "samples"), "examples in the synthetic dataset"),
    ("--classes", "n_classes", ("data", "n_classes"), "output classes"),
    ("--seed", "seed", ("data", "seed"), "random seed of the data and the initial weights"),
    ("--batch-size", "batch_size", ("train", "batch_size"), "examples per training step"),
    ("--epochs", "epochs", ("train", "epochs"), "epochs of the training run being priced (end-to-end seconds = "
     "compile + transfer + epochs x the measured epoch); not how many are timed"),
    ("--warmup", "warmup", ("bench", "warmup"), "epochs run and discarded before timing"),
    ("--repeats", "repeats", ("bench", "repeats"), "timed epochs per run"),
)


# run's flags that describe the network: --network sets them all
NETWORK_FLAGS = ("--model", "--width", "--depth", "--channels", "--heads", "--seq-len", "--vocab", "--input-shape",
                 "--classes")


def _add_run_flags(p: argparse.ArgumentParser):
    d_model, d_data, d_train, d_bench = ModelConfig(), DataConfig(), TrainConfig(), BenchConfig()
    defaults = {"model": d_model, "data": d_data, "train": d_train, "bench": d_bench}
    p.add_argument("--model", default=d_model.kind, help=f"model kind: {'|'.join(MODEL_KINDS)} (default %(default)s)")
    p.add_argument("--network", default=None,
                   help=f"a named network, its model, input shape and classes as published: {'|'.join(NAMED_NETWORKS)}; "
                        f"then {', '.join(NETWORK_FLAGS)} are refused (default: none, the flags describe it)")
    for flag, field_name, (part, attribute), what in RUN_INT_FLAGS:
        p.add_argument(flag, type=_int_flag(field_name), default=getattr(defaults[part], attribute),
                       help=_int_help(field_name, what))
    p.add_argument("--input-shape", default="", help="e.g. 784 or 32x32x3; empty = the model kind's default")
    p.add_argument("--optimizer", default=d_train.optimizer,
                   help=f"optax optimizer: {'|'.join(OPTIMIZERS)} (default %(default)s)")
    p.add_argument("--lr", type=_float_flag("learning_rate", *LEARNING_RATE_RANGE), default=d_train.learning_rate,
                   help=f"learning rate: a number in [{LEARNING_RATE_RANGE[0]:g}, {LEARNING_RATE_RANGE[1]:g}] "
                        "(default %(default)s)")
    p.add_argument("--dtype", default=d_train.dtype,
                   help=f"compute dtype (weights stay float32): {'|'.join(DTYPES)} (default %(default)s)")
    p.add_argument("--precision", default=d_train.matmul_precision,
                   help=f"float32 matmul precision ('default' is TF32 on recent NVIDIA GPUs): "
                        f"{'|'.join(MATMUL_PRECISIONS)} (default %(default)s)")
    p.add_argument("--mode", default=d_train.mode,
                   help=f"epoch runner: {'|'.join(MODES)}; auto = fused (one dispatch per epoch) except CNNs on a "
                        "CPU (default %(default)s)")
    p.add_argument("--time-budget", type=_float_flag("time_budget_s", *TIME_BUDGET_RANGE), default=None,
                   help=f"seconds per run, compile included: a number in [{TIME_BUDGET_RANGE[0]:g}, "
                        f"{TIME_BUDGET_RANGE[1]:g}] (default {d_bench.time_budget_s:g}; under "
                        "CROSSOVER_ENFORCE_LIMITS=1 at most CROSSOVER_MAX_JOB_SECONDS)")


def _add_device_counts(p: argparse.ArgumentParser):
    p.add_argument("--device-count", type=_int_flag("device_count"), default=None,
                   help="N: train data-parallel on N devices of each --devices platform, the batch split over "
                        "them (default 1; the batch size must be a multiple of N)")
    p.add_argument("--device-counts", default=None,
                   help="comma-separated N values, e.g. 1,2,4: every config once per N (a scaling sweep)")


def _add_common(p: argparse.ArgumentParser, out_help: str):
    p.add_argument("--devices", default="cpu", help="comma-separated: cpu,gpu,gpu:1 (default cpu)")
    p.add_argument("--out", default=str(DEFAULT_RUNS), help=out_help)
    p.add_argument("--jsonl", action="store_true", help="JSON-lines events on stdout (for the dashboard)")
    p.add_argument("--source", default="local", choices=("local", "reference"), help="source column of the records")
    p.add_argument("--no-compile-cache", action="store_true", help="disable JAX's persistent compilation cache")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m engine", description="Crossover's measurement engine")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = sub.add_parser("devices", help="list the JAX devices and the host")
    p.add_argument("--json", action="store_true", help="print JSON instead of lines of text")
    out_help = "a folder (one new file per run) or a .parquet file (rewritten after each run)"
    p = sub.add_parser("run", help="measure one config on each device")
    _add_run_flags(p)
    _add_device_counts(p)
    processes.add_flags(p)
    _add_common(p, out_help)
    p = sub.add_parser("sweep", help="measure a preset grid of configs")
    p.add_argument("--preset", required=True, help="|".join(PRESETS))
    p.add_argument("--models", default=None,
                   help="comma-separated model kinds to keep from the preset, e.g. cnn (default: all)")
    p.add_argument("--repeats", type=_int_flag("repeats"), default=None,
                   help=_int_help("repeats", "timed epochs per run").replace("%(default)s", "the preset's"))
    p.add_argument("--time-budget", type=_float_flag("time_budget_s", *TIME_BUDGET_RANGE), default=None,
                   help=f"seconds per run, compile included: a number in [{TIME_BUDGET_RANGE[0]:g}, "
                        f"{TIME_BUDGET_RANGE[1]:g}] (default: the preset's)")
    p.add_argument("--shard", default=None,
                   help="K/N: measure only part K of N (from 1) of the preset, every N-th config from the K-th, so N "
                        "machines share it (a SLURM job array, a Kubernetes Indexed Job); join the parts' files "
                        "with `merge` (default: the whole preset)")
    _add_device_counts(p)
    processes.add_flags(p)
    _add_common(p, out_help)
    p = sub.add_parser("micro", help="matmul FLOP/s, memory and host-to-device bandwidth")
    p.add_argument("--full", action="store_true", help="larger sizes (8192^3 matmul, 1 GiB copies)")
    _add_common(p, "a folder or a .micro.parquet file")
    p = sub.add_parser("import", help="validate a Parquet/CSV file of runs and add it to the run log")
    p.add_argument("file", help="a .parquet or .csv file of run records (e.g. from sweep --out)")
    p.add_argument("--to", default=str(DEFAULT_RUNS), help="the run-log folder to add it to (default %(default)s)")
    p = sub.add_parser("merge", help="join the run files of a sharded sweep into one new file, refusing duplicates")
    p.add_argument("parts", nargs="+", help="the parts' run files (.parquet), e.g. part-*.parquet")
    p.add_argument("--out", required=True, help="the new .parquet file to write (an existing file is refused)")
    p = sub.add_parser("show", help="load run files and print a summary")
    p.add_argument("paths", nargs="*", default=[str(DEFAULT_RUNS)],
                   help="run files or folders of them (default: data/runs)")
    p.add_argument("--limit", type=_count_flag("limit"), default=50,
                   help="runs listed one per line, newest first: a count >= 0, 0 = all (default %(default)s)")
    return parser


def _parse_shape(text: str) -> tuple[int, ...]:
    if not text:
        return ()
    try:
        return tuple(int(part) for part in text.lower().split("x"))
    except ValueError:
        raise ConfigError("input_shape", text, "integers joined by x, e.g. 784 or 32x32x3") from None


def _parse_devices(text: str) -> tuple[str, ...]:
    specs = tuple(s.strip() for s in text.split(",") if s.strip())
    BenchConfig(devices=specs)  # validates each spec's form
    return specs


def _parse_models(text: str | None) -> tuple[str, ...] | None:
    """--models "cnn,mlp" -> ("cnn", "mlp"); None when not given (every kind)."""
    if text is None:
        return None
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    bad = [k for k in kinds if k not in MODEL_KINDS]
    if not kinds or bad:
        raise UsageError(f"--models={text!r} is not allowed: expected model kinds from {', '.join(MODEL_KINDS)}, "
                         "comma-separated")
    return kinds


def _parse_device_counts(args) -> tuple[int, ...] | None:
    """The N values asked for: --device-counts 1,2,4, or --device-count N, or None (neither given)."""
    if args.device_counts is not None and args.device_count is not None:
        raise UsageError("--device-count and --device-counts: give one of them, not both")
    if args.device_count is not None:
        return (args.device_count,)
    if args.device_counts is None:
        return None
    low, high = LIMITS["device_count"]
    counts = []
    for part in args.device_counts.split(","):
        try:
            counts.append(int(part.strip()))
        except ValueError:
            raise ConfigError("device_count", part.strip()[:40],
                              f"integers in [{low}, {high}] joined by commas, e.g. 1,2,4") from None
    if not counts:
        raise ConfigError("device_count", args.device_counts, f"integers in [{low}, {high}] joined by commas")
    return tuple(dict.fromkeys(counts))  # in the order given, each once


def _expand(configs: list[RunConfig], counts: tuple[int, ...]) -> list[RunConfig]:
    """Each config once per device count, counts innermost (a stopped sweep still holds whole series).
    Validates again: a batch that does not split over N devices is a ConfigError naming batch_size."""
    return [with_device_count(config, n) for config in configs for n in counts]


def config_from_args(args) -> RunConfig:
    """The RunConfig that `run`'s flags describe (the first device count when several are asked for);
    raises ConfigError naming a bad field."""
    if not math.isfinite(args.lr):
        raise ConfigError("learning_rate", args.lr, "a finite number")
    counts = _parse_device_counts(args) if hasattr(args, "device_counts") else None
    model, shape, classes = _network_from_args(args)
    return RunConfig(
        model=model,
        data=DataConfig(args.samples, shape, classes, args.seed),
        train=TrainConfig(args.batch_size, args.epochs, args.optimizer, args.lr, args.dtype, args.precision, args.mode),
        bench=BenchConfig(args.warmup, args.repeats, _parse_devices(args.devices), _time_budget(args.time_budget),
                          counts[0] if counts else 1),
    )


def _network_from_args(args) -> tuple[ModelConfig, tuple[int, ...], int]:
    """(model, input shape, classes) from --network NAME, or else from the network flags. With --network, a
    network flag given too (found in `args.argv`, the command line) is refused: one of them would be ignored."""
    name = getattr(args, "network", None)
    if name is None:
        model = ModelConfig(args.model, args.width, args.depth, args.channels, args.heads, args.seq_len, args.vocab)
        return model, _parse_shape(args.input_shape), args.classes
    if name not in NAMED_NETWORKS:
        raise UsageError(f"--network={name[:40]!r} is not allowed: expected one of {', '.join(NAMED_NETWORKS)}")
    given = [flag for flag in NETWORK_FLAGS
             if any(a == flag or a.startswith(flag + "=") for a in getattr(args, "argv", None) or ())]
    if given:
        raise UsageError(f"--network={name} sets the network: drop {', '.join(given)} (or drop --network)")
    net = NAMED_NETWORKS[name]
    return net.model, net.input_shape, net.n_classes


def _time_budget(requested: float | None) -> float:
    """--time-budget, else the default: under CROSSOVER_ENFORCE_LIMITS=1 no more than CROSSOVER_MAX_JOB_SECONDS
    (an explicit value above it is refused by `apply_limits`)."""
    if requested is not None:
        return requested
    default = BenchConfig().time_budget_s
    return min(default, Limits.from_env().max_job_seconds) if enforce_requested() else default


def apply_limits(configs: list[RunConfig], time_budget: float | None = None):
    """With CROSSOVER_ENFORCE_LIMITS=1, refuse (UsageError, exit 2) what engine.jobs.guard refuses, and a
    --time-budget (`time_budget`, seconds) above CROSSOVER_MAX_JOB_SECONDS."""
    if not enforce_requested():
        return
    from engine.jobs import guard

    limits = Limits.from_env()
    if time_budget is not None and time_budget > limits.max_job_seconds:
        raise UsageError(f"--time-budget={time_budget:g} is not allowed: at most CROSSOVER_MAX_JOB_SECONDS="
                         f"{limits.max_job_seconds:g} seconds (CROSSOVER_ENFORCE_LIMITS=1 applies this machine's limits)")
    decision = guard.check_sweep(configs, limits)
    if not decision.allowed:
        raise UsageError(decision.message + " (CROSSOVER_ENFORCE_LIMITS=1 applies this machine's limits)")


class JobClock:
    """The whole command's wall-time limit under CROSSOVER_ENFORCE_LIMITS=1 (CROSSOVER_MAX_JOB_SECONDS).

    The guard refuses a job whose estimate is over the limit; this stops one that runs over anyway (an
    XLA compile or a step cannot be interrupted from Python, so a timer thread ends the process): it saves a
    "timeout" record for the run in progress (`running`), prints one line and exits with TIME_LIMIT_EXIT.
    Without enforcement it does nothing. `lock` is held while a record is saved, so the two never interleave.
    """

    def __init__(self, sink: RecordSink | None = None, batch_id: str | None = None):
        self.sink, self.batch_id, self.lock = sink, batch_id, threading.Lock()
        self.running: tuple[RunConfig, str] | None = None
        self.limit_s = Limits.from_env().max_job_seconds if enforce_requested() else None
        self.started = time.monotonic()
        if self.limit_s is not None:
            threading.Thread(target=self._watch, name="job-clock", daemon=True).start()

    def _watch(self):
        time.sleep(self.limit_s)
        with self.lock:
            message = (f"stopped at CROSSOVER_MAX_JOB_SECONDS={self.limit_s:g} s (the whole command's time limit "
                       "under CROSSOVER_ENFORCE_LIMITS=1)")
            saved = ""
            if self.sink is not None and self.running is not None:
                from engine.jobs.worker import unfinished_record

                config, spec = self.running
                try:
                    self.sink.add(unfinished_record(config, spec, "timeout", message, self.batch_id))
                    saved = "; the run in progress is recorded as timeout"
                except Exception as exc:  # the record could not be saved: say so, still stop
                    saved = f"; its timeout record could not be saved ({exc})"
            print(f"error: {message}; finished runs are saved{saved}", file=sys.stderr, flush=True)
            os._exit(TIME_LIMIT_EXIT)


def _prepare_environment(devices: tuple[str, ...]):
    """Set JAX's environment before its first import."""
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # take GPU memory as needed
    if all(d.startswith("cpu") for d in devices):
        os.environ.setdefault("JAX_PLATFORMS", "cpu")  # don't initialise (or hold) a GPU not asked for


def enable_compilation_cache():
    """JAX's persistent compilation cache in the user's cache folder (engine.measure.compile_cache)."""
    from engine.measure import compile_cache

    compile_cache.enable()


def _check_devices_present(devices: tuple[str, ...], device_count: int = 1):
    from engine.measure.devices import DeviceNotFound, resolve_many

    for spec in devices:
        try:
            resolve_many(spec, device_count)
        except DeviceNotFound as exc:
            raise UsageError(str(exc)) from None


def _scaling_counts(devices: tuple[str, ...]) -> tuple[int, ...]:
    """`--preset scaling` without --device-counts: 1, 2, 4, ... up to the devices every requested
    platform has (from each spec's index on). Imports jax."""
    from engine.measure.devices import platform_device_count

    available = min(platform_device_count(spec) for spec in devices)
    if available < 2:
        raise UsageError(
            f"--preset scaling needs at least 2 devices of each platform in --devices={','.join(devices)}; found "
            f"{available}. For the CPU, JAX_NUM_CPU_DEVICES=4 set before the command emulates 4 devices (they "
            "share this machine's cores, and the runs are labelled emulated)")
    counts, n = [], 1
    while n <= available:
        counts.append(n)
        n *= 2
    return tuple(counts)


def _json_default(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if hasattr(value, "item"):  # NumPy scalars
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


class Reporter:
    """Prints progress for people (stderr bar + a line per run) or as JSON lines."""

    def __init__(self, jsonl: bool, total: int, silent: bool = False):
        self.jsonl, self.total, self.done = jsonl, total, 0
        self.tty = sys.stderr.isatty() and not silent
        self.listener_gone = silent  # a process other than 0 of several: process 0 speaks for all

    def print(self, text: str):
        """A line on stdout. Whoever read it may be gone (a dashboard killed mid-run closes the pipe): then the
        measuring goes on and its records are still saved; only the progress has no one to go to (issue 21:
        the run used to end as an error record saying only "BrokenPipeError")."""
        if self.listener_gone:
            return
        try:
            print(text, flush=True)
        except BrokenPipeError:
            self.listener_gone = True
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit

    def event(self, event: dict):
        if self.jsonl:
            self.print(json.dumps(event, default=_json_default))
        elif event["event"] == "epoch" and self.tty:
            bar = "#" * int(20 * self.done / max(self.total, 1))
            sys.stderr.write(
                f"\r[{bar:<20}] {self.done}/{self.total} {event['device']} {event['phase']} "
                f"epoch {event['epoch']}/{event['of']} {event['seconds']:.3f} s   "
            )
            sys.stderr.flush()

    def finished(self, record: dict, line: str):
        self.done += 1
        if self.jsonl:
            self.event({"event": "record", "record": record})
        else:
            if self.tty:
                sys.stderr.write("\r" + " " * 78 + "\r")
            count = f"{self.done}/{self.total}" if self.total else str(self.done)
            self.print(f"[{count}] {line}")


def _shape_text(r: dict) -> str:
    """A run's network in a few characters, by model kind (columns a kind leaves empty are not shown)."""
    kind = r.get("model")
    if kind == "resnet":
        return f"c={r['channels']} d={r['depth']} {r.get('input_shape')}"
    if kind == "cnn":
        return f"c={r['channels']} d={r['depth']} w={r['width']}"
    if kind in ("transformer", "gpt"):
        return f"w={r['width']} d={r['depth']} S={r['seq_len']} V={r['vocab']}"
    return f"w={r['width']} d={r['depth']}"


def describe_run(r: dict) -> str:
    size = f"{r['model']} {_shape_text(r)}"
    head = f"{size} params={r['params']:,} batch={r['batch_size']} n={r['dataset_size']} {r['dtype']} on {r['device_spec']}"
    if (r.get("device_count") or 1) > 1:
        head += f" x{r['device_count']} devices ({r['mesh_shape']}{', emulated' if r.get('devices_emulated') else ''})"
    if r["status"] != "ok" and r.get("epoch_s_median") is None:
        return f"{head}: {r['status']}: {r['error']}"
    tail = "" if r["status"] == "ok" else f" ({r['status']})"
    return (
        f"{head} [{r['mode']}]: {r['epoch_s_median']:.4f} s/epoch (IQR {r['epoch_s_iqr']:.4f}"
        f"{', noisy' if r['noisy'] else ''}), {fmt.number(r['samples_per_s'])} samples/s, "
        f"{r['achieved_flops_per_s'] / 1e9:,.1f} GFLOP/s, compile {r['compile_s']:.2f} s{tail}"
    )


def why_not_written(exc: OSError) -> str:
    """The real cause of a failed write, in words: no space left, read-only file system, permission denied."""
    return exc.strerror or type(exc).__name__


def writable_or_exit(flag: str, folder: Path) -> None:
    """Create `folder` if needed and write a probe file in it, so a path that cannot take the results fails
    before any measuring (exit 2, naming the flag and the cause) instead of losing the results after."""
    import tempfile

    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-"):
            pass
    except OSError as exc:
        raise UsageError(f"{flag}={str(folder)!r} cannot be written: {why_not_written(exc)}") from None


def check_out_name(out: Path, micro: bool) -> None:
    """Refuse an --out file named for the other kind of record (UsageError). The run log tells the two apart by
    name alone (engine.runlog.store.MICRO_SUFFIX): a microbenchmark file named like a run file would be refused
    by every reader of its folder."""
    out = Path(out)
    if out.suffix == ".parquet" and out.name.endswith(".micro.parquet") != micro:
        want = "end in .micro.parquet" if micro else "not end in .micro.parquet (that names microbenchmark files)"
        raise UsageError(f"--out={str(out)!r}: a {'microbenchmark' if micro else 'run'} file's name must {want}, "
                         "or give a folder")


class RecordSink:
    """Writes records as they finish: a folder gets one new file per record; a file path is
    rewritten atomically with the rows it already held plus every record so far. Either way a
    killed sweep keeps what finished, and a second command writing to the same file adds to it."""

    def __init__(self, out: str, micro: bool = False):
        self.out, self.micro, self.records = Path(out), micro, []
        self.is_file = self.out.suffix == ".parquet"
        check_out_name(self.out, micro)
        writable_or_exit("--out", self.out.parent if self.is_file else self.out)  # before measuring, not after
        if self.is_file and self.out.exists():
            from engine.runlog import store

            loader = store.load_micro if micro else store.load_runs
            loaded = loader([self.out])
            if loaded.skipped:  # never overwrite a file we cannot read back
                raise UsageError(f"--out={str(self.out)!r} exists and is not a usable run file: {loaded.skipped[0][1]}")

    def add(self, record: dict) -> Path | None:
        from engine.runlog import store

        try:
            if self.is_file:  # read what the file holds now, add, rewrite: under a lock, so no writer loses rows
                self.records.append(record)
                try:
                    return store.add_to_file([record], self.out, micro=self.micro)
                except ValueError as exc:
                    raise UsageError(f"--out: {exc}") from None
            if self.micro:
                return store.append_micro([record], self.out)
            return store.append([record], self.out)
        except OSError as exc:  # the disk filled or turned read-only mid-sweep: keep the record on stderr
            print(json.dumps({"unsaved_record": record}, default=str), file=sys.stderr)
            raise UsageError(f"--out={str(self.out)!r}: cannot write the record ({why_not_written(exc)}); it is "
                             "printed above as JSON, and the runs before it are saved") from None


def _measure_configs(configs: list[RunConfig], args) -> int:
    from engine.measure import distributed
    from engine.measure.bench import measure

    check_out_name(args.out, micro=False)
    _check_devices_present(configs[0].bench.devices, max(c.bench.device_count for c in configs))
    leader = distributed.is_leader()  # with several processes, process 0 alone prints and writes
    sink = RecordSink(args.out) if leader else None  # an unusable --out fails before anything is measured
    batch_id = uuid.uuid4().hex
    devices = configs[0].bench.devices
    reporter = Reporter(args.jsonl, len(configs) * len(devices), silent=not leader)
    reporter.event({"event": "start", "total": reporter.total, "batch_id": batch_id})
    clock = JobClock(sink, batch_id)
    failed = 0
    for config in configs:
        for spec in devices:  # devices interleaved, so a stopped sweep still holds pairs
            clock.running = (config, spec)
            record = measure(config, spec, progress=reporter.event, batch_id=batch_id, source=args.source)
            failed += record["status"] != "ok"
            with clock.lock:
                path = sink.add(record) if sink is not None else None
                clock.running = None
            reporter.finished(record, describe_run(record))
            if args.jsonl:
                reporter.event({"event": "saved", "path": str(path)})
    reporter.event({"event": "done", "ok": reporter.total - failed, "failed": failed})
    if not args.jsonl:
        reporter.print(f"{reporter.total - failed} ok, {failed} not ok; written to {args.out}")
    distributed.shutdown()
    return 0


def cmd_run(args) -> int:
    config = config_from_args(args)
    configs = _expand([config], _parse_device_counts(args) or (1,))
    processes.check(args, configs)
    if args.processes > 1:  # the launcher: the same command in N processes on this machine
        return processes.launch_local(args.argv, args.processes, args.init_timeout)
    apply_limits(configs, args.time_budget)
    _prepare_environment(config.bench.devices)
    if processes.requested(args):
        processes.join(args)  # before anything else starts jax's backends
    if not args.no_compile_cache:
        enable_compilation_cache()
    return _measure_configs(configs, args)


def cmd_sweep(args) -> int:
    from engine.base.presets import preset_configs
    from engine.base.shards import parse_shard

    if args.preset not in PRESETS:
        raise UsageError(f"--preset={args.preset!r} is not allowed: expected one of {', '.join(PRESETS)}")
    try:
        part = parse_shard(args.shard) if args.shard is not None else None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    devices = _parse_devices(args.devices)
    configs = preset_configs(args.preset, devices, args.repeats, args.time_budget)
    kinds = _parse_models(args.models)
    if kinds is not None:
        configs = [c for c in configs if c.model.kind in kinds]
        if not configs:
            raise UsageError(f"--preset {args.preset} has no {' or '.join(kinds)} configs")
    counts = _parse_device_counts(args)
    if counts is not None:
        configs = _expand(configs, counts)
    by_device_count = counts is None and args.preset == "scaling"  # expanded once the devices are known
    if part is not None and not by_device_count:
        configs = _take_part(configs, part, args)  # before the guard: a machine runs (and is limited by) its part
    processes.check(args, configs)
    if args.processes > 1:  # the launcher: the same command in N processes on this machine
        return processes.launch_local(args.argv, args.processes, args.init_timeout)
    apply_limits(configs, args.time_budget)
    _prepare_environment(devices)
    if processes.requested(args):
        processes.join(args)  # before anything else starts jax's backends
    if not args.no_compile_cache:
        enable_compilation_cache()
    if by_device_count:  # how many devices there are is known only now
        _check_devices_present(devices)
        configs = _expand(configs, _scaling_counts(devices))
        if part is not None:
            configs = _take_part(configs, part, args)
    _print_estimate(configs, args)
    return _measure_configs(configs, args)


def _print_estimate(configs: list[RunConfig], args) -> None:
    """Before a sweep measures anything, print how long it will take at most (`sweep_estimate`): once, by process
    0, not with --jsonl, and only once --out is known to take the results and the devices are here (else the
    refusal alone is printed)."""
    if args.jsonl:
        return
    if processes.requested(args):  # joined already: jax is up, and process 0 alone speaks
        from engine.measure import distributed

        if not distributed.is_leader():
            return
    # Every refusal the measuring would give comes first (devices and how many of them, then --out's name): a
    # refused sweep leaves nothing behind, not even an empty --out folder.
    _check_devices_present(configs[0].bench.devices, max(c.bench.device_count for c in configs))
    check_out_name(args.out, micro=False)
    out = Path(args.out)
    writable_or_exit("--out", out.parent if out.suffix == ".parquet" else out)
    print(sweep_estimate(configs), flush=True)


def _host_fits() -> list:
    """Performance-model fits of this machine's runs in data/runs and data/reference (guard.fits_for_host), or []
    when there are none or they cannot be read: the estimate then falls back to the guard's slow guess."""
    try:
        from engine.jobs import guard
        from engine.runlog.store import load_runs

        folders = [str(p) for p in (DEFAULT_RUNS, Path("data/reference")) if p.is_dir()]
        return guard.fits_for_host(load_runs(folders).frame.collect()) if folders else []
    except Exception:  # an estimate is a courtesy: never stop a sweep for it
        return []


def sweep_estimate(configs: list[RunConfig]) -> str:
    """One line before a sweep starts: how long it will take at most and how that was estimated
    (`engine.jobs.guard.check_sweep`: compile, transfer and warm-up + timed epochs of every config on every
    device, per model kind from this machine's fitted runs where there are some, else a deliberately slow guess)."""
    from engine.jobs import guard

    decision = guard.check_sweep(configs, Limits.from_env(), fits=_host_fits())
    fitted = sum(d.basis.startswith("predicted") for d in decision.devices)
    guessed = len(decision.devices) - fitted
    how = [f"{fitted} of them from this machine's runs of the same kind (upper end of the fit's band)"] if fitted else []
    how += [f"{guessed} from a deliberately slow guess (no runs of their kind measured here)"] if guessed else []
    return (f"estimated: at most about {guard.format_seconds(decision.seconds_estimate)} for {len(decision.devices)} "
            f"runs, up to {decision.memory_estimate_bytes / 1e9:,.1f} GB of memory; {', '.join(how)}")


def _take_part(configs: list[RunConfig], part: tuple[int, int], args) -> list[RunConfig]:
    """Part K of N of `configs` (engine.base.shards), or UsageError when that part is empty."""
    from engine.base.shards import shard

    total, mine = len(configs), shard(configs, *part)
    if not mine:
        raise UsageError(f"--shard={args.shard}: part {part[0]} of {part[1]} is empty: the selection holds {total} "
                         f"configs, so N may be at most {total}")
    if not args.jsonl:
        print(f"part {part[0]} of {part[1]}: {len(mine)} of the {total} configs", flush=True)
    return mine


def cmd_merge(args) -> int:
    from engine.runlog.merge import MergeError, write_merged

    try:
        path, rows = write_merged(args.parts, args.out)
    except MergeError as exc:
        raise UsageError(str(exc)) from None
    print(f"{rows:,} runs from {len(args.parts)} files written to {path}")
    return 0


def cmd_micro(args) -> int:
    devices = _parse_devices(args.devices)
    if enforce_requested():
        from engine.jobs import guard

        decision = guard.check_micro(devices, args.full, Limits.from_env())
        if not decision.allowed:
            raise UsageError(decision.message + " (CROSSOVER_ENFORCE_LIMITS=1 applies this machine's limits)")
    check_out_name(args.out, micro=True)
    _prepare_environment(devices)
    JobClock()  # no record for an unfinished microbenchmark: the ones finished are saved as they finish
    _check_devices_present(devices)
    from engine.measure import micro

    sink = RecordSink(args.out, micro=True)  # an unusable --out fails before anything is measured
    reporter = Reporter(args.jsonl, 0)
    batch_id = uuid.uuid4().hex
    count = 0
    for spec in devices:
        def on_record(event, spec=spec):
            nonlocal count
            r = event["record"]
            sink.add(r)
            count += 1
            rate = f"{r['flops_per_s'] / 1e12:.3f} TFLOP/s" if r.get("flops_per_s") else (
                f"{r['bytes_per_s'] / 1e9:.1f} GB/s" if r.get("bytes_per_s") else r["status"])
            what = f"{r['benchmark']} size={r['size']} {r['dtype']} {r['matmul_precision'] or ''}".strip()
            reporter.finished(r, f"{spec} {r['device_kind']}: {what}: {rate}")

        micro.run_all(spec, full=args.full, batch_id=batch_id, source=args.source, progress=on_record)
    if not args.jsonl:
        print(f"{count} microbenchmark records written to {args.out}")
    return 0


def cmd_devices(args) -> int:
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    from engine.measure.devices import describe

    info = describe()
    if args.json:
        print(json.dumps(info))
        return 0
    print(f"host {info['host']}: {info['cpu_model']}, {info['cpu_cores']} cores; jax {info['jax_version']}")
    if info["driver_version"]:
        print(f"NVIDIA driver {info['driver_version']}, CUDA {info['cuda_version']}")
    for d in info["devices"]:
        mem = f"{d['memory_bytes'] / 2**30:.1f} GiB" if d["memory_bytes"] else "memory unknown"
        print(f"  {d['spec']:<8} {d['device_kind']:<24} {mem}")
    return 0


def cmd_import(args) -> int:
    from engine.runlog.store import ImportRejected, import_file

    caps = {"max_bytes": None, "max_rows": None}  # a local file is the user's own: capped only where limits apply
    if enforce_requested():
        limits = Limits.from_env()
        caps = {"max_bytes": limits.max_upload_bytes, "max_rows": limits.max_import_rows}
    try:
        writable_or_exit("--to", Path(args.to))
        imported = import_file(args.file, args.to, **caps)
    except ImportRejected as exc:
        raise UsageError(f"file={args.file!r} rejected: {exc}") from None
    except OSError as exc:
        raise UsageError(f"--to={args.to!r}: cannot store the import ({why_not_written(exc)})") from None
    print(f"{args.file}: {imported.describe()} ({imported.path})")
    return 0


def cmd_show(args) -> int:
    import polars as pl

    from engine.runlog.store import load_runs

    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        raise UsageError(f"paths: {', '.join(repr(p) for p in missing)} does not exist; give run files or folders")
    loaded = load_runs(args.paths)
    for warning in loaded.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    frame = loaded.frame.collect()
    print(f"{frame.height} runs in {len(loaded.files)} files")
    if frame.height:
        summary = frame.group_by("model", "platform", "device_kind", "status").agg(
            pl.len().alias("runs"), pl.col("params").min().alias("params_min"), pl.col("params").max().alias("params_max")
        )
        with pl.Config(tbl_rows=50, tbl_cols=10, tbl_width_chars=120):
            print(summary.sort("model", "platform"))
        newest = frame.sort("created_at", descending=True, nulls_last=True)
        shown = newest if args.limit == 0 else newest.head(args.limit)
        print(f"\n{'every run' if shown.height == frame.height else f'the newest {shown.height:,} runs'}, newest "
              f"first:")
        for line in run_lines(shown):
            print(line)
        if shown.height < frame.height:
            print(f"... and {fmt.plural(frame.height - shown.height, 'older run')} (--limit 0 lists them all)")
    return 0


def _seconds_text(s: float | None) -> str:
    if s is None:
        return "-"
    return f"{s * 1e3:.3g} ms" if s < 1 else f"{s:.3g} s"


def run_lines(runs) -> list[str]:
    """One line per run: when, what was trained, on which device, status, median epoch seconds, samples/s."""
    from engine.analysis.pairing import device_label

    lines = []
    for r in runs.with_columns(device_label()).iter_rows(named=True):
        shape = _shape_text(r)
        when = r["created_at"].strftime("%Y-%m-%d %H:%M") if r["created_at"] else "-"
        rate = f"{fmt.number(r['samples_per_s'])} samples/s" if r["samples_per_s"] else "-"
        lines.append(f"{when}  {r['model']} {shape} b={r['batch_size']} n={r['dataset_size']} {r['dtype']}  "
                     f"{r['device']}  {r['status']}  epoch {_seconds_text(r['epoch_s_median'])}  {rate}")
    return lines


COMMANDS = {"devices": cmd_devices, "run": cmd_run, "sweep": cmd_sweep, "micro": cmd_micro, "import": cmd_import,
            "merge": cmd_merge, "show": cmd_show}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser().parse_args(argv)
        args.argv = argv  # what `--processes N` starts again in each process
        return COMMANDS[args.command](args)
    except (UsageError, ConfigError, LimitError, processes.UsageProblem) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished runs are saved", file=sys.stderr)
        return 130
