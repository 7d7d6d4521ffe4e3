"""Speedup explorer: pairing, crossover table, charts, filters, and the no-GPU message."""

import fixture_data
import polars as pl
import pytest
from page_helpers import by_key, open_page, texts

PAGE = "pages/speedup.py"


def test_charts_and_crossovers(data_dirs):
    at = open_page(PAGE, {"gpu_price": "0.25", "cpu_price": "0.10"})  # typed: a price ratio of 2.5
    assert not at.exception
    assert len(at.get("plotly_chart")) == 3  # speedup vs params, vs dataset size, time per epoch
    by_params, by_size = at.dataframe[1].value, at.dataframe[2].value
    mlp = by_params[by_params["model"] == "mlp"].iloc[0]
    assert mlp["GPU faster (speedup 1)"].startswith("faster from about 100,000 parameters")  # synthetic: params / 1e5
    assert mlp["GPU cheaper (speedup 2.5)"].startswith("cheaper from about 250,000 parameters")
    assert "no crossover in range [" in " ".join(by_params["GPU cheaper (speedup 2.5)"])
    assert set(by_size.columns) >= {"params", "GPU faster (speedup 1)"} and len(by_size) == 7


def test_speedup_table_leads_with_the_answer_and_has_intervals(data_dirs):
    at = open_page(PAGE)
    table = at.dataframe[0].value
    # Issue 18: the answer columns come first; the configuration's detail waits behind "Show every column".
    assert list(table.columns)[:4] == ["speedup", "ci_low", "ci_high", "speedup_end_to_end"]
    assert "cpu_n_epochs" not in table.columns and "gpu_source" not in table.columns
    assert (table["ci_low"] <= table["speedup"]).all()
    assert (table["speedup"] <= table["ci_high"]).all()
    assert list(table["speedup"]) == pytest.approx(list(table["params"] / 1e5), rel=1e-3)
    assert not at.expander  # everything paired
    config = at.dataframe[0].proto.columns  # headers and formats: the unit after 3 significant figures
    assert '"speedup per epoch"' in config and '"%.3gx"' in config and '"%.3g s"' not in config
    every = open_page(PAGE, {"sp_all_columns": "true"}).dataframe[0]
    for column in ("e2e_ci_low", "e2e_ci_high", "cpu_n_epochs", "gpu_n_epochs", "cpu_epoch_s", "gpu_source"):
        assert column in every.value.columns
    assert '"%.3g s"' in every.proto.columns and '"CPU epochs timed"' in every.proto.columns


def test_unpaired_runs_are_listed_not_dropped(data_dirs):
    runs, _ = data_dirs
    cpu = pl.read_parquet(fixture_data.CPU_RUNS)
    failed = cpu.head(1).with_columns(pl.lit("gpu").alias("platform"), pl.lit("Other GPU").alias("device_kind"),
                                      pl.lit("oom").alias("status"), pl.lit("RESOURCE_EXHAUSTED").alias("error"),
                                      pl.lit("failed-1").alias("run_id"), pl.lit(None, pl.Float64).alias(
                                          "epoch_s_median"))
    failed.write_parquet(runs / "runs-failed.parquet")
    at = open_page(PAGE)
    assert not at.exception
    (expander,) = at.expander
    assert "without a partner" in expander.label
    listed = at.dataframe[-1].value
    assert list(listed["reason"]) == ["status oom: RESOURCE_EXHAUSTED"]


def test_filters_bound_to_url(data_dirs):
    at = open_page(PAGE, {"sp_models": "mlp"})
    assert by_key(at.pills, "sp_models").value == ["mlp"]
    table = at.dataframe[1].value
    assert set(table["model"]) == {"mlp"}
    for key in ("sp_batches",):
        by_key(at.pills, key)
    for key in ("sp_gpus", "sp_cpus"):
        by_key(at.multiselect, key)
    by_key(at.selectbox, "sp_dtype")


def test_empty_filter_is_an_error(data_dirs):
    at = open_page(PAGE)
    by_key(at.pills, "sp_models").set_value([]).run()
    assert not at.exception
    assert "Model kind" in texts(at.error) and "cnn, mlp, transformer" in texts(at.error)


def test_no_gpu_data_said_plainly(cpu_only_dirs):
    at = open_page(PAGE)
    assert not at.exception
    assert "No GPU measurements exist" in texts(at.warning)
    assert len(at.get("plotly_chart")) == 1  # CPU time per epoch only


def test_no_runs_at_all(empty_dirs):
    at = open_page(PAGE)
    assert not at.exception
    assert "No finished runs" in texts(at.info)
