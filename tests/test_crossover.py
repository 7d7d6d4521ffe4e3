"""engine.analysis.crossover: crossings placed by construction, never/always cases, and the table."""

import numpy as np
import polars as pl
import pytest

from engine.analysis.crossover import crossover_table, find_crossover

SIZES = [2e3, 2e4, 2e5, 2e6, 2e7, 2e8]


def test_power_law_crossing_is_exact():
    speedups = [(s / 1e6) ** 0.5 for s in SIZES]
    c = find_crossover(SIZES, speedups)
    assert c.kind == "crossing"
    assert c.size == pytest.approx(1e6, rel=1e-9)
    assert c.measured_range == (2e3, 2e8)


def test_saturating_curve_crossing_at_1e6_found_within_ten_percent():
    # speedup = 2 s / (s + 1e6) is exactly 1 at s = 1e6 (and not a straight line in log-log).
    sizes = np.geomspace(1e3, 1e9, 9) * 1.37
    c = find_crossover(sizes, 2 * sizes / (sizes + 1e6))
    assert c.kind == "crossing"
    assert c.size == pytest.approx(1e6, rel=0.10)
    assert "faster from about" in c.describe()


def test_gpu_always_slower_reports_no_crossover_in_range():
    c = find_crossover([1_000, 10_000, 100_000], [0.1, 0.4, 0.9])
    assert c.kind == "never" and c.size is None
    assert c.describe().startswith("no crossover in range [1,000, 100,000] parameters")


def test_gpu_always_faster_says_faster_from_the_smallest_size():
    c = find_crossover([1_000, 10_000, 100_000], [1.5, 4, 30])
    assert c.kind == "always_above" and c.size is None
    assert c.describe("samples").startswith("faster at all measured sizes from 1,000 samples")


def test_cheaper_threshold_and_duplicates_use_the_median():
    # At 1e4 the median of (1, 2, 100) is 2; crossing 2.5 between 1e4 (2) and 1e5 (5).
    c = find_crossover([1e3, 1e4, 1e4, 1e4, 1e5], [1, 1, 2, 100, 5], threshold=2.5)
    expected = 10 ** (4 + np.log(2.5 / 2) / np.log(5 / 2))
    assert c.kind == "crossing" and c.size == pytest.approx(expected)
    assert c.points == 3


def test_equal_to_threshold_is_not_above_and_a_dip_is_reported():
    c = find_crossover([1, 10, 100, 1000], [0.5, 1.0, 2.0, 0.9])
    assert c.kind == "crossing" and c.size == pytest.approx(10.0)
    assert c.falls_below_at == 1000
    assert "not again at 1,000" in c.describe()


def test_invalid_points_are_dropped_and_nothing_left_is_an_error():
    c = find_crossover([0, 10, None, 100], [2.0, 0.5, 3.0, 2.0])
    assert c.measured_range == (10, 100) and c.kind == "crossing"
    with pytest.raises(ValueError, match="no measured points"):
        find_crossover([0, -1], [1, 2])
    with pytest.raises(ValueError, match="threshold"):
        find_crossover([1], [1], threshold=0)


def test_table_has_one_row_per_series_and_threshold():
    pairs = pl.DataFrame({
        "model": ["mlp"] * 3 + ["cnn"] * 2 + ["transformer"],
        "params": [1e3, 1e4, 1e5, 1e3, 1e5, -1.0],
        "speedup": [0.5, 2.0, 8.0, 0.1, 0.2, 2.0],
    })
    table = crossover_table(pairs, {"faster": 1.0, "cheaper": 2.5}, by=("model",))
    assert table.height == 6
    mlp = table.filter(model="mlp").rows_by_key("label", named=True, unique=True)
    assert mlp["faster"]["kind"] == "crossing" and mlp["faster"]["size"] == pytest.approx(10 ** 3.5)
    assert mlp["cheaper"]["text"].startswith("cheaper from about")
    assert table.filter(model="cnn")["kind"].to_list() == ["never", "never"]
    assert table.filter(model="transformer")["text"][0] == "no measured points with a positive size and speedup"
