"""engine.analysis.tables.device_roofs: the memory roof is the largest buffer's bandwidth, never a
cache-resident small buffer's (DESIGN.md: buffers far beyond the last-level cache)."""

import polars as pl
import pytest

from engine.analysis import tables

MiB = 2**20


def _micro(rows):
    """MICRO_SCHEMA-like rows from (device_kind, benchmark, size, dtype, precision, flops_per_s, bytes_per_s, status)."""
    keys = ("device_kind", "benchmark", "size", "dtype", "matmul_precision", "flops_per_s", "bytes_per_s", "status")
    frame = pl.DataFrame([dict(zip(keys, r)) for r in rows], schema={
        "device_kind": pl.String, "benchmark": pl.String, "size": pl.Int64, "dtype": pl.String,
        "matmul_precision": pl.String, "flops_per_s": pl.Float64, "bytes_per_s": pl.Float64, "status": pl.String})
    return frame.with_columns(platform=pl.lit("gpu"), cpu_model=pl.lit("Test CPU"), cpu_cores=pl.lit(4),
                              source=pl.lit("reference"), host=pl.lit("lab"))


def test_roof_is_the_largest_buffer_not_the_fastest_cache_resident_one():
    micro = _micro([
        ("GPU A", "memory_bandwidth", 16 * MiB, "float32", None, None, 9.0e12, "ok"),  # in L2: fast
        ("GPU A", "memory_bandwidth", 1024 * MiB, "float32", None, None, 4.0e12, "ok"),  # beyond it
        ("GPU A", "memory_bandwidth", 64 * MiB, "float32", None, None, 5.0e12, "ok"),
        ("GPU A", "matmul", 4096, "bfloat16", "default", 7.0e14, 1.0e11, "ok"),
        ("GPU A", "matmul", 4096, "float32", "highest", 5.0e13, 1.0e11, "ok"),
    ])
    (row,) = tables.device_roofs(micro).rows(named=True)
    assert row["device"] == "GPU A"
    assert row["bandwidth_bytes_per_s"] == 4.0e12  # not max(...) = 9e12
    assert row["peak_flops_per_s"] == 7.0e14 and row["peak_dtype"] == "bfloat16 default"


def test_each_device_gets_its_own_largest_buffer_and_failed_rows_do_not_count():
    micro = _micro([
        ("GPU A", "memory_bandwidth", 16 * MiB, "float32", None, None, 9.0e12, "ok"),
        ("GPU A", "memory_bandwidth", 256 * MiB, "float32", None, None, 3.0e12, "ok"),
        ("GPU A", "memory_bandwidth", 1024 * MiB, "float32", None, None, None, "oom"),  # failed: not the largest
        ("GPU B", "memory_bandwidth", 2048 * MiB, "float32", None, None, 1.5e12, "ok"),
        ("GPU B", "memory_bandwidth", 32 * MiB, "float32", None, None, 6.0e12, "ok"),
        ("GPU B", "host_to_device", 4096 * MiB, "float32", None, None, 2.5e10, "ok"),  # another benchmark
        ("GPU C", "matmul", 1024, "float32", "default", 1.0e13, 1.0e10, "ok"),  # no memory row
    ])
    roofs = {r["device"]: r for r in tables.device_roofs(micro).rows(named=True)}
    assert roofs["GPU A"]["bandwidth_bytes_per_s"] == 3.0e12
    assert roofs["GPU B"]["bandwidth_bytes_per_s"] == 1.5e12 and roofs["GPU B"]["peak_flops_per_s"] is None
    assert roofs["GPU C"]["bandwidth_bytes_per_s"] is None and roofs["GPU C"]["peak_flops_per_s"] == 1.0e13


def test_ties_at_the_largest_size_take_the_faster_row():
    micro = _micro([
        ("GPU A", "memory_bandwidth", 1024 * MiB, "float32", None, None, 3.5e12, "ok"),
        ("GPU A", "memory_bandwidth", 1024 * MiB, "float32", None, None, 3.9e12, "ok"),  # a second run
        ("GPU A", "memory_bandwidth", 8 * MiB, "float32", None, None, 8.0e12, "ok"),
    ])
    assert tables.device_roofs(micro)["bandwidth_bytes_per_s"].to_list() == [pytest.approx(3.9e12)]
