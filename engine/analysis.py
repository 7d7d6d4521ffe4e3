"""Derived numbers from run records: pairing, speedup, crossover, time and cost. Polars only.

Nothing here is stored: speedups and crossovers are recomputed from the run log each time.
All functions are small and pure (frame in, frame or value out) so a later issue can add
bootstrap confidence intervals around them. No jax and no streamlit here.

Units: seconds for times, US dollars per hour for prices, parameters as counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import polars as pl

# Two runs measured "the same configuration" when these columns agree (nulls count as equal:
# an MLP has no channels). Epochs, repeats and mode are how it was measured, not what.
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
SECONDS_PER_HOUR = 3600.0


def device_label() -> pl.Expr:
    """A readable name for the device a row ran on.

    CPUs all report device_kind "cpu", so the CPU's label carries its model and core count;
    accelerators are named by their device kind (e.g. "NVIDIA H100 80GB HBM3").
    """
    cpu = pl.format(
        "CPU: {} ({} cores)",
        pl.col("cpu_model").fill_null("unknown"),
        pl.col("cpu_cores").cast(pl.String).fill_null("?"),
    )
    other = pl.coalesce(pl.col("device_kind"), pl.col("platform").str.to_uppercase())
    return pl.when(pl.col("platform") == "cpu").then(cpu).otherwise(other).alias("device")


def with_device(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` plus a `device` column (see `device_label`)."""
    return frame.with_columns(device_label())


def ok_runs(frame: pl.DataFrame) -> pl.DataFrame:
    """Runs that finished and have a usable median epoch time."""
    return frame.filter(
        (pl.col("status") == "ok") & pl.col("epoch_s_median").is_not_null() & (pl.col("epoch_s_median") > 0)
    )


def summarize_devices(frame: pl.DataFrame) -> pl.DataFrame:
    """One row per (configuration, platform, device, source): medians over repeated runs.

    Columns: CONFIG_KEYS, platform, device, source, params, flops_per_step_analytic,
    epoch_s (median of the runs' epoch_s_median), compile_s, transfer_s, epochs, runs
    (how many runs were combined), run_ids (list), created_at (latest).
    """
    runs = with_device(ok_runs(frame))
    return (
        runs.group_by(*CONFIG_KEYS, "platform", "device", "source")
        .agg(
            pl.col("params").first(),
            pl.col("flops_per_step_analytic").first(),
            pl.col("epoch_s_median").median().alias("epoch_s"),
            pl.col("compile_s").median(),
            pl.col("transfer_s").median(),
            pl.col("end_to_end_s").median(),
            pl.col("epochs").max(),
            pl.len().alias("runs"),
            pl.col("run_id"),
            pl.col("created_at").max(),
        )
        .rename({"run_id": "run_ids"})
    )


def end_to_end(compile_s: pl.Expr, transfer_s: pl.Expr, epoch_s: pl.Expr, epochs: pl.Expr | int) -> pl.Expr:
    """Seconds a user waits: compile + transfer + epochs x epoch time (missing parts count 0)."""
    return compile_s.fill_null(0.0) + transfer_s.fill_null(0.0) + epoch_s * epochs


