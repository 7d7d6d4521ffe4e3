"""engine.analysis.pairing by hand (issue 19: a mutation pass left a third of planted bugs alive): small run logs whose
sides, failed runs and reasons are written out literally, and group_keys against a plain-Python grouping on columns
whose codes overflow 64 bits unless renumbered (ranges past 2**32 and 2**63, many distinct keys)."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from engine.analysis.pairing import failed_runs, group_keys, pool


def _run(run_id: str, platform: str = "cpu", times=(1.0, 2.0, 3.0), **extra) -> dict:
    """An ok run, as a plain row (no store: columns may be missing or null as in an old file)."""
    median = float(np.median(times)) if times else 1.5
    row = {"run_id": run_id, "status": "ok", "error": None, "platform": platform,
           "device_kind": "cpu" if platform == "cpu" else "GPU X", "cpu_model": "Xeon", "cpu_cores": 4,
           "device_count": 1, "source": "reference", "host": None, "model": "mlp", "width": 16, "depth": 2,
           "channels": None, "heads": None, "seq_len": None, "vocab": None, "input_shape": "784", "n_classes": 10,
           "batch_size": 32, "dataset_size": 1024, "dtype": "float32", "matmul_precision": "default",
           "optimizer": "adam", "params": 1000, "flops_per_step_analytic": 1e6, "epochs": 3, "compile_s": 1.0,
           "transfer_s": 0.1, "device_memory_bytes": None, "mode": None, "engine_version": 3,
           "epoch_times_s": None if times is None else list(times), "epoch_s_median": median}
    row.update(extra)
    return row


SCHEMA = {"epoch_times_s": pl.List(pl.Float64), "device_count": pl.Int32, "cpu_cores": pl.Int64,
          "channels": pl.Int64, "heads": pl.Int64, "seq_len": pl.Int64, "vocab": pl.Int64, "host": pl.String,
          "error": pl.String, "device_memory_bytes": pl.Int64, "epoch_s_median": pl.Float64, "mode": pl.String,
          "engine_version": pl.Int32}


def _frame(rows) -> pl.DataFrame:
    return pl.DataFrame(rows, schema_overrides=SCHEMA)


def _times(pooled, side: int) -> list[float]:
    start, size = int(pooled.starts[side]), int(pooled.sizes[side])
    return pooled.values[start:start + size].tolist()


def test_a_run_without_a_device_count_trained_on_one_device():
    runs = _frame([_run("a", device_count=None), _run("b", device_count=1), _run("c", device_count=2)])
    pooled = pool(runs)
    assert pooled.sides["run_ids"].to_list() == [["a", "b"]] and pooled.sides["runs"].to_list() == [2]
    assert pooled.failed["run_ids"].to_list() == [["c"]]
    assert pooled.failed["reason"].to_list() == ["trained on 2 devices (data-parallel): see the Scaling page"]
    # A frame from before data parallelism has no device_count column at all: every run on one device.
    assert pool(runs.drop("device_count").head(2)).sides["runs"].to_list() == [2]
    assert failed_runs(runs.drop("device_count")).height == 0


def test_failed_runs_each_get_one_row_and_a_reason():
    runs = _frame([
        _run("ok"),
        _run("oom", status="oom", error="out of memory", epoch_s_median=None, epoch_times_s=[]),
        _run("zero", epoch_s_median=0.0),  # finished, but no usable epoch time
        _run("null", status=None, epoch_s_median=None),
        _run("two", device_count=2), _run("three", device_count=3), _run("one", device_count=1),
    ])
    failed = failed_runs(runs)
    got = dict(zip([ids[0] for ids in failed["run_ids"].to_list()], failed["reason"].to_list()))
    assert got == {
        "oom": "status oom: out of memory",
        "zero": "status ok: no usable epoch time",
        "null": "status ?: no usable epoch time",
        "two": "trained on 2 devices (data-parallel): see the Scaling page",
        "three": "trained on 3 devices (data-parallel): see the Scaling page",
    }
    assert failed["runs"].to_list() == [1] * 5
    assert set(failed["device"]) == {"CPU: Xeon (4 cores)"}
    assert pool(runs).sides["run_ids"].to_list() == [["ok", "one"]]


@pytest.mark.parametrize("missing", [None, []])
def test_runs_without_raw_times_count_through_their_median(missing):
    """Every ok run of the log lacks raw times (null or empty list): each pools its median epoch."""
    runs = _frame([_run("a", times=missing, epoch_s_median=2.0), _run("b", times=missing, epoch_s_median=4.0),
                   _run("g", platform="gpu", times=missing, epoch_s_median=0.5)])
    pooled = pool(runs)
    assert pooled.sides["n_epochs"].to_list() == [2, 1]
    assert [sorted(_times(pooled, i)) for i in range(2)] == [[2.0, 4.0], [0.5]]
    assert pooled.sides["epoch_s"].to_list() == [3.0, 0.5]


def test_runs_with_and_without_raw_times_pool_together():
    runs = _frame([_run("a", times=[1.0, 1.0, 1.0]), _run("b", times=None, epoch_s_median=7.0),
                   _run("c", times=[], epoch_s_median=9.0), _run("d", times=[5.0])])
    pooled = pool(runs)
    assert sorted(_times(pooled, 0)) == [1.0, 1.0, 1.0, 5.0, 7.0, 9.0]
    assert pooled.sides["n_epochs"].to_list() == [6] and pooled.sides["epoch_s"].to_list() == [3.0]


@pytest.mark.parametrize("bad, usable", [(-1.0, False), (math.inf, False), (0.0, False), (math.nan, False),
                                         (1e-300, True), (1e300, True)])
def test_times_ok_says_whether_every_time_is_a_positive_finite_number(bad, usable):
    runs = _frame([_run("a", times=[1.0, bad], epoch_s_median=1.0), _run("b", platform="gpu", times=[0.5, 0.25])])
    sides = pool(runs).sides
    assert sides["times_ok"].to_list() == [usable, True]


def _groups(rows) -> set[frozenset]:
    """Plain Python: which row numbers hold equal tuples (None equal None)."""
    by: dict[tuple, set] = {}
    for i, row in enumerate(rows):
        by.setdefault(tuple(row), set()).add(i)
    return {frozenset(v) for v in by.values()}


def _check(frame: pl.DataFrame, columns=None):
    columns = list(frame.columns if columns is None else columns)
    keys = group_keys(frame, columns)
    assert keys.schema["_key"] == pl.Int64
    assert _groups(keys.rows()) == _groups(frame.select(columns).rows())
    return keys


def test_codes_of_64_bit_integers_at_their_extremes():
    low, high = -(2**63), 2**63 - 1
    frame = pl.DataFrame({
        "full": pl.Series([low, high, None, 0, low, high, None, 0], dtype=pl.Int64),  # range 2**64 - 1
        "negative": pl.Series([low, 0, 0, None, low, None, -1, -1], dtype=pl.Int64),  # range 2**63
        "flag": [True, False, True, False, True, True, None, None],
    })
    _check(frame)
    for a in frame.columns:
        _check(frame, [a])
        for b in frame.columns:
            if a != b:
                _check(frame, [a, b])


def test_codes_that_wrap_around_64_bits_unless_renumbered():
    """Two columns of range 2**32 - 1 (each 2**32 + 1 codes with null): (0, 0) and (2**32 - 1, 1) are
    0 and (2**32 - 1)(2**32 + 1) + 1 = 2**64 apart, one key if the codes were combined without renumbering."""
    top = 2**32 - 1
    frame = pl.DataFrame({"a": [0, top, top, 0, None, 5], "b": [0, 1, top, top, 1, None]})
    keys = _check(frame)
    assert keys["_key"].n_unique() == 6
    _check(frame.select("b", "a"))


def test_columns_as_narrow_as_possible_and_as_wide():
    """Ranges just under, at and over 2**32, values far from zero, nulls, many distinct combinations."""
    rng = np.random.default_rng(7)
    n = 400
    frame = pl.DataFrame({
        "under": (rng.integers(0, 3, n) * (2**32 - 1) - 2**40).tolist(),
        "at": (rng.integers(0, 2, n) * 2**32 + 10**15).tolist(),
        "over": (rng.integers(0, 3, n) * (2**32 + 1)).tolist(),
        "small": pl.Series(rng.integers(-2**31, 2**31 - 1, n), dtype=pl.Int32),
        "u32": pl.Series(rng.integers(0, 2**32 - 1, n, dtype=np.uint64), dtype=pl.UInt32),
        "real": rng.choice([0.25, -1.5, 3.0], n).tolist(),
        "text": rng.choice(["x", "y"], n).tolist(),
    }).with_columns(pl.when(pl.int_range(pl.len()) % 7 == 3).then(None).otherwise(pl.col("under")).alias("under"))
    _check(frame)
    for i in range(len(frame.columns)):
        _check(frame, frame.columns[i:] + frame.columns[:i])


def test_many_distinct_keys_in_many_columns():
    """Eight columns of ~300 values each: 300**8 > 2**62 combinations, renumbered on the way, every row distinct."""
    rng = np.random.default_rng(3)
    n = 600
    frame = pl.DataFrame({f"c{i}": (rng.integers(0, 300, n) * (i + 1) * 1001 - 5000 * i).tolist() for i in range(8)})
    frame = pl.concat([frame, frame.head(50)])  # 50 repeated rows
    keys = _check(frame)
    assert keys["_key"].n_unique() == frame.unique().height


def test_codes_of_a_column_around_zero_need_every_code():
    """s takes -1, 0, 1 and null: four codes (s - min, null one more) that must not spill into p's."""
    frame = pl.DataFrame({"p": [0, 0, 0, 0, 1, 1, 1, 1], "s": [-1, 0, 1, None, -1, 0, 1, None]})
    keys = _check(frame)
    assert keys["_key"].n_unique() == 8
    _check(frame.select("s", "p"))


