"""Microbenchmarks per device: matmul FLOP/s, device memory bandwidth, host-to-device bandwidth, and the
fixed cost of one call.

Each returns records of `engine.runlog.store.MICRO_SCHEMA`. They measure what their labels say
(DESIGN.md, measurement rules):
- Timing: compile first (untimed), one warm-up call. With `min_sample_s` > 0, one call is timed to
  estimate k = ceil(min_sample_s / its seconds); k calls run untimed (the clocks settle: a GPU
  boosts, a CPU leaves its idle state), k is re-estimated from that loop, and each of the `repeats`
  timed samples runs k calls back to back (at most 2 in flight, each ended by
  `jax.block_until_ready`) and records seconds per call: sample / k. Dispatch then overlaps
  execution, so the fixed cost per call stays out of the throughput figures; with
  `min_sample_s` = 0 each sample is one blocked call. times_s holds seconds per call; median and
  IQR of those. The k of a record is not stored (MICRO_SCHEMA has no column for it).
- call_overhead: the fixed cost of one trivial jitted call (x + 1 on a float32 scalar), dispatched
  and waited for; reported apart from throughput. size 4 (bytes of the operand); flops and bytes
  null, seconds_median is the figure.
- matmul: C = A @ B with n x n operands, 2 n^3 FLOPs; float32 at the requested matmul
  precision ("default" is TF32 on recent NVIDIA GPUs, "highest" is true float32) and bfloat16.
- memory_bandwidth: y = x * 2 + 1 over a float32 array of `size` bytes: reads and writes it
  once, 2 x size bytes per call. `engine.base.buffers.bandwidth_sizes` puts buffers far beyond the last-level cache
  in the list: >= 4 x the CPU's LLC (read from Linux sysfs, else DEFAULT_LLC_BYTES) on a CPU,
  >= GPU_LARGE_BYTES on an accelerator (its L2 is 50 MiB on an H100/H200). Smaller sizes stay
  in the list as the cache curve; roofs use the largest buffer (`engine.analysis.tables.device_roofs`).
- host_to_device: `jax.device_put` of a NumPy array of `size` bytes, until ready. On the CPU
  platform the "device" is host memory: there is no bus to cross, and device_put of a NumPy
  array either aliases it (no copy at all when the array is 64-byte aligned: ~200-300 GB/s
  measured for 16 MiB with jax 0.10.2, docs/MICRO_NOTES.md) or makes a host memcpy, depending on
  alignment and JAX version. Neither is a host-to-device copy, so for a cpu device each size is
  stored as a row with status "skipped", no times (times_s [NaN] as in a failed record), null
  seconds and bytes_per_s, and the reason in `error`:
  kept rather than left out so the file and the Results page say why the CPU has no such figure.
"""

from __future__ import annotations

import collections
import functools
import math
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import jax
import jax.numpy as jnp
import jaxlib
import numpy as np

from engine import ENGINE_VERSION
from engine.base.buffers import bandwidth_sizes
from engine.base.hostinfo import host_facts
from engine.measure import allocator
from engine.measure.devices import resolve
from engine.runlog.store import SCHEMA_VERSION

QUICK_MATMUL_SIZES = (256, 1024, 2048)
FULL_MATMUL_SIZES = (128, 256, 512, 1024, 2048, 4096, 8192)
# Seconds of calls per timed sample (module doc). 10 samples: >= 1 s of work per size on an
# accelerator; on a CPU the sizes that matter take longer than this per call anyway.
GPU_MIN_SAMPLE_S = 0.1
CPU_MIN_SAMPLE_S = 0.02
MAX_CALLS = 1_000_000
CPU_HOST_TO_DEVICE = ("not a copy on the CPU platform: the device is host memory, and jax.device_put of a NumPy "
                      "array aliases it (64-byte aligned) or makes a host memcpy; no bus is crossed")


def _loop(fn: Callable[[], object], calls: int, clock) -> float:
    """Seconds for `calls` calls of fn back to back, at most 2 in flight, all finished."""
    pending = collections.deque()
    t0 = clock()
    for _ in range(calls):
        if len(pending) == 2:
            jax.block_until_ready(pending.popleft())
        pending.append(fn())
    jax.block_until_ready(list(pending))
    return clock() - t0


def _calls(seconds_per_call: float, min_sample_s: float) -> int:
    if seconds_per_call <= 0:
        return MAX_CALLS
    return max(1, min(MAX_CALLS, math.ceil(min_sample_s / seconds_per_call)))


