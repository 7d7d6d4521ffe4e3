"""Before a job starts: estimate its memory and time, and refuse it when over the limits. No jax.

`check(config, limits)` returns a `GuardDecision`: allowed or not, every reason with the
estimate and the limit it broke, and the estimates themselves.

Memory (bytes), from `engine.analysis.memory.estimate` (parameters, gradients, optimizer state,
activations, the dataset on the device), which counts no XLA temporaries:
- each device needs XLA_MARGIN x that estimate;
- the job's process needs PROCESS_BASE_BYTES (python, jax, numpy, polars, the engine)
  + what compiling the training step takes (`compile_bytes`: a + b d + c d^2 in the network's depth d,
  by model kind: XLA:CPU's compile of a Transformer step grows with d^2)
  + HOST_DATASET_COPIES x the dataset (generated with NumPy on the host, temporaries included)
  + the largest CPU device's need (a CPU device's memory is the host's).
The process need is compared with the machine's free memory (`available_memory_bytes`: psutil's
available memory, or the container's cgroup limit minus its usage when that is smaller) and with
CROSSOVER_MAX_JOB_MEMORY; an accelerator's need with its memory, where the caller knows it.

Time (seconds): JAX_STARTUP_S, then per device: compile (`compile_seconds`, a + b d + c d^2 by kind)
+ transfer + (warm-up + repeats) epochs. An epoch's seconds are predicted by
`engine.analysis.perfmodel` (the upper end of its band) when the caller passes a fit for that device,
model kind, dtype, precision and mode; otherwise they are a deliberately slow analytic guess: steps x
(ASSUMED_STEP_OVERHEAD_S + depth x ASSUMED_LAYER_OVERHEAD_S + FLOPs per step / ASSUMED_RATE), with
CNN_FUSED_CPU_SLOWDOWN for a rolled scan of convolutions on a CPU. `GuardDecision.seconds_basis` says
which it was.

The constants are upper bounds fitted on tiny jobs (`benchmarks/guard_grid.py --set probes`: 2-core
AMD EPYC VM, Python 3.11, jax 0.10.2, 2026-12-05) and checked on a grid of larger ones the guard allows
(`--set grid`, docs/PERFORMANCE.md "The guard's estimate against real jobs").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from engine.analysis.memory import estimate as memory_estimate
from engine.base.buffers import bandwidth_sizes
from engine.base.config import CONV_KINDS, RunConfig
from engine.base.counts import flops_per_step, parameter_count
from engine.base.limits import Limits

if TYPE_CHECKING:
    import polars as pl

    from engine.analysis.perfmodel import Fit

MB = 1_000_000
# A tiny MLP's job peaks at 363 MB (probes, module doc): python, jax, numpy, polars, the engine, a first compile.
PROCESS_BASE_BYTES = 400 * MB
HOST_DATASET_COPIES = 2
XLA_MARGIN = 2.0  # probes: a job's own memory (model, batch, dataset) reached 1.5-1.9x engine.analysis.memory's sum
# Compiling one training step, by model kind: (a, b, c) of a + b d + c d^2 in the depth d (layers or blocks).
# Probes, above the 363 MB base: MLP +37 MB at d = 8, +112 MB at 64; CNN +48 MB at d = 1, +119 MB at 5;
# Transformer +181 MB at d = 1, +426 MB at 8, +831 MB at 12, +1,383 MB at 16, +2,995 MB at 24.
# ResNet and GPT: provisional, not yet fitted: the CNN's and the Transformer's coefficients x 2, a ResNet's d
# being its depth (conv layers, 10-101) where the CNN's is blocks of one conv each.
COMPILE_BYTES = {"mlp": (20 * MB, 1.5 * MB, 0.0), "cnn": (40 * MB, 16 * MB, 0.0),
                 "transformer": (180 * MB, 5 * MB, 5 * MB),
                 "resnet": (80 * MB, 32 * MB, 0.0), "gpt": (360 * MB, 10 * MB, 10 * MB)}
# Seconds from the process's start to its first epoch, besides JAX_STARTUP_S (imports, data, compiles): the
# probes took 2.4-3.3 s (MLP, d = 1-64), 2.9-5.6 s (CNN, d = 1-5) and 5.4 + 0.105 d^2 s (Transformer, d = 1-12);
# about twice that here, for a slower host.
JAX_STARTUP_S = 5.0
COMPILE_SECONDS = {"mlp": (5.0, 0.05, 0.0), "cnn": (5.0, 1.5, 0.0), "transformer": (5.0, 1.0, 0.25),
                   "resnet": (10.0, 3.0, 0.0), "gpt": (10.0, 2.0, 0.5)}  # resnet, gpt: provisional, not yet fitted (x 2)
TRANSFER_BYTES_PER_S = 1e9
ASSUMED_RATE = {"cpu": 10e9, "gpu": 1e12, "tpu": 1e12}  # FLOP/s: well below what the dev CPU and an H200 reach
ASSUMED_STEP_OVERHEAD_S = {"cpu": 1e-3, "gpu": 2e-4, "tpu": 2e-4}
# Per layer and step: many small operations (probes on the CPU: a Transformer layer 0.2 ms at width 16, an MLP
# layer 7.6 us, a CNN block ~0.1 ms). Accelerators: assumed, at a quarter of the CPU's (no probes there).
# ResNet (per conv layer) and GPT (per block): provisional, not yet fitted: the CNN's and Transformer's x 2.
ASSUMED_LAYER_OVERHEAD_S = {"cpu": {"mlp": 2e-5, "cnn": 2e-4, "transformer": 2.5e-4, "resnet": 4e-4, "gpt": 5e-4},
                            "gpu": {"mlp": 5e-6, "cnn": 5e-5, "transformer": 6e-5, "resnet": 1e-4, "gpt": 1.2e-4}}
CNN_FUSED_CPU_SLOWDOWN = 30.0  # DESIGN.md: a rolled lax.scan over convolutions runs ~25x slower on XLA:CPU


def _bytes(n: float) -> str:
    if n >= 1e12:
        return f"{n / 1e12:,.2f} TB"
    if n >= 1e9:
        return f"{n / 1e9:,.2f} GB"
    return f"{n / 1e6:,.0f} MB"


def _seconds(s: float) -> str:
    if s >= 3600:
        return f"{s / 3600:,.1f} h"
    if s >= 120:
        return f"{s / 60:,.1f} min"
    return f"{s:,.0f} s"


format_seconds = _seconds  # seconds in words as the guard's messages write them ("41 s", "3.5 min", "1.2 h")


@dataclass(frozen=True)
class DeviceEstimate:
    """One device's share of a job: memory on the device (bytes), seconds, and how they were estimated."""

    spec: str
    memory_bytes: int
    seconds: float
    epoch_seconds: float
    basis: str


