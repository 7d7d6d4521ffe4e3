"""Pair CPU and accelerator runs of the same configuration, keeping the raw epoch times. Polars + NumPy.

`pool(runs)` groups the ok runs into sides: one row per (configuration, platform, device, source),
repeated runs pooled (every timed epoch of every run of that configuration on that device), with
the pooled median epoch; the raw times stay in the returned `Pooled` and are handed out sorted,
for the sides asked for (`Pooled.sorted_times`), so a large run log need not be sorted whole.
`pair_sides(sides)` joins CPU and accelerator sides of the same configuration and lists the
sides without a partner; `failed_runs(runs)` lists runs that did not finish.

`pair_with_times(runs)` gives both at once, as before:
- pairs: one row per (configuration, CPU device + source, accelerator device + source), with
  each side's pooled raw epoch seconds (list columns epoch_times_s_cpu / epoch_times_s_gpu,
  sorted ascending: all timed epochs of all ok runs of that configuration on that device), ready
  for `engine.confidence.with_speedup_ci`;
- unpaired: every ok (configuration, device) side without a partner, and every run that did
  not finish (status other than "ok"), each with a `reason`. Nothing is dropped silently.

Two runs measured the same configuration when CONFIG_KEYS agree (nulls equal: an MLP has no
channels); epochs, repeats and mode are how it was measured, not what. `config_key(config)`
gives a RunConfig's values of those columns exactly as the measurement harness records them.
No per-row Python: group-bys, joins and NumPy gathers only (1,000,000 runs: docs/PERFORMANCE.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from engine.config import RunConfig
from engine.record import config_columns

CONFIG_KEYS = (
    "model",
    "width",
    "depth",
    "channels",
    "heads",
    "seq_len",
    "vocab",
    "input_shape",
    "n_classes",
    "batch_size",
    "dataset_size",
    "dtype",
    "matmul_precision",
)
ACCELERATOR_PLATFORMS = ("gpu", "tpu")
SIDE_KEYS = (*CONFIG_KEYS, "platform", "device", "source")
_SIDE = ("device", "source", "epoch_s", "n_epochs", "times_ok", "side", "compile_s", "transfer_s", "epochs", "runs",
         "run_ids", "device_memory_bytes")
# Pairs are sorted by these (a total order: every pair differs in one of them).
PAIR_ORDER = tuple(dict.fromkeys(("model", "batch_size", "params", "dataset_size", *CONFIG_KEYS, "cpu_device",
                                   "cpu_source", "gpu_device", "gpu_source")))


def device_label() -> pl.Expr:
    """A readable name for the device a row ran on, as column `device`.

    CPUs all report device_kind "cpu", so a CPU is named by its model and core count
    ("CPU: <model> (<cores> cores)"); accelerators by their device kind (e.g. "NVIDIA H200").
    """
    cpu = pl.format("CPU: {} ({} cores)", pl.col("cpu_model").fill_null("unknown"),
                    pl.col("cpu_cores").cast(pl.String).fill_null("?"))
    other = pl.coalesce(pl.col("device_kind"), pl.col("platform").str.to_uppercase())
    return pl.when(pl.col("platform") == "cpu").then(cpu).otherwise(other).alias("device")


def config_key(config: RunConfig) -> dict:
    """CONFIG_KEYS values of `config` as a run record stores them (a projection of its record columns)."""
    columns = config_columns(config)
    return {key: columns[key] for key in CONFIG_KEYS}


def matches(key: dict) -> pl.Expr:
    """Rows whose CONFIG_KEYS equal `key` (a None value matches null)."""
    cond = pl.lit(True)
    for name in CONFIG_KEYS:
        value = key.get(name)
        cond = cond & (pl.col(name).is_null() if value is None else pl.col(name) == value)
    return cond


@dataclass(frozen=True)
class Paired:
    """pairs and unpaired frames (module doc); note: a sentence about what was left out, if anything."""

    pairs: pl.DataFrame
    unpaired: pl.DataFrame
    note: str | None = None


def _device_count(runs: pl.DataFrame) -> pl.Expr:
    """N, the devices a run trained on (files from before data parallelism: no value, one device)."""
    return pl.col("device_count").fill_null(1) if "device_count" in runs.columns else pl.lit(1)


def one_device(runs: pl.DataFrame) -> pl.Expr:
    """Rows of runs trained on ONE device: what CPU-vs-accelerator comparisons, performance models
    and verdicts use. Data-parallel runs (N > 1) answer "would N devices help?" on the Scaling page."""
    return _device_count(runs) == 1


def _ok(runs: pl.DataFrame) -> pl.Expr:
    """Finished single-device runs with an epoch time: what a CPU-vs-accelerator pair compares."""
    return (pl.col("status") == "ok") & (pl.col("epoch_s_median") > 0) & one_device(runs)


def _starts(sizes, end: bool = False) -> np.ndarray:
    """Offsets of consecutive blocks of these sizes (int64), with the total appended when `end`."""
    sums = np.cumsum(np.asarray(sizes, dtype=np.int64))
    out = np.concatenate([np.zeros(1, dtype=np.int64), sums])
    return out if end else out[:-1]


@dataclass(frozen=True)
class Pooled:
    """The ok runs grouped into sides; `sides` has one row per side (see `pool`).

    values: every pooled epoch time (NumPy), side after side; side i's are
    values[starts[i]:starts[i + 1]], in run order. failed: `failed_runs` of the same runs.
    """

    sides: pl.DataFrame
    values: np.ndarray
    starts: np.ndarray
    failed: pl.DataFrame

    def select(self, where: pl.Expr) -> Pooled:
        """Only the sides (and failed runs) `where` keeps: a filter on SIDE_KEYS columns, e.g. the
        Speedup explorer's; the times stay shared (side ids do not change)."""
        return Pooled(self.sides.filter(where), self.values, self.starts, self.failed.filter(where))

    def _sorted(self, side_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(values, sizes) of these distinct sides, each sorted ascending, one after the other."""
        sizes = self.starts[side_ids + 1] - self.starts[side_ids]
        gather = np.repeat(self.starts[side_ids] - _starts(sizes), sizes)
        gather += np.arange(gather.size)
        group = pl.Series("g", np.repeat(np.arange(side_ids.size, dtype=np.uint32), sizes)).set_sorted()
        lists = pl.DataFrame({"g": group, "t": self.values[gather]}).group_by("g", maintain_order=True).agg(
            pl.col("t").sort())
        return lists["t"].explode().to_numpy(), sizes

    def sorted_times(self, side_ids) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(values, offsets, sizes): the pooled times of each side in `side_ids` (repeats allowed),
        sorted ascending; side i's are values[offsets[i]:offsets[i] + sizes[i]]. Sorts only those."""
        distinct, where = np.unique(np.asarray(side_ids, dtype=np.int64), return_inverse=True)
        flat, sizes = self._sorted(distinct)
        offsets = _starts(sizes).astype(np.int64)
        return flat, offsets[where], sizes[where]

    def with_times(self) -> pl.DataFrame:
        """`sides` plus epoch_times_s: each side's pooled times as a sorted list (sorts every time)."""
        flat, sizes = self._sorted(np.arange(self.sides.height))
        offsets = _starts(sizes, end=True)
        lists = pl.from_arrow(pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(flat, pa.float64())))
        return self.sides.with_columns(pl.Series("epoch_times_s", lists).cast(pl.List(pl.Float64)))


