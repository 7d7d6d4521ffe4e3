"""engine.analysis.pairing.pool and group_keys (issue 6, goal 4: 1,000,000 runs): the fast pooling gives exactly what
the plain definition gives (device named per run, one Polars group-by on SIDE_KEYS), on small random logs
with every awkward value: failed and data-parallel runs, runs without raw times, a missing or bad epoch
time, nulls in configuration columns, two spellings of one device, GPUs on different host CPUs."""

from __future__ import annotations

import itertools
import math

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from engine.analysis import pairing, tables
from engine.analysis.pairing import SIDE_KEYS, device_label, group_keys, pool
from engine.base.hostinfo import host_name
from engine.runlog.store import records_to_frame

NAN = float("nan")


def _random_log(seed: int, n: int = 400) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    devices = [  # platform, device_kind, cpu_model, cpu_cores
        ("cpu", "cpu", "AMD EPYC", 2), ("cpu", "cpu", "AMD EPYC", 16), ("cpu", None, "AMD EPYC", 2),  # same CPU
        ("cpu", "cpu", None, 4), ("cpu", "cpu", "unknown", 4),  # one name: "CPU: unknown (4 cores)"
        ("cpu", "cpu", "Intel", None),
        ("gpu", "NVIDIA H100", "AMD EPYC", 16), ("gpu", "NVIDIA H100", "Intel", 8),  # one GPU, two hosts
        ("gpu", None, "Intel", 8), ("gpu", "GPU", "AMD EPYC", 16),  # one name: "GPU"
        ("tpu", "TPU v5", None, None), (None, "odd", "Intel", 8),
    ]
    records = []
    for i in range(n):
        platform, kind, cpu_model, cores = devices[rng.integers(len(devices))]
        model = ["mlp", "cnn", "transformer"][rng.integers(3)]
        length = int(rng.choice([0, 1, 2, 3, 5, 8]))
        times = rng.lognormal(-1, 0.3, length).tolist()
        roll = rng.random()
        if roll < 0.05 and times:
            times[0] = None  # a missing epoch time
        elif roll < 0.10 and times:
            times[-1] = 0.0  # an unusable one
        elif roll < 0.13:
            times = None  # no list at all
        status = "ok" if rng.random() < 0.85 else "oom"
        records.append({
            "run_id": f"r{i}", "status": status, "error": None if status == "ok" else "out of memory",
            "platform": platform, "device_kind": kind, "cpu_model": cpu_model, "cpu_cores": cores,
            "device_count": [1, 1, 1, None, 2][rng.integers(5)],
            "source": ["local", "reference", "imported"][rng.integers(3)], "model": model,
            "host": [None, "laptop", "lab", host_name()][rng.integers(4)],
            "width": [16, 32, None][rng.integers(3)], "depth": 2,
            "channels": None if model == "mlp" else int(rng.choice([4, 8])),
            "heads": 2 if model == "transformer" else None, "input_shape": "784", "n_classes": 10,
            "batch_size": int(rng.choice([32, 64])), "dataset_size": int(rng.choice([1024, 2**40])),
            "dtype": "float32", "matmul_precision": "default", "params": int(rng.integers(1, 10**6)),
            "flops_per_step_analytic": float(rng.integers(1, 10**9)), "epochs": int(rng.integers(1, 20)),
            "compile_s": None if rng.random() < 0.1 else float(rng.random()),
            "compile_cache_hit": [None, False, True][rng.integers(3)], "transfer_s": float(rng.random()),
            "device_memory_bytes": None if rng.random() < 0.3 else int(rng.integers(1, 10**9)),
            "epoch_times_s": times,
            "epoch_s_median": None if status != "ok" else float(rng.choice([rng.lognormal(-1, 0.3), 0.0])),
        })
    return records_to_frame(records)


