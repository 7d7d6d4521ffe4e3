"""Fewer points for charts than a browser can draw comfortably. Pure Polars; no I/O, no streamlit.

A Plotly chart in the browser stays responsive up to a few thousand points (DESIGN.md: a 20 k-point
scatter takes ~2.3 s to appear); a large run log has millions. `thin_lines` keeps at most
MAX_POINTS rows of a frame that is drawn as lines (or scatter groups), deterministically, and says
what it left out:

- When there are few enough lines for it, each line's x range is cut into equal bins (of log10 x
  on log axes) and each bin keeps three actual rows: the one with the lowest y, the median y
  (lower median) and the highest y. The chart keeps its shape and its extremes, and every point
  drawn is a measured row (its hover data is true).
- When even one bin per line would be too many points (many short lines), whole lines are kept:
  every k-th line in the order of the line keys, the smallest k that fits.

The answers (tables, crossovers) always use every row; only the drawing is thinned.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import polars as pl

MAX_POINTS = 5_000


@dataclass(frozen=True)
class Thinned:
    """frame: the rows to draw; total: rows before thinning; note: what was left out (None: nothing)."""

    frame: pl.DataFrame
    total: int
    note: str | None = None

    @property
    def shown(self) -> int:
        return self.frame.height


def thin_lines(frame: pl.DataFrame, x: str, y: str, lines: list[str] | tuple[str, ...], *,
               max_points: int | None = None, log_x: bool = True, what: str = "points",
               line_name: str = "line", y_name: str | None = None) -> Thinned:
    """At most `max_points` (default MAX_POINTS) rows of `frame` (module doc), in its own row order.

    lines: the columns that tell one line (or scatter group) from another; x, y: the plotted
    columns. what / line_name / y_name: words for the note, e.g. "pairs", "network", "speedup".
    """
    max_points = MAX_POINTS if max_points is None else max_points
    y_name = y_name or y
    if max_points < 3:
        raise ValueError(f"max_points={max_points}: expected at least 3")
    total = frame.height
    if total <= max_points:
        return Thinned(frame, total)
    lines = list(lines)
    indexed = frame.with_row_index("_row")
    ids = indexed.select(*lines).unique(maintain_order=False).sort(lines, nulls_last=True).with_row_index("_line")
    indexed = indexed.join(ids, on=lines, how="left", nulls_equal=True)
    n_lines = ids.height
    axis = "log-scale " if log_x else ""
    bins = max_points // (3 * n_lines)
    if bins >= 1:
        kept = _binned(indexed, x, y, bins, log_x)
        note = (f"Showing {kept.height:,} of {total:,} {what}: each {line_name}'s {axis}x range is cut into "
                f"{_bins(bins)}, each keeping its lowest, median and highest {y_name}; tables and crossovers use every one.")
        return Thinned(kept.sort("_row").drop("_row", "_line"), total, note)
    sizes = indexed.group_by("_line").len().sort("_line")["len"].to_list()
    step = math.ceil(total / max_points)
    while step < n_lines and sum(sizes[::step]) > max_points:
        step += 1
    every = f"every {_ordinal(step)} of {n_lines:,} {line_name}s (in order of {', '.join(lines)})"
    if sum(sizes[::step]) <= max_points:  # short lines: keep whole ones
        kept = indexed.filter(pl.col("_line") % step == 0)
        note = (f"Showing {kept.height:,} of {total:,} {what}: {every}, each drawn whole; tables and crossovers use "
                "every one.")
    else:  # long lines, and too many of them for three points each: fewer lines, then bins
        step = math.ceil(n_lines / (max_points // 3))
        chosen = indexed.filter(pl.col("_line") % step == 0)
        bins = max_points // (3 * math.ceil(n_lines / step))
        kept = _binned(chosen, x, y, bins, log_x)
        every = f"every {_ordinal(step)} of {n_lines:,} {line_name}s (in order of {', '.join(lines)})"
        note = (f"Showing {kept.height:,} of {total:,} {what}: {every}, its {axis}x range cut into {_bins(bins)}, "
                f"each keeping its lowest, median and highest {y_name}; tables and crossovers use every one.")
    return Thinned(kept.sort("_row").drop("_row", "_line"), total, note)


def _binned(indexed: pl.DataFrame, x: str, y: str, bins: int, log_x: bool) -> pl.DataFrame:
    """Rows of `indexed` (with _row, _line) that are the lowest, (lower) median or highest y of their bin."""
    pos = pl.col(x).cast(pl.Float64)
    pos = pl.when(pos > 0).then(pos.log10()) if log_x else pos
    low, high = pos.min().over("_line"), pos.max().over("_line")
    where = ((pos - low) / (high - low) * bins).floor().clip(0, bins - 1)
    binned = indexed.with_columns(pl.when(high > low).then(where).otherwise(0.0).fill_null(-1.0).alias("_bin"))
    picks = binned.group_by("_line", "_bin").agg(  # an aggregation, not a sort of every row: ~4x faster
        pl.col("_row").get(pl.col(y).arg_min()).alias("lowest"),
        pl.col("_row").get(pl.col(y).arg_max()).alias("highest"),
        pl.col("_row").sort_by(y, "_row", nulls_last=True).get((pl.len() - 1) // 2).alias("median"),
    )
    rows = pl.concat([picks["lowest"], picks["highest"], picks["median"]]).drop_nulls().unique()
    return indexed.filter(pl.col("_row").is_in(rows.implode()))


def _bins(n: int) -> str:
    return "1 bin" if n == 1 else f"{n} equal bins"


def _ordinal(n: int) -> str:
    return {1: "1st", 2: "2nd", 3: "3rd"}.get(n, f"{n}th")
