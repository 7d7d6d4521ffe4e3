"""Derived numbers from run records for the pages: speedup table with intervals, crossovers, roofline.

A thin layer over the analysis core, so every page uses ONE implementation of each idea:
- pairing (same configuration, CPU vs accelerator, unpaired runs listed): `engine.analysis.pairing`;
- speedup with a 95% interval: over runs (`engine.analysis.run_interval`), or over one run's epochs
  (`engine.analysis.confidence`);
- crossover (faster, cheaper), log-interpolated, "none in range [a, b]": `engine.analysis.crossover`;
- prices, cost, amortization: `engine.analysis.cost`; step-time model: `engine.analysis.perfmodel`;
  the Overview's answer: `engine.answer.verdict`.
Nothing here is stored: speedups and crossovers are recomputed from the run log each time.
Polars only; no jax and no streamlit. Units: seconds, US dollars per hour, parameters as counts.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from engine.analysis.confidence import bootstrap_intervals
from engine.analysis.cost import Prices
from engine.analysis.crossover import crossover_table
from engine.analysis.pairing import (
    ACCELERATOR_PLATFORMS,
    CONFIG_KEYS,
    Paired,
    Pooled,
    device_label,
    matches,
    pair_sides,
    pool,
    unpaired,
)
from engine.analysis.run_interval import BASIS_ONE_RUN, BASIS_RUNS, run_intervals, widest

__all__ = ["ACCELERATOR_PLATFORMS", "CONFIG_KEYS", "SERIES_KEYS", "PARAMS_SERIES_KEYS", "SIZE_SERIES_KEYS", "device_label", "with_device", "ok_runs",
           "speedup_table", "thresholds", "crossovers", "same_config", "with_intensity", "device_roofs",
           "source_summary", "explorer_view", "explorer_options", "MAX_INTERVALS"]

# Bootstrap intervals cost ~0.04 ms per pair (both, 2,000 resamples each, 2-core dev machine); the dashboard
# computes them for at most this many pairs per view and says so (`speedup_table(max_intervals=...)`).
MAX_INTERVALS = 2_000

# One speedup curve: the same model kind, batch size, dtype, precision and device pair.
SERIES_KEYS = ("model", "batch_size", "dtype", "matmul_precision", "cpu_device", "gpu_device")
# A crossover series holds everything fixed but the swept axis (issue 19: two dataset sizes in one parameter
# series gave a crossover that matched neither). Along parameters the network grows by width (channels for a
# CNN); along dataset size the network is fixed.
_FIXED_NETWORK = ("depth", "heads", "seq_len", "vocab", "input_shape", "n_classes", "optimizer", "engine_version")
PARAMS_SERIES_KEYS = (*SERIES_KEYS, "dataset_size", *_FIXED_NETWORK)
SIZE_SERIES_KEYS = (*SERIES_KEYS, "params", "width", "channels", *_FIXED_NETWORK)


def with_device(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` plus a `device` column (`engine.analysis.pairing.device_label`)."""
    return frame.with_columns(device_label())


def ok_runs(frame: pl.DataFrame) -> pl.DataFrame:
    """Runs that finished and have a usable median epoch time."""
    return frame.filter(
        (pl.col("status") == "ok") & pl.col("epoch_s_median").is_not_null() & (pl.col("epoch_s_median") > 0)
    )