def _reference(runs: pl.DataFrame, run_ids: bool = True) -> tuple[pl.DataFrame, list]:
    """The plain definition: name every run's device, group the ok runs on SIDE_KEYS, pool their times."""
    times = pl.col("epoch_times_s")
    ok = (runs.filter((pl.col("status") == "ok") & (pl.col("epoch_s_median") > 0)
                      & (pl.col("device_count").fill_null(1) == 1))
          .with_columns(device_label(), pl.when(times.list.len() > 0).then(times)
                        .otherwise(pl.concat_list("epoch_s_median")).alias("_t")))
    # Each run's log median epoch, by NumPy (missing times left out), for the run-level interval.
    log_median = [math.log(float(np.median([t for t in ts if t is not None]))) if any(t is not None for t in ts)
                  and np.median([t for t in ts if t is not None]) > 0 else
                  (-math.inf if any(t is not None for t in ts) else None) for ts in ok["_t"].to_list()]
    ok = ok.with_columns(pl.Series("_m", log_median, dtype=pl.Float64))
    sides = (
        ok.group_by(*SIDE_KEYS)
        .agg(pl.col("params").first(), pl.col("flops_per_step_analytic").first(),
             pl.col("compile_s").filter(~pl.col("compile_cache_hit").fill_null(False)).median().alias("_cold"),
             pl.col("compile_s").filter(pl.col("compile_cache_hit").fill_null(False)).median()
             .alias("compile_cached_s"),
             pl.col("transfer_s").median(), pl.col("epochs").max(), pl.len().alias("runs"),
             pl.col("_m").mean().alias("log_run_mean"), pl.col("_m").var().alias("log_run_var"),
             *([pl.col("run_id").alias("run_ids")] if run_ids else []), pl.col("device_memory_bytes").max(),
             pl.col("_t").list.explode().alias("_t"))
        .sort(*SIDE_KEYS, nulls_last=True)
        .with_row_index("side")
    )
    element = pl.element()
    sides = sides.with_columns(
        pl.col("_t").list.len().cast(pl.UInt32).alias("n_epochs"),
        pl.col("_t").list.eval(element.is_not_null() & element.is_finite() & (element > 0)).list.all()
        .alias("times_ok"),
        pl.col("_t").list.eval(element.fill_null(NAN)).list.median().alias("epoch_s"),
        pl.coalesce("_cold", "compile_cached_s").alias("_cold"),
    ).rename({"_cold": "compile_s"})
    return sides.drop("_t"), [np.asarray(t, dtype=float) for t in sides["_t"].fill_null([]).to_list()]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("run_ids", [True, False])
def test_pool_equals_the_plain_definition(seed, run_ids):
    runs = _random_log(seed)
    want, want_times = _reference(runs, run_ids)
    got = pool(runs, run_ids=run_ids)
    # Means of logs may differ in the last bit with the summation order: 1e-12 relative.
    assert_frame_equal(got.sides, want, rel_tol=1e-12, abs_tol=0)
    for i, times in enumerate(want_times):  # each side's raw times, in run order
        mine = got.values[got.starts[i]:got.starts[i] + got.sizes[i]]
        assert np.array_equal(mine, np.where(np.isnan(times), np.nan, times), equal_nan=True), i


def test_one_device_spelled_two_ways_is_one_side():
    runs = _random_log(1).filter(pl.col("platform") == "gpu")
    sides = pool(runs).sides
    assert sides.select(SIDE_KEYS).is_duplicated().sum() == 0
    names = {d.split(" on ")[0] for d in sides["device"]}
    assert names <= {"NVIDIA H100", "GPU"}  # two host CPUs and null/"GPU" kinds: two names
    assert sides["runs"].sum() == runs.filter(pairing._ok(runs)).height


def test_grouping_on_the_name_is_the_same_answer():
    runs = _random_log(2)
    assert pool(runs).sides.equals(pool(runs, by_name=True).sides)


def test_empty_and_all_failed():
    runs = _random_log(3)
    for frame in (runs.head(0), runs.with_columns(pl.lit("oom").alias("status"))):
        pooled = pool(frame)
        assert pooled.sides.height == 0 and pooled.sides.columns == _reference(runs)[0].columns
        assert pooled.failed.height == frame.height


