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
  for `engine.analysis.confidence.with_speedup_ci`;
- unpaired: every ok (configuration, device) side without a partner, and every run that did
  not finish (status other than "ok"), each with a `reason`. Nothing is dropped silently.

Two runs measured the same configuration when CONFIG_KEYS agree (nulls equal: an MLP has no
channels); epochs, repeats and mode are how it was measured, not what. `config_key(config)`
gives a RunConfig's values of those columns exactly as the measurement harness records them.
No per-row Python: group-bys, joins and NumPy gathers only (1,000,000 runs: docs/PERFORMANCE.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from engine.base.config import CONV_KINDS, RunConfig, auto_mode
from engine.base.hostinfo import host_name
from engine.runlog.record import config_columns

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
    "optimizer",
)
ACCELERATOR_PLATFORMS = ("gpu", "tpu")
# How a side was measured, beside what: runs of another epoch runner or engine version never pool into one side.
MEASURED_KEYS = ("mode", "engine_version")
SIDE_KEYS = (*CONFIG_KEYS, "platform", "device", "source", *MEASURED_KEYS)
_SIDE = ("device", "source", "mode", "epoch_s", "n_epochs", "times_ok", "side", "compile_s", "compile_cached_s",
         "transfer_s", "epochs",
         "runs", "log_run_mean", "log_run_var", "run_ids", "device_memory_bytes")
# Pairs are sorted by these (a total order: every pair differs in one of them).
PAIR_ORDER = tuple(dict.fromkeys(("model", "batch_size", "params", "dataset_size", *CONFIG_KEYS, "cpu_device",
                                   "cpu_source", "gpu_device", "gpu_source")))


def other_host() -> pl.Expr:
    """Per run: the host it ran on where that must keep it apart, else null.

    Own and imported runs (any source but "reference") from a host other than this machine are kept
    apart by host: two laptops with the same CPU are two devices, and a run never pools with another
    machine's run of the same device name. The shipped reference rows are curated per device and keep
    one name whatever host measured them; so do runs without a host.
    """
    foreign = ((pl.col("source").fill_null("local") != "reference") & pl.col("host").is_not_null()
               & (pl.col("host") != host_name()))
    return pl.when(foreign).then(pl.col("host"))


# Characters of a name from a run file that Markdown (as Streamlit renders it) could turn into a link, an image,
# code, a colour or icon directive, LaTeX or an escape, each swapped for a look-alike that renders as itself.
# Names come from files anyone may import, and every visitor's Overview shows them (issue 21).
_LOOK_ALIKES = {"[": "⟦", "]": "⟧", "<": "‹", ">": "›", "`": "ˋ", ":": "∶", "$": "＄", "!": "ǃ", "*": "∗",
                "\\": "⧵", "www.": "www․"}
_MARKDOWN_ACTIVE = "|".join(map(re.escape, _LOOK_ALIKES))


def plain_name(name: pl.Expr) -> pl.Expr:
    """A name from a run file (CPU model, device kind, host) as text Markdown shows as it is: unchanged unless
    it holds a character Markdown acts on (_LOOK_ALIKES), which is swapped for its look-alike."""
    swapped = name
    for active, look_alike in _LOOK_ALIKES.items():
        swapped = swapped.str.replace_all(active, look_alike, literal=True)
    return pl.when(name.str.contains(_MARKDOWN_ACTIVE)).then(swapped).otherwise(name)


def device_label(by_host: bool = True) -> pl.Expr:
    """A readable name for the device a row ran on, as column `device`.

    CPUs all report device_kind "cpu", so a CPU is named by its model and core count
    ("CPU: <model> (<cores> cores)"); accelerators by their device kind (e.g. "NVIDIA H200").
    An own or imported run from another machine adds " on <host>" (`other_host`) unless `by_host` is
    False (for tables that key on the host themselves).
    """
    cpu = pl.format("CPU: {} ({} cores)", plain_name(pl.col("cpu_model")).fill_null("unknown"),
                    pl.col("cpu_cores").cast(pl.String).fill_null("?"))
    other = plain_name(pl.coalesce(pl.col("device_kind"), pl.col("platform").str.to_uppercase()))
    name = pl.when(pl.col("platform") == "cpu").then(cpu).otherwise(other)
    if not by_host:
        return name.alias("device")
    return pl.coalesce(pl.format("{} on {}", name, plain_name(other_host())), name).alias("device")


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