def speedup_table(runs: pl.DataFrame | Pooled, epochs: int | None = None, *, where: pl.Expr | None = None,
                  max_intervals: int | None = None, times: bool = True) -> Paired:
    """CPU/accelerator pairs of the same configuration with speedups and 95% intervals.

    `engine.analysis.pairing` pools repeated runs per side and pairs the sides (unpaired and failed runs
    listed in `.unpaired` with a reason). Per pair:
    - speedup: steady-state epoch, median(CPU epochs) / median(GPU epochs), every pooled epoch;
    - speedup_end_to_end: (fixed + epochs x epoch) on each side, fixed = compile + transfer
      (held constant, nulls count 0), for `epochs` epochs (None: the CPU run's own number of
      epochs) on both sides;
    - ci_low, ci_high and e2e_ci_low, e2e_ci_high: their 95% intervals. With two or more runs on both
      sides, the run-level t interval (`engine.analysis.run_interval`: the runs are the independent
      units), widened to the epoch bootstrap's where that is wider; else the percentile bootstrap over the pooled epochs
      (`engine.analysis.confidence.bootstrap_intervals`), which leaves run-to-run variation out;
      ci_basis says which ("runs" / "one run: epochs only");
    - epochs, cpu_fixed_s, gpu_fixed_s, cpu_end_to_end_s, gpu_end_to_end_s (seconds), and
      cpu_n_epochs / gpu_n_epochs: how many timed epochs each side pools.
    runs: run records, or `engine.analysis.pairing.pool(runs)` already computed (the dashboard pools once
    per data change and reuses it for every view); where: keep only the sides and failed runs
    this expression selects (SIDE_KEYS columns, e.g. `explorer_view(...)`).
    Point speedups are Polars expressions over all pairs. The intervals cost ~0.04 ms per pair, so
    `max_intervals` bounds them to the first that many pairs in table order (None: all); the rest
    get null intervals and `.note` says how many have one. `times`: also return the pooled raw
    times as sorted lists (epoch_times_s_cpu / epoch_times_s_gpu; that sorts every epoch time) and
    the run ids (cpu_run_ids / gpu_run_ids); the dashboard leaves both out (False). With
    times=False and raw runs, run ids are not collected at all (unpaired sides list none); pass a
    `pool(runs)` to keep them for the unpaired list.
    """
    pooled = runs if isinstance(runs, Pooled) else pool(runs, run_ids=times)
    if where is not None:
        pooled = pooled.select(where)
    pairs, lonely = pair_sides(pooled.sides)
    n_epochs = pl.col("cpu_epochs").fill_null(1) if epochs is None else pl.lit(int(epochs))
    pairs = pairs.with_columns(
        n_epochs.cast(pl.Int64).alias("epochs"),
        (pl.col("cpu_compile_s").fill_null(0.0) + pl.col("cpu_transfer_s").fill_null(0.0)).alias("cpu_fixed_s"),
        (pl.col("gpu_compile_s").fill_null(0.0) + pl.col("gpu_transfer_s").fill_null(0.0)).alias("gpu_fixed_s"),
    ).with_columns(
        (pl.col("cpu_fixed_s") + pl.col("epochs") * pl.col("cpu_epoch_s")).alias("cpu_end_to_end_s"),
        (pl.col("gpu_fixed_s") + pl.col("epochs") * pl.col("gpu_epoch_s")).alias("gpu_end_to_end_s"),
    ).with_columns(
        (pl.col("cpu_epoch_s") / pl.col("gpu_epoch_s")).alias("speedup"),
        (pl.col("cpu_end_to_end_s") / pl.col("gpu_end_to_end_s")).alias("speedup_end_to_end"),
    )
    usable = (pl.col("cpu_times_ok") & pl.col("gpu_times_ok") & (pl.col("epochs") > 0)).fill_null(False)
    candidates = pairs.with_row_index("_row").filter(usable)
    limit = candidates.height if max_intervals is None else min(int(max_intervals), candidates.height)
    chosen = candidates.head(limit)
    rows = chosen["_row"].to_numpy()
    flat, offsets, sizes = pooled.sorted_times(np.concatenate([chosen["cpu_side"].to_numpy(),
                                                               chosen["gpu_side"].to_numpy()]))  # one sort for both
    cpu, gpu = (flat, offsets[:limit], sizes[:limit]), (flat, offsets[limit:], sizes[limit:])
    zeros, ones = np.zeros(limit), np.ones(limit)
    fixed = (chosen["cpu_fixed_s"].to_numpy(), chosen["gpu_fixed_s"].to_numpy(),
             chosen["epochs"].cast(pl.Float64).to_numpy())
    (_, low, high), (_, e2e_low, e2e_high) = bootstrap_intervals(cpu, gpu, [(zeros, zeros, ones), fixed])
    # Two or more runs on both sides: the run-level interval replaces the epoch bootstrap (engine.analysis.run_interval).
    stats = [chosen[c].cast(pl.Float64).to_numpy() for c in ("cpu_runs", "cpu_log_run_mean", "cpu_log_run_var",
                                                              "gpu_runs", "gpu_log_run_mean", "gpu_log_run_var")]
    by_runs = run_intervals(*stats), run_intervals(*stats, cpu_fixed=fixed[0], other_fixed=fixed[1], epochs=fixed[2])
    runs_ok = np.isfinite(by_runs[0][0]) & np.isfinite(by_runs[1][0])
    low, high = widest(*by_runs[0], low, high)
    e2e_low, e2e_high = widest(*by_runs[1], e2e_low, e2e_high)
    columns = {}
    for name, values in (("ci_low", low), ("ci_high", high), ("e2e_ci_low", e2e_low), ("e2e_ci_high", e2e_high)):
        column = np.full(pairs.height, np.nan)
        column[rows] = values
        columns[name] = pl.Series(name, column, dtype=pl.Float64, nan_to_null=True)
    basis = np.full(pairs.height, None, dtype=object)
    basis[rows] = np.where(runs_ok, BASIS_RUNS, BASIS_ONE_RUN)
    columns["ci_basis"] = pl.Series("ci_basis", basis, dtype=pl.String)
    pairs = pairs.with_columns(**columns).with_columns(
        pl.when(usable).then(pl.col(c)).alias(c) for c in ("speedup", "speedup_end_to_end"))
    if not times:
        pairs = pairs.drop("cpu_run_ids", "gpu_run_ids", strict=False)
    else:
        lists = pooled.with_times().select("side", "epoch_times_s")
        pairs = (pairs.join(lists.rename({"side": "cpu_side", "epoch_times_s": "epoch_times_s_cpu"}), on="cpu_side",
                            how="left", maintain_order="left")
                 .join(lists.rename({"side": "gpu_side", "epoch_times_s": "epoch_times_s_gpu"}), on="gpu_side",
                       how="left", maintain_order="left"))
    note = None
    if limit < candidates.height:
        note = (f"95% intervals computed for the first {limit:,} of {candidates.height:,} pairs (in table order) to "
                "keep the page fast; narrow the filters to get intervals for the others.")
    return Paired(pairs.drop("cpu_times_ok", "gpu_times_ok"), unpaired(lonely, pooled.failed), note)


