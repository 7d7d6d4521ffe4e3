"""Cost page (pages/cost.py): cost per epoch and per run, break-even, amortization, idle cost; plain errors; no-GPU
message. Named test_cost_page.py so it does not clash with tests/test_cost.py (engine.analysis.cost)."""

import fixture_data
import polars as pl
import pytest
from page_helpers import by_key, open_page, texts

PAGE = "pages/cost.py"
# Prices typed in the sidebar (the seed article's example), so the expected costs below are by hand.
TYPED = {"gpu_price": "0.25", "cpu_price": "0.10"}


def metrics(at) -> dict:
    return {m.label: m.value for m in at.metric}


def test_renders_costs_amortization_and_charts(data_dirs):
    at = open_page(PAGE, TYPED)
    assert not at.exception
    assert [t.value for t in at.title] == ["Cost"]
    values = metrics(at)
    assert values["Break-even speedup"] == "2.5x"  # $0.25/h over $0.10/h, typed in the sidebar
    assert values["CPU machine"] == "$0.1/h" and values["GPU machine"] == "$0.25/h"
    assert len(at.get("plotly_chart")) == 2  # cost per run vs epochs; idle cost vs hours
    table = at.dataframe[0].value
    for column in ("CPU $/epoch", "GPU $/epoch", "CPU $ per 100-epoch run", "GPU $ per 100-epoch run", "95% CI low",
                   "GPU total time lower from epoch", "GPU total cost lower from epoch", "cheaper run"):
        assert column in table.columns
    assert len(table) == 14  # 7 configs x (own CPU runs, reference CPU runs) against the synthetic GPU
    # synthetic GPU: speedup = params / 1e5; at a price ratio of 2.5 it is cheaper per epoch exactly above 2.5
    per_epoch_ratio = table["GPU $/epoch"] / table["CPU $/epoch"]
    assert list(per_epoch_ratio) == pytest.approx(list(2.5 / table["speedup per epoch"]), rel=1e-3)
    big = table[table["params"] == table["params"].max()].iloc[0]
    assert big["GPU total cost lower from epoch"] != "never" and big["cheaper run"] == "GPU"
    body = texts(at.markdown)
    assert "**Time**: the GPU's total time" in body and "**Cost**: the GPU's total cost" in body
    assert "training runs" in body  # the idle GPU expressed in runs of the chosen configuration


def test_key_widgets_bound_to_url(data_dirs):
    at = open_page(PAGE, {"co_epochs": "20", "co_idle_hours": "10", **TYPED})
    assert by_key(at.number_input, "co_epochs").value == 20
    assert by_key(at.number_input, "co_idle_hours").value == 10
    by_key(at.selectbox, "co_config")
    assert "GPU $ per 20-epoch run" in at.dataframe[0].value.columns
    assert metrics(at)["GPU machine idle for 10 h"] == "$2.50"  # 10 h x $0.25/h
    assert metrics(at)["CPU machine idle for 10 h"] == "$1.00"


def test_choosing_a_configuration_changes_the_chart(data_dirs):
    at = open_page(PAGE)
    select = by_key(at.selectbox, "co_config")
    first = at.get("plotly_chart")[0].proto.spec
    select.set_value(0).run()
    assert not at.exception
    assert at.get("plotly_chart")[0].proto.spec != first


def test_negative_price_is_an_error_naming_the_field(data_dirs):
    at = open_page(PAGE, {"gpu_price": "-1"})
    assert not at.exception
    errors = texts(at.error)
    assert "GPU price override, $ per hour" in errors and "gpu_per_h=-1.0 is not allowed" in errors
    assert not at.get("plotly_chart") and not at.dataframe
    assert "gpu_per_h=-1.0 is not allowed" in texts(at.sidebar.error)  # the sidebar says it too


def test_zero_cpu_price_typed_in_the_sidebar(data_dirs):
    at = open_page(PAGE)
    by_key(at.sidebar.number_input, "cpu_price").set_value(0.0).run()
    assert not at.exception
    assert "CPU price override, $ per hour" in texts(at.error) and "cpu_per_h=0.0 is not allowed" in texts(at.error)


@pytest.mark.parametrize("key, value, message", [
    ("co_epochs", -5, "Epochs per training run: epochs=-5 is not allowed"),
    ("co_idle_hours", -1.0, "Hours the GPU machine stays on after the job: idle_hours=-1.0 is not allowed"),
])
def test_bad_run_settings_name_the_field(data_dirs, key, value, message):
    at = open_page(PAGE)
    by_key(at.number_input, key).set_value(value).run()
    assert not at.exception
    assert message in texts(at.error)
    assert not at.get("plotly_chart")


def test_cpu_only_says_what_is_missing(cpu_only_dirs):
    at = open_page(PAGE)
    assert not at.exception
    assert "No GPU measurements exist" in texts(at.warning)
    table = at.dataframe[0].value
    assert "CPU $/epoch" in table.columns and "GPU $/epoch" not in table.columns
    charts = at.get("plotly_chart")
    assert len(charts) == 1 and "idle" in charts[0].proto.spec  # no empty cost-vs-epochs chart


def test_nothing_measured(empty_dirs):
    at = open_page(PAGE)
    assert not at.exception
    assert "No GPU measurements exist" in texts(at.warning)
    assert "No finished CPU runs" in texts(at.info)


def test_costs_are_the_measured_times_at_the_prices(data_dirs):
    """A number on the Cost page is a measured time times a price: check one row by hand."""
    cpu = pl.read_parquet(fixture_data.CPU_RUNS)
    row = cpu.sort("params").row(0, named=True)
    at = open_page(PAGE, {"co_epochs": "10", **TYPED})
    table = at.dataframe[0].value
    got = table[(table["params"] == row["params"])].iloc[0]
    times = sorted(row["epoch_times_s"])
    assert got["CPU $/epoch"] == pytest.approx(times[len(times) // 2] * 0.10 / 3600)
    fixed = row["compile_s"] + row["transfer_s"]
    assert got["CPU $ per 10-epoch run"] == pytest.approx((fixed + 10 * times[len(times) // 2]) * 0.10 / 3600)