def _times(fn: Callable[[], object], repeats: int, min_sample_s: float = 0.0, clock=time.perf_counter) -> list[float]:
    """Seconds per call of `repeats` timed samples (module doc)."""
    jax.block_until_ready(fn())  # warm-up: first-call work stays out of the numbers
    calls = 1
    if min_sample_s > 0:
        calls = _calls(_loop(fn, 1, clock), min_sample_s)
        calls = _calls(_loop(fn, calls, clock) / calls, min_sample_s)  # clocks settle; k again
    return [_loop(fn, calls, clock) / calls for _ in range(repeats)]


def _matmul_fn(precision: str):
    """x @ y at a named matmul precision ("default" leaves the backend's choice)."""
    p = None if precision == "default" else precision
    return lambda x, y: jnp.matmul(x, y, precision=p)


def _record(device, spec: str, batch_id: str, source: str, **fields) -> dict:
    times = np.asarray(fields.pop("times_s"), dtype=np.float64)
    median = float(np.median(times))
    q25, q75 = np.percentile(times, [25, 75])
    flops, nbytes = fields.get("flops"), fields.get("bytes")
    return {
        "schema_version": SCHEMA_VERSION,
        "engine_version": ENGINE_VERSION,
        "run_id": uuid.uuid4().hex,
        "batch_id": batch_id,
        "created_at": datetime.now(UTC),
        "source": source,
        **host_facts(),
        "platform": device.platform,
        "device_spec": spec,
        "device_kind": str(device.device_kind),
        "jax_version": jax.__version__,
        "jaxlib_version": jaxlib.__version__,
        "allocator": allocator.describe(),
        "times_s": times.tolist(),
        "seconds_median": median,
        "seconds_iqr": float(q75 - q25),
        "flops_per_s": flops / median if flops else None,
        "bytes_per_s": nbytes / median if nbytes else None,
        "status": "ok",
        "error": None,
        **fields,
    }


def _not_timed(device, spec, batch_id, source, status: str, error: str, **fields) -> dict:
    rec = _record(device, spec, batch_id, source, times_s=[float("nan")], **fields)
    rec.update(seconds_median=None, seconds_iqr=None, flops_per_s=None, bytes_per_s=None, status=status,
               error=error[:2000])
    return rec


def _failed(device, spec, batch_id, source, exc, **fields) -> dict:
    return _not_timed(device, spec, batch_id, source, "oom" if "RESOURCE_EXHAUSTED" in str(exc) else "error",
                      f"{type(exc).__name__}: {exc}", **fields)


def call_overhead(spec: str, repeats=10, min_sample_s=0.0, batch_id="", source="local", progress=None) -> list[dict]:
    """Seconds of one trivial jitted call (x + 1 on a float32 scalar) from dispatch until its result is
    ready: the fixed cost every blocked call pays, reported apart from throughput."""
    device = resolve(spec)
    fields = dict(benchmark="call_overhead", size=4, dtype="float32", matmul_precision=None, flops=None, bytes=None)
    try:
        x = jax.device_put(np.float32(1.0), device)
        f = jax.jit(lambda v: v + 1.0).lower(x).compile()
        times = _times(lambda: jax.block_until_ready(f(x)), repeats, min_sample_s)  # each call waited for
        out = [_record(device, spec, batch_id, source, times_s=times, **fields)]
    except Exception as exc:
        out = [_failed(device, spec, batch_id, source, exc, **fields)]
    if progress:
        progress({"event": "micro", "record": out[-1]})
    return out


def matmul(spec: str, sizes, dtypes=("float32", "bfloat16"), precisions=("default", "highest"), repeats=10,
           min_sample_s=0.0, batch_id="", source="local", progress=None) -> list[dict]:
    """FLOP/s of n x n matrix products on the device `spec` names; each sample >= min_sample_s of calls."""
    device = resolve(spec)
    out = []
    for dtype in dtypes:
        for precision in precisions if dtype == "float32" else ("default",):
            for n in sizes:
                fields = dict(benchmark="matmul", size=n, dtype=dtype, matmul_precision=precision,
                              flops=2.0 * n**3, bytes=3.0 * n * n * jnp.dtype(dtype).itemsize)
                try:
                    rng = np.random.default_rng(n)  # random operands: zeros run faster than real data
                    a = jax.device_put(rng.standard_normal((n, n), dtype=np.float32).astype(dtype), device)
                    b = jax.device_put(rng.standard_normal((n, n), dtype=np.float32).astype(dtype), device)
                    f = jax.jit(_matmul_fn(precision)).lower(a, b).compile()
                    times = _times(functools.partial(f, a, b), repeats, min_sample_s)
                    out.append(_record(device, spec, batch_id, source, times_s=times, **fields))
                    del a, b
                except Exception as exc:  # e.g. out of memory at the largest size
                    out.append(_failed(device, spec, batch_id, source, exc, **fields))
                if progress:
                    progress({"event": "micro", "record": out[-1]})
    return out


