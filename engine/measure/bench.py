"""The measurement harness: `measure(config, device_spec) -> record` (one run-record dict).

Every run trains data-parallel on a mesh of `config.bench.device_count` devices of the spec's
platform (`engine.measure.parallel`); with the default of 1 that is ordinary single-device training.

What is timed, and how (DESIGN.md, "Measurement rules"):
- transfer_s: `jax.device_put` of the initial state (replicated on every device of the mesh)
  and the whole dataset (each batch split over the devices), until ready.
- compile_s: `jax.jit(runner).lower(*args).compile()` of the epoch runner that will train
  (the per-step `train_step`, or the fused `lax.scan` epoch), alone; `compile_cache_hit`
  says whether JAX's persistent compilation cache served it. Both programs are compiled with
  the options for the platform and model (`engine.measure.xla_options`), recorded in `xla_options`.
- epochs: `warmup` untimed epochs, then `repeats` timed ones; each epoch ends with
  `jax.block_until_ready` on the state and losses before `time.perf_counter` is read.
  Raw seconds per epoch are kept; median, IQR and `noisy` (IQR / median > 0.10) derived.
- end_to_end_s = compile_s + transfer_s + epochs x median epoch seconds: what a user waits for.
- FLOPs: analytic per step (`engine.base.counts`) and XLA's `cost_analysis()` of ONE compiled
  step (never of the scanned epoch, whose loop body XLA counts once). On N devices the
  partitioned step's count is per device; the record holds it times N (all devices together;
  the replicated optimizer update is then counted N times, as N devices do run it).
- Per device, on N devices: device_memory_bytes (the first device's), executable_memory_bytes
  (XLA's analysis of the partitioned program) and peak_memory_bytes (the busiest device's, only when
  this run raised the process's high-water mark: `run_peak`; else empty). flops_per_step_xla only on
  the CPU (on GPUs XLA's count misses library calls; the analytic count is the one used).
Failures (out of memory, XLA errors, a blown time budget) come back as a record with
`status` and `error`; no exception escapes.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import jax
import jaxlib
import numpy as np

from engine.base.config import RunConfig
from engine.measure import allocator, distributed
from engine.measure.data import make_dataset, split_batches
from engine.measure.devices import DeviceNotFound, device_memory_bytes, resolve_many, resolve_per_process
from engine.measure.parallel import batch_shapes, data_parallel, describe, jit_epoch, jit_step, put_batches, put_state
from engine.measure.train import init_state, make_fused_epoch, make_train_step, run_per_step_epoch
from engine.measure.xla_options import compiler_options
from engine.measure.xla_options import describe as describe_options
from engine.runlog.record import config_columns, run_identity  # noqa: F401 (config_columns re-exported)

NOISY_IQR_RATIO = 0.10

Progress = Callable[[dict], None]


class TimeBudgetExceeded(RuntimeError):
    """The run passed `bench.time_budget_s`."""


class _CacheHitCounter:
    """Counts JAX's persistent-compilation-cache hits, via jax.monitoring events."""

    def __init__(self):
        self.hits = 0
        jax.monitoring.register_event_listener(self._on_event)

    def _on_event(self, event: str, **_):
        if event == "/jax/compilation_cache/cache_hits":
            self.hits += 1


_cache_hits = _CacheHitCounter()


def _base_record(config: RunConfig, device_spec: str, batch_id: str | None, source: str) -> dict:
    return {
        **run_identity(config, device_spec, batch_id, source),
        "device_kind": None,
        "device_memory_bytes": None,
        "jax_version": jax.__version__,
        "jaxlib_version": jaxlib.__version__,
        "xla_options": None,
        "allocator": allocator.describe(),
        "compile_s": None,
        "compile_cache_hit": None,
        "transfer_s": None,
        "first_epoch_s": None,
        "epoch_times_s": [],
        "epoch_losses": [],
        "epoch_s_median": None,
        "epoch_s_iqr": None,
        "noisy": None,
        "end_to_end_s": None,
        "steps_per_s": None,
        "samples_per_s": None,
        "flops_per_step_xla": None,
        "achieved_flops_per_s": None,
        "peak_memory_bytes": None,
        "executable_memory_bytes": None,
        "dataset_bytes": None,
        "loss_first": None,
        "loss_last": None,
        "status": "ok",
        "error": None,
    }


