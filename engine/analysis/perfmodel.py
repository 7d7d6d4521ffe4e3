"""A per-device performance model of a training step, fitted on measured runs. NumPy + Polars.

One model per (device, model kind, dtype, matmul precision, mode), in seconds per step:

    t = overhead + max(FLOPs x (1 + batch_half / batch) / rate,  bytes / bandwidth)

- FLOPs: flops_per_step_analytic; rate (FLOP/s) is what large batches reach, and a batch of
  `batch` examples reaches rate x batch / (batch + batch_half): small batches keep the device
  less busy. batch_half = 0 when the runs have one batch size only (nothing to tell it from).
- bytes / bandwidth: the memory-traffic floor (`engine.analysis.traffic`: the least bytes a step
  moves over the device's measured bandwidth). No prediction is below it.
- overhead (s/step, >= 0): dispatch, launch and other work that does not grow with FLOPs.

Fit: for each batch_half on a grid, weighted least squares on relative residuals (each point
weighs 1 / t^2), iterated with Huber weights (k = 1.345 x the MAD scale) so one disturbed run
cannot pull the line, on the runs the compute term explains (runs at the memory floor tell
nothing about the rate and are left out of that step); the batch_half with the smallest median
relative error wins. A fit needs two or more distinct FLOP counts and a time that grows with
FLOPs; otherwise `FitError` says why.
Fit error: median_rel_error = median |t_measured / t_fitted - 1|; band_factor = exp(90th
percentile of |log(t_measured / t_fitted)|); a prediction's band is [t / band, t x band]. With
only two runs both are NaN. Outside the measured FLOP range a prediction is an extrapolation
(`Prediction.extrapolation` says how far) that the band does not cover; `validation` measures
leave-one-out and extrapolation errors. Every `Prediction` names the runs it was fitted on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import polars as pl

from engine.analysis.pairing import device_label, one_device
from engine.analysis.traffic import bytes_per_step, bytes_per_step_expr, device_bandwidths
from engine.analysis.workload import Workload, from_config
from engine.base import fmt
from engine.base.config import RunConfig

FIT_KEYS = ("device", "platform", "model", "dtype", "matmul_precision", "mode")
HUBER_K = 1.345
MAD_TO_SIGMA = 1.4826
BAND_QUANTILE = 0.9
MAX_ITERATIONS = 100


class FitError(ValueError):
    """The points cannot support a fit (too few distinct sizes, or time not growing with FLOPs)."""


BATCH_HALF_GRID = (0.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0)
MAX_FLOOR_PASSES = 5


@dataclass(frozen=True)
class LineFit:
    """t = overhead_s + max(flops x (1 + batch_half / batch) / rate, floor); errors as in the module doc."""

    overhead_s: float
    rate_flops_per_s: float
    median_rel_error: float
    band_factor: float
    n_points: int
    n_sizes: int
    flops_range: tuple[float, float]
    batch_half: float = 0.0

    def compute_seconds(self, flops, batch=None):
        """The compute term (s/step) of `flops` FLOPs per step at batch size `batch` (None: a large batch)."""
        flops = np.asarray(flops, dtype=float)
        slow = 1.0 if batch is None or self.batch_half == 0 else 1.0 + self.batch_half / np.asarray(batch, dtype=float)
        return flops * slow / self.rate_flops_per_s

    def seconds(self, flops, batch=None, floor=None):
        """Seconds per step; `floor` (s/step, the memory-traffic floor) defaults to none."""
        compute = self.compute_seconds(flops, batch)
        return self.overhead_s + (compute if floor is None else np.maximum(compute, np.asarray(floor, dtype=float)))

    def rate_at(self, batch: float) -> float:
        """FLOP/s the compute term reaches at batch size `batch`."""
        return self.rate_flops_per_s * (batch / (batch + self.batch_half) if self.batch_half else 1.0)


def _wls(x, y, w, through_origin: bool) -> tuple[float, float]:
    """Minimise sum w ((y - a - b x) / y)^2; returns (a, b)."""
    v = w / y**2
    if through_origin:
        return 0.0, float(np.sum(v * x * y) / np.sum(v * x * x))
    sw, sx, sy = v.sum(), (v * x).sum(), (v * y).sum()
    sxx, sxy = (v * x * x).sum(), (v * x * y).sum()
    det = sw * sxx - sx * sx
    if det <= 0:
        return _wls(x, y, w, through_origin=True)
    b = (sw * sxy - sx * sy) / det
    return float((sy - b * sx) / sw), float(b)


def _robust_line(x, y) -> tuple[float, float]:
    """(a, b) of y = a + b x, a >= 0, by Huber-weighted relative least squares; b <= 0 when y does not grow."""
    w = np.ones_like(y)
    a = b = 0.0
    for _ in range(MAX_ITERATIONS):
        a, b = _wls(x, y, w, through_origin=False)
        if a < 0:
            a, b = _wls(x, y, w, through_origin=True)
        if b <= 0:
            break
        r = (y - a - b * x) / y
        scale = max(MAD_TO_SIGMA * float(np.median(np.abs(r - np.median(r)))), 1e-9)
        new_w = np.minimum(1.0, HUBER_K * scale / np.maximum(np.abs(r), 1e-300))
        if np.allclose(new_w, w, rtol=0, atol=1e-9):
            break
        w = new_w
    return a, b


def _fit_at(x, y, batch, floor, batch_half: float, x_scale: float):
    """(overhead, rate, median relative error) at one batch_half, or None when no rate can be fitted."""
    slow = 1.0 + batch_half / batch
    xs = x * slow / x_scale
    use = np.ones_like(y, dtype=bool)
    a, b = _robust_line(xs, y)
    if not b > 0:
        return None
    for _ in range(MAX_FLOOR_PASSES):
        # Runs at the memory floor say nothing about the rate: fit the rate on the others, while
        # two or more FLOP counts remain (else the fit on every run stands).
        keep = ~(floor > b * xs) | (floor == 0)
        if np.array_equal(keep, use) or np.unique(x[keep]).size < 2:
            break
        use = keep
        a2, b2 = _robust_line(xs[use], y[use])
        if not b2 > 0:
            break
        a, b = a2, b2
    fitted = a + np.maximum(b * xs, floor)
    return a, x_scale / b, float(np.median(np.abs(y / fitted - 1)))


def fit_line(flops, seconds, batch=None, floor=None) -> LineFit:
    """Robust fit of the module doc's model to steps of `flops` FLOPs taking `seconds` (1-D, one per run).

    batch: each run's batch size (None: the rate does not depend on it). floor: each run's
    memory-traffic floor in seconds per step (None: no floor). Raises FitError.
    """
    x, y = np.asarray(flops, dtype=float).ravel(), np.asarray(seconds, dtype=float).ravel()
    b = np.ones_like(x) if batch is None else np.asarray(batch, dtype=float).ravel()
    f = np.zeros_like(x) if floor is None else np.nan_to_num(np.asarray(floor, dtype=float).ravel())
    keep = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0) & (b > 0)
    x, y, b, f = x[keep], y[keep], b[keep], f[keep]
    n_sizes = np.unique(x).size
    if n_sizes < 2:
        raise FitError(f"needs runs at 2 or more distinct FLOP counts to separate overhead from rate; got {n_sizes}"
                       f" ({x.size} usable points)")
    x_scale = float(np.median(x))  # work in units of the median FLOP count for conditioning
    grid = BATCH_HALF_GRID if batch is not None and np.unique(b).size >= 2 else (0.0,)
    best = None
    for half in grid:
        found = _fit_at(x, y, b, f, half, x_scale)
        if found is not None and (best is None or found[2] < best[1][2] - 1e-12):
            best = (half, found)
    if best is None:
        raise FitError("step time does not grow with FLOPs across these runs (overhead-bound); no rate to fit")
    half, (overhead, rate, median_error) = best
    line = LineFit(overhead, rate, median_error, math.nan, int(x.size), int(n_sizes),
                   (float(x.min()), float(x.max())), half)
    log_ratio = np.abs(np.log(y / line.seconds(x, b if half else None, f)))
    if x.size <= 2:  # a line through two points has no residuals to judge it by
        return replace(line, median_rel_error=math.nan)
    return replace(line, band_factor=float(np.exp(np.quantile(log_ratio, BAND_QUANTILE))))


@dataclass(frozen=True)
class Fit:
    """A fitted step-time model for one device / model kind / dtype / precision / mode."""

    device: str
    platform: str
    model: str
    dtype: str
    matmul_precision: str
    mode: str
    line: LineFit
    run_ids: tuple[str, ...] = ()
    bandwidth_bytes_per_s: float | None = None  # the memory-traffic floor's bandwidth (None: no floor)
    typical_batch: int | None = None  # the median batch size of the runs (for curves)
    # The compute ceiling: the device's best float matmul rate (micro benchmark), or its best training run if that
    # was faster. No step is predicted faster than its FLOPs at this rate (None: no micro benchmark, no ceiling).
    peak_flops_per_s: float | None = None

    @property
    def rate_flops_per_s(self) -> float:
        return self.line.rate_flops_per_s

    @property
    def overhead_s(self) -> float:
        return self.line.overhead_s

    @property
    def fitted_on(self) -> str:
        lo, hi = self.line.flops_range
        return (f"{self.line.n_points} {self.model} {self.dtype} runs ({self.matmul_precision} precision, {self.mode}) "
                f"on {self.device}, {fmt.si(lo, 'FLOP')}–{fmt.si(hi, 'FLOP')} per step")

    def describe(self) -> str:
        batch = (f" (x batch / (batch + {self.line.batch_half:g}))" if self.line.batch_half else "")
        floor = (f", memory floor at {fmt.number(self.bandwidth_bytes_per_s / 1e9)} GB/s" if self.bandwidth_bytes_per_s
                 else "")
        return (f"{self.device}, {self.model} {self.dtype}: {fmt.number(self.rate_flops_per_s / 1e12)} TFLOP/s{batch}, "
                f"overhead {fmt.number(self.overhead_s * 1e6)} µs/step{floor}, median error "
                f"{self.line.median_rel_error:.0%} ({self.line.n_points} runs)")


def _points(runs: pl.DataFrame) -> pl.DataFrame:
    ok = runs.filter(
        (pl.col("status") == "ok") & (pl.col("epoch_s_median") > 0) & (pl.col("steps_per_epoch") > 0)
        & (pl.col("flops_per_step_analytic") > 0) & one_device(runs)  # a fit describes ONE device
    )
    if "run_id" in ok.columns:  # one run loaded twice (e.g. own runs also copied into data/reference) counts once
        ok = ok.filter(pl.col("run_id").is_null() | pl.col("run_id").is_first_distinct())
    # Frames from before these columns (or hand-made ones) lack what the floor and the batch term need.
    absent = {"params": pl.Int64, "optimizer": pl.String, "dataset_bytes": pl.Int64, "dataset_size": pl.Int64,
              "batch_size": pl.Int64}
    ok = ok.with_columns(pl.lit(None, dtype).alias(name) for name, dtype in absent.items() if name not in ok.columns)
    return ok.with_columns(
        device_label(),
        (pl.col("epoch_s_median") / pl.col("steps_per_epoch")).alias("step_s"),
        pl.col("matmul_precision").fill_null("default"),
        pl.col("mode").fill_null("?"),
        bytes_per_step_expr(),
    )


def _with_floor(points: pl.DataFrame, micro: pl.DataFrame | None) -> pl.DataFrame:
    """`points` with each device's bandwidth (`engine.analysis.traffic.device_bandwidths`) and floor_s."""
    bandwidth = device_bandwidths(points, micro).select("device", "bandwidth_bytes_per_s")
    return points.join(bandwidth, on="device", how="left").with_columns(
        (pl.col("bytes_per_step") / pl.col("bandwidth_bytes_per_s")).fill_null(0.0).alias("floor_s"))


