"""Pair CPU and accelerator runs of the same configuration, keeping the raw epoch times. Polars only.

`pair_with_times(runs)` gives
- pairs: one row per (configuration, CPU device + source, accelerator device + source), with
  each side's pooled raw epoch seconds (list columns epoch_times_s_cpu / epoch_times_s_gpu, all
  timed epochs of all ok runs of that configuration on that device), ready for
  `engine.confidence.with_speedup_ci`;
- unpaired: every ok (configuration, device) side without a partner, and every run that did
  not finish (status other than "ok"), each with a `reason`. Nothing is dropped silently.

Two runs measured the same configuration when CONFIG_KEYS agree (nulls equal: an MLP has no
channels); epochs, repeats and mode are how it was measured, not what. `config_key(config)`
gives a RunConfig's values of those columns exactly as the measurement harness records them.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

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
_SIDE = ("device", "source", "epoch_times_s", "epoch_s", "compile_s", "transfer_s", "epochs", "runs", "run_ids",
         "device_memory_bytes")


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
    """pairs and unpaired frames (module doc)."""

    pairs: pl.DataFrame
    unpaired: pl.DataFrame


def device_sides(runs: pl.DataFrame) -> pl.DataFrame:
    """One row per (configuration, platform, device, source) of ok runs, repeated runs pooled.

    Columns: CONFIG_KEYS, platform, device, source, params, flops_per_step_analytic,
    epoch_times_s (all timed epochs, list), epoch_s (median of them), compile_s, transfer_s
    (medians over runs), epochs (max), runs (count), run_ids (list), device_memory_bytes (max).
    """
    ok = runs.filter((pl.col("status") == "ok") & (pl.col("epoch_s_median") > 0)).with_columns(device_label())
    ok = ok.with_columns(  # a run without raw times still counts through its median
        pl.when(pl.col("epoch_times_s").list.len() > 0).then(pl.col("epoch_times_s"))
        .otherwise(pl.concat_list(pl.col("epoch_s_median"))).alias("epoch_times_s")
    )
    return (
        ok.group_by(*CONFIG_KEYS, "platform", "device", "source")
        .agg(
            pl.col("params").first(),
            pl.col("flops_per_step_analytic").first(),
            pl.col("epoch_times_s").list.explode(keep_nulls=False, empty_as_null=False),
            pl.col("compile_s").median(),
            pl.col("transfer_s").median(),
            pl.col("epochs").max(),
            pl.len().alias("runs"),
            pl.col("run_id").alias("run_ids"),
            pl.col("device_memory_bytes").max(),
        )
        .with_columns(pl.col("epoch_times_s").list.median().alias("epoch_s"))
    )


def pair_with_times(runs: pl.DataFrame) -> Paired:
    """Pairs of CPU and accelerator sides of the same configuration, and what could not be paired."""
    sides = device_sides(runs)
    cpu = sides.filter(pl.col("platform") == "cpu")
    gpu = sides.filter(pl.col("platform").is_in(ACCELERATOR_PLATFORMS))
    keys = list(CONFIG_KEYS)
    left = cpu.select(*keys, "params", "flops_per_step_analytic", *[pl.col(c).alias(f"cpu_{c}") for c in _SIDE])
    right = gpu.select(*keys, pl.col("platform").alias("gpu_platform"), *[pl.col(c).alias(f"gpu_{c}") for c in _SIDE])
    pairs = left.join(right, on=keys, how="inner", nulls_equal=True).rename(
        {"cpu_epoch_times_s": "epoch_times_s_cpu", "gpu_epoch_times_s": "epoch_times_s_gpu"}
    )
    lonely_cpu = cpu.join(gpu.select(keys).unique(), on=keys, how="anti", nulls_equal=True).with_columns(
        pl.lit("no accelerator run of this configuration").alias("reason"))
    lonely_gpu = gpu.join(cpu.select(keys).unique(), on=keys, how="anti", nulls_equal=True).with_columns(
        pl.lit("no CPU run of this configuration").alias("reason"))
    columns = [*keys, "platform", "device", "source", "params", "runs", "run_ids", "reason"]
    failed = (
        runs.filter((pl.col("status") != "ok") | pl.col("status").is_null() | ~(pl.col("epoch_s_median") > 0)
                    | pl.col("epoch_s_median").is_null())
        .with_columns(device_label(), pl.lit(1, pl.UInt32).alias("runs"), pl.concat_list("run_id").alias("run_ids"),
                      pl.format("status {}: {}", pl.col("status").fill_null("?"),
                                pl.col("error").fill_null("no usable epoch time")).alias("reason"))
        .select(columns)
    )
    unpaired = pl.concat([lonely_cpu.select(columns), lonely_gpu.select(columns), failed], how="vertical_relaxed")
    return Paired(pairs.sort("model", "batch_size", "params", "dataset_size"), unpaired.sort("model", "params"))
