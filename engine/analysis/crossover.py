"""The crossover: the smallest size at which the speedup rises above a threshold. Pure Python + Polars.

Size is a parameter count or a dataset size (samples); speedup is CPU seconds / other device's
seconds. Thresholds: 1 for "faster", the price ratio gpu $/h / cpu $/h for "cheaper".

Rules:
- Points with a non-positive or missing size or speedup are dropped (log scale); several
  speedups at one size are combined by their median.
- kind "always_above": the speedup exceeds the threshold at the smallest measured size, so the
  crossover (if any) lies below the measured range. kind "never": it exceeds it nowhere in the
  range. kind "crossing": the first measured point above the threshold follows one at or below
  it; the size is interpolated linearly in log(size)-log(speedup) between those two points
  (where the straight line through them reaches the threshold).
- A curve that rises above and later falls back to or below the threshold is still reported
  at its first rise; `falls_below_at` names the first measured size where it is at or below the
  threshold again, and `describe()` says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import polars as pl

KINDS = ("crossing", "always_above", "never")


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if x >= 1 else f"{x:.3g}"


@dataclass(frozen=True)
class Crossover:
    """Where speedup(size) first exceeds `threshold`.

    size: the interpolated crossing (same unit as the input sizes) or None.
    measured_range: (smallest, largest) measured size. kind: see KINDS.
    falls_below_at: first measured size after the rise where speedup <= threshold again, or None.
    points: how many distinct sizes the answer rests on.
    """

    threshold: float
    size: float | None
    measured_range: tuple[float, float]
    kind: str
    falls_below_at: float | None = None
    points: int = 0

    def describe(self, unit: str = "parameters", what: str | None = None) -> str:
        """One sentence, e.g. "faster from about 1,000,000 parameters (measured range [1,000, 1e8])".

        what: the verb for exceeding the threshold; default "faster" for threshold 1, else
        "above {threshold}x speedup".
        """
        what = what or ("faster" if self.threshold == 1 else f"above {self.threshold:.3g}x speedup")
        a, b = self.measured_range
        span = f"[{_fmt(a)}, {_fmt(b)}] {unit}"
        if self.kind == "never":
            return f"no crossover in range {span}: never {what} at any measured size"
        if self.kind == "always_above":
            text = f"{what} at all measured sizes from {_fmt(a)} {unit} (range {span}); any crossover lies below it"
            if self.falls_below_at is not None:
                text = (f"{what} at the smallest measured size {_fmt(a)} {unit} but not again at "
                        f"{_fmt(self.falls_below_at)} {unit} (range {span})")
            return text
        text = f"{what} from about {_fmt(self.size)} {unit} (interpolated; measured range {span})"
        if self.falls_below_at is not None:
            text += f", though not again at {_fmt(self.falls_below_at)} {unit}"
        return text


def find_crossover(sizes, speedups, threshold: float = 1.0) -> Crossover:
    """The crossover of `speedups` over `sizes` at `threshold` (see the module rules).

    Raises ValueError when no point has a positive size and speedup, or threshold <= 0.
    """
    if not (isinstance(threshold, (int, float)) and math.isfinite(threshold) and threshold > 0):
        raise ValueError(f"threshold={threshold!r}: expected a positive number")
    by_size: dict[float, list[float]] = {}
    for x, y in zip(sizes, speedups):
        if x is None or y is None or not (math.isfinite(x) and math.isfinite(y)) or x <= 0 or y <= 0:
            continue
        by_size.setdefault(float(x), []).append(float(y))
    if not by_size:
        raise ValueError("no measured points with a positive size and speedup")
    curve = sorted((x, _median(ys)) for x, ys in by_size.items())
    span = (curve[0][0], curve[-1][0])
    first_above = next((i for i, (_, y) in enumerate(curve) if y > threshold), None)
    if first_above is None:
        return Crossover(threshold, None, span, "never", points=len(curve))
    falls = next((x for x, y in curve[first_above + 1 :] if y <= threshold), None)
    if first_above == 0:
        return Crossover(threshold, None, span, "always_above", falls, len(curve))
    (x0, y0), (x1, y1) = curve[first_above - 1], curve[first_above]
    t = (math.log(threshold) - math.log(y0)) / (math.log(y1) - math.log(y0))  # y0 <= threshold < y1
    size = math.exp(math.log(x0) + t * (math.log(x1) - math.log(x0)))
    return Crossover(threshold, size, span, "crossing", falls, len(curve))


def _median(values: list[float]) -> float:
    s = sorted(values)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


def crossover_table(
    pairs: pl.DataFrame,
    thresholds: dict[str, float],
    by: tuple[str, ...],
    size: str = "params",
    speedup: str = "speedup",
    unit: str = "parameters",
) -> pl.DataFrame:
    """One row per series (`by` columns) and named threshold (e.g. {"faster": 1, "cheaper": 2.5}).

    Columns: *by, label, threshold, kind, size (null unless crossing), range_low, range_high,
    falls_below_at, points, text. A series with no usable point is kept with kind null and a
    text saying so, never dropped silently. Same answers as `find_crossover` per series, computed
    for all series at once with Polars group-bys (no loop over series or points); only the
    sentences are formatted in Python, one per distinct answer (many series share one).
    """
    by = list(by)
    schema = {
        **{k: pairs.schema[k] for k in by},
        "label": pl.String, "threshold": pl.Float64, "kind": pl.String, "size": pl.Float64,
        "range_low": pl.Float64, "range_high": pl.Float64, "falls_below_at": pl.Float64,
        "points": pl.Int64, "text": pl.String,
    }
    series = pairs.select(by).unique(maintain_order=True).with_row_index("_s")
    if not series.height or not thresholds:
        return pl.DataFrame(schema=schema)
    x, y = pl.col(size).cast(pl.Float64), pl.col(speedup).cast(pl.Float64)
    usable = x.is_not_null() & y.is_not_null() & x.is_finite() & y.is_finite() & (x > 0) & (y > 0)
    curve = (
        pairs.select(*by, x.alias("x"), y.alias("y"), usable.alias("_ok")).filter("_ok")
        .join(series, on=by, how="left", nulls_equal=True)
        .group_by("_s", "x").agg(pl.col("y").median())  # several speedups at one size: their median
        .sort("_s", "x")
    )
    levels = pl.DataFrame({"label": list(thresholds), "threshold": [float(t) for t in thresholds.values()]},
                          schema={"label": pl.String, "threshold": pl.Float64}).with_row_index("_level")
    above = pl.col("y") > pl.col("threshold")
    before = pl.col("_seen") == 0  # measured before the first point above the threshold
    new_curve = ((pl.col("_s") != pl.col("_s").shift(1)) | (pl.col("_level") != pl.col("_level").shift(1))
                 ).fill_null(True)
    usable_levels = levels.filter(pl.col("threshold").is_finite() & (pl.col("threshold") > 0))
    found = (
        curve.join(usable_levels, how="cross")
        .sort("_level", "_s", "x")
        .with_columns(above.cast(pl.Int64).alias("_above"))
        .with_columns(  # points above so far in the curve: a running count restarted at each curve's first point
            (pl.col("_above").cum_sum() - pl.when(new_curve).then(pl.col("_above").cum_sum() - pl.col("_above"))
             .forward_fill()).alias("_seen"))
        .group_by("_level", "_s")
        .agg(
            pl.len().cast(pl.Int64).alias("points"),
            pl.col("x").first().alias("range_low"),
            pl.col("x").last().alias("range_high"),
            pl.col("x").filter(before).last().alias("_x0"),
            pl.col("y").filter(before).last().alias("_y0"),
            pl.col("x").filter(above).first().alias("_x1"),
            pl.col("y").filter(above).first().alias("_y1"),
            pl.col("x").filter(~before & ~above).first().alias("falls_below_at"),
        )
    )
    t = (pl.col("threshold").log() - pl.col("_y0").log()) / (pl.col("_y1").log() - pl.col("_y0").log())
    crossing = (pl.col("_x0").log() + t * (pl.col("_x1").log() - pl.col("_x0").log())).exp()
    kind = (pl.when(pl.col("points").is_null()).then(None)
            .when(pl.col("_x1").is_null()).then(pl.lit("never"))
            .when(pl.col("_x0").is_null()).then(pl.lit("always_above"))
            .otherwise(pl.lit("crossing")))
    table = (
        series.join(levels, how="cross")
        .join(found, on=["_level", "_s"], how="left")
        .with_columns(kind.alias("kind"))
        .with_columns(pl.when(pl.col("kind") == "crossing").then(crossing).alias("size"),
                      pl.when(pl.col("kind") == "never").then(None).otherwise(pl.col("falls_below_at"))
                      .alias("falls_below_at"))
        .sort("_s", "_level")
    )
    # One sentence per distinct answer (many series share one: "never faster" over the same sizes), spread back.
    fields = ["label", "threshold", "kind", "size", "range_low", "range_high", "falls_below_at", "points"]
    answers = table.select(fields).with_row_index("_row").group_by(fields, maintain_order=True).agg(pl.col("_row"))
    sentences = [
        f"threshold={thr!r}: expected a positive number" if not (math.isfinite(thr) and thr > 0) else
        "no measured points with a positive size and speedup" if k is None else
        Crossover(thr, sz, (lo, hi), k, fb, n).describe(unit, None if label == "faster" else label)
        for label, thr, k, sz, lo, hi, fb, n in answers.select(fields).iter_rows()
    ]
    texts = (answers.select(pl.Series("text", sentences, dtype=pl.String), "_row").explode("_row")
             .sort("_row")["text"])
    return table.with_columns(pl.Series("text", texts, dtype=pl.String)).select(
        [pl.col(k).cast(v) for k, v in schema.items()])
