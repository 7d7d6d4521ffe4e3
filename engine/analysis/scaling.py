"""Data-parallel scaling from run records: throughput and efficiency against the device count. Polars only.

A *series* is one configuration trained on 1, 2, 4 ... devices of one kind on one machine: the
rows agree on everything in SERIES_KEYS (what was trained, how, on which device kind and host)
and differ only in `device_count` (N). Per series and N, repeated runs are pooled:
- epoch_s: median of every timed epoch of every ok run (seconds);
- samples_per_s: samples per epoch (steps_per_epoch x batch_size, the global batch) / epoch_s;
- baseline_samples_per_s: the series' samples_per_s on ONE device (null without such a run);
- ideal_samples_per_s = N x baseline (perfect linear scaling);
- speedup = samples_per_s / baseline; efficiency = samples_per_s / (N x baseline) = speedup / N,
  1 for perfect scaling.
Only series with at least one run on more than one device are kept.

Processes and hosts: a run may span several processes (`engine.measure.distributed`), on one host or on
several. `layout` tells them apart: "one process" (devices within one process, the usual case),
"P processes on one host", or "across H hosts"; a series holds one layout, so devices within a host and
devices across hosts are separate lines, each with its own efficiency against the same one-device baseline.

Emulated devices: several CPU devices in one process (JAX_NUM_CPU_DEVICES) are slices of the same
cores (`engine.runlog.record.devices_emulated`). Their "scaling" measures the partitioned program's
overhead, not more hardware, so such series are marked (`emulated`) and say so in their label.
No jax, no streamlit.
"""

from __future__ import annotations

import polars as pl

from engine.analysis.pairing import device_label

# What was trained and how: everything but the device count must agree within a series.
TRAINED_KEYS = ("model", "width", "depth", "channels", "heads", "seq_len", "vocab", "input_shape", "n_classes",
                "batch_size", "dataset_size", "dtype", "matmul_precision", "mode")
SERIES_KEYS = (*TRAINED_KEYS, "platform", "device", "host")
EMULATED_WORD = "emulated"
# The commands that make multi-device runs, for pages and messages.
CPU_COMMAND = "JAX_NUM_CPU_DEVICES=4 python -m engine sweep --preset scaling --devices cpu"
GPU_COMMAND = "python -m engine sweep --preset scaling --devices gpu"


def _device_count() -> pl.Expr:
    """N of a row; files from before data parallelism have no column (null) and ran on one device."""
    return pl.col("device_count").fill_null(1).cast(pl.Int64)


def _emulated() -> pl.Expr:
    """The recorded flag, or for rows without one the same rule (`engine.runlog.record.devices_emulated`)."""
    rule = (pl.col("platform") == "cpu") & (_device_count() > 1)
    return pl.col("devices_emulated").fill_null(rule)


ONE_PROCESS = "one process"


def _layout() -> pl.Expr:
    """Where a run's devices were: one process, several processes on one host, or across hosts (module doc)."""
    processes = pl.col("process_count").fill_null(1)
    hosts = pl.col("hosts").str.split(",").list.n_unique().fill_null(1)
    return (pl.when(processes <= 1).then(pl.lit(ONE_PROCESS))
            .when(hosts <= 1).then(pl.format("{} processes on one host", processes))
            .otherwise(pl.format("across {} hosts", hosts)))


def multi_device_runs(runs: pl.DataFrame) -> int:
    """How many ok runs trained on more than one device."""
    return runs.filter((pl.col("status") == "ok") & (_device_count() > 1)).height


