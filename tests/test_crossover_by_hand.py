"""Crossovers at their edges, worked by hand, and the all-series table against the one-series definition on
random curves that hit their thresholds exactly (issue 19: a mutation pass left a third of planted bugs alive)."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from engine.analysis.crossover import Crossover, crossover_table, find_crossover


def test_a_point_at_the_threshold_is_not_above_it():
    c = find_crossover([1e3, 1e4], [1.0, 2.0])  # at 1e3 the GPU is only as fast: the crossing starts there
    assert (c.kind, c.size) == ("crossing", pytest.approx(1e3))
    dip = find_crossover([1e3, 1e4, 1e5], [2.0, 1.0, 3.0])  # equal again at 1e4 counts as falling back
    assert (dip.kind, dip.falls_below_at) == ("always_above", 1e4)


def test_repeated_sizes_use_the_median_of_an_even_count():
    c = find_crossover([1e3, 1e3, 1e4, 1e4], [0.5, 1.5, 3.0, 5.0], threshold=2.0)  # medians 1.0 and 4.0
    assert c.size == pytest.approx(math.sqrt(1e3 * 1e4))  # log-midway: log 2 is half of log 4
    assert c.points == 2 and c.measured_range == (1e3, 1e4)


@pytest.mark.parametrize("bad_size, bad_speedup", [(0.0, 5.0), (1e2, 0.0), (-1.0, 5.0), (math.nan, 5.0),
                                                   (1e2, math.inf), (None, 5.0)])
def test_points_without_a_positive_finite_size_and_speedup_are_left_out(bad_size, bad_speedup):
    c = find_crossover([bad_size, 1e3, 1e4], [bad_speedup, 0.5, 2.0])
    assert c.measured_range == (1e3, 1e4) and c.points == 2 and c.size == pytest.approx(math.sqrt(1e7))


def test_sentences_round_sizes_of_one_and_more_to_whole_numbers():
    assert Crossover(1.0, None, (1.5, 1234.4), "never").describe("x") == (
        "no crossover in range [2, 1,234] x: never faster at any measured size")
    assert Crossover(2.0, None, (0.5, 1.0), "always_above", 1.0).describe("x") == (
        "above 2x speedup at the smallest measured size 0.5 x but not again at 1 x (range [0.5, 1] x)")


def _random_pairs(seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(30):
        for _ in range(int(rng.integers(1, 7))):
            size = float(rng.choice([1e3, 1e4, 1e5, 1e6, 0.0]))
            speedup = float(rng.choice([0.5, 1.0, 2.0, 2.5, 4.0, 0.0, math.nan, float(rng.lognormal(0, 1))]))
            rows.append({"series": s, "params": size, "speedup": speedup})
    return pl.DataFrame(rows)


@pytest.mark.parametrize("seed", range(8))
def test_the_table_is_the_definition_for_every_series(seed):
    """Speedups drawn from the thresholds themselves (exactly 1.0, 2.0 and 2.5), repeated sizes, unusable
    points; per series and threshold the table must say what `find_crossover` says."""
    pairs = _random_pairs(seed)
    thresholds = {"faster": 1.0, "cheaper": 2.5, "double": 2.0}
    table = crossover_table(pairs, thresholds, by=("series",))
    assert table.height == 30 * 3
    for row in table.iter_rows(named=True):
        mine = pairs.filter(pl.col("series") == row["series"])
        try:
            want = find_crossover(mine["params"].to_list(), mine["speedup"].to_list(), row["threshold"])
        except ValueError:
            assert row["kind"] is None and row["text"] == "no measured points with a positive size and speedup"
            continue
        assert (row["kind"], row["points"]) == (want.kind, want.points), row
        assert (row["range_low"], row["range_high"]) == want.measured_range
        assert row["falls_below_at"] == want.falls_below_at
        assert row["size"] == (None if want.size is None else pytest.approx(want.size, rel=1e-12))
        assert row["text"] == want.describe("parameters", None if row["label"] == "faster" else row["label"])


def test_an_unusable_threshold_says_so_in_its_row():
    pairs = pl.DataFrame({"series": [0, 0], "params": [1e3, 1e4], "speedup": [0.5, 2.0]})
    table = crossover_table(pairs, {"zero": 0.0, "inf": math.inf, "faster": 1.0}, by=("series",))
    texts = dict(zip(table["label"], table["text"]))
    assert texts["zero"] == "threshold=0.0: expected a positive number"
    assert texts["inf"] == "threshold=inf: expected a positive number"
    assert texts["faster"].startswith("faster from about 3,162 parameters")
    for label in ("zero", "inf"):  # no answer computed for it, only the sentence
        row = table.filter(pl.col("label") == label).row(0, named=True)
        assert (row["kind"], row["size"], row["points"], row["range_low"]) == (None, None, None, None)


def test_an_answer_built_without_a_count_rests_on_no_points():
    c = Crossover(1.0, None, (1.0, 2.0), "never")
    assert (c.points, c.falls_below_at) == (0, None)


def test_sizes_below_one_are_sizes():
    """A dataset of a quarter and a half (say, in millions of samples): both usable, crossing log-midway."""
    c = find_crossover([0.25, 0.5], [0.5, 2.0])
    assert (c.kind, c.points, c.measured_range) == ("crossing", 2, (0.25, 0.5))
    assert c.size == pytest.approx(math.sqrt(0.25 * 0.5))
    table = crossover_table(pl.DataFrame({"s": [1, 1], "params": [0.25, 0.5], "speedup": [0.5, 2.0]}),
                            {"faster": 1.0}, by=("s",))
    assert table["kind"].to_list() == ["crossing"] and table["size"][0] == pytest.approx(math.sqrt(0.125))


@pytest.mark.parametrize("below", [[0.1, 0.2, 0.5, 8.0, 9.0], [0.1, 0.2, 0.8, 9.0]])
def test_the_median_of_four_or_five_speedups_at_one_size(below):
    """Median 0.5 at size 10 either way (the middle one; the mean of the middle two), 4.0 at size 100: the line
    through (10, 0.5) and (100, 4) in log-log reaches 1 a third of the way: 10 * 10**(1/3)."""
    sizes, speedups = [10.0] * len(below) + [100.0], below + [4.0]
    c = find_crossover(sizes, speedups)
    assert (c.kind, c.points) == ("crossing", 2) and c.size == pytest.approx(10 * 10 ** (1 / 3))
    table = crossover_table(pl.DataFrame({"s": [0] * len(sizes), "params": sizes, "speedup": speedups}),
                            {"faster": 1.0}, by=("s",))
    assert table["size"][0] == pytest.approx(10 * 10 ** (1 / 3))