def device_peaks(points: pl.DataFrame, micro: pl.DataFrame | None) -> dict[str, float]:
    """Per device: the best FLOP/s it has shown, in a matmul micro benchmark or in a training run (FLOPs per step /
    seconds per step), whichever is higher. Only devices with a matmul micro benchmark get one: the best training
    run alone is no ceiling (a later run may be faster)."""
    if micro is None or not micro.height or not {"benchmark", "flops_per_s"} <= set(micro.columns):
        return {}
    matmul = (micro.filter((pl.col("benchmark") == "matmul") & (pl.col("status") == "ok"))
              .group_by("device").agg(pl.col("flops_per_s").max()))
    seen = (points.filter(pl.col("step_s") > 0)
            .group_by("device").agg((pl.col("flops_per_step_analytic") / pl.col("step_s")).max().alias("seen")))
    both = matmul.join(seen, on="device", how="left")
    return {d: max(float(m), float(t or 0.0)) for d, m, t in both.select("device", "flops_per_s", "seen").iter_rows()
            if m is not None and m > 0}


def _fit_group(group: pl.DataFrame) -> LineFit:
    batch = group["batch_size"]
    return fit_line(group["flops_per_step_analytic"].to_numpy(), group["step_s"].to_numpy(),
                    None if batch.null_count() else batch.to_numpy(), group["floor_s"].to_numpy())