def explorer_view(models, dtype: str, batches, devices, known_devices) -> pl.Expr:
    """The runs the Speedup explorer pairs (a filter on a frame with a `device` column):
    model kind in `models`, this dtype, batch size in `batches`, on one of `devices`, plus runs on
    devices not in `known_devices` (ones that never finished a run), so the unpaired list can
    name their failures."""
    chosen = pl.col("model").is_in(list(models)) & (pl.col("dtype") == dtype) & pl.col("batch_size").is_in(
        list(batches))
    return chosen & (pl.col("device").is_in(list(devices)) | ~pl.col("device").is_in(list(known_devices)))


def explorer_options(runs: pl.DataFrame) -> dict[str, list]:
    """What the Speedup explorer's filters offer: sorted distinct model, dtype and batch_size of the
    ok runs, and their devices split into cpu_devices and gpu_devices (every non-CPU platform)."""
    ok = with_device(ok_runs(runs))

    def distinct(column: str, keep: pl.Expr = pl.lit(True)) -> list:
        return sorted(ok.filter(keep)[column].drop_nulls().unique().to_list())

    return {"model": distinct("model"), "dtype": distinct("dtype"), "batch_size": distinct("batch_size"),
            "gpu_devices": distinct("device", pl.col("platform") != "cpu"),
            "cpu_devices": distinct("device", pl.col("platform") == "cpu")}


def thresholds(prices: Prices) -> dict[str, float]:
    """The two crossover thresholds: "faster" at speedup 1, "cheaper" at the price ratio."""
    return {"faster": 1.0, "cheaper": prices.break_even_speedup}


def crossovers(pairs: pl.DataFrame, levels: dict[str, float], size: str = "params", speedup: str = "speedup",
               by: tuple[str, ...] | None = None, unit: str | None = None) -> pl.DataFrame:
    """`engine.analysis.crossover.crossover_table` over `speedup_table` pairs: one row per series and level.

    levels: e.g. `thresholds(prices)`. size: "params" (series: PARAMS_SERIES_KEYS) or "dataset_size" (use
    speedup="speedup_end_to_end"; series: SIZE_SERIES_KEYS); `by` overrides the series keys (those missing
    from `pairs` are left out).
    """
    if by is None:
        by = PARAMS_SERIES_KEYS if size == "params" else SIZE_SERIES_KEYS
    unit = unit or ("parameters" if size == "params" else "samples")
    return crossover_table(pairs, levels, by=tuple(c for c in by if c in pairs.columns), size=size, speedup=speedup,
                           unit=unit)


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
    """Per device: the best measured matmul FLOP/s and the memory bandwidth (bytes/s) of its largest buffer.

    Columns: device, peak_flops_per_s, peak_dtype (which dtype/precision gave it),
    bandwidth_bytes_per_s. The bandwidth is the memory_bandwidth row with the largest size (the
    fastest of ties), as `engine.analysis.traffic.device_bandwidths` takes it: smaller buffers may sit
    in a cache, whose bandwidth is not the memory's. A device missing one of the two has null there.
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
    bw = (
        ok.filter(pl.col("benchmark") == "memory_bandwidth")
        .sort("size", "bytes_per_s", descending=True, nulls_last=True)
        .group_by("device", maintain_order=True)
        .agg(pl.col("bytes_per_s").first().alias("bandwidth_bytes_per_s"))
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