def memory_bandwidth(spec: str, sizes_bytes, repeats=10, min_sample_s=0.0, batch_id="", source="local",
                     progress=None) -> list[dict]:
    """Bytes/s of an elementwise pass (read + write) over float32 arrays on the device."""
    device = resolve(spec)
    out = []
    for nbytes in sizes_bytes:
        fields = dict(benchmark="memory_bandwidth", size=int(nbytes), dtype="float32", matmul_precision=None,
                      flops=None, bytes=2.0 * nbytes)
        try:
            x = jax.device_put(np.random.default_rng(1).standard_normal(nbytes // 4, dtype=np.float32), device)
            f = jax.jit(lambda v: v * 2.0 + 1.0).lower(x).compile()
            times = _times(functools.partial(f, x), repeats, min_sample_s)
            out.append(_record(device, spec, batch_id, source, times_s=times, **fields))
            del x
        except Exception as exc:
            out.append(_failed(device, spec, batch_id, source, exc, **fields))
        if progress:
            progress({"event": "micro", "record": out[-1]})
    return out


def host_to_device(spec: str, sizes_bytes, repeats=5, batch_id="", source="local", progress=None) -> list[dict]:
    """Bytes/s of `jax.device_put` from a NumPy array in host memory to the device; on a cpu device
    each size is a "skipped" row saying why (module doc). One blocked copy per sample: a copy of
    16 MiB or more is long beside the fixed cost per call."""
    device = resolve(spec)
    out = []
    for nbytes in sizes_bytes:
        fields = dict(benchmark="host_to_device", size=int(nbytes), dtype="float32", matmul_precision=None,
                      flops=None, bytes=float(nbytes))
        if device.platform == "cpu":
            out.append(_not_timed(device, spec, batch_id, source, "skipped", CPU_HOST_TO_DEVICE, **fields))
        else:
            try:
                host = np.random.default_rng(2).standard_normal(nbytes // 4, dtype=np.float32)
                out.append(_record(device, spec, batch_id, source,
                                   times_s=_times(functools.partial(jax.device_put, host, device), repeats),
                                   **fields))
            except Exception as exc:
                out.append(_failed(device, spec, batch_id, source, exc, **fields))
        if progress:
            progress({"event": "micro", "record": out[-1]})
    return out


def run_all(spec: str, full: bool = False, batch_id: str = "", source: str = "local", progress=None,
            min_sample_s: float | None = None) -> list[dict]:
    """Every microbenchmark on one device: call overhead, matmul, memory and host-to-device bandwidth.

    `full` adds larger sizes; buffer sizes from `bandwidth_sizes`. min_sample_s (seconds of calls per
    timed sample) defaults to GPU_MIN_SAMPLE_S on an accelerator and CPU_MIN_SAMPLE_S on a CPU.
    """
    sizes = FULL_MATMUL_SIZES if full else QUICK_MATMUL_SIZES
    device = resolve(spec)
    nbytes = bandwidth_sizes(device.platform, full)
    if device.platform == "cpu":  # an 8192^3 product takes ~5 s per call on a 2-core CPU
        sizes = tuple(n for n in sizes if n <= 4096)
    if min_sample_s is None:
        min_sample_s = CPU_MIN_SAMPLE_S if device.platform == "cpu" else GPU_MIN_SAMPLE_S
    kw = dict(batch_id=batch_id or uuid.uuid4().hex, source=source, progress=progress)
    return (call_overhead(spec, min_sample_s=min_sample_s, **kw)
            + matmul(spec, sizes, min_sample_s=min_sample_s, **kw)
            + memory_bandwidth(spec, nbytes, min_sample_s=min_sample_s, **kw)
            + host_to_device(spec, nbytes, **kw))