def test_keys_are_the_documented_mixed_radix():
    """Integers minus their minimum (null one more code), other types their dense rank (null 0), combined in
    mixed radix in column order: radix = how many codes a column has. Worked by hand."""
    frame = pl.DataFrame({
        "a": [5, 6, None, 5, 7],  # codes 0, 1, 3, 0, 2: radix 4 (5, 6, 7, null)
        "b": [True, False, True, None, False],  # codes 1, 0, 1, 2, 0: radix 3
        "r": [0.5, None, 2.5, 0.5, 1.5],  # dense ranks 1, 0, 3, 1, 2: radix 4
        "same": [3, 3, 3, 3, 3],  # one value: left out
    })
    got = group_keys(frame, frame.columns)
    assert got.columns == ["_key"]
    assert got["_key"].to_list() == [(0 * 3 + 1) * 4 + 1, (1 * 3 + 0) * 4 + 0, (3 * 3 + 1) * 4 + 3,
                                     (0 * 3 + 2) * 4 + 1, (2 * 3 + 0) * 4 + 2]


def test_keys_of_a_hundred_values_are_the_values_minus_their_minimum():
    """A column of 100 consecutive integers from 1,000 (radix 101 with null) after one of 0 and 3 (radix 5:
    0 .. 3 and null): key = x * 101 + (y - 1,000), null y 100; no renumbering (505 combinations, far below 2**62)."""
    x = ([0, 3] * 51)[:101]
    y = [1000 + i for i in range(100)] + [None]
    got = group_keys(pl.DataFrame({"x": x, "y": y}), ["x", "y"])["_key"].to_list()
    assert got == [xi * 101 + (100 if yi is None else yi - 1000) for xi, yi in zip(x, y)]
