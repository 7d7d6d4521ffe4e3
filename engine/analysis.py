"""Derived numbers from run records for the pages: speedup table with intervals, crossovers, roofline.

A thin layer over the analysis core, so every page uses ONE implementation of each idea:
- pairing (same configuration, CPU vs accelerator, unpaired runs listed): `engine.pairing`;
- speedup with a 95% bootstrap interval over the raw epoch times: `engine.confidence`;
- crossover (faster, cheaper), log-interpolated, "none in range [a, b]": `engine.crossover`;
- prices, cost, amortization: `engine.cost`; step-time model: `engine.perfmodel`;
  the Overview's answer: `engine.verdict`.
Nothing here is stored: speedups and crossovers are recomputed from the run log each time.
Polars only; no jax and no streamlit. Units: seconds, US dollars per hour, parameters as counts.
"""

from __future__ import annotations

import polars as pl

from engine.confidence import with_speedup_ci
from engine.cost import Prices
from engine.crossover import crossover_table
from engine.pairing import ACCELERATOR_PLATFORMS, CONFIG_KEYS, Paired, device_label, matches, pair_with_times

__all__ = ["ACCELERATOR_PLATFORMS", "CONFIG_KEYS", "SERIES_KEYS", "device_label", "with_device", "ok_runs",
           "speedup_table", "thresholds", "crossovers", "same_config", "with_intensity", "device_roofs",
           "source_summary"]

# One speedup curve: the same model kind, batch size, dtype, precision and device pair.
SERIES_KEYS = ("model", "batch_size", "dtype", "matmul_precision", "cpu_device", "gpu_device")