# Pooled._sorted sorts sides of equal size as one matrix while there are at most this many sizes.
SORT_BY_SIZE_UP_TO = 256


@dataclass(frozen=True)
class Pooled:
    """The ok runs grouped into sides; `sides` has one row per side (see `pool`).

    values: every pooled epoch time (NumPy); side i's are values[starts[i]:starts[i] + sizes[i]],
    in run order (sides need not lie in side order). failed: `failed_runs` of the same runs.
    """

    sides: pl.DataFrame
    values: np.ndarray
    starts: np.ndarray
    sizes: np.ndarray
    failed: pl.DataFrame

    def select(self, where: pl.Expr) -> Pooled:
        """Only the sides (and failed runs) `where` keeps: a filter on SIDE_KEYS columns, e.g. the
        Speedup explorer's; the times stay shared (side ids do not change)."""
        return Pooled(self.sides.filter(where), self.values, self.starts, self.sizes, self.failed.filter(where))

    def _sorted(self, side_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(values, sizes) of these distinct sides, each sorted ascending, one after the other.

        Sides of one size are sorted together as the rows of one matrix (NumPy), so the work is
        vectorised per distinct size; with more distinct sizes than SORT_BY_SIZE_UP_TO, one
        Polars sort within groups instead."""
        sizes, starts = self.sizes[side_ids], self.starts[side_ids]
        out_starts = _starts(sizes)
        distinct = np.unique(sizes)
        if distinct.size > SORT_BY_SIZE_UP_TO:
            gather = np.repeat(starts - out_starts, sizes)
            gather += np.arange(gather.size)
            group = pl.Series("g", np.repeat(np.arange(side_ids.size, dtype=np.uint32), sizes)).set_sorted()
            lists = pl.DataFrame({"g": group, "t": self.values[gather]}).group_by("g", maintain_order=True).agg(
                pl.col("t").sort())
            return lists["t"].explode().to_numpy(), sizes
        out = np.empty(int(sizes.sum()))
        for size in distinct.tolist():
            rows = np.flatnonzero(sizes == size)
            block = self.values[starts[rows, None] + np.arange(size)]
            block.sort(axis=1)
            out[out_starts[rows, None] + np.arange(size)] = block
        return out, sizes

    def sorted_times(self, side_ids) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(values, offsets, sizes): the pooled times of each side in `side_ids` (repeats allowed),
        sorted ascending; side i's are values[offsets[i]:offsets[i] + sizes[i]]. Sorts only those."""
        distinct, where = np.unique(np.asarray(side_ids, dtype=np.int64), return_inverse=True)
        flat, sizes = self._sorted(distinct)
        offsets = _starts(sizes).astype(np.int64)
        return flat, offsets[where], sizes[where]

    def with_times(self) -> pl.DataFrame:
        """`sides` plus epoch_times_s: each side's pooled times as a sorted list (sorts every time)."""
        flat, sizes = self._sorted(self.sides["side"].to_numpy().astype(np.int64))
        offsets = _starts(sizes, end=True)
        lists = pl.from_arrow(pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(flat, pa.float64())))
        return self.sides.with_columns(pl.Series("epoch_times_s", lists).cast(pl.List(pl.Float64)))


_KEY_LIMIT = 2**62  # group_keys' combined codes stay below this
_NARROW = (pl.Boolean, pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32)  # fit in an Int64