def pair_runs(frame: pl.DataFrame, epochs: int | None = None) -> pl.DataFrame:
    """CPU and accelerator runs of the same configuration, side by side.

    One row per (configuration, CPU device+source, accelerator device+source). Columns:
    CONFIG_KEYS, params, flops_per_step_analytic, cpu_device, gpu_device, cpu_source,
    gpu_source, cpu_epoch_s, gpu_epoch_s, cpu_end_to_end_s, gpu_end_to_end_s, epochs,
    speedup (= cpu_epoch_s / gpu_epoch_s), speedup_end_to_end (compile and transfer
    included, both sides for the same number of epochs), cpu_runs, gpu_runs.
    `epochs`: the training length end-to-end times are computed for; None uses the
    CPU run's own epochs.
    """
    devices = summarize_devices(frame)
    keep = [*CONFIG_KEYS, "device", "source", "epoch_s", "compile_s", "transfer_s", "epochs", "runs"]
    cpu = devices.filter(pl.col("platform") == "cpu").select(*keep, "params", "flops_per_step_analytic")
    gpu = devices.filter(pl.col("platform").is_in(ACCELERATOR_PLATFORMS)).select(keep)
    cpu = cpu.rename({c: f"cpu_{c}" for c in keep if c not in CONFIG_KEYS})
    gpu = gpu.rename({c: f"gpu_{c}" for c in keep if c not in CONFIG_KEYS})
    pairs = cpu.join(gpu, on=list(CONFIG_KEYS), how="inner", nulls_equal=True)
    n_epochs = pl.col("cpu_epochs").fill_null(1) if epochs is None else pl.lit(epochs)
    pairs = pairs.with_columns(n_epochs.alias("epochs")).with_columns(
        end_to_end(pl.col("cpu_compile_s"), pl.col("cpu_transfer_s"), pl.col("cpu_epoch_s"), pl.col("epochs")).alias(
            "cpu_end_to_end_s"
        ),
        end_to_end(pl.col("gpu_compile_s"), pl.col("gpu_transfer_s"), pl.col("gpu_epoch_s"), pl.col("epochs")).alias(
            "gpu_end_to_end_s"
        ),
    )
    return pairs.with_columns(
        (pl.col("cpu_epoch_s") / pl.col("gpu_epoch_s")).alias("speedup"),
        (pl.col("cpu_end_to_end_s") / pl.col("gpu_end_to_end_s")).alias("speedup_end_to_end"),
    ).sort("model", "batch_size", "params", "dataset_size")


@dataclass(frozen=True)
class Crossover:
    """Where a measured speedup curve first rises through `threshold`.

    state: "crosses" (x holds the log-interpolated crossing), "above" (already at or above the
    threshold at the smallest measured x), "below" (never reaches it), or "empty" (no points).
    low, high: the measured range of x.
    """

    threshold: float
    state: str
    x: float | None
    low: float | None
    high: float | None

    def describe(self, unit: str = "parameters") -> str:
        if self.state == "empty":
            return "no measurements"
        span = f"[{self.low:,.0f}, {self.high:,.0f}] {unit}"
        if self.state == "crosses":
            return f"at about {self.x:,.0f} {unit} (measured range {span})"
        if self.state == "above":
            return f"below the measured range {span}: at or above {self.threshold:.3g} throughout"
        return f"none in measured range {span}"


def crossover(xs, ys, threshold: float = 1.0) -> Crossover:
    """First upward crossing of `threshold` by y(x), interpolated linearly in log x and log y.

    xs, ys: equal-length sequences of positive numbers (e.g. parameters, speedup). Several y
    at one x are combined by their median first. Non-positive or missing values are dropped.
    """
    points: dict[float, list[float]] = {}
    for x, y in zip(xs, ys):
        if x is None or y is None or not (x > 0 and y > 0) or math.isnan(y):
            continue
        points.setdefault(float(x), []).append(float(y))
    if not points:
        return Crossover(threshold, "empty", None, None, None)
    curve = sorted((x, _median(v)) for x, v in points.items())
    low, high = curve[0][0], curve[-1][0]
    if curve[0][1] >= threshold:
        return Crossover(threshold, "above", None, low, high)
    for (x0, y0), (x1, y1) in zip(curve, curve[1:]):
        if y0 < threshold <= y1:
            t = (math.log(threshold) - math.log(y0)) / (math.log(y1) - math.log(y0))
            x = math.exp(math.log(x0) + t * (math.log(x1) - math.log(x0)))
            return Crossover(threshold, "crosses", x, low, high)
    return Crossover(threshold, "below", None, low, high)


def _median(values: list[float]) -> float:
    s = sorted(values)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


SERIES_KEYS = ("model", "batch_size", "dtype", "matmul_precision", "cpu_device", "gpu_device")


def crossovers(pairs: pl.DataFrame, thresholds: tuple[float, ...], x: str = "params", y: str = "speedup",
               by: tuple[str, ...] = SERIES_KEYS, unit: str = "parameters") -> pl.DataFrame:
    """One row per series (`by`) and threshold: the crossover of y over x, with a sentence.

    Columns: *by, threshold, state, x (crossing or null), low, high, text. For speedup against
    dataset size use x="dataset_size", y="speedup_end_to_end", by=(*SERIES_KEYS, "params").
    """
    rows = []
    if pairs.height:
        for keys, group in pairs.group_by(*by, maintain_order=True):
            for threshold in thresholds:
                c = crossover(group[x].to_list(), group[y].to_list(), threshold)
                rows.append({**dict(zip(by, keys)), "threshold": threshold, "state": c.state, "x": c.x,
                             "low": c.low, "high": c.high, "text": c.describe(unit)})
    schema = {**{k: pairs.schema.get(k, pl.String) for k in by}, "threshold": pl.Float64, "state": pl.String,
              "x": pl.Float64, "low": pl.Float64, "high": pl.Float64, "text": pl.String}
    return pl.DataFrame(rows, schema=schema)