def test_sorted_times_are_the_same_sorted_by_size_or_in_polars(monkeypatch):
    runs = _random_log(4, n=2000)
    pooled = pool(runs)
    ids = np.array([5, 0, 5, 3, pooled.sides.height - 1])
    by_size = pooled.sorted_times(ids)
    monkeypatch.setattr(pairing, "SORT_BY_SIZE_UP_TO", 0)
    in_polars = pooled.sorted_times(ids)
    for a, b in zip(by_size, in_polars):
        assert np.array_equal(a, b, equal_nan=True)
    flat, offsets, sizes = by_size
    for i, side in enumerate(ids):
        start = pooled.starts[side]
        want = np.sort(pooled.values[start:start + pooled.sizes[side]])
        assert np.array_equal(flat[offsets[i]:offsets[i] + sizes[i]], want, equal_nan=True)


def test_times_of_selected_sides_are_their_own():
    runs = _random_log(5)
    pooled = pool(runs)
    where = pl.col("model") == "cnn"
    assert pooled.select(where).with_times().equals(pooled.with_times().filter(where))
    assert tables.speedup_table(pooled, where=where).pairs.drop("cpu_side", "gpu_side").equals(
        tables.speedup_table(tables.with_device(runs).filter(where)).pairs.drop("cpu_side", "gpu_side"))


def _partition(frame: pl.DataFrame) -> set[frozenset]:
    """Which rows are equal on every column (nulls equal), as a set of sets of row numbers."""
    groups = frame.with_row_index("_i").group_by(frame.columns).agg(pl.col("_i"))
    return {frozenset(rows) for rows in groups["_i"].to_list()}


def test_group_keys_group_exactly_like_the_columns():
    rng = np.random.default_rng(0)
    n = 3000

    def maybe_null(values, share=0.1):
        return [None if rng.random() < share else v for v in values]

    frame = pl.DataFrame({
        "small": maybe_null(rng.integers(-3, 3, n).tolist()),
        "wide": maybe_null((rng.integers(0, 4, n) * 2**40).tolist()),  # range > 2**32: ranked
        "u64": pl.Series(rng.integers(0, 3, n).astype(np.uint64) * np.uint64(2**63), dtype=pl.UInt64),
        "i32": pl.Series(maybe_null(rng.integers(0, 5, n).tolist()), dtype=pl.Int32),
        "flag": maybe_null((rng.random(n) < 0.5).tolist()),
        "real": maybe_null(rng.choice([0.5, 1.5, np.inf], n).tolist()),
        "text": maybe_null(rng.choice(["a", "b", "a longer string than twelve bytes"], n).tolist()),
        "same": ["constant"] * n,
        "same_int": [7] * n,
        "nothing": pl.Series([None] * n, dtype=pl.Int64),
    })
    keys = group_keys(frame, frame.columns)
    assert keys.columns == ["_key", "text"] and keys.schema["_key"] == pl.Int64  # constant columns left out
    assert _partition(keys) == _partition(frame)
    for columns in itertools.combinations(frame.columns, 3):
        assert _partition(group_keys(frame, columns)) == _partition(frame.select(columns)), columns


def test_group_keys_renumber_when_the_codes_would_overflow():
    rng = np.random.default_rng(1)
    n = 2000
    # Ten columns of ~2**20 values each: 2**200 combinations, far past 2**62, but few distinct rows.
    base = rng.integers(0, 40, (n, 1))
    frame = pl.DataFrame({f"c{i}": ((base[:, 0] * (i + 1)) % 37) * 2**15 + rng.integers(0, 2, n) * (2**20 - 1)
                          for i in range(10)})
    keys = group_keys(frame, frame.columns)
    assert keys.columns == ["_key"] and keys["_key"].min() >= 0
    assert _partition(keys) == _partition(frame)


def test_group_keys_of_nothing():
    frame = pl.DataFrame({"a": [1, 2]})
    assert group_keys(frame, []).to_dict(as_series=False) == {"_key": [0, 0]}
    assert group_keys(frame.head(0), ["a"]).height == 0


