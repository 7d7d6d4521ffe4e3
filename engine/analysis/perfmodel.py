"""A per-device performance model: seconds per training step = overhead + FLOPs / rate. NumPy + Polars.

Fitted on measured runs, one model per (device, model kind, dtype, matmul precision, mode):
t_step = epoch_s_median / steps_per_epoch (seconds), flops = flops_per_step_analytic (FLOPs),
so rate is in FLOP/s and overhead in seconds per step (dispatch, launch and memory-bound work
that does not grow with FLOPs).

Fit: weighted least squares on relative residuals (each point weighs 1 / t_step^2, so a 10 us
step counts as much as a 1 s step), iterated with Huber weights (k = 1.345 x the MAD scale of
the relative residuals) so one disturbed run cannot pull the line; overhead is kept >= 0
(refitted through the origin if negative). A fit needs at least two distinct FLOP counts and a
time that grows with FLOPs; otherwise `FitError` says why.

Fit error: median_rel_error = median |t_measured / t_fitted - 1| over the runs; band_factor =
exp(90th percentile of |log(t_measured / t_fitted)|). A prediction's band is
[t / band_factor, t x band_factor]. With only two runs the line passes through both and there
is no error estimate: both are NaN, and so is the band of its predictions. Outside the measured FLOP range the prediction is an
extrapolation (`Prediction.extrapolation` says how far) and the band does not cover that risk.
Every `Prediction` has is_prediction=True and names the runs it was fitted on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from engine.analysis.pairing import device_label, one_device
from engine.analysis.workload import Workload, from_config
from engine.base.config import RunConfig

FIT_KEYS = ("device", "platform", "model", "dtype", "matmul_precision", "mode")
HUBER_K = 1.345
MAD_TO_SIGMA = 1.4826
BAND_QUANTILE = 0.9
MAX_ITERATIONS = 100


class FitError(ValueError):
    """The points cannot support a fit (too few distinct sizes, or time not growing with FLOPs)."""


@dataclass(frozen=True)
class LineFit:
    """t = overhead_s + flops / rate_flops_per_s fitted to points; errors as in the module doc."""

    overhead_s: float
    rate_flops_per_s: float
    median_rel_error: float
    band_factor: float
    n_points: int
    n_sizes: int
    flops_range: tuple[float, float]

    def seconds(self, flops):
        return self.overhead_s + np.asarray(flops, dtype=float) / self.rate_flops_per_s


def _wls(x, y, w, through_origin: bool) -> tuple[float, float]:
    """Minimise sum w ((y - a - b x) / y)^2; returns (a, b)."""
    v = w / y**2
    if through_origin:
        return 0.0, float(np.sum(v * x * y) / np.sum(v * x * x))
    sw, sx, sy = v.sum(), (v * x).sum(), (v * y).sum()
    sxx, sxy = (v * x * x).sum(), (v * x * y).sum()
    det = sw * sxx - sx * sx
    b = (sw * sxy - sx * sy) / det
    return float((sy - b * sx) / sw), float(b)


def fit_line(flops, seconds) -> LineFit:
    """Robust fit of seconds per step = overhead + flops / rate (module doc). Raises FitError."""
    x, y = np.asarray(flops, dtype=float).ravel(), np.asarray(seconds, dtype=float).ravel()
    keep = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    x, y = x[keep], y[keep]
    n_sizes = np.unique(x).size
    if n_sizes < 2:
        raise FitError(f"needs runs at 2 or more distinct FLOP counts to separate overhead from rate; got {n_sizes}"
                       f" ({x.size} usable points)")
    x_scale = float(np.median(x))  # work in units of the median FLOP count for conditioning
    xs = x / x_scale
    w = np.ones_like(y)
    a = b = 0.0
    for _ in range(MAX_ITERATIONS):
        a, b = _wls(xs, y, w, through_origin=False)
        if a < 0:
            a, b = _wls(xs, y, w, through_origin=True)
        if b <= 0:
            break
        r = (y - a - b * xs) / y
        scale = max(MAD_TO_SIGMA * float(np.median(np.abs(r - np.median(r)))), 1e-9)
        new_w = np.minimum(1.0, HUBER_K * scale / np.maximum(np.abs(r), 1e-300))
        if np.allclose(new_w, w, rtol=0, atol=1e-9):
            break
        w = new_w
    if not b > 0:
        raise FitError("step time does not grow with FLOPs across these runs (overhead-bound); no rate to fit")
    fitted = a + b * xs
    log_ratio = np.abs(np.log(y / fitted))
    unknown = x.size <= 2  # a line through two points has no residuals to judge it by
    return LineFit(
        overhead_s=a,
        rate_flops_per_s=x_scale / b,
        median_rel_error=math.nan if unknown else float(np.median(np.abs(y / fitted - 1))),
        band_factor=math.nan if unknown else float(np.exp(np.quantile(log_ratio, BAND_QUANTILE))),
        n_points=int(x.size),
        n_sizes=int(n_sizes),
        flops_range=(float(x.min()), float(x.max())),
    )


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
                f"on {self.device}, {lo:.3g}–{hi:.3g} FLOP/step")

    def describe(self) -> str:
        return (f"{self.device}, {self.model} {self.dtype}: {self.rate_flops_per_s / 1e12:.3g} TFLOP/s, "
                f"overhead {self.overhead_s * 1e6:.3g} us/step, median error {self.line.median_rel_error:.0%} "
                f"({self.line.n_points} runs)")


def _points(runs: pl.DataFrame) -> pl.DataFrame:
    ok = runs.filter(
        (pl.col("status") == "ok") & (pl.col("epoch_s_median") > 0) & (pl.col("steps_per_epoch") > 0)
        & (pl.col("flops_per_step_analytic") > 0) & one_device(runs)  # a fit describes ONE device
    )
    if "run_id" in ok.columns:  # one run loaded twice (e.g. own runs also copied into data/reference) counts once
        ok = ok.filter(pl.col("run_id").is_null() | pl.col("run_id").is_first_distinct())
    return ok.with_columns(
        device_label(),
        (pl.col("epoch_s_median") / pl.col("steps_per_epoch")).alias("step_s"),
        pl.col("matmul_precision").fill_null("default"),
        pl.col("mode").fill_null("?"),
    )


def fit_runs(runs: pl.DataFrame, by: tuple[str, ...] = FIT_KEYS) -> tuple[list[Fit], pl.DataFrame]:
    """Fit every group of ok runs. Returns the fits and a table with one row per group.

    Table columns: *by, rate_flops_per_s, overhead_s, median_rel_error, band_factor, n_points,
    n_sizes, flops_low, flops_high, fitted_on, error. Groups that cannot be fitted keep a row
    with null numbers and the reason in `error`.
    """
    points = _points(runs)
    fits, rows = [], []
    for keys, group in points.group_by(list(by), maintain_order=True):
        key = dict(zip(by, keys))
        try:
            line = fit_line(group["flops_per_step_analytic"].to_numpy(), group["step_s"].to_numpy())
        except FitError as err:
            rows.append({**key, "n_points": group.height, "error": str(err)})
            continue
        fit = Fit(*(str(key.get(k, "")) for k in FIT_KEYS), line=line,
                  run_ids=tuple(group["run_id"].to_list()) if "run_id" in group.columns else ())
        fits.append(fit)
        rows.append({**key, "rate_flops_per_s": line.rate_flops_per_s, "overhead_s": line.overhead_s,
                     "median_rel_error": line.median_rel_error, "band_factor": line.band_factor,
                     "n_points": line.n_points, "n_sizes": line.n_sizes, "flops_low": line.flops_range[0],
                     "flops_high": line.flops_range[1], "fitted_on": fit.fitted_on})
    schema = {**{k: pl.String for k in by}, "rate_flops_per_s": pl.Float64, "overhead_s": pl.Float64,
              "median_rel_error": pl.Float64, "band_factor": pl.Float64, "n_points": pl.Int64, "n_sizes": pl.Int64,
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
    is_prediction: bool = True

    def describe(self) -> str:
        band = (f"band {_seconds(self.low)}–{_seconds(self.high)}" if math.isfinite(self.low)
                else "no error estimate: fitted on two runs")
        text = (f"predicted {_seconds(self.seconds_per_epoch)} per epoch on {self.device} "
                f"({band}; fitted on {self.fitted_on})")
        if self.extrapolation > 1:
            text += f"; extrapolated {self.extrapolation:,.3g}x beyond the measured FLOP range"
        return text


def _seconds(s: float) -> str:
    if s >= 86_400:
        return f"{s / 86_400:,.3g} days"
    if s >= 3600:
        return f"{s / 3600:,.3g} h"
    if s >= 60:
        return f"{s / 60:,.3g} min"
    return f"{s:.3g} s"


def predict(fit: Fit, job: Workload | RunConfig | float, steps_per_epoch: int | None = None) -> Prediction:
    """Seconds per step and per epoch of `job` on `fit`'s device.

    job: a Workload, a RunConfig, or FLOPs per step (then `steps_per_epoch` is required).
    """
    if isinstance(job, RunConfig):
        job = from_config(job)
    if isinstance(job, Workload):
        flops, steps = job.flops_per_step, job.steps_per_epoch
    else:
        if steps_per_epoch is None:
            raise ValueError("steps_per_epoch is required when predicting from a FLOP count")
        flops, steps = float(job), int(steps_per_epoch)
    if not (math.isfinite(flops) and flops > 0 and steps > 0):
        raise ValueError(f"flops={flops!r}, steps_per_epoch={steps!r}: expected positive numbers")
    step = float(fit.line.seconds(flops))
    lo, hi = fit.line.flops_range
    extrapolation = flops / hi if flops > hi else lo / flops if flops < lo else 1.0
    band = fit.line.band_factor
    epoch = step * steps
    return Prediction(step, epoch, epoch / band, epoch * band, flops, steps, extrapolation, fit.fitted_on, fit.device)


def fit_label(fit: Fit) -> str:
    """Short name of a fit for legends: "<device> · <model> <dtype> (<precision>, <mode>)"."""
    return f"{fit.device} · {fit.model} {fit.dtype} ({fit.matmul_precision}, {fit.mode})"


def _fit_filter(fit: Fit) -> pl.Expr:
    cond = pl.lit(True)
    for key in FIT_KEYS:
        cond = cond & (pl.col(key) == getattr(fit, key))
    return cond


def measured_vs_fitted(runs: pl.DataFrame, fits: list[Fit]) -> pl.DataFrame:
    """Every run a fit rests on, measured against fitted: one row per (fit, run).

    Columns: fit (`fit_label`), device, model, run_id, params, flops_per_step, measured_step_s,
    fitted_step_s (the fit's overhead + FLOPs / rate at the run's FLOPs), ratio (measured / fitted).
    """
    points = _points(runs)
    frames = []
    for fit in fits:
        part = points.filter(_fit_filter(fit))
        frames.append(part.select(
            pl.lit(fit_label(fit)).alias("fit"), "device", "model",
            pl.col("run_id") if "run_id" in part.columns else pl.lit(None, pl.String).alias("run_id"),
            "params", pl.col("flops_per_step_analytic").cast(pl.Float64).alias("flops_per_step"),
            pl.col("step_s").alias("measured_step_s"),
            pl.Series("fitted_step_s", fit.line.seconds(part["flops_per_step_analytic"].to_numpy()), pl.Float64),
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
                         "fitted_step_s": float(fit.line.seconds(flops))})
    return pl.DataFrame(rows, schema={"fit": pl.String, "device": pl.String, "flops_per_step": pl.Float64,
                                      "fitted_step_s": pl.Float64})
