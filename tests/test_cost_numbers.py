"""engine.analysis.cost at its boundaries and by hand: the limits each input allows (both sides of each),
the tolerance at which two costs count as the same, per-epoch and per-run costs, and the words."""

import math

import polars as pl
import pytest

from engine.analysis import cost
from engine.analysis.cost import Amortization, Prices
from engine.base.config import ConfigError


def test_price_limits_on_both_sides():
    assert Prices(10_000.0, 10_000.0).gpu_per_h == 10_000.0
    for bad in (10_000.01, 0.0, -1.0, math.inf, math.nan, True, "1"):
        with pytest.raises(ConfigError, match="gpu_per_h"):
            Prices(1.0, bad)


def test_epoch_and_idle_limits_on_both_sides():
    assert cost.check_epochs(1) == 1 and cost.check_epochs(1_000_000) == 1_000_000 and cost.check_epochs(5.0) == 5
    for bad in (0, 1_000_001, 2.5, True, "3"):
        with pytest.raises(ConfigError, match="epochs"):
            cost.check_epochs(bad)
    assert cost.check_idle_hours(0) == 0.0 and cost.check_idle_hours(8760) == 8760.0  # a year: 24 x 365 h
    for bad in (-0.1, 8760.1, math.inf, math.nan, True, "1"):
        with pytest.raises(ConfigError, match="idle_hours"):
            cost.check_idle_hours(bad)
    with pytest.raises(ConfigError, match="epochs"):
        cost.run_seconds(1.0, -1)
    with pytest.raises(ConfigError, match="epochs"):
        cost.run_seconds(1.0, 2.0)
    with pytest.raises(ConfigError, match="epoch_s"):
        cost.run_seconds(math.inf, 2)
    assert cost.run_seconds(2.0, 0) == 0.0 and cost.run_seconds(2.0, 3) == 6.0 and cost.run_seconds(2.0, 3, 1.5) == 7.5


def _comparison(cpu_run, gpu_run, idle=0.0):
    return cost.CostComparison(Prices(1.0, 1.0), 1, cpu_run, gpu_run, cpu_run, gpu_run, 0.0, idle)


def test_costs_within_half_a_percent_are_the_same():
    assert _comparison(100.0, 100.5).cheaper == "same"  # exactly 0.5 % of the larger one apart
    assert _comparison(100.0, 100.6).cheaper == "cpu"
    assert _comparison(100.0, 100.501).cheaper == "same"  # 0.5 % of the larger cost (0.5025), not the smaller
    assert _comparison(100.6, 100.0).cheaper == "gpu"
    assert _comparison(100.0, 99.4).cheaper == "gpu"
    assert _comparison(100.0, 100.0).cheaper == "same"
    assert _comparison(100.0, 99.0, idle=2.0).cheaper == "cpu"  # idle time counts against the GPU
    assert _comparison(10.0, 1.0).cheaper == "gpu" and _comparison(1.0, 10.0).cheaper == "cpu"


def test_compare_costs_by_hand():
    c = cost.compare_costs(Prices(0.36, 3.6), cpu_epoch_s=100.0, gpu_epoch_s=10.0, epochs=3, cpu_fixed_s=10.0,
                           gpu_fixed_s=20.0, idle_hours=2.0)
    assert c.cpu_epoch == pytest.approx(0.01) and c.gpu_epoch == pytest.approx(0.01)
    assert c.cpu_run == pytest.approx(310 * 0.0001) and c.gpu_run == pytest.approx(50 * 0.001)
    assert c.idle_cost_gpu == pytest.approx(7.2) and c.gpu_total == pytest.approx(7.25)
    assert cost.compare_costs(Prices(0.36, 3.6), 100.0, 10.0, 3).gpu_run == pytest.approx(30 * 0.001)


