"""engine.measure.micro: matmul FLOP/s, memory and host-to-device bandwidth records on the CPU."""

import math

import numpy as np
import pytest

import engine.measure.micro as micro
from engine import ENGINE_VERSION
from engine.runlog import store


def _check_timing(r: dict, repeats: int):
    assert set(r) == set(store.MICRO_SCHEMA), set(r) ^ set(store.MICRO_SCHEMA)
    assert r["status"] == "ok" and r["error"] is None
    assert len(r["times_s"]) == repeats and all(t > 0 for t in r["times_s"])
    assert r["seconds_median"] == pytest.approx(float(np.median(r["times_s"])))
    q25, q75 = np.percentile(r["times_s"], [25, 75])
    assert r["seconds_iqr"] == pytest.approx(q75 - q25)
    assert r["platform"] == "cpu" and r["device_spec"] == "cpu" and r["device_kind"]


def test_matmul_records():
    records = micro.matmul("cpu", sizes=(8, 32), dtypes=("float32", "bfloat16"), precisions=("default", "highest"),
                           repeats=2, batch_id="b")
    # float32 at both precisions, bfloat16 at default only; each at both sizes.
    keys = [(r["dtype"], r["matmul_precision"], r["size"]) for r in records]
    assert keys == [("float32", "default", 8), ("float32", "default", 32), ("float32", "highest", 8),
                    ("float32", "highest", 32), ("bfloat16", "default", 8), ("bfloat16", "default", 32)]
    for r in records:
        _check_timing(r, repeats=2)
        n, itemsize = r["size"], 4 if r["dtype"] == "float32" else 2
        assert r["benchmark"] == "matmul" and r["batch_id"] == "b" and r["engine_version"] == ENGINE_VERSION
        assert r["flops"] == 2 * n**3
        assert r["bytes"] == 3 * n * n * itemsize
        assert r["flops_per_s"] > 0
        assert r["flops_per_s"] == pytest.approx(2 * n**3 / r["seconds_median"])
        assert r["bytes_per_s"] == pytest.approx(3 * n * n * itemsize / r["seconds_median"])


def test_memory_bandwidth_records():
    sizes = (4096, 64 * 1024)
    records = micro.memory_bandwidth("cpu", sizes, repeats=2)
    assert [r["size"] for r in records] == list(sizes)
    for r, nbytes in zip(records, sizes):
        _check_timing(r, repeats=2)
        assert r["benchmark"] == "memory_bandwidth" and r["flops"] is None and r["flops_per_s"] is None
        assert r["bytes"] == 2 * nbytes  # read once, written once
        assert r["bytes_per_s"] > 0 and r["bytes_per_s"] == pytest.approx(2 * nbytes / r["seconds_median"])


def test_host_to_device_records():
    sizes = (4096, 256 * 1024)
    seen = []
    records = micro.host_to_device("cpu", sizes, repeats=2, progress=seen.append)
    assert [e["record"] for e in seen] == records
    for r, nbytes in zip(records, sizes):
        _check_timing(r, repeats=2)
        assert r["benchmark"] == "host_to_device" and r["bytes"] == nbytes
        assert r["bytes_per_s"] > 0 and r["bytes_per_s"] == pytest.approx(nbytes / r["seconds_median"])


@pytest.mark.parametrize("message, status", [("RESOURCE_EXHAUSTED: out of memory", "oom"), ("boom", "error")])
def test_failure_becomes_a_record(monkeypatch, message, status):
    def fail(fn, repeats):
        raise RuntimeError(message)

    monkeypatch.setattr(micro, "_times", fail)
    (r,) = micro.matmul("cpu", sizes=(8,), dtypes=("float32",), precisions=("default",), repeats=2)
    assert r["status"] == status and message in r["error"]
    assert r["seconds_median"] is None and r["flops_per_s"] is None
    assert r["flops"] == 2 * 8**3
    store.records_to_frame([r], store.MICRO_SCHEMA)  # still fits the schema


def test_append_micro_and_load_micro_round_trip(tmp_path):
    records = micro.matmul("cpu", sizes=(8,), dtypes=("float32",), precisions=("default",), repeats=2)
    records += micro.memory_bandwidth("cpu", (4096,), repeats=2)
    records += micro.host_to_device("cpu", (4096,), repeats=2)
    path = store.append_micro(records, tmp_path)
    assert path.name.endswith(".micro.parquet")
    loaded = store.load_micro([tmp_path])
    assert loaded.files == [path] and not loaded.skipped
    rows = loaded.frame.collect().rows(named=True)
    assert len(rows) == 3
    for record, row in zip(records, rows):
        for name, value in record.items():
            if isinstance(value, float) and math.isnan(value):
                assert math.isnan(row[name]), name
            else:
                assert row[name] == value, name
    assert store.load_runs([tmp_path]).frame.collect().height == 0  # micro files are not runs
