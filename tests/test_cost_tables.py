"""engine.analysis.cost for many pairs at once (the Cost page with 1,000,000 runs): vectorised amortization equals
the scalar `amortization` / `cost_amortization` row by row, and the configuration chooser filters, caps
and labels the pairs as the page showed them."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from engine.analysis import cost
from engine.analysis.cost import Prices, amortization, cost_amortization, with_amortization

ROWS = [  # cpu_fixed_s, cpu_epoch_s, gpu_fixed_s, gpu_epoch_s
    (1.0, 2.0, 5.0, 0.5),  # faster epochs, dearer start: from epoch floor(4 / 1.5) + 1 = 3
    (5.0, 2.0, 1.0, 0.5),  # ahead from the start
    (1.0, 2.0, 4.0, 0.5),  # exactly 2 at n = 2: ahead from 3
    (1.0, 1.0, 0.5, 1.0),  # same epochs, cheaper start: from the start
    (1.0, 1.0, 2.0, 1.0),  # same epochs, dearer start: never
    (10.0, 1.0, 0.5, 1.5),  # slower epochs, cheaper start: only below ceil(9.5 / 0.5) = 19
    (0.0, 1.0, 0.0, 2.0),  # slower, no head start: never
    (0.0, 1e-3, 5_000.0, 1e-6),  # a long way to go: 5,005,006 epochs
    (0.0, 2.5, 0.0, 1.0),  # no head start, faster: from epoch 1; at the price ratio, never cheaper
]


def _frame(rows) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=["cpu_fixed_s", "cpu_epoch_s", "gpu_fixed_s", "gpu_epoch_s"], orient="row")


def _text(a: cost.Amortization) -> str:
    """What the Cost page's table said before it was vectorised (one Python call per pair)."""
    if a.epochs == 0:
        return "from the start"
    if a.epochs is not None:
        return f"{a.epochs:,}"
    return f"only below {a.ahead_until:,}" if a.ahead_until is not None else "never"


@pytest.mark.parametrize("prices", [Prices(), Prices(cpu_per_h=1.0, gpu_per_h=1.0), Prices(0.07, 3.9)])
def test_vectorised_amortization_equals_the_scalar_one(prices):
    rng = np.random.default_rng(0)
    rows = ROWS + [tuple(float(x) for x in r) for r in np.round(rng.lognormal(0, 1.5, (200, 4)), 3)]
    out = with_amortization(_frame(rows), prices)
    for row, args in zip(out.iter_rows(named=True), rows):
        t, c = amortization(*args), cost_amortization(prices, *args)
        assert (row["time_amort_epochs"], row["time_ahead_until"]) == (t.epochs, t.ahead_until), args
        assert (row["cost_amort_epochs"], row["cost_ahead_until"]) == (c.epochs, c.ahead_until), args
        assert (row["time_amort"], row["cost_amort"]) == (_text(t), _text(c)), args


def test_the_hand_worked_rows():
    out = with_amortization(_frame(ROWS), Prices())
    assert out["time_amort"].to_list() == ["3", "from the start", "3", "from the start", "never", "only below 19",
                                           "never", "5,005,006", "1"]
    assert out["cost_amort"][-1] == "never"  # 2.5x faster at a 2.5x price: never cheaper per epoch


def test_rows_the_scalar_function_refuses_get_nulls():
    bad = [(-1.0, 1.0, 0.0, 0.5), (0.0, 0.0, 0.0, 0.5), (0.0, 1.0, math.inf, 0.5), (None, 1.0, 0.0, 0.5),
           (0.0, math.nan, 0.0, 0.5)]
    out = with_amortization(_frame(bad), Prices())
    for column in ("time_amort_epochs", "time_ahead_until", "cost_amort_epochs", "time_amort", "cost_amort"):
        assert out[column].null_count() == len(bad), column


def test_above_break_even_reads_the_interval():
    frame = pl.DataFrame({"ci_low": [3.0, 1.0, 2.0, None], "ci_high": [4.0, 2.0, 3.0, None]})
    got = frame.select(cost.above_break_even(Prices())).to_series().to_list()
    assert got == ["yes", "no", "not clear (interval spans it)", "not clear (interval spans it)"]


def _pairs(n_widths: int = 30) -> pl.DataFrame:
    rows = []
    for model in ("mlp", "cnn"):
        for batch in (32, 128):
            for width in range(1, n_widths + 1):
                for gpu in ("NVIDIA H100", "NVIDIA H200"):
                    rows.append({"model": model, "width": 16 * width, "depth": 2, "params": 1000 * width**2,
                                 "batch_size": batch, "dataset_size": 65_536, "dtype": "float32",
                                 "gpu_device": gpu, "cpu_device": "CPU: AMD EPYC (2 cores)"})
    return pl.DataFrame(rows)


def test_choices_filter_cap_and_label_like_the_page():
    pairs = _pairs()
    assert cost.choice_filters(pairs) == {"model": ["cnn", "mlp"], "batch_size": [32, 128],
                                          "dataset_size": [65_536], "gpu_device": ["NVIDIA H100", "NVIDIA H200"]}
    offered, matching = cost.choices(pairs)
    assert matching == pairs.height == 240 and offered.height == 240
    r = pairs.row(5, named=True)
    assert offered["label"][5] == (
        f"{r['model']} width {r['width']} depth {r['depth']} · {r['params']:,} parameters · batch "
        f"{r['batch_size']} · {r['dataset_size']:,} samples · {r['dtype']} · {r['gpu_device']} vs {r['cpu_device']}")
    assert offered.filter("default")["row"].to_list() == [int(pairs["params"].arg_max())]

    offered, matching = cost.choices(pairs, model="cnn", batch_size=128, gpu_device=None)
    assert matching == 60 and set(pairs[offered["row"]]["model"]) == {"cnn"}
    assert set(pairs[offered["row"]]["batch_size"]) == {128}

    offered, matching = cost.choices(pairs, limit=50)
    assert (offered.height, matching) == (50, 240) and offered["row"].to_list() == list(range(50))
    assert offered["default"].sum() == 1 and pairs["params"][offered.filter("default")["row"][0]] == max(
        pairs["params"][:50])

    offered, matching = cost.choices(pairs, model="transformer")
    assert (offered.height, matching) == (0, 0)
    with pytest.raises(ValueError, match="unknown filters"):
        cost.choices(pairs, colour="red")


def test_labels_of_missing_values_read_like_python():
    pairs = _pairs(1).with_columns(pl.lit(None, pl.Int64).alias("width"), pl.lit(None, pl.Int64).alias("params"))
    label = cost.choices(pairs)[0]["label"][0]
    assert label.startswith("mlp width None depth 2 · None parameters · batch 32 · 65,536 samples")