def _classify(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, TimeBudgetExceeded):
        return "timeout"
    if isinstance(exc, DeviceNotFound):
        return "skipped"
    if isinstance(exc, MemoryError) or "RESOURCE_EXHAUSTED" in text or "out of memory" in text.lower():
        return "oom"
    return "error"


def _xla_flops(compiled) -> float | None:
    analysis = compiled.cost_analysis()
    if isinstance(analysis, (list, tuple)):  # older jax returned one dict per executable
        analysis = analysis[0] if analysis else None
    if not analysis or "flops" not in analysis:
        return None
    return float(analysis["flops"])


def _executable_bytes(compiled) -> int | None:
    """Arguments + outputs + temporaries - aliased (donated) bytes of one executable."""
    try:
        m = compiled.memory_analysis()
    except Exception:  # not every backend implements memory_analysis
        return None
    if m is None:
        return None
    return int(m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes - m.alias_size_in_bytes)


def run_peak(before: int | None, after: int | None) -> int | None:
    """This run's peak device memory (bytes), from the process's high-water mark before and after it: the
    mark itself when the run raised it (then the run reached it), else None: the backend cannot reset the
    mark, so a run that stayed below an earlier run's peak has no peak of its own to report."""
    if after is None or (before is not None and after <= before):
        return None
    return after


def _peak_memory(devices: list) -> int | None:
    """The backend's high-water mark of device memory in this process on the busiest of `devices`,
    where it reports one."""
    peaks = []
    for device in devices:
        try:
            stats = device.memory_stats()
        except Exception:  # the CPU backend has no allocator statistics
            stats = None
        if stats and "peak_bytes_in_use" in stats:
            peaks.append(int(stats["peak_bytes_in_use"]))
    return max(peaks) if peaks else None


def _budget_check(start: float, budget_s: float, next_cost_s: float, what: str):
    elapsed = time.perf_counter() - start
    if elapsed + next_cost_s > budget_s:
        raise TimeBudgetExceeded(
            f"time_budget_s={budget_s:g} would be exceeded {what} ({elapsed:.1f} s spent, next ~{next_cost_s:.1f} s)"
        )


def measure(
    config: RunConfig,
    device_spec: str,
    *,
    progress: Progress | None = None,
    batch_id: str | None = None,
    source: str = "local",
) -> dict:
    """Train `config` on the device `device_spec` names and return its run record.

    Never raises for a failing run: the record's `status` is ok | oom | error | timeout |
    skipped and `error` holds the message. Times are seconds, memory bytes, FLOPs counts.
    """
    record = _base_record(config, device_spec, batch_id, source)
    notify = progress or (lambda event: None)
    try:
        _measure_into(record, config, device_spec, notify)
    except Exception as exc:  # every failure becomes a record, by design
        record["status"] = _classify(exc)
        record["error"] = f"{type(exc).__name__}: {exc}"[:4000]
    _summarise(record, config)
    return record