def scaling_table(runs: pl.DataFrame) -> pl.DataFrame:
    """One row per (series, device_count), sorted by series label and N (see the module docstring).

    runs: RUN_SCHEMA rows (any sources, any statuses; only ok runs with an epoch time count).
    Columns: SERIES_KEYS, layout, params, device_count, mesh_shape, emulated (this row's devices), runs,
    epochs_timed, epoch_s, samples_per_s, baseline_samples_per_s, ideal_samples_per_s, speedup,
    efficiency, series_emulated (any row of the series emulated), label (the series, for legends).
    """
    ok = runs.filter((pl.col("status") == "ok") & (pl.col("epoch_s_median") > 0) & (pl.col("steps_per_epoch") > 0))
    ok = ok.with_columns(
        device_label(by_host=False),  # the host is a series key of its own
        pl.col("host").fill_null("unknown host"),
        _device_count().alias("device_count"),
        _emulated().alias("emulated"),
        _layout().alias("layout"),
        # A run without raw times still counts through its median.
        pl.when(pl.col("epoch_times_s").list.len() > 0).then(pl.col("epoch_times_s"))
        .otherwise(pl.concat_list(pl.col("epoch_s_median"))).alias("epoch_times_s"),
    )
    pooled = (
        ok.group_by(*SERIES_KEYS, "layout", "device_count")
        .agg(
            pl.col("params").first(),
            pl.col("mesh_shape").drop_nulls().first(),
            pl.col("emulated").any(),
            pl.len().alias("runs"),
            (pl.col("steps_per_epoch") * pl.col("batch_size")).first().alias("samples_per_epoch"),
            pl.col("epoch_times_s").list.explode(keep_nulls=False, empty_as_null=False),
        )
        .with_columns(
            pl.col("epoch_times_s").list.len().alias("epochs_timed"),
            pl.col("epoch_times_s").list.median().alias("epoch_s"),
        )
        .with_columns((pl.col("samples_per_epoch") / pl.col("epoch_s")).alias("samples_per_s"))
        .drop("epoch_times_s", "samples_per_epoch")
    )
    keys = [*SERIES_KEYS, "layout"]
    series = pooled.group_by(keys).agg(
        (pl.col("device_count") > 1).any().alias("multi"),
        pl.col("emulated").any().alias("series_emulated"),
    )
    # One device in one process is every layout's baseline (the host is process 0's).
    baseline = pooled.filter((pl.col("device_count") == 1) & (pl.col("layout") == ONE_PROCESS)).select(
        *SERIES_KEYS, pl.col("samples_per_s").alias("baseline_samples_per_s"))
    table = (
        pooled.join(series.filter(pl.col("multi")).drop("multi"), on=keys, how="inner", nulls_equal=True)
        .join(baseline, on=list(SERIES_KEYS), how="left", nulls_equal=True)
        .with_columns(
            (pl.col("device_count") * pl.col("baseline_samples_per_s")).alias("ideal_samples_per_s"),
            (pl.col("samples_per_s") / pl.col("baseline_samples_per_s")).alias("speedup"),
        )
        .with_columns((pl.col("speedup") / pl.col("device_count")).alias("efficiency"))
    )
    return _with_labels(table).sort("label", "device_count")


def _with_labels(table: pl.DataFrame) -> pl.DataFrame:
    """Adds `label`: model, parameters, batch, samples, dtype, device, and the host when the table
    holds several; "emulated" when the series ran on emulated devices; unique per series."""
    label = pl.format("{} · {} params · batch {} · {} samples · {}", pl.col("model"),
                      pl.col("params").map_elements(lambda n: f"{n:,}", return_dtype=pl.String),
                      pl.col("batch_size"), pl.col("dataset_size"), pl.col("dtype"))
    label = pl.format("{} · {}", label, pl.col("device"))
    if table["host"].n_unique() > 1:
        label = pl.format("{} on {}", label, pl.col("host"))
    label = pl.when(pl.col("layout") != ONE_PROCESS).then(pl.format("{} · {}", label, pl.col("layout"))).otherwise(label)
    label = pl.when(pl.col("series_emulated")).then(
        pl.format("{} · {} devices (one CPU's cores)", label, pl.lit(EMULATED_WORD))
    ).otherwise(label)
    table = table.with_columns(label.alias("label"))
    # Series that differ only in what the label leaves out (precision, mode, classes ...) get a number.
    numbered = (
        table.select(*SERIES_KEYS, "layout", "label").unique(maintain_order=True)
        .with_columns(pl.int_range(1, pl.len() + 1).over("label").alias("_n"), pl.len().over("label").alias("_of"))
        .with_columns(pl.when(pl.col("_of") > 1).then(pl.format("{} (#{})", pl.col("label"), pl.col("_n")))
                      .otherwise(pl.col("label")).alias("_label"))
        .select(*SERIES_KEYS, "layout", "_label")
    )
    return (table.join(numbered, on=[*SERIES_KEYS, "layout"], how="left", nulls_equal=True)
            .with_columns(pl.col("_label").alias("label")).drop("_label"))
