"""Bytes a training step must move through device memory at the least, and each device's bandwidth.

Per parameter (parameters, gradients and optimizer state stay float32, 4 bytes each):
forward read 4 + backward read 4 + gradient write 4, then the optimizer reads the parameter
and the gradient, reads and writes each of its state copies and writes the parameter:
4 x (2 + 2 x copies + 1). Adam (2 copies): 40 bytes per parameter; SGD with momentum: 32.
Plus the input batch read once. Activations are left out (fusion and rematerialisation can
keep them out of memory), so this is a floor: no step can take less than
bytes_per_step / bandwidth.

Bandwidth of a device (bytes/s): its memory micro benchmark at the largest buffer it measured
(past the caches), raised to the most bytes per second any of its training runs was seen to move
by the count above when that is higher: on the CPUs the single-stream micro benchmark reads
6-9 GB/s while multi-threaded training steps move more, and a floor must stay below every
measured step. A device without a memory micro benchmark has no bandwidth (no floor): bytes over
a step's whole time alone would count its fixed overhead as memory traffic.
"""

from __future__ import annotations

import polars as pl

from engine.analysis.memory import OPTIMIZER_STATE_COPIES, PARAM_BYTES
from engine.analysis.workload import Workload


def bytes_per_param(optimizer: str) -> int:
    """Bytes moved per parameter per step by `optimizer` ("adam", "adamw", "sgd"): module doc."""
    return PARAM_BYTES * (3 + 3 + 2 * OPTIMIZER_STATE_COPIES[optimizer])


def batch_input_bytes(w: Workload) -> float:
    """Bytes of one batch of inputs and labels (the dataset's bytes per sample x batch)."""
    used = max(w.steps_per_epoch * w.batch_size, 1)
    return w.dataset_bytes / used * w.batch_size


def bytes_per_step(w: Workload) -> float:
    """The least bytes one training step of `w` moves (module doc)."""
    return w.params * bytes_per_param(w.optimizer) + batch_input_bytes(w)


def bytes_per_step_expr() -> pl.Expr:
    """`bytes_per_step` for run-log rows (columns params, optimizer, dataset_bytes, dataset_size, batch_size)."""
    per_param = pl.col("optimizer").fill_null("adam").replace_strict(
        {name: bytes_per_param(name) for name in OPTIMIZER_STATE_COPIES}, default=bytes_per_param("adam"),
        return_dtype=pl.Float64)
    batch = (pl.col("dataset_bytes") / pl.col("dataset_size") * pl.col("batch_size")).fill_null(0.0)
    return (pl.col("params") * per_param + batch).alias("bytes_per_step")


def device_bandwidths(runs: pl.DataFrame, micro: pl.DataFrame | None = None) -> pl.DataFrame:
    """Per device (label column `device`): bandwidth_bytes_per_s and its basis (module doc).

    runs: ok single-device runs with `device` and `step_s`. micro: micro benchmark rows with
    `device` (or None). Columns: device, micro_bytes_per_s, training_bytes_per_s,
    bandwidth_bytes_per_s (the higher; null without a micro benchmark), basis ("micro benchmark" or
    "training runs": which of the two set it).
    """
    seen = (runs.filter(pl.col("step_s") > 0).with_columns(bytes_per_step_expr())
            .group_by("device").agg((pl.col("bytes_per_step") / pl.col("step_s")).max().alias("training_bytes_per_s")))
    if micro is not None and micro.height and "benchmark" in micro.columns:
        largest = (micro.filter((pl.col("benchmark") == "memory_bandwidth") & (pl.col("status") == "ok"))
                   .sort("size", "bytes_per_s", descending=True).group_by("device", maintain_order=True)
                   .agg(pl.col("bytes_per_s").first().alias("micro_bytes_per_s")))
        seen = seen.join(largest, on="device", how="full", coalesce=True)
    else:
        seen = seen.with_columns(pl.lit(None, pl.Float64).alias("micro_bytes_per_s"))
    return seen.with_columns(
        pl.when(pl.col("micro_bytes_per_s").is_not_null())
        .then(pl.max_horizontal("micro_bytes_per_s", "training_bytes_per_s")).alias("bandwidth_bytes_per_s"),
        pl.when(pl.col("micro_bytes_per_s").fill_null(0) >= pl.col("training_bytes_per_s").fill_null(0))
        .then(pl.lit("micro benchmark")).otherwise(pl.lit("training runs")).alias("basis"),
    ).select("device", "micro_bytes_per_s", "training_bytes_per_s", "bandwidth_bytes_per_s", "basis").sort("device")