def _measure_into(record: dict, config: RunConfig, device_spec: str, notify: Progress):
    start = time.perf_counter()
    budget = config.bench.time_budget_s
    group = distributed.cluster()  # collective with several processes: every process measures the same runs
    if group.process_count > 1:  # bench.device_count devices from each process, one mesh over them all
        devices = resolve_per_process(device_spec, config.bench.device_count)
    else:
        devices = resolve_many(device_spec, config.bench.device_count)
    dp = data_parallel(devices)
    mine = [d for d in devices if d.process_index == jax.process_index()]  # this process's share of the mesh
    record["process_count"] = group.process_count
    record["hosts"] = ",".join(group.hosts)
    if len(set(group.hosts)) < group.process_count and devices[0].platform == "cpu":
        record["devices_emulated"] = True  # processes on one machine share its cores, as emulated devices do
    record["device_kind"] = str(devices[0].device_kind)
    record["device_count"] = dp.device_count
    record["mesh_shape"] = describe(dp)
    record["device_memory_bytes"] = device_memory_bytes(mine[0])
    peak_before = _peak_memory(mine)  # the process's high-water mark so far (earlier runs included)
    mode = record["mode"]

    notify({"event": "phase", "phase": "prepare", "device": device_spec})
    batches = split_batches(make_dataset(config), config.train.batch_size)
    record["dataset_bytes"] = batches.x.nbytes + batches.y.nbytes
    # Initialise on the CPU so every device starts from bit-identical weights.
    with jax.default_device(jax.local_devices(backend="cpu")[0]):  # this process's own, with several
        state, static = init_state(config, jax.random.key(config.data.seed))
    train_step = make_train_step(config, static)

    notify({"event": "phase", "phase": "transfer", "device": device_spec})
    t0 = time.perf_counter()
    state = put_state(state, dp)
    data = put_batches(batches.x, batches.y, dp, mode)
    jax.block_until_ready((state, data))
    record["transfer_s"] = time.perf_counter() - t0
    first_batch = batch_shapes(batches.x, batches.y, dp)

    notify({"event": "phase", "phase": "compile", "device": device_spec})
    # One step compiled on its own gives XLA's FLOPs for ONE step; in per_step mode it is
    # also the runner, so its compile time is the one recorded.
    options = compiler_options(devices[0].platform, config.model.kind)
    record["xla_options"] = describe_options(options)
    hits_before = _cache_hits.hits
    t0 = time.perf_counter()
    step = jit_step(train_step, dp).lower(state, first_batch).compile(options)
    step_compile_s = time.perf_counter() - t0
    step_flops = _xla_flops(step)  # per device of the partitioned program
    # On GPUs XLA's count leaves out library calls (cuBLAS/cuDNN matmuls and convolutions: 0.3-36 % of the real
    # FLOPs on the H200 rows), so it is stored empty there rather than wrong.
    trusted = devices[0].platform == "cpu"
    record["flops_per_step_xla"] = None if step_flops is None or not trusted else step_flops * dp.device_count
    if mode == "fused":
        hits_before = _cache_hits.hits
        t0 = time.perf_counter()
        epoch = jit_epoch(make_fused_epoch(train_step), dp).lower(state, *data).compile(options)
        record["compile_s"] = time.perf_counter() - t0
        record["executable_memory_bytes"] = _executable_bytes(epoch)

        def run_epoch(s):
            return epoch(s, *data)
    else:
        record["compile_s"] = step_compile_s
        record["executable_memory_bytes"] = _executable_bytes(step)

        def run_epoch(s):
            return run_per_step_epoch(step, s, data)

    record["compile_cache_hit"] = _cache_hits.hits > hits_before
    _budget_check(start, budget, 0.0, "by compilation")

    total = config.bench.warmup + config.bench.repeats
    last_epoch_s = 0.0
    for i in range(total):
        phase = "warmup" if i < config.bench.warmup else "measure"
        try:
            _budget_check(start, budget, last_epoch_s, f"before epoch {i + 1} of {total}")
        except TimeBudgetExceeded:
            if record["epoch_times_s"]:
                record["status"] = "timeout"
                record["error"] = f"time_budget_s={budget:g} reached after {len(record['epoch_times_s'])} timed epochs"
                break
            raise
        distributed.barrier(f"epoch {i}")  # every process starts the epoch together (nothing to wait for alone)
        t0 = time.perf_counter()
        state, losses = run_epoch(state)
        jax.block_until_ready((state, losses))
        last_epoch_s = time.perf_counter() - t0
        losses = np.asarray(losses, dtype=np.float64)
        if i == 0:
            record["first_epoch_s"] = last_epoch_s
            record["loss_first"] = float(losses[0])
        record["loss_last"] = float(losses[-1])
        record["epoch_losses"].append(float(losses.mean()))
        if phase == "measure":
            record["epoch_times_s"].append(last_epoch_s)
        notify(
            {
                "event": "epoch",
                "phase": phase,
                "device": device_spec,
                "epoch": i + 1,
                "of": total,
                "seconds": last_epoch_s,
                "loss": float(losses.mean()),
            }
        )
    record["peak_memory_bytes"] = run_peak(peak_before, _peak_memory(mine))


def _summarise(record: dict, config: RunConfig):
    """Derive median, IQR, noisy flag, rates and end-to-end time from the raw epoch times."""
    times = np.asarray(record["epoch_times_s"], dtype=np.float64)
    if times.size == 0:
        return
    median = float(np.median(times))
    q25, q75 = np.percentile(times, [25, 75])
    record["epoch_s_median"] = median
    record["epoch_s_iqr"] = float(q75 - q25)
    record["noisy"] = bool(median > 0 and (q75 - q25) / median > NOISY_IQR_RATIO)
    steps = config.steps_per_epoch
    if median > 0:
        record["steps_per_s"] = steps / median
        record["samples_per_s"] = steps * config.train.batch_size / median
        record["achieved_flops_per_s"] = record["flops_per_step_analytic"] * steps / median
    record["end_to_end_s"] = (record["compile_s"] or 0.0) + (record["transfer_s"] or 0.0) + config.train.epochs * median