def fit_runs(runs: pl.DataFrame, by: tuple[str, ...] = FIT_KEYS,
             micro: pl.DataFrame | None = None) -> tuple[list[Fit], pl.DataFrame]:
    """Fit every group of ok runs. Returns the fits and a table with one row per group.

    micro: micro benchmark rows (with `device`) for the bandwidth of the memory floor; None: the
    bandwidth the runs themselves were seen to reach. Table columns: *by, rate_flops_per_s,
    overhead_s, batch_half, bandwidth_bytes_per_s, median_rel_error, band_factor, n_points,
    n_sizes, flops_low, flops_high, fitted_on, error. Groups that cannot be fitted keep a row with
    null numbers and the reason in `error`.
    """
    points = _with_floor(_points(runs), micro)
    peaks = device_peaks(points, micro)
    fits, rows = [], []
    for keys, group in points.group_by(list(by), maintain_order=True):
        key = dict(zip(by, keys))
        try:
            line = _fit_group(group)
        except FitError as err:
            rows.append({**key, "n_points": group.height, "error": str(err)})
            continue
        bandwidth = group["bandwidth_bytes_per_s"].max()  # one device per group: one bandwidth
        fit = Fit(*(str(key.get(k, "")) for k in FIT_KEYS), line=line,
                  run_ids=tuple(group["run_id"].to_list()) if "run_id" in group.columns else (),
                  bandwidth_bytes_per_s=None if bandwidth is None else float(bandwidth),
                  typical_batch=None if group["batch_size"].null_count() else int(group["batch_size"].median()),
                  peak_flops_per_s=peaks.get(str(key.get("device", ""))))
        fits.append(fit)
        rows.append({**key, "rate_flops_per_s": line.rate_flops_per_s, "overhead_s": line.overhead_s,
                     "batch_half": line.batch_half, "bandwidth_bytes_per_s": fit.bandwidth_bytes_per_s,
                     "median_rel_error": line.median_rel_error, "band_factor": line.band_factor,
                     "n_points": line.n_points, "n_sizes": line.n_sizes, "flops_low": line.flops_range[0],
                     "flops_high": line.flops_range[1], "fitted_on": fit.fitted_on})
    schema = {**{k: pl.String for k in by}, "rate_flops_per_s": pl.Float64, "overhead_s": pl.Float64,
              "batch_half": pl.Float64, "bandwidth_bytes_per_s": pl.Float64, "median_rel_error": pl.Float64, "band_factor": pl.Float64, "n_points": pl.Int64, "n_sizes": pl.Int64,
              "flops_low": pl.Float64, "flops_high": pl.Float64, "fitted_on": pl.String, "error": pl.String}
    table = pl.DataFrame([{k: r.get(k) for k in schema} for r in rows], schema=schema)
    return fits, table.sort(*by)