def group_keys(frame: pl.DataFrame, columns) -> pl.DataFrame:
    """Fewer, cheaper columns to group `frame`'s rows by, equal for two rows exactly when all `columns` are
    (null equal to null): `_key`, one int64 for every non-string column, and the string columns.

    Columns with one value in every row are left out. `_key` combines the others' codes (integers
    minus their minimum, other types their dense rank; null one more code) in mixed radix, renumbered
    densely whenever the next column would take it past 2**62. Exact (no hashing), vectorised, and
    the codes of all columns come from one Polars pass each for their ranges and their values.
    """
    columns = list(columns)
    key = np.zeros(frame.height, dtype=np.int64)
    if not frame.height or not columns:
        return pl.DataFrame({"_key": key})
    narrow = [c for c in columns if frame.schema[c] in _NARROW]
    stats = frame.select(
        *(pl.col(c).eq_missing(pl.col(c).first()).all().alias(f"same {i}") for i, c in enumerate(columns)),
        *(pl.col(c).cast(pl.Int64).min().alias(f"min {c}") for c in narrow),
        *(pl.col(c).cast(pl.Int64).max().alias(f"max {c}") for c in narrow),
    ).row(0, named=True)
    varying = [c for i, c in enumerate(columns) if not stats[f"same {i}"]]
    codes, widths = [], {}
    for c in (c for c in varying if frame.schema[c] != pl.String):
        if c in narrow and stats[f"max {c}"] - stats[f"min {c}"] < 2**32:
            low, high = stats[f"min {c}"], stats[f"max {c}"]
            codes.append((pl.col(c).cast(pl.Int64) - low).fill_null(high - low + 1).alias(c))
            widths[c] = high - low + 2
        else:  # null: 0, values: their dense rank 1, 2, ...
            codes.append(pl.col(c).rank("dense").cast(pl.Int64).fill_null(0).alias(c))
    span = 1  # every key < span
    for column in frame.select(codes).iter_columns():
        width = widths.get(column.name) or int(column.max()) + 1
        if span * width >= _KEY_LIMIT:  # renumber the key so far densely: 0 .. (distinct keys - 1)
            distinct = pl.Series(key).unique().sort()
            key, span = distinct.search_sorted(pl.Series(key)).to_numpy().astype(np.int64), distinct.len()
        key *= width
        key += column.to_numpy()
        span *= width
    return frame.select(pl.Series("_key", key), *(c for c in varying if frame.schema[c] == pl.String))


def _device_keys(by_name: bool) -> list[pl.Expr]:
    """What tells devices apart, per run: the name (`device_label`) itself, or (cheaper, no string built per run)
    the columns it is made of, each only where it counts: a CPU is its model and core count, anything else its
    device kind. Equal names of different columns (a device_kind null or "GPU" on a gpu; a cpu_model null or
    "unknown") are caught after grouping (`pool`)."""
    if by_name:
        return [device_label()]
    cpu = pl.col("platform") == "cpu"
    return [pl.when(cpu).then(pl.col("cpu_model")).alias("cpu_model"),
            pl.when(cpu).then(pl.col("cpu_cores")).alias("cpu_cores"),
            pl.when(cpu).then(None).otherwise(pl.col("device_kind")).alias("device_kind"),
            other_host().alias("_other_host")]