def price_ratio(gpu_per_h: float, cpu_per_h: float) -> float:
    """How many times faster the GPU must be to cost no more than the CPU for the same job."""
    return gpu_per_h / cpu_per_h


def cost(seconds: float, price_per_h: float) -> float:
    """Dollars for `seconds` of a machine rented at `price_per_h` dollars per hour."""
    return seconds / SECONDS_PER_HOUR * price_per_h


def scaled_seconds(compile_s: float | None, transfer_s: float | None, epoch_s: float, measured_samples: int,
                   target_samples: int, batch_size: int, epochs: int) -> float:
    """Training time for `target_samples` x `epochs`, scaled from one measured config.

    Each epoch's time scales with its number of steps (samples // batch) and the transfer with
    the dataset's size; compile time does not depend on either. This is a linear scaling of a
    measurement, not a model of a different network.
    """
    steps_measured = max(measured_samples // batch_size, 1)
    steps_target = max(target_samples // batch_size, 1)
    transfer = (transfer_s or 0.0) * target_samples / measured_samples
    return (compile_s or 0.0) + transfer + epochs * epoch_s * steps_target / steps_measured


def distance(params: int, batch_size: int, dataset_size: int) -> pl.Expr:
    """How far a row's config is from the asked-for one, in log space (0 = same sizes).

    Parameters weigh most, batch size next (it sets the work per dispatch); the dataset size
    weighs least because epoch time is scaled to it.
    """
    return (
        (pl.col("params").log() - math.log(params)).abs()
        + 0.5 * (pl.col("batch_size").log() - math.log(batch_size)).abs()
        + 0.25 * (pl.col("dataset_size").log() - math.log(dataset_size)).abs()
    ).alias("distance")


def nearest_pair(pairs: pl.DataFrame, model: str, dtype: str, params: int, batch_size: int,
                 dataset_size: int) -> dict | None:
    """The measured CPU/accelerator pair closest to the asked-for config, as a dict (or None).

    Own measurements come first: pairs whose CPU side is a local run are preferred, and among
    those the ones whose accelerator side is local too; only then reference or imported ones.
    """
    candidates = pairs.filter((pl.col("model") == model) & (pl.col("dtype") == dtype))
    if not candidates.height:
        candidates = pairs.filter(pl.col("model") == model)
    if not candidates.height:
        return None
    for side in ("cpu_source", "gpu_source"):
        local = candidates.filter(pl.col(side) == "local")
        if local.height:
            candidates = local
    best = candidates.with_columns(distance(params, batch_size, dataset_size)).sort("distance", "params").head(1)
    return best.to_dicts()[0]


def nearest_run(runs: pl.DataFrame, platform: str, model: str, dtype: str, params: int, batch_size: int,
                dataset_size: int) -> dict | None:
    """The ok run on `platform` closest to the asked-for config (own runs first), as a dict."""
    rows = with_device(ok_runs(runs)).filter(pl.col("platform") == platform)
    same = rows.filter((pl.col("model") == model) & (pl.col("dtype") == dtype))
    rows = same if same.height else rows.filter(pl.col("model") == model)
    if not rows.height:
        return None
    local = rows.filter(pl.col("source") == "local")
    rows = local if local.height else rows
    return rows.with_columns(distance(params, batch_size, dataset_size)).sort("distance").head(1).to_dicts()[0]


def same_config(runs: pl.DataFrame, record: dict) -> pl.DataFrame:
    """Every run (any device, any source) of the configuration `record` describes."""
    cond = pl.lit(True)
    for key in CONFIG_KEYS:
        value = record.get(key)
        cond = cond & (pl.col(key).is_null() if value is None else pl.col(key) == value)
    return with_device(runs.filter(cond))


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