def pool(runs: pl.DataFrame, run_ids: bool = True) -> Pooled:
    """One row per (configuration, platform, device, source) of ok runs, repeated runs pooled.

    sides columns: side (0, 1, ... in SIDE_KEYS order), SIDE_KEYS, params, flops_per_step_analytic,
    epoch_s (median of all pooled timed epochs), n_epochs (how many), times_ok (all of them
    positive finite seconds: the bootstrap can use them), compile_s, transfer_s (medians over
    runs), epochs (max), runs (count), run_ids (list; left out when `run_ids` is False: it is the
    slowest part on a large log), device_memory_bytes (max). A run without raw times counts
    through its median epoch.
    """
    # Eager on purpose: Polars 2.1's streaming engine panics on device_label() over some multi-chunk frames.
    everything_ok = runs.select(_ok(runs).fill_null(False).all()).item()
    ok = (runs if everything_ok else runs.filter(_ok(runs))).with_columns(  # no copy of every row when all are ok
        device_label(),
        pl.when(pl.col("epoch_times_s").list.len() > 0).then(pl.col("epoch_times_s"))
        .otherwise(pl.concat_list(pl.col("epoch_s_median"))).alias("_times"),
    ).with_row_index("_run")
    sides = (
        ok.lazy()  # a lazy group-by: 2-3x faster than DataFrame.group_by here (1,000,000 runs)
        .group_by(*SIDE_KEYS)
        .agg(
            pl.col("params").first(),
            pl.col("flops_per_step_analytic").first(),
            pl.col("compile_s").median(),
            pl.col("transfer_s").median(),
            pl.col("epochs").max(),
            pl.len().alias("runs"),
            *([pl.col("run_id").alias("run_ids")] if run_ids else []),
            pl.col("device_memory_bytes").max(),
            pl.col("_run"),
        )
        .sort(*SIDE_KEYS, nulls_last=True)  # a fixed numbering, whatever order the runs came in
        .with_row_index("side")
        .collect()
    )
    # Lay the pooled times out side after side (runs in order within a side): `_run` lists each
    # side's runs, and sides are numbered in order, so exploding it orders the runs by side.
    order = sides["_run"].explode().to_numpy().astype(np.int64)
    lengths = ok["_times"].list.len().to_numpy().astype(np.int64)
    starts = _starts(lengths)
    counts = lengths[order]
    gather = np.repeat(starts[order] - _starts(counts), counts)
    gather += np.arange(gather.size)
    values = ok["_times"].explode().to_numpy()[gather]
    n_epochs = np.add.reduceat(counts, _starts(sides["runs"].to_numpy())) if sides.height else counts[:0]
    value_side = np.repeat(np.arange(sides.height, dtype=np.uint32), n_epochs)
    long = pl.DataFrame({"side": pl.Series(value_side).set_sorted(), "t": values})
    medians = long.group_by("side").agg(pl.col("t").median().alias("epoch_s"))  # sorted key: slices, no hashing
    bad = np.bincount(value_side[~(np.isfinite(values) & (values > 0))], minlength=sides.height)
    sides = sides.drop("_run").with_columns(
        pl.Series("n_epochs", n_epochs, dtype=pl.UInt32),
        pl.Series("times_ok", bad == 0, dtype=pl.Boolean),
    ).join(medians.with_columns(pl.col("side").cast(sides.schema["side"])), on="side", how="left")
    return Pooled(sides, values, _starts(n_epochs, end=True), failed_runs(runs))


