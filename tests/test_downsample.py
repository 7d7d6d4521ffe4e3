"""engine.charts.downsample: charts never get more than MAX_POINTS points, keep their extremes, and say so."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from engine.charts import figures
from engine.charts.downsample import MAX_POINTS, thin_lines


def _lines(n_lines: int, points: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame({
        "line": np.repeat(np.arange(n_lines), points),
        "x": np.tile(np.geomspace(1e3, 1e8, points), n_lines) * rng.uniform(0.9, 1.1, n_lines * points),
        "y": rng.lognormal(0, 1, n_lines * points),
        "id": np.arange(n_lines * points),
    })


def test_a_small_frame_is_left_alone():
    frame = _lines(3, 10)
    out = thin_lines(frame, "x", "y", ["line"], max_points=30)
    assert out.frame.equals(frame) and out.note is None and out.total == 30


def test_long_lines_are_binned_keeping_lowest_median_and_highest():
    frame = _lines(4, 5_000)
    out = thin_lines(frame, "x", "y", ["line"], max_points=600)
    kept = out.frame
    assert out.total == 20_000 and kept.height <= 600
    assert kept["id"].is_sorted() and kept["id"].is_unique().all()  # actual rows, in the frame's order
    assert kept.join(frame, on=["line", "x", "y", "id"], how="anti").height == 0
    for (line,), part in frame.group_by("line"):  # every line keeps its extremes
        mine = kept.filter(pl.col("line") == line)
        assert mine["y"].min() == part["y"].min() and mine["y"].max() == part["y"].max()
    bins = 600 // (3 * 4)
    assert out.note == (f"Showing {kept.height:,} of 20,000 points: each line's log-scale x range is cut into "
                        f"{bins} equal bins, each keeping its lowest, median and highest y; tables and crossovers "
                        "use every one.")
    # the median of each bin is kept: the bin of the smallest x values of line 0
    line0 = frame.filter(pl.col("line") == 0).with_columns(pl.col("x").log10().alias("lx"))
    low, high = line0["lx"].min(), line0["lx"].max()
    first_bin = line0.filter(((pl.col("lx") - low) / (high - low) * bins).floor() == 0).sort("y")
    median_row = first_bin.row((first_bin.height - 1) // 2, named=True)
    assert median_row["id"] in kept["id"].to_list()
    assert thin_lines(frame, "x", "y", ["line"], max_points=600).frame.equals(kept)  # deterministic


def test_many_short_lines_keep_every_kth_line_whole():
    frame = _lines(2_000, 5)
    out = thin_lines(frame, "x", "y", ["line"], max_points=1_000, what="pairs", line_name="network")
    kept = out.frame
    assert kept.height <= 1_000 and kept.height == 1_000
    assert set(kept["line"].unique().to_list()) == set(range(0, 2_000, 10))
    assert kept.group_by("line").len()["len"].to_list() == [5] * 200  # whole lines
    assert out.note.startswith("Showing 1,000 of 10,000 pairs: every 10th of 2,000 networks (in order of line)")


def test_speedup_chart_of_many_pairs_draws_at_most_max_points_and_says_so():
    n = 3 * MAX_POINTS
    rng = np.random.default_rng(1)
    params = np.geomspace(1e3, 1e8, n).astype(np.int64)
    speedup = params / 1e5 * rng.lognormal(0, 0.1, n)
    pairs = pl.DataFrame({
        "model": "mlp", "batch_size": 64, "matmul_precision": "default", "cpu_device": "CPU", "gpu_device": "GPU",
        "dataset_size": 1024, "params": params, "speedup": speedup, "ci_low": speedup * 0.9,
        "ci_high": speedup * 1.1,
    })
    fig = figures.speedup_vs_params(pairs, 2.5)
    drawn = sum(int(np.isfinite(np.asarray(t.y, dtype=float)).sum()) for t in fig.data if t.showlegend is False)
    assert drawn <= MAX_POINTS
    note = figures.thinned_note(fig)
    assert note.startswith(f"Showing {drawn:,} of {n:,} pairs")
    assert f"Showing {drawn:,} of {n:,} pairs (thinned)" in fig.layout.title.subtitle.text  # short, for a phone
    small = figures.speedup_vs_params(pairs.head(100), 2.5)
    assert figures.thinned_note(small) is None


@pytest.mark.parametrize("bad", [0, 2])
def test_too_small_a_cap_is_refused(bad):
    with pytest.raises(ValueError, match="max_points"):
        thin_lines(_lines(2, 10), "x", "y", ["line"], max_points=bad)


def test_a_few_long_lines_over_a_tiny_cap_still_fit():
    frame = _lines(40, 500)
    out = thin_lines(frame, "x", "y", ["line"], max_points=30)
    assert out.frame.height <= 30 and out.frame["line"].n_unique() == 10
    assert "every 4th of 40 lines" in out.note and "cut into 1 bin," in out.note