def select_fit(fits: list[Fit], platform: str | None = None, device: str | None = None, model: str | None = None,
               dtype: str | None = None, matmul_precision: str | None = None, mode: str | None = None) -> Fit | None:
    """The fit matching every given field (None = any); among several, the one with the most runs."""
    want = {"platform": platform, "device": device, "model": model, "dtype": dtype,
            "matmul_precision": matmul_precision, "mode": mode}
    found = [f for f in fits if all(v is None or getattr(f, k) == v for k, v in want.items())]
    return max(found, key=lambda f: (f.line.n_points, f.line.n_sizes), default=None)


@dataclass(frozen=True)
class Prediction:
    """Predicted seconds for a workload on one device; always a prediction, never a measurement.

    low, high: the per-epoch band (fit error only). extrapolation: 1.0 inside the fitted FLOP
    range, else how many times beyond it (above the largest or below the smallest).
    """

    seconds_per_step: float
    seconds_per_epoch: float
    low: float
    high: float
    flops_per_step: float
    steps_per_epoch: int
    extrapolation: float
    fitted_on: str
    device: str
    floor_seconds_per_step: float = 0.0  # bytes per step / bandwidth: no step is faster
    memory_bound: bool = False  # the floor, not the compute term, sets the step time
    is_prediction: bool = True
    peak_flops_per_s: float | None = None  # the device's compute ceiling (Fit.peak_flops_per_s)
    peak_bound: bool = False  # the fitted rate would beat the ceiling: the step is FLOPs / peak instead

    def describe(self) -> str:
        band = (f"band {_seconds(self.low)}–{_seconds(self.high)}" if math.isfinite(self.low)
                else "no error estimate: fitted on two runs")
        text = (f"predicted {_seconds(self.seconds_per_epoch)} per epoch on {self.device} "
                f"({band}; fitted on {self.fitted_on})")
        if self.memory_bound:
            text += f"; memory-bound: at the floor of {_seconds(self.floor_seconds_per_step)} per step"
        if self.peak_bound:
            text += (f"; capped at this device's best measured rate, {fmt.si(self.peak_flops_per_s, 'FLOP/s')} "
                     "(the fit alone would have been faster)")
        if self.extrapolation > 1:
            text += f"; extrapolated {fmt.number(self.extrapolation)}x beyond the measured FLOP range"
        return text