def device_sides(runs: pl.DataFrame) -> pl.DataFrame:
    """`pool(runs).sides` with each side's pooled times as a sorted list `epoch_times_s`.

    Columns: CONFIG_KEYS, platform, device, source, params, flops_per_step_analytic,
    epoch_times_s (all timed epochs, sorted), epoch_s (median of them), compile_s, transfer_s
    (medians over runs), epochs (max), runs (count), run_ids (list), device_memory_bytes (max),
    plus side, n_epochs, times_ok.
    """
    return pool(runs).with_times()


def pair_sides(sides: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(pairs, lonely): CPU and accelerator sides (`pool(...).sides`) of the same configuration joined,
    sorted by PAIR_ORDER; and the sides without a partner, with a `reason`. Side columns get a
    cpu_ / gpu_ prefix (cpu_side, gpu_side: the side ids), plus gpu_platform."""
    cpu = sides.filter(pl.col("platform") == "cpu")
    gpu = sides.filter(pl.col("platform").is_in(ACCELERATOR_PLATFORMS))
    keys = list(CONFIG_KEYS)
    extra = [c for c in ("epoch_times_s",) if c in sides.columns]
    side = [c for c in _SIDE if c in sides.columns]
    left = cpu.select(*keys, "params", "flops_per_step_analytic", *[pl.col(c).alias(f"cpu_{c}") for c in (*side, *extra)])
    right = gpu.select(*keys, pl.col("platform").alias("gpu_platform"),
                       *[pl.col(c).alias(f"gpu_{c}") for c in (*side, *extra)])
    pairs = left.join(right, on=keys, how="inner", nulls_equal=True)
    if extra:
        pairs = pairs.rename({"cpu_epoch_times_s": "epoch_times_s_cpu", "gpu_epoch_times_s": "epoch_times_s_gpu"})
    lonely_cpu = cpu.join(gpu.select(keys).unique(), on=keys, how="anti", nulls_equal=True).with_columns(
        pl.lit("no accelerator run of this configuration").alias("reason"))
    lonely_gpu = gpu.join(cpu.select(keys).unique(), on=keys, how="anti", nulls_equal=True).with_columns(
        pl.lit("no CPU run of this configuration").alias("reason"))
    if "run_ids" not in sides.columns:
        lonely_cpu, lonely_gpu = (f.with_columns(pl.lit(None, pl.List(pl.String)).alias("run_ids"))
                                  for f in (lonely_cpu, lonely_gpu))
    lonely = pl.concat([lonely_cpu.select(UNPAIRED_COLUMNS), lonely_gpu.select(UNPAIRED_COLUMNS)],
                       how="vertical_relaxed")
    return pairs.sort(*PAIR_ORDER, nulls_last=True), lonely


UNPAIRED_COLUMNS = [*CONFIG_KEYS, "platform", "device", "source", "params", "runs", "run_ids", "reason"]


def failed_runs(runs: pl.DataFrame) -> pl.DataFrame:
    """Runs left out of pairing, one row each with a `reason`: runs that did not finish or have no
    usable epoch time, and data-parallel runs on more than one device (not compared with one)."""
    failed = (pl.col("status") != "ok") | pl.col("status").is_null() | ~(pl.col("epoch_s_median") > 0) | pl.col(
        "epoch_s_median").is_null()
    n = _device_count(runs)
    reason = pl.when(failed).then(pl.format("status {}: {}", pl.col("status").fill_null("?"),
                                            pl.col("error").fill_null("no usable epoch time")))
    reason = reason.otherwise(pl.format("trained on {} devices (data-parallel): see the Scaling page", n))
    return (
        runs.filter(failed | (n > 1))
        .with_columns(device_label(), pl.lit(1, pl.UInt32).alias("runs"), pl.concat_list("run_id").alias("run_ids"),
                      reason.alias("reason"))
        .select(UNPAIRED_COLUMNS)
    )


def unpaired(lonely: pl.DataFrame, failed: pl.DataFrame) -> pl.DataFrame:
    """Sides without a partner and failed runs (`failed_runs`), in one frame sorted by model and size."""
    return pl.concat([lonely, failed], how="vertical_relaxed").sort("model", "params", "device", "source",
                                                                    nulls_last=True)


def pair_with_times(runs: pl.DataFrame) -> Paired:
    """Pairs of CPU and accelerator sides of the same configuration, and what could not be paired."""
    pooled = pool(runs)
    pairs, lonely = pair_sides(pooled.with_times())
    return Paired(pairs, unpaired(lonely, pooled.failed))
