"""engine.analysis.cost: prices, costs, break-even speedup, idle cost and amortization against hand arithmetic."""

import math

import polars as pl
import pytest

from engine.analysis.cost import (
    DEFAULT_CPU_PER_H,
    DEFAULT_GPU_PER_H,
    Prices,
    amortization,
    break_even_epochs,
    check_epochs,
    check_idle_hours,
    compare_costs,
    cost,
    cost_amortization,
    epoch_grid,
    idle_cost,
    idle_cost_curve,
    run_cost_curve,
    run_seconds,
    with_costs,
)
from engine.base.config import ConfigError


def test_defaults_are_the_seed_articles_prices():
    prices = Prices()
    assert (DEFAULT_GPU_PER_H, DEFAULT_CPU_PER_H) == (0.25, pytest.approx(0.10))
    assert prices.break_even_speedup == pytest.approx(2.5)


@pytest.mark.parametrize("field", ["cpu_per_h", "gpu_per_h"])
@pytest.mark.parametrize("bad", [0, -1.0, math.nan, math.inf, "1", True, 1e9])
def test_bad_prices_name_the_field(field, bad):
    with pytest.raises(ConfigError, match=field):
        Prices(**{field: bad})


def test_cost_per_hour_arithmetic():
    assert cost(3600, 0.25) == pytest.approx(0.25)
    assert cost(90, 2.0) == pytest.approx(0.05)  # 90 s = 1/40 h
    assert run_seconds(2.0, 10, fixed_s=3.0) == 23.0
    assert idle_cost(3, 0.25) == pytest.approx(0.75)
    with pytest.raises(ConfigError, match="idle_hours"):
        idle_cost(-1)
    with pytest.raises(ConfigError, match="epoch_s"):
        run_seconds(0.0, 1)


def test_compare_costs_by_hand():
    # CPU: 36 s/epoch at $0.10/h -> $0.001/epoch; 100 epochs + 0 s -> $0.10.
    # GPU: 3.6 s/epoch at $0.25/h -> $0.00025/epoch; 100 epochs + 36 s fixed -> 396 s -> $0.0275.
    c = compare_costs(Prices(0.10, 0.25), cpu_epoch_s=36, gpu_epoch_s=3.6, epochs=100, gpu_fixed_s=36, idle_hours=2)
    assert c.cpu_epoch == pytest.approx(0.001)
    assert c.gpu_epoch == pytest.approx(0.00025)
    assert c.cpu_run == pytest.approx(0.10)
    assert c.gpu_run == pytest.approx(0.0275)
    assert c.idle_cost_gpu == pytest.approx(0.5)
    assert c.gpu_total == pytest.approx(0.5275)
    assert c.cheaper == "cpu"  # the idle GPU costs more than the whole CPU run
    assert compare_costs(Prices(0.10, 0.25), 36, 3.6, 100).cheaper == "gpu"


@pytest.mark.parametrize(
    "cpu_fixed, cpu_epoch, gpu_fixed, gpu_epoch, expected, until",
    [
        (0.0, 1.0, 5.0, 0.5, 11, None),  # 5 + 0.5 n < n  <=>  n > 10
        (0.0, 1.0, 4.5, 0.5, 10, None),  # n > 9
        (2.0, 1.0, 1.0, 0.5, 0, None),  # ahead already at n = 0
        (0.0, 1.0, 1.0, 1.0, None, None),  # same epochs, more overhead: never
        (3.0, 1.0, 1.0, 1.0, 0, None),  # same epochs, less overhead: always
        (10.0, 1.0, 0.0, 2.0, None, 10),  # faster start, slower epochs: ahead for n < 10
        (10.0, 1.0, 0.0, 3.0, None, 5),  # ahead for n < 5
    ],
)
def test_amortization(cpu_fixed, cpu_epoch, gpu_fixed, gpu_epoch, expected, until):
    a = amortization(cpu_fixed, cpu_epoch, gpu_fixed, gpu_epoch)
    assert (a.epochs, a.ahead_until) == (expected, until)
    assert break_even_epochs(cpu_fixed, cpu_epoch, gpu_fixed, gpu_epoch) == expected
    assert a.describe()
    if expected is not None:  # the answer really is the first n at which the GPU is ahead
        gpu_total = lambda n: gpu_fixed + n * gpu_epoch
        cpu_total = lambda n: cpu_fixed + n * cpu_epoch
        assert gpu_total(expected) < cpu_total(expected)
        assert expected == 0 or gpu_total(expected - 1) >= cpu_total(expected - 1)