def _seconds(s: float) -> str:
    return fmt.seconds(s)  # "3.97 µs", "0.559 s", "2.5 h", "5,000 days": never an exponent


def predict(fit: Fit, job: Workload | RunConfig | float, steps_per_epoch: int | None = None) -> Prediction:
    """Seconds per step and per epoch of `job` on `fit`'s device.

    job: a Workload, a RunConfig, or FLOPs per step (then `steps_per_epoch` is required).
    """
    if isinstance(job, RunConfig):
        job = from_config(job)
    batch, floor = None, 0.0
    if isinstance(job, Workload):
        flops, steps, batch = job.flops_per_step, job.steps_per_epoch, job.batch_size
        if fit.bandwidth_bytes_per_s:
            floor = bytes_per_step(job) / fit.bandwidth_bytes_per_s
    else:
        if steps_per_epoch is None:
            raise ValueError("steps_per_epoch is required when predicting from a FLOP count")
        flops, steps = float(job), int(steps_per_epoch)
    if not (math.isfinite(flops) and flops > 0 and steps > 0):
        raise ValueError(f"flops={flops!r}, steps_per_epoch={steps!r}: expected positive numbers")
    compute = float(fit.line.compute_seconds(flops, batch))
    ceiling = flops / fit.peak_flops_per_s if fit.peak_flops_per_s else 0.0  # no step beats the device's best rate
    memory_floor, floor = floor, max(floor, ceiling)
    step = float(fit.line.seconds(flops, batch, floor))
    lo, hi = fit.line.flops_range
    extrapolation = flops / hi if flops > hi else lo / flops if flops < lo else 1.0
    band = fit.line.band_factor
    epoch = step * steps
    # The band never reaches below the floor either.
    low = max(epoch / band, (fit.overhead_s + floor) * steps) if math.isfinite(band) else epoch / band
    return Prediction(step, epoch, low, epoch * band, flops, steps, extrapolation, fit.fitted_on, fit.device,
                      memory_floor, memory_floor > compute and memory_floor >= ceiling,
                      peak_flops_per_s=fit.peak_flops_per_s, peak_bound=ceiling > compute and ceiling > memory_floor)