def with_device(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` plus a `device` column (`engine.pairing.device_label`)."""
    return frame.with_columns(device_label())


def ok_runs(frame: pl.DataFrame) -> pl.DataFrame:
    """Runs that finished and have a usable median epoch time."""
    return frame.filter(
        (pl.col("status") == "ok") & pl.col("epoch_s_median").is_not_null() & (pl.col("epoch_s_median") > 0)
    )


def speedup_table(runs: pl.DataFrame, epochs: int | None = None) -> Paired:
    """CPU/accelerator pairs of the same configuration with speedups and 95% bootstrap intervals.

    `engine.pairing.pair_with_times` pairs the runs (repeats pooled; unpaired and failed runs
    listed in `.unpaired` with a reason); `engine.confidence.with_speedup_ci` adds, per pair:
    - speedup, ci_low, ci_high: steady-state epoch, median(CPU epochs) / median(GPU epochs);
    - speedup_end_to_end, e2e_ci_low, e2e_ci_high: (fixed + epochs x epoch) on each side, fixed =
      compile + transfer (held constant, nulls count 0), for `epochs` epochs (None: the CPU
      run's own number of epochs) on both sides.
    Also epochs, cpu_fixed_s, gpu_fixed_s, cpu_end_to_end_s, gpu_end_to_end_s (seconds).
    """
    paired = pair_with_times(runs)
    n_epochs = pl.col("cpu_epochs").fill_null(1) if epochs is None else pl.lit(int(epochs))
    pairs = paired.pairs.with_columns(
        n_epochs.cast(pl.Int64).alias("epochs"),
        (pl.col("cpu_compile_s").fill_null(0.0) + pl.col("cpu_transfer_s").fill_null(0.0)).alias("cpu_fixed_s"),
        (pl.col("gpu_compile_s").fill_null(0.0) + pl.col("gpu_transfer_s").fill_null(0.0)).alias("gpu_fixed_s"),
    ).with_columns(
        (pl.col("cpu_fixed_s") + pl.col("epochs") * pl.col("cpu_epoch_s")).alias("cpu_end_to_end_s"),
        (pl.col("gpu_fixed_s") + pl.col("epochs") * pl.col("gpu_epoch_s")).alias("gpu_end_to_end_s"),
    )
    pairs = with_speedup_ci(pairs)
    pairs = with_speedup_ci(pairs, cpu_fixed_col="cpu_fixed_s", other_fixed_col="gpu_fixed_s", epochs="epochs",
                            prefix="e2e_").rename({"e2e_speedup": "speedup_end_to_end"})
    return Paired(pairs, paired.unpaired)


def thresholds(prices: Prices) -> dict[str, float]:
    """The two crossover thresholds: "faster" at speedup 1, "cheaper" at the price ratio."""
    return {"faster": 1.0, "cheaper": prices.break_even_speedup}


def crossovers(pairs: pl.DataFrame, levels: dict[str, float], size: str = "params", speedup: str = "speedup",
               by: tuple[str, ...] = SERIES_KEYS, unit: str = "parameters") -> pl.DataFrame:
    """`engine.crossover.crossover_table` over `speedup_table` pairs: one row per series and level.

    levels: e.g. `thresholds(prices)`. For speedup against dataset size use size="dataset_size",
    speedup="speedup_end_to_end", by=(*SERIES_KEYS, "params"), unit="samples".
    """
    return crossover_table(pairs, levels, by=by, size=size, speedup=speedup, unit=unit)


def same_config(runs: pl.DataFrame, record: dict) -> pl.DataFrame:
    """Every run (any device, any source) of the configuration `record` describes."""
    return with_device(runs.filter(matches(record)))


# Bytes one training step must move at the least, per parameter: forward read, backward read,
# gradient write, and the optimizer reading parameter, gradient and two moments and writing
# parameter and two moments (Adam). Parameters stay float32. Activations are not counted, so
# the intensity below is an upper bound (and labelled an estimate wherever it is shown).
BYTES_PER_PARAM_PER_STEP = 10 * 4


def with_intensity(runs: pl.DataFrame) -> pl.DataFrame:
    """Adds bytes_per_step_estimate and arithmetic_intensity (FLOPs per byte, an estimate).

    bytes_per_step_estimate = 40 bytes x params + the input batch's bytes
    (dataset_bytes / dataset_size x batch_size); activations left out.
    """
    batch_bytes = (pl.col("dataset_bytes") / pl.col("dataset_size") * pl.col("batch_size")).fill_null(0.0)
    return runs.with_columns(
        (pl.col("params") * BYTES_PER_PARAM_PER_STEP + batch_bytes).alias("bytes_per_step_estimate")
    ).with_columns((pl.col("flops_per_step_analytic") / pl.col("bytes_per_step_estimate")).alias("arithmetic_intensity"))


def device_roofs(micro: pl.DataFrame) -> pl.DataFrame:
    """Per device: the best measured matmul FLOP/s and memory bandwidth (bytes/s).

    Columns: device, peak_flops_per_s, peak_dtype (which dtype/precision gave it),
    bandwidth_bytes_per_s. A device missing one of the two has null there.
    """
    ok = with_device(micro.filter(pl.col("status") == "ok"))
    mm = (
        ok.filter(pl.col("benchmark") == "matmul")
        .sort("flops_per_s", descending=True)
        .group_by("device", maintain_order=True)
        .agg(
            pl.col("flops_per_s").first().alias("peak_flops_per_s"),
            pl.format("{} {}", pl.col("dtype"), pl.col("matmul_precision").fill_null("")).first().alias("peak_dtype"),
        )
    )
    bw = ok.filter(pl.col("benchmark") == "memory_bandwidth").group_by("device").agg(
        pl.col("bytes_per_s").max().alias("bandwidth_bytes_per_s")
    )
    return mm.join(bw, on="device", how="full", coalesce=True).sort("device")


def source_summary(runs: pl.DataFrame) -> dict[str, int]:
    """How many ok runs each platform has: e.g. {"cpu": 12, "gpu": 0}."""
    ok = ok_runs(runs)
    return {p: ok.filter(pl.col("platform") == p).height for p in ("cpu", *ACCELERATOR_PLATFORMS)}


def verdict_pairs(runs: pl.DataFrame, verdict) -> pl.DataFrame:
    """Speedup pairs of the verdict's model kind and dtype on its two devices (the Overview's chart);
    empty when the verdict has no CPU or no accelerator side."""
    if verdict.cpu is None or verdict.gpu is None:
        return pl.DataFrame()
    same_kind = (pl.col("model") == verdict.workload.kind) & (pl.col("dtype") == verdict.workload.dtype) & pl.col(
        "device").is_in([verdict.cpu.device, verdict.gpu.device])
    return speedup_table(with_device(runs).filter(same_kind)).pairs