def pool(runs: pl.DataFrame, run_ids: bool = True, *, by_name: bool = False) -> Pooled:
    """One row per (configuration, platform, device, source) of ok runs, repeated runs pooled.

    sides columns: side (0, 1, ... in SIDE_KEYS order), SIDE_KEYS, params, flops_per_step_analytic,
    epoch_s (median of all pooled timed epochs), n_epochs (how many), times_ok (all of them
    positive finite seconds: the bootstrap can use them), compile_s (median over the runs that compiled
    cold; only where none did, over the runs whose compile came from JAX's persistent cache),
    compile_cached_s (median over the cached ones, shown apart), transfer_s (median over runs), epochs (max), runs (count), log_run_mean / log_run_var (mean and sample variance over the
    runs of log(the run's median epoch seconds); the variance null for one run), run_ids (list; left out when `run_ids` is False),
    device_memory_bytes (max). A run without raw times counts through its median epoch.

    One Polars group-by does it all (1,000,000 runs, 10.5 M epoch times: ~0.25 s on the 2-core
    development machine, docs/PERFORMANCE.md): on `group_keys` of the configuration, the source,
    the device's columns where they count and another machine's host (`_device_keys`), and whether
    the run is ok (failed runs are grouped apart and dropped: no copy of the ok rows); each group's times are its runs' lists
    joined in run order. The device is named once per group; should two groups get one name, the
    runs are grouped again on the name itself (`by_name`, slower: a string per run).
    """
    # Frames read without the store's conform (older files) may lack the newer columns: null, as the store reads them.
    runs = runs.with_columns(pl.lit(None, dtype).alias(c) for c, dtype in
                             (("mode", pl.String), ("engine_version", pl.Int32), ("optimizer", pl.String),
                              ("host", pl.String), ("compile_cache_hit", pl.Boolean)) if c not in runs.columns)
    ok = _ok(runs).fill_null(False)
    times = pl.col("epoch_times_s").cast(pl.List(pl.Float64))
    # A run without raw times counts through its median epoch (a new list column only if an ok run needs one).
    if runs.select((ok & (times.list.len().fill_null(0) == 0)).any()).item():  # False for no runs
        times = pl.when((times.list.len() > 0) | ~ok).then(times).otherwise(pl.concat_list(pl.col("epoch_s_median")))
    keys = runs.select(*CONFIG_KEYS, "platform", *_device_keys(by_name), "source", *MEASURED_KEYS, ok.alias("_ok"))
    by = group_keys(keys, keys.columns)
    groups = (
        pl.concat([by, runs.select(
            times.alias("_t"), "params", "flops_per_step_analytic", "compile_s", "transfer_s", "epochs",
            "device_memory_bytes", pl.col("compile_cache_hit").fill_null(False).alias("_cached"),
            *(["run_id"] if run_ids else []))], how="horizontal")
        .with_row_index("_row")
        .lazy()  # a lazy group-by: ~1.5x faster than DataFrame.group_by here
        .group_by(by.columns)
        .agg(
            pl.col("_row").first(),
            pl.col("params").first(),
            pl.col("flops_per_step_analytic").first(),
            # Compile seconds from JAX's persistent cache never mix with cold ones: the cold median where
            # there is one (what a first run pays), the cached median beside it (compile_cached_s).
            pl.coalesce(pl.col("compile_s").filter(~pl.col("_cached")).median(),
                        pl.col("compile_s").filter(pl.col("_cached")).median()).alias("compile_s"),
            pl.col("compile_s").filter(pl.col("_cached")).median().alias("compile_cached_s"),
            pl.col("transfer_s").median(),
            pl.col("epochs").max(),
            pl.len().alias("runs"),
            # The run is the independent unit of the speedup interval (engine.analysis.run_interval).
            pl.col("_t").list.median().log().mean().alias("log_run_mean"),
            pl.col("_t").list.median().log().var().alias("log_run_var"),
            *([pl.col("run_id").alias("run_ids")] if run_ids else []),
            pl.col("device_memory_bytes").max(),
            pl.col("_t").list.explode(keep_nulls=False, empty_as_null=False),  # the group's runs' times, in run order
        )
        .collect()
    )
    # Name each group's device from its first run, and number the ok ones in SIDE_KEYS order.
    named = (
        runs.select(*CONFIG_KEYS, "platform", "device_kind", "cpu_model", "cpu_cores", "host", "source",
                    *MEASURED_KEYS, ok.alias("_ok"))
        [groups["_row"]].with_row_index("_group").filter("_ok")
        .select(*CONFIG_KEYS, "platform", device_label(), "source", *MEASURED_KEYS, "_group")
        .sort(*SIDE_KEYS, nulls_last=True)
    )
    if not by_name and named.select(SIDE_KEYS).is_duplicated().any():
        return pool(runs, run_ids, by_name=True)  # two groups are one device by name: group on the name
    group = named["_group"].to_numpy().astype(np.int64)
    # The times stay where the group-by put them, group after group: a side is a start and a size.
    sizes = groups["_t"].list.len().to_numpy().astype(np.int64)
    values = groups["_t"].list.explode(keep_nulls=False, empty_as_null=False).to_numpy()  # a missing time: NaN
    offsets = _starts(sizes, end=True)
    by_group = pl.Series(pl.from_arrow(pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(values))))
    if values.size and values.min() > 0 and values.max() < np.inf:  # the common case: every time usable
        usable = np.ones(sizes.size, dtype=bool)
    else:
        bad = ~(np.isfinite(values) & (values > 0))
        usable = np.bincount(np.repeat(np.arange(sizes.size), sizes)[bad], minlength=sizes.size) == 0
    sides = pl.concat([
        named.select(SIDE_KEYS),
        groups.drop("_row", "_t", *by.columns)[group],
        pl.DataFrame({"n_epochs": pl.Series(sizes[group], dtype=pl.UInt32),
                      "times_ok": pl.Series(usable[group], dtype=pl.Boolean),
                      "epoch_s": by_group.cast(pl.List(pl.Float64)).list.median().gather(group)}),
    ], how="horizontal")
    return Pooled(sides.with_row_index("side"), values, offsets[group], sizes[group], failed_runs(runs))