def fit_label(fit: Fit) -> str:
    """Short name of a fit for legends: "<device> · <model> <dtype> (<precision>, <mode>)"."""
    return f"{fit.device} · {fit.model} {fit.dtype} ({fit.matmul_precision}, {fit.mode})"


def _fit_filter(fit: Fit) -> pl.Expr:
    cond = pl.lit(True)
    for key in FIT_KEYS:
        cond = cond & (pl.col(key) == getattr(fit, key))
    return cond


def _fitted(fit: Fit, part: pl.DataFrame):
    """The fit's seconds per step at each row of `part` (FLOPs, batch, and its floor at the fit's bandwidth)."""
    floor = (part["bytes_per_step"].to_numpy() / fit.bandwidth_bytes_per_s if fit.bandwidth_bytes_per_s else None)
    batch = None if part["batch_size"].null_count() else part["batch_size"].to_numpy()
    return fit.line.seconds(part["flops_per_step_analytic"].to_numpy(), batch, floor)


def measured_vs_fitted(runs: pl.DataFrame, fits: list[Fit]) -> pl.DataFrame:
    """Every run a fit rests on, measured against fitted: one row per (fit, run).

    Columns: fit (`fit_label`), device, model, run_id, params, flops_per_step, measured_step_s,
    fitted_step_s (the fit at the run's FLOPs, batch and memory floor), ratio (measured / fitted).
    """
    points = _with_floor(_points(runs), None)
    frames = []
    for fit in fits:
        part = points.filter(_fit_filter(fit))
        frames.append(part.select(
            pl.lit(fit_label(fit)).alias("fit"), "device", "model",
            pl.col("run_id") if "run_id" in part.columns else pl.lit(None, pl.String).alias("run_id"),
            "params", pl.col("flops_per_step_analytic").cast(pl.Float64).alias("flops_per_step"),
            pl.col("step_s").alias("measured_step_s"),
            pl.Series("fitted_step_s", _fitted(fit, part), pl.Float64),
        ))
    schema = {"fit": pl.String, "device": pl.String, "model": pl.String, "run_id": pl.String, "params": pl.Int64,
              "flops_per_step": pl.Float64, "measured_step_s": pl.Float64, "fitted_step_s": pl.Float64}
    out = pl.concat([f.cast(schema) for f in frames]) if frames else pl.DataFrame(schema=schema)
    return out.with_columns((pl.col("measured_step_s") / pl.col("fitted_step_s")).alias("ratio"))


def fit_curves(fits: list[Fit], points: int = 40) -> pl.DataFrame:
    """Each fit's line over its measured FLOP range: columns fit, device, flops_per_step, fitted_step_s."""
    rows = []
    for fit in fits:
        lo, hi = fit.line.flops_range
        for flops in np.geomspace(lo, hi, points):
            rows.append({"fit": fit_label(fit), "device": fit.device, "flops_per_step": float(flops),
                         "fitted_step_s": float(fit.line.seconds(flops, fit.typical_batch))})
    return pl.DataFrame(rows, schema={"fit": pl.String, "device": pl.String, "flops_per_step": pl.Float64,
                                      "fitted_step_s": pl.Float64})


