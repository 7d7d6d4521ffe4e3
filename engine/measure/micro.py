"""Microbenchmarks per device: matmul FLOP/s, device memory bandwidth, host-to-device bandwidth.

Each returns records of `engine.runlog.store.MICRO_SCHEMA`. Timing follows the harness's rules:
compile first (untimed), one warm-up call, then `repeats` calls each ended by
`jax.block_until_ready`; median and IQR of the raw seconds.
- matmul: C = A @ B with n x n operands, 2 n^3 FLOPs; float32 at the requested matmul
  precision ("default" is TF32 on recent NVIDIA GPUs, "highest" is true float32) and bfloat16.
- memory_bandwidth: y = x * 2 + 1 over a float32 array of `size` bytes: reads and writes it
  once, 2 x size bytes per call.
- host_to_device: `jax.device_put` of a NumPy array of `size` bytes, until ready.
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import jax
import jax.numpy as jnp
import jaxlib
import numpy as np

from engine import ENGINE_VERSION
from engine.base.hostinfo import host_facts
from engine.measure import allocator
from engine.measure.devices import resolve
from engine.runlog.store import SCHEMA_VERSION

QUICK_MATMUL_SIZES = (256, 1024, 2048)
FULL_MATMUL_SIZES = (128, 256, 512, 1024, 2048, 4096, 8192)
QUICK_BYTES = (16 * 2**20, 64 * 2**20)
FULL_BYTES = (16 * 2**20, 64 * 2**20, 256 * 2**20, 1024 * 2**20)


def _times(fn: Callable[[], object], repeats: int) -> list[float]:
    jax.block_until_ready(fn())  # warm-up: first-call work stays out of the numbers
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        out.append(time.perf_counter() - t0)
    return out


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


def _failed(device, spec, batch_id, source, exc, **fields) -> dict:
    rec = _record(device, spec, batch_id, source, times_s=[float("nan")], **fields)
    rec.update(seconds_median=None, seconds_iqr=None, flops_per_s=None, bytes_per_s=None)
    rec.update(status="oom" if "RESOURCE_EXHAUSTED" in str(exc) else "error", error=f"{type(exc).__name__}: {exc}"[:2000])
    return rec


def matmul(spec: str, sizes, dtypes=("float32", "bfloat16"), precisions=("default", "highest"), repeats=10,
           batch_id="", source="local", progress=None) -> list[dict]:
    """FLOP/s of n x n matrix products on the device `spec` names."""
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
                    times = _times(functools.partial(f, a, b), repeats)
                    out.append(_record(device, spec, batch_id, source, times_s=times, **fields))
                    del a, b
                except Exception as exc:  # e.g. out of memory at the largest size
                    out.append(_failed(device, spec, batch_id, source, exc, **fields))
                if progress:
                    progress({"event": "micro", "record": out[-1]})
    return out


def memory_bandwidth(spec: str, sizes_bytes, repeats=10, batch_id="", source="local", progress=None) -> list[dict]:
    """Bytes/s of an elementwise pass (read + write) over float32 arrays on the device."""
    device = resolve(spec)
    out = []
    for nbytes in sizes_bytes:
        fields = dict(benchmark="memory_bandwidth", size=int(nbytes), dtype="float32", matmul_precision=None,
                      flops=None, bytes=2.0 * nbytes)
        try:
            x = jax.device_put(np.random.default_rng(1).standard_normal(nbytes // 4, dtype=np.float32), device)
            f = jax.jit(lambda v: v * 2.0 + 1.0).lower(x).compile()
            out.append(_record(device, spec, batch_id, source, times_s=_times(functools.partial(f, x), repeats), **fields))
            del x
        except Exception as exc:
            out.append(_failed(device, spec, batch_id, source, exc, **fields))
        if progress:
            progress({"event": "micro", "record": out[-1]})
    return out


def host_to_device(spec: str, sizes_bytes, repeats=5, batch_id="", source="local", progress=None) -> list[dict]:
    """Bytes/s of `jax.device_put` from a NumPy array in host memory to the device."""
    device = resolve(spec)
    out = []
    for nbytes in sizes_bytes:
        fields = dict(benchmark="host_to_device", size=int(nbytes), dtype="float32", matmul_precision=None,
                      flops=None, bytes=float(nbytes))
        try:
            host = np.random.default_rng(2).standard_normal(nbytes // 4, dtype=np.float32)
            out.append(_record(device, spec, batch_id, source,
                               times_s=_times(functools.partial(jax.device_put, host, device), repeats), **fields))
        except Exception as exc:
            out.append(_failed(device, spec, batch_id, source, exc, **fields))
        if progress:
            progress({"event": "micro", "record": out[-1]})
    return out


def run_all(spec: str, full: bool = False, batch_id: str = "", source: str = "local", progress=None) -> list[dict]:
    """All three microbenchmarks on one device; `full` adds larger sizes."""
    sizes = FULL_MATMUL_SIZES if full else QUICK_MATMUL_SIZES
    nbytes = FULL_BYTES if full else QUICK_BYTES
    device = resolve(spec)
    if device.platform == "cpu":  # an 8192^3 product takes ~5 s per call on a 2-core CPU
        sizes = tuple(n for n in sizes if n <= 4096)
    kw = dict(batch_id=batch_id or uuid.uuid4().hex, source=source, progress=progress)
    return matmul(spec, sizes, **kw) + memory_bandwidth(spec, nbytes, **kw) + host_to_device(spec, nbytes, **kw)
