"""engine.measure.micro: matmul FLOP/s, memory and host-to-device bandwidth, call overhead records on the CPU;
buffer sizes beyond the last-level cache; samples of repeated calls (timed on a fake clock)."""

import math
from types import SimpleNamespace

import numpy as np
import pytest

import engine.measure.micro as micro
from engine import ENGINE_VERSION
from engine.base import buffers
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


def test_host_to_device_on_a_cpu_is_a_skipped_row_saying_why():
    sizes = (4096, 256 * 1024)
    seen = []
    records = micro.host_to_device("cpu", sizes, repeats=2, progress=seen.append)
    assert [e["record"] for e in seen] == records
    assert [r["size"] for r in records] == list(sizes)
    for r, nbytes in zip(records, sizes):
        assert set(r) == set(store.MICRO_SCHEMA)
        assert r["benchmark"] == "host_to_device" and r["bytes"] == nbytes and r["platform"] == "cpu"
        assert r["status"] == "skipped" and "not a copy on the CPU platform" in r["error"]
        assert r["bytes_per_s"] is None and r["seconds_median"] is None and r["seconds_iqr"] is None
    store.records_to_frame(records, store.MICRO_SCHEMA)  # fits the schema; "skipped" is a stored status
    assert "skipped" in store.STATUSES


def test_host_to_device_on_an_accelerator_is_timed(monkeypatch):
    gpu = SimpleNamespace(platform="gpu", device_kind="TEST GPU")
    monkeypatch.setattr(micro, "resolve", lambda spec: gpu)
    monkeypatch.setattr(micro, "_times", lambda fn, repeats, *a, **k: [0.5, 0.25, 0.25])
    (r,) = micro.host_to_device("gpu", (2**20,), repeats=3)
    assert r["status"] == "ok" and r["platform"] == "gpu" and r["device_kind"] == "TEST GPU"
    assert r["seconds_median"] == 0.25 and r["bytes_per_s"] == 2**20 / 0.25 == 4 * 2**20


def test_call_overhead_record():
    (r,) = micro.call_overhead("cpu", repeats=3, min_sample_s=0.001, batch_id="b")
    _check_timing(r, repeats=3)
    assert r["benchmark"] == "call_overhead" and r["size"] == 4 and r["dtype"] == "float32"
    assert r["flops"] is None and r["bytes"] is None and r["flops_per_s"] is None and r["bytes_per_s"] is None
    assert r["seconds_median"] < 0.01  # a scalar add: microseconds, not a throughput


def test_matmul_samples_repeat_calls_up_to_the_minimum_time():
    (r,) = micro.matmul("cpu", sizes=(16,), dtypes=("float32",), precisions=("default",), repeats=3,
                        min_sample_s=0.002)
    _check_timing(r, repeats=3)
    assert r["seconds_median"] < 0.002  # seconds per call, not per sample of many calls


class FakeClock:
    """Time that moves only when the timed function runs: `cost(i)` seconds for its i-th call."""

    def __init__(self, cost):
        self.now, self.calls, self.cost = 0.0, 0, cost

    def __call__(self):
        return self.now

    def fn(self):
        self.now += self.cost(self.calls)
        self.calls += 1
        return self.calls


def test_times_samples_enough_calls_and_settles_first():
    # 1/16 s per call before the clocks settle (warm-up and first estimate), then 1/64 s. Minimum 5/64 s:
    # the first estimate says 2 calls (5/64 / 1/16 = 1.25), the settling loop 5 (5/64 / 1/64).
    clock = FakeClock(lambda i: 1 / 16 if i < 2 else 1 / 64)
    times = micro._times(clock.fn, repeats=3, min_sample_s=5 / 64, clock=clock)
    assert times == [1 / 64] * 3  # seconds per call
    assert clock.calls == 1 + 1 + 2 + 3 * 5  # warm-up, estimate, settling loop, 3 samples of 5 calls


def test_times_without_a_minimum_is_one_call_per_sample():
    clock = FakeClock(lambda i: 0.25 * (i + 1))
    assert micro._times(clock.fn, repeats=2, clock=clock) == [0.5, 0.75]  # call 0 is the warm-up
    assert clock.calls == 3


def test_loop_keeps_at_most_two_calls_in_flight_and_waits_for_all():
    state = {"in_flight": 0, "most": 0, "done": 0}

    class Pending:
        def block_until_ready(self):
            if not getattr(self, "ready", False):
                self.ready = True
                state["in_flight"] -= 1
                state["done"] += 1
            return self

    def fn():
        state["in_flight"] += 1
        state["most"] = max(state["most"], state["in_flight"])
        return Pending()

    micro._loop(fn, 7, clock=lambda: 0.0)
    assert state == {"in_flight": 0, "most": 2, "done": 7}


def _cache(root, index, level, kind, size):
    d = root / f"index{index}"
    d.mkdir(parents=True)
    (d / "level").write_text(f"{level}\n")
    (d / "type").write_text(f"{kind}\n")
    (d / "size").write_text(f"{size}\n")