def test_with_costs_adds_columns():
    pairs = pl.DataFrame({
        "cpu_epoch_s": [36.0, 1.0, None],
        "gpu_epoch_s": [3.6, 1.0, 1.0],
        "cpu_compile_s": [0.0, None, 0.0],
        "gpu_compile_s": [36.0, 0.0, 0.0],
    })
    out = with_costs(pairs, Prices(0.10, 0.25), epochs=100)
    assert out["cpu_cost_run"].to_list()[:2] == pytest.approx([0.10, 100 / 36_000])
    assert out["gpu_cost_run"].to_list() == pytest.approx([0.0275, 100 * 0.25 / 3600, 100 * 0.25 / 3600])
    assert out["cheaper"].to_list() == ["gpu", "cpu", None]


def test_cost_amortization_is_amortization_in_dollars():
    prices = Prices(0.10, 0.25)
    # CPU 36 s/epoch ($0.001); GPU 3.6 s/epoch ($0.00025) + 360 s compile ($0.025): 0.025 + 0.00025 n < 0.001 n
    assert cost_amortization(prices, 0.0, 36, 360, 3.6).epochs == 34
    # 2x faster but 2.5x the price: dearer per epoch, so never cheaper however long the run
    never = cost_amortization(prices, 0.0, 2.0, 0.0, 1.0)
    assert never.epochs is None and "never" in never.describe("cost") and "costs no less" in never.describe("cost")
    assert amortization(0.0, 2.0, 0.0, 1.0).epochs == 1  # while in time it is ahead from the first epoch
    assert "total time" in amortization(0.0, 1.0, 5.0, 0.5).describe()
    assert "11 epochs" in amortization(0.0, 1.0, 5.0, 0.5).describe()


def test_run_and_idle_cost_curves():
    prices = Prices(0.10, 0.25)
    curve = run_cost_curve(prices, cpu_epoch_s=36, gpu_epoch_s=3.6, gpu_fixed_s=360, max_epochs=1000)
    assert set(curve["instance"]) == {"CPU", "GPU"} and curve["epochs"].max() == 1000
    gpu = curve.filter(pl.col("instance") == "GPU").sort("epochs")
    assert gpu["cost"][0] == pytest.approx(0.025) and gpu["seconds"][-1] == pytest.approx(360 + 3600)
    assert epoch_grid(7) == list(range(8)) and epoch_grid(1000)[-1] == 1000 and len(epoch_grid(1000)) <= 62
    idle = idle_cost_curve(prices, 24)
    assert idle.filter(pl.col("instance") == "GPU")["cost"].max() == pytest.approx(6.0)
    with pytest.raises(ConfigError, match="idle_hours"):
        idle_cost_curve(prices, -1)


@pytest.mark.parametrize("bad", [0, -5, 1.5, "10", True, 10**7])
def test_bad_epochs_name_the_field(bad):
    with pytest.raises(ConfigError, match="epochs"):
        check_epochs(bad)


def test_run_settings_checks():
    assert check_epochs(10.0) == 10 and check_idle_hours(8) == 8.0
    for bad in (-1.0, math.nan, 10**6):
        with pytest.raises(ConfigError, match="idle_hours"):
            check_idle_hours(bad)