@dataclass(frozen=True)
class GuardDecision:
    """Whether a job may start, why not, and the estimates behind it.

    memory_estimate_bytes: what the job's process needs of this machine's memory.
    memory_limit_bytes: the smaller of the free memory and CROSSOVER_MAX_JOB_MEMORY.
    seconds_estimate / seconds_limit: the whole job's time and CROSSOVER_MAX_JOB_SECONDS.
    """

    allowed: bool
    reasons: tuple[str, ...]
    memory_estimate_bytes: int
    memory_limit_bytes: int
    free_memory_bytes: int | None
    seconds_estimate: float
    seconds_limit: float
    seconds_basis: str
    params: int
    samples: int
    devices: tuple[DeviceEstimate, ...] = ()

    @property
    def message(self) -> str:
        """One paragraph for people: the refusal's reasons, or the estimates of an allowed job."""
        if not self.allowed:
            return "This job was not started: " + "; ".join(self.reasons) + "."
        return (f"Estimated {_bytes(self.memory_estimate_bytes)} of memory (limit {_bytes(self.memory_limit_bytes)}) "
                f"and {_seconds(self.seconds_estimate)} (limit {_seconds(self.seconds_limit)}; "
                f"{self.seconds_basis}).")

    def __str__(self) -> str:
        return self.message


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def cgroup_free_bytes(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """Memory left under this container's cgroup limit (v2 or v1), or None when there is no limit."""
    for limit_file, usage_file in (("memory.max", "memory.current"),
                                   ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes")):
        limit, usage = _read_int(root / limit_file), _read_int(root / usage_file)
        if limit is not None and usage is not None and limit < 2**60:  # v1 writes ~2^63 for "no limit"
            return max(limit - usage, 0)
    return None


def available_memory_bytes() -> int | None:
    """Memory a new process can take now: psutil's available memory, capped by a cgroup limit."""
    found = []
    try:
        import psutil

        found.append(int(psutil.virtual_memory().available))
    except Exception:  # psutil missing or /proc unreadable
        pass
    cgroup = cgroup_free_bytes()
    if cgroup is not None:
        found.append(cgroup)
    return min(found) if found else None


def _in_depth(coefficients: tuple[float, float, float], depth: int) -> float:
    a, b, c = coefficients
    return a + b * depth + c * depth * depth


def compile_bytes(config: RunConfig) -> int:
    """Bytes the job's process holds while compiling the training step (module doc)."""
    return math.ceil(_in_depth(COMPILE_BYTES[config.model.kind], config.model.depth))


def compile_seconds(config: RunConfig) -> float:
    """Seconds of one device's compiles and set-up before its first epoch (module doc)."""
    return _in_depth(COMPILE_SECONDS[config.model.kind], config.model.depth)


def _assumed_epoch(config: RunConfig, platform: str) -> tuple[float, str]:
    rate = ASSUMED_RATE.get(platform, ASSUMED_RATE["cpu"])
    overhead = ASSUMED_STEP_OVERHEAD_S.get(platform, ASSUMED_STEP_OVERHEAD_S["cpu"])
    per_layer = ASSUMED_LAYER_OVERHEAD_S["cpu" if platform == "cpu" else "gpu"][config.model.kind]
    step = overhead + config.model.depth * per_layer + flops_per_step(config) / rate
    basis = (f"assumed {rate / 1e9:,.0f} GFLOP/s and {overhead * 1e3:g} ms + {per_layer * 1e3:g} ms per layer per "
             f"step on {platform}, no fit of this machine's runs: a deliberately slow guess")
    if platform == "cpu" and config.model.kind in CONV_KINDS and config.resolved_mode("cpu") == "fused":
        step *= CNN_FUSED_CPU_SLOWDOWN
        basis += f", x{CNN_FUSED_CPU_SLOWDOWN:g} for fused convolutions on a CPU"
    return step * config.steps_per_epoch, basis


def _epoch_seconds(config: RunConfig, platform: str, fits: Sequence[Fit] | None) -> tuple[float, str]:
    if fits:
        from engine.analysis.perfmodel import predict, select_fit

        fit = select_fit(list(fits), platform=platform, model=config.model.kind, dtype=config.train.dtype,
                         matmul_precision=config.train.matmul_precision, mode=config.resolved_mode(platform))
        if fit is not None:
            p = predict(fit, config)
            high = p.high if math.isfinite(p.high) else 2 * p.seconds_per_epoch  # two-run fits have no band
            return high, f"predicted from {fit.fitted_on} (upper end of its band)"
    return _assumed_epoch(config, platform)


def _device_estimates(config: RunConfig, fits) -> list[DeviceEstimate]:
    est = memory_estimate(config)
    out = []
    for spec in config.bench.devices:
        platform = spec.partition(":")[0]
        epoch_s, basis = _epoch_seconds(config, platform, fits)
        epochs = config.bench.warmup + config.bench.repeats
        seconds = compile_seconds(config) + est.dataset_bytes / TRANSFER_BYTES_PER_S + epochs * epoch_s
        out.append(DeviceEstimate(spec, math.ceil(XLA_MARGIN * est.total_bytes), seconds, epoch_s, basis))
    return out


def _process_bytes(config: RunConfig, devices: list[DeviceEstimate]) -> int:
    cpu_need = max((d.memory_bytes for d in devices if d.spec.startswith("cpu")), default=0)
    return (PROCESS_BASE_BYTES + compile_bytes(config) + HOST_DATASET_COPIES * memory_estimate(config).dataset_bytes
            + cpu_need)


def _size_reasons(config: RunConfig, limits: Limits, params: int) -> list[str]:
    reasons = []
    if params > limits.max_params:
        reasons.append(f"the network has {params:,} parameters, more than CROSSOVER_MAX_PARAMS={limits.max_params:,}")
    if config.data.samples > limits.max_samples:
        reasons.append(f"the dataset has {config.data.samples:,} samples, more than "
                       f"CROSSOVER_MAX_SAMPLES={limits.max_samples:,}")
    return reasons


def _memory_reasons(need: int, limits: Limits, free: int | None, devices: list[DeviceEstimate],
                    device_memory_bytes: Mapping[str, int] | None) -> tuple[list[str], int]:
    reasons = []
    limit = limits.max_job_memory_bytes if free is None else min(free, limits.max_job_memory_bytes)
    if need > limit:
        which = ("the machine's free memory" if free is not None and free < limits.max_job_memory_bytes
                 else "CROSSOVER_MAX_JOB_MEMORY")
        reasons.append(f"it needs about {_bytes(need)} of memory (estimate), more than {which} ({_bytes(limit)})")
    for d in devices:
        have = (device_memory_bytes or {}).get(d.spec)
        if have and not d.spec.startswith("cpu") and d.memory_bytes > have:
            reasons.append(f"it needs about {_bytes(d.memory_bytes)} on {d.spec} (estimate), more than its "
                           f"{_bytes(have)} of memory")
    return reasons, limit


def _time_reasons(seconds: float, limits: Limits, time_limit_s: float | None, basis: str) -> list[str]:
    reasons = []
    if seconds > limits.max_job_seconds:
        reasons.append(f"it would take about {_seconds(seconds)} ({basis}), more than "
                       f"CROSSOVER_MAX_JOB_SECONDS={limits.max_job_seconds:g} s")
    if time_limit_s is not None and time_limit_s > limits.max_job_seconds:
        reasons.append(f"its time limit of {time_limit_s:g} s is more than "
                       f"CROSSOVER_MAX_JOB_SECONDS={limits.max_job_seconds:g} s")
    return reasons


def check(config: RunConfig, limits: Limits, free_memory_bytes: int | None = None, *,
          time_limit_s: float | None = None, fits: Sequence[Fit] | None = None,
          device_memory_bytes: Mapping[str, int] | None = None) -> GuardDecision:
    """May `config` run on this machine under `limits`? (module doc)

    free_memory_bytes: the memory a new process can take (None: measured now, `available_memory_bytes()`).
    time_limit_s: the job's time limit, refused when above CROSSOVER_MAX_JOB_SECONDS.
    fits: performance-model fits of THIS machine's devices (`fits_for_host`); without one the
        time is the analytic guess. device_memory_bytes: {spec: bytes} of accelerators, if known.
    """
    return check_sweep([config], limits, free_memory_bytes, time_limit_s=time_limit_s, fits=fits,
                       device_memory_bytes=device_memory_bytes)


def check_sweep(configs: Sequence[RunConfig], limits: Limits, free_memory_bytes: int | None = None, *,
                time_limit_s: float | None = None, fits: Sequence[Fit] | None = None,
                device_memory_bytes: Mapping[str, int] | None = None) -> GuardDecision:
    """`check` for several configs run one after the other in one job (a CLI sweep)."""
    if not configs:
        raise ValueError("configs is empty: nothing to check")
    free = available_memory_bytes() if free_memory_bytes is None else int(free_memory_bytes)
    reasons: list[str] = []
    all_devices: list[DeviceEstimate] = []
    need = params = samples = 0
    limit = limits.max_job_memory_bytes
    for i, config in enumerate(configs):
        devices = _device_estimates(config, fits)
        config_need = _process_bytes(config, devices)
        config_params = parameter_count(config)
        found = _size_reasons(config, limits, config_params)
        mem, limit = _memory_reasons(config_need, limits, free, devices, device_memory_bytes)
        found += mem
        prefix = f"config {i + 1} of {len(configs)}: " if len(configs) > 1 else ""
        reasons += [prefix + r for r in found if prefix + r not in reasons]
        all_devices += devices
        need, params, samples = max(need, config_need), max(params, config_params), max(samples, config.data.samples)
    seconds = JAX_STARTUP_S + sum(d.seconds for d in all_devices)
    bases = sorted({d.basis for d in all_devices})
    basis = bases[0] if len(bases) == 1 else "; ".join(bases)
    reasons += _time_reasons(seconds, limits, time_limit_s, basis)
    return GuardDecision(
        allowed=not reasons, reasons=tuple(reasons), memory_estimate_bytes=need, memory_limit_bytes=limit,
        free_memory_bytes=free, seconds_estimate=seconds, seconds_limit=limits.max_job_seconds,
        seconds_basis=basis, params=params, samples=samples, devices=tuple(all_devices),
    )


MICRO_BUFFERS = 3  # the memory benchmark holds its input and output, the transfer one a host and a device copy


def micro_largest_bytes(devices: Sequence[str], full: bool) -> int:
    """The largest buffer the microbenchmarks will use on any of `devices` (engine.base.buffers), in bytes."""
    return max((max(bandwidth_sizes(spec.partition(":")[0], full)) for spec in devices), default=0)


def check_micro(devices: Sequence[str], full: bool, limits: Limits, free_memory_bytes: int | None = None, *,
                time_limit_s: float | None = None) -> GuardDecision:
    """May the microbenchmarks run? Memory: PROCESS_BASE_BYTES + MICRO_BUFFERS x the largest buffer."""
    free = available_memory_bytes() if free_memory_bytes is None else int(free_memory_bytes)
    largest = micro_largest_bytes(devices, bool(full))
    need = PROCESS_BASE_BYTES + MICRO_BUFFERS * largest
    reasons, limit = _memory_reasons(need, limits, free, [], None)
    if reasons:  # the buffers are large on purpose (engine.base.buffers): say so, and what can be done
        reasons[-1] += (f" (the full microbenchmarks copy buffers of up to {largest / 2**20:,.0f} MiB; leave 'full' off)"
                        if full else f" (their largest buffer, {largest / 2**20:,.0f} MiB, is far beyond the CPU's "
                        "cache so that memory, not a cache, is measured; a host with more memory can raise "
                        "CROSSOVER_MAX_JOB_MEMORY)")
    reasons += _time_reasons(0.0, limits, time_limit_s, "")
    return GuardDecision(
        allowed=not reasons, reasons=tuple(reasons), memory_estimate_bytes=need, memory_limit_bytes=limit,
        free_memory_bytes=free, seconds_estimate=math.nan, seconds_limit=limits.max_job_seconds,
        seconds_basis="not estimated for microbenchmarks: the time limit stops them", params=0, samples=0,
        devices=tuple(DeviceEstimate(spec, 0, math.nan, math.nan, "") for spec in devices),
    )


def fits_for_host(runs: pl.DataFrame, host: str | None = None) -> list[Fit]:
    """Performance-model fits of the runs measured on this machine: same host name, CPU model and
    core count (host names alone repeat: cloud and container machines are often all called "vm")."""
    import polars as pl

    from engine.analysis.perfmodel import fit_runs
    from engine.base.hostinfo import cpu_cores, cpu_model, host_facts

    host = host or host_facts()["host"]
    needed = {"host", "cpu_model", "cpu_cores"}
    mine = (runs.filter((pl.col("host") == host) & (pl.col("cpu_model") == cpu_model())
                        & (pl.col("cpu_cores") == cpu_cores())) if needed <= set(runs.columns) else runs.clear())
    if mine.is_empty():
        return []
    fits, _ = fit_runs(mine)
    return fits


def process_group_rss_bytes(pid: int) -> int:
    """Resident memory of a process and its children (0 if gone): memory freed when that job ends."""
    try:
        import psutil

        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except Exception:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except Exception:  # it exited meanwhile
            continue
    return total