def test_llc_is_the_highest_level_data_or_unified_cache(tmp_path):
    _cache(tmp_path, 0, 1, "Data", "48K")
    _cache(tmp_path, 1, 1, "Instruction", "32K")
    _cache(tmp_path, 2, 2, "Unified", "1024K")
    _cache(tmp_path, 3, 3, "Unified", "32768K")
    assert buffers.llc_bytes(tmp_path) == 32 * 2**20
    _cache(tmp_path, 4, 4, "Instruction", "512M")  # never the last-level data cache
    assert buffers.llc_bytes(tmp_path) == 32 * 2**20
    _cache(tmp_path, 5, 4, "Unified", "2M")
    assert buffers.llc_bytes(tmp_path) == 2 * 2**20


def test_llc_falls_back_to_the_stated_default(tmp_path):
    assert buffers.DEFAULT_LLC_BYTES == 64 * 2**20
    assert buffers.llc_bytes(tmp_path / "missing") == 64 * 2**20
    _cache(tmp_path, 0, 3, "Unified", "unknown")
    assert buffers.llc_bytes(tmp_path) == 64 * 2**20


MiB = 2**20


@pytest.mark.parametrize("platform, full, llc, expected", [
    ("cpu", False, 32 * MiB, (16 * MiB, 64 * MiB, 128 * MiB)),  # 4 x 32 MiB
    ("cpu", False, 40 * MiB, (16 * MiB, 64 * MiB, 256 * MiB)),  # 160 MiB, up to a power of two
    ("cpu", False, 4 * MiB, (16 * MiB, 64 * MiB)),  # 64 MiB is already >= 4 x 4 MiB
    ("cpu", True, 32 * MiB, (16 * MiB, 64 * MiB, 128 * MiB, 256 * MiB, 1024 * MiB)),
    ("cpu", True, 384 * MiB, (16 * MiB, 64 * MiB, 256 * MiB, 1024 * MiB, 2048 * MiB)),
    ("gpu", False, 32 * MiB, (16 * MiB, 64 * MiB, 1024 * MiB)),
    ("gpu", True, 32 * MiB, (16 * MiB, 64 * MiB, 256 * MiB, 1024 * MiB)),
])
def test_bandwidth_sizes_reach_far_beyond_the_cache(platform, full, llc, expected):
    assert buffers.bandwidth_sizes(platform, full, llc) == expected


def test_bandwidth_sizes_default_to_this_machines_cache(monkeypatch):
    monkeypatch.setattr(buffers, "llc_bytes", lambda: 96 * MiB)
    assert buffers.bandwidth_sizes("cpu") == (16 * MiB, 64 * MiB, 512 * MiB)


@pytest.mark.parametrize("full, matmul_sizes, nbytes", [
    (False, (256, 1024, 2048), (16 * MiB, 64 * MiB, 128 * MiB)),
    (True, (128, 256, 512, 1024, 2048, 4096), (16 * MiB, 64 * MiB, 128 * MiB, 256 * MiB, 1024 * MiB)),
])
def test_run_all_on_a_cpu(monkeypatch, full, matmul_sizes, nbytes):
    calls = []
    monkeypatch.setattr(buffers, "llc_bytes", lambda: 32 * MiB)
    for name in ("call_overhead", "matmul", "memory_bandwidth", "host_to_device"):
        monkeypatch.setattr(micro, name, lambda spec, *args, _name=name, **kw: calls.append((_name, args, kw)) or [_name])
    assert micro.run_all("cpu", full=full, batch_id="b") == ["call_overhead", "matmul", "memory_bandwidth",
                                                             "host_to_device"]
    by_name = {name: (args, kw) for name, args, kw in calls}
    assert by_name["matmul"][0] == (matmul_sizes,)  # no 8192 on a CPU
    assert by_name["memory_bandwidth"][0] == (nbytes,) and by_name["host_to_device"][0] == (nbytes,)
    for name in ("call_overhead", "matmul", "memory_bandwidth"):
        assert by_name[name][1]["min_sample_s"] == 0.02 and by_name[name][1]["batch_id"] == "b"


@pytest.mark.parametrize("message, status", [("RESOURCE_EXHAUSTED: out of memory", "oom"), ("boom", "error")])
def test_failure_becomes_a_record(monkeypatch, message, status):
    def fail(fn, repeats, *args):
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
    records += micro.call_overhead("cpu", repeats=2)
    path = store.append_micro(records, tmp_path)
    assert path.name.endswith(".micro.parquet")
    loaded = store.load_micro([tmp_path])
    assert loaded.files == [path] and not loaded.skipped
    rows = loaded.frame.collect().rows(named=True)
    assert len(rows) == 4
    for record, row in zip(records, rows):
        for name, value in record.items():
            if isinstance(value, float) and math.isnan(value):
                assert math.isnan(row[name]), name
            elif name == "times_s" and record["status"] == "skipped":  # [NaN]: no times
                assert len(row[name]) == 1 and math.isnan(row[name][0])
            else:
                assert row[name] == value, name
    assert store.load_runs([tmp_path]).frame.collect().height == 0  # micro files are not runs