VALIDATION_SCHEMA = {"device": pl.String, "model": pl.String, "dtype": pl.String, "run_id": pl.String,
                     "flops_per_step": pl.Float64, "batch_size": pl.Int64, "measured_step_s": pl.Float64,
                     "loo_step_s": pl.Float64, "loo_error": pl.Float64, "extrapolated": pl.Boolean,
                     "extrapolation_step_s": pl.Float64, "extrapolation_error": pl.Float64}


def _predict_rows(train: pl.DataFrame, test: pl.DataFrame, micro: pl.DataFrame | None) -> list[float | None]:
    """Fit on `train` (points of one group, floors from `train`'s own bandwidth) and predict `test`'s steps."""
    train = _with_floor(train.drop("bandwidth_bytes_per_s", "floor_s", strict=False), micro)
    try:
        line = _fit_group(train)
    except FitError:
        return [None] * test.height
    bandwidth = train["bandwidth_bytes_per_s"].max()
    floor = None if bandwidth is None else test["bytes_per_step"].to_numpy() / float(bandwidth)
    return [float(v) for v in line.seconds(test["flops_per_step_analytic"].to_numpy(), test["batch_size"].to_numpy(),
                                           floor)]


def validation(runs: pl.DataFrame, micro: pl.DataFrame | None = None, by: tuple[str, ...] = FIT_KEYS) -> pl.DataFrame:
    """How well the model predicts runs it was not fitted on, one row per run (VALIDATION_SCHEMA).

    loo_*: leave-one-out: fitted on every other run of its group, errors = predicted / measured - 1.
    extrapolation_*: the group's runs split by FLOPs, fitted on the smaller half of its distinct
    FLOP counts and predicting the larger half (extrapolated = True for those; null elsewhere).
    The memory floor's bandwidth is taken from the training runs of each fit (and `micro`).
    """
    points = _points(runs)
    rows = []
    for _, group in points.group_by(list(by), maintain_order=True):
        group = group.with_row_index("_i")
        sizes = sorted(set(group["flops_per_step_analytic"].to_list()))
        small = set(sizes[: (len(sizes) + 1) // 2])
        is_small = group["flops_per_step_analytic"].is_in(list(small))
        large = group.filter(~is_small)
        extrapolated = dict(zip(large["_i"].to_list(), _predict_rows(group.filter(is_small), large, micro)))
        for row in group.iter_rows(named=True):
            loo = _predict_rows(group.filter(pl.col("_i") != row["_i"]), group.filter(pl.col("_i") == row["_i"]),
                                micro)[0]
            ext = extrapolated.get(row["_i"])
            measured = row["step_s"]
            rows.append({"device": row["device"], "model": row["model"], "dtype": row["dtype"],
                         "run_id": row.get("run_id"), "flops_per_step": float(row["flops_per_step_analytic"]),
                         "batch_size": row["batch_size"], "measured_step_s": measured, "loo_step_s": loo,
                         "loo_error": None if loo is None else loo / measured - 1,
                         "extrapolated": row["_i"] in extrapolated, "extrapolation_step_s": ext,
                         "extrapolation_error": None if ext is None else ext / measured - 1})
    return pl.DataFrame(rows, schema=VALIDATION_SCHEMA)


def validation_summary(table: pl.DataFrame) -> pl.DataFrame:
    """Per device, from `validation`: runs, loo_runs (predicted), loo_median_abs_error,
    loo_p90_abs_error, extrapolated_runs, extrapolation_median_abs_error."""
    return table.group_by("device").agg(
        pl.len().alias("runs"),
        pl.col("loo_error").drop_nulls().len().alias("loo_runs"),
        pl.col("loo_error").abs().median().alias("loo_median_abs_error"),
        pl.col("loo_error").abs().quantile(0.9, "linear").alias("loo_p90_abs_error"),
        pl.col("extrapolation_error").drop_nulls().len().alias("extrapolated_runs"),
        pl.col("extrapolation_error").abs().median().alias("extrapolation_median_abs_error"),
    ).sort("device")