def test_with_costs_by_hand():
    pairs = pl.DataFrame({"cpu_epoch_s": [100.0, 1.0, None], "gpu_epoch_s": [10.0, 1.0, 1.0],
                          "cpu_compile_s": [10.0, None, 0.0], "gpu_compile_s": [20.0, 0.0, 0.0]})
    out = cost.with_costs(pairs, Prices(0.36, 3.6), epochs=3)
    assert out["cpu_cost_epoch"].to_list()[:2] == pytest.approx([0.01, 0.0001])
    assert out["gpu_cost_epoch"].to_list() == pytest.approx([0.01, 0.001, 0.001])
    assert out["cpu_cost_run"].to_list()[:2] == pytest.approx([0.031, 0.0003])
    assert out["gpu_cost_run"].to_list() == pytest.approx([0.05, 0.003, 0.003])
    assert out["cheaper"].to_list() == ["cpu", "cpu", None]
    equal = cost.with_costs(pl.DataFrame({"cpu_epoch_s": [10.0], "gpu_epoch_s": [1.0]}), Prices(1.0, 10.0), 2)
    assert equal["cheaper"].to_list() == ["cpu"]  # the same cost: no reason to take the GPU
    cheaper = cost.with_costs(pl.DataFrame({"cpu_epoch_s": [10.0], "gpu_epoch_s": [0.99]}), Prices(1.0, 10.0), 2)
    assert cheaper["cheaper"].to_list() == ["gpu"] and cheaper["cpu_cost_run"][0] == pytest.approx(20 / 3600)


def test_above_break_even_at_its_edges():
    frame = pl.DataFrame({"ci_low": [2.6, 2.5, 1.0, 1.0, None], "ci_high": [3.0, 3.0, 2.5, 2.4, None]})
    words = frame.select(cost.above_break_even(Prices(0.1, 0.25)).alias("w"))["w"].to_list()
    assert words == ["yes", "not clear (interval spans it)", "not clear (interval spans it)", "no",
                     "not clear (interval spans it)"]


def test_amortization_words():
    assert Amortization(0).describe() == ("the GPU's total time is lower from the first epoch, compile and transfer "
                                          "included")
    assert Amortization(1).describe("cost") == ("the GPU's total cost drops below the CPU's from 1 epoch on (compile "
                                                "and transfer included)")
    assert "from 2 epochs on" in Amortization(2).describe()
    assert "from 1,234 epochs on" in Amortization(1234).describe()
    assert "shorter than 56 epochs; each of its epochs takes longer" in Amortization(None, 56).describe()
    assert "never drops below" in Amortization(None).describe("cost")


def test_amortization_table_matches_the_scalar_function_at_the_edges():
    rows = [(0.0, 1.0, 2.0, 0.5), (2.0, 1.0, 0.0, 0.5), (0.0, 1.0, 0.0, 1.0), (1.0, 1.0, 0.0, 1.0),
            (1.0, 1.0, 0.0, 2.0), (0.0, 1.0, 1.0, 2.0), (0.0, 1.0, 4.0, 0.5), (0.0, 1.0, 0.0, 0.0)]
    frame = pl.DataFrame(rows, schema=["cpu_fixed_s", "cpu_epoch_s", "gpu_fixed_s", "gpu_epoch_s"], orient="row")
    out = cost.with_amortization(frame, Prices(1.0, 1.0))
    for row, epochs, ahead in zip(rows, out["time_amort_epochs"], out["time_ahead_until"]):
        if row[3] == 0.0:
            assert epochs is None and ahead is None  # not a valid time: no answer
            continue
        scalar = cost.amortization(*row)
        assert (epochs, ahead) == (scalar.epochs, scalar.ahead_until)
    assert out["time_amort"].to_list()[:3] == ["5", "from the start", "never"]
    assert out["time_amort"][3] == "from the start" and out["time_amort"][4] == "only below 1"


def test_epoch_grid_spans_zero_to_the_end():
    grid = cost.epoch_grid(100)
    assert grid[0] == 0 and grid[-1] == 100 and len(grid) == 51  # step 2
    assert cost.epoch_grid(7, points=3) == [0, 3, 6, 7]
    assert cost.epoch_grid(10) == list(range(11))