def pair_sides(sides: pl.DataFrame, *, mixed_versions: bool = False) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(pairs, lonely): CPU and accelerator sides (`pool(...).sides`) of the same configuration joined,
    sorted by PAIR_ORDER; and the sides without a partner, with a `reason`. Side columns get a
    cpu_ / gpu_ prefix (cpu_side, gpu_side: the side ids), plus gpu_platform and engine_version.

    Like with like: the same CONFIG_KEYS (network, data, dtype, precision, optimizer), the same
    engine_version (measuring code; `mixed_versions` pairs across versions) and compatible epoch
    runners: the same one, or each device's own `auto` choice (per-step CNNs on the CPU against fused
    on the GPU is how `auto` trains that network on each). A side left out for a version or runner
    says so in its reason."""
    cpu = sides.filter(pl.col("platform") == "cpu")
    gpu = sides.filter(pl.col("platform").is_in(ACCELERATOR_PLATFORMS))
    keys = list(CONFIG_KEYS) + ([] if mixed_versions else ["engine_version"])
    extra = [c for c in ("epoch_times_s",) if c in sides.columns]
    side = [c for c in _SIDE if c in sides.columns]
    left = cpu.select(*keys, "params", "flops_per_step_analytic",
                      *([pl.col("engine_version").alias("cpu_engine_version")] if mixed_versions else []),
                      *[pl.col(c).alias(f"cpu_{c}") for c in (*side, *extra)])
    right = gpu.select(*keys, pl.col("platform").alias("gpu_platform"),
                       *([pl.col("engine_version").alias("gpu_engine_version")] if mixed_versions else []),
                       *[pl.col(c).alias(f"gpu_{c}") for c in (*side, *extra)])
    joined = left.join(right, on=keys, how="inner", nulls_equal=True)
    runners = (pl.col("cpu_mode").eq_missing(pl.col("gpu_mode"))
               | ((pl.col("cpu_mode") == _auto_mode("cpu")) & (pl.col("gpu_mode") == _auto_mode("gpu"))))
    pairs = joined.filter(runners)
    if extra:
        pairs = pairs.rename({"cpu_epoch_times_s": "epoch_times_s_cpu", "gpu_epoch_times_s": "epoch_times_s_gpu"})
    paired = set(pairs["cpu_side"].to_list()) | set(pairs["gpu_side"].to_list())
    loose = [*CONFIG_KEYS]

    def lonely(mine: pl.DataFrame, others: pl.DataFrame, other_name: str) -> pl.DataFrame:
        mine = mine.filter(~pl.col("side").is_in(list(paired)))
        near = mine.join(others.select(loose).unique(), on=loose, how="semi", nulls_equal=True)["side"]
        return mine.with_columns(
            pl.when(pl.col("side").is_in(near.to_list()))
            .then(pl.lit(f"{other_name} runs of this configuration were measured by another engine version or "
                         "epoch runner: not compared (like with like)"))
            .otherwise(pl.lit(f"no {other_name} run of this configuration")).alias("reason"))

    lonely_cpu, lonely_gpu = lonely(cpu, gpu, "accelerator"), lonely(gpu, cpu, "CPU")
    if "run_ids" not in sides.columns:
        lonely_cpu, lonely_gpu = (f.with_columns(pl.lit(None, pl.List(pl.String)).alias("run_ids"))
                                  for f in (lonely_cpu, lonely_gpu))
    lonely_sides = pl.concat([lonely_cpu.select(UNPAIRED_COLUMNS), lonely_gpu.select(UNPAIRED_COLUMNS)],
                             how="vertical_relaxed")
    return pairs.sort(*PAIR_ORDER, nulls_last=True), lonely_sides


def _auto_mode(platform: str) -> pl.Expr:
    """Per pair row: the epoch runner `auto` picks for its model kind on `platform`."""
    return pl.when(pl.col("model").is_in(list(CONV_KINDS))).then(pl.lit(auto_mode("cnn", platform))).otherwise(
        pl.lit(auto_mode("mlp", platform)))


UNPAIRED_COLUMNS = [*CONFIG_KEYS, "platform", "device", "source", *MEASURED_KEYS, "params", "runs", "run_ids",
                    "reason"]


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