def test_a_gpu_on_two_hosts_is_grouped_without_naming_every_run(monkeypatch):
    """A GPU's host CPU does not tell GPU sides apart, so the cheap grouping needs no second pass by name."""
    one_host = _random_log(6).filter(pl.col("platform") == "gpu").with_columns(
        pl.lit("NVIDIA H100").alias("device_kind"), pl.lit("AMD EPYC").alias("cpu_model"),
        pl.lit(None, pl.String).alias("host"))  # no host name: the CPU model alone tells the hosts apart
    other_host = one_host.with_columns(pl.lit("Intel").alias("cpu_model"), pl.col("run_id") + "-b")
    runs = pl.concat([one_host, other_host])
    calls = []
    original = pairing.pool

    def counting(*args, **kwargs):
        calls.append(kwargs.get("by_name", False))
        return original(*args, **kwargs)

    monkeypatch.setattr(pairing, "pool", counting)
    sides = pairing.pool(runs).sides
    assert calls == [False] and set(sides["device"]) == {"NVIDIA H100"}
    assert sides["runs"].sum() == runs.filter(pairing._ok(runs)).height and (sides["runs"] % 2 == 0).all()


def _cpu_run(run_id: str, host: str | None, source: str, epoch_s: float) -> dict:
    return {"run_id": run_id, "status": "ok", "platform": "cpu", "device_kind": "cpu", "cpu_model": "Xeon",
            "cpu_cores": 8, "host": host, "source": source, "model": "mlp", "width": 16, "depth": 2,
            "input_shape": "784", "n_classes": 10, "batch_size": 32, "dataset_size": 1024, "dtype": "float32",
            "matmul_precision": "default", "params": 1000, "flops_per_step_analytic": 1e6, "epochs": 3,
            "epoch_times_s": [epoch_s] * 3, "epoch_s_median": epoch_s}


def test_own_runs_pool_only_with_runs_of_the_same_host():
    """Issue 20: two machines with one CPU model are two devices for own and imported runs; this machine's
    runs (and runs without a host) keep the plain name; the curated reference rows pool across hosts."""
    here = host_name()
    runs = records_to_frame([
        _cpu_run("a1", "laptop-a", "local", 1.0), _cpu_run("a2", "laptop-a", "local", 1.1),
        _cpu_run("b1", "laptop-b", "local", 2.0),
        _cpu_run("h1", here, "local", 3.0), _cpu_run("n1", None, "local", 3.2),
        _cpu_run("i1", "laptop-b", "imported", 4.0),
        _cpu_run("r1", "lab-1", "reference", 5.0), _cpu_run("r2", "lab-2", "reference", 5.2),
    ])
    sides = pool(runs).sides.sort("source", "device")
    got = {(r["source"], r["device"]): sorted(r["run_ids"]) for r in sides.iter_rows(named=True)}
    assert got == {
        ("imported", "CPU: Xeon (8 cores) on laptop-b"): ["i1"],
        ("local", "CPU: Xeon (8 cores)"): ["h1", "n1"],
        ("local", "CPU: Xeon (8 cores) on laptop-a"): ["a1", "a2"],
        ("local", "CPU: Xeon (8 cores) on laptop-b"): ["b1"],
        ("reference", "CPU: Xeon (8 cores)"): ["r1", "r2"],
    }
    assert pool(runs, by_name=True).sides.equals(pool(runs).sides)


def test_cached_compiles_never_mix_with_cold_ones():
    """Issue 19: compile seconds from JAX's persistent cache sat beside cold ones and flipped one-epoch answers."""
    def run(run_id, compile_s, cached):
        return {**_cpu_run(run_id, None, "reference", 1.0), "compile_s": compile_s, "compile_cache_hit": cached}

    sides = pool(records_to_frame([run("cold", 10.0, False), run("old", 12.0, None), run("warm", 1.0, True),
                                   run("warm2", 2.0, True)])).sides
    assert sides["compile_s"].to_list() == [11.0] and sides["compile_cached_s"].to_list() == [1.5]
    only_cached = pool(records_to_frame([run("warm", 1.0, True)])).sides
    assert only_cached["compile_s"].to_list() == [1.0] and only_cached["compile_cached_s"].to_list() == [1.0]
