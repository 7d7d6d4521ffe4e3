"""Speedup explorer and Cost on large logs: reruns reuse cached answers; caps and thinning are said."""

import fixture_data
import polars as pl
from page_helpers import open_page, texts

from dashboard import data
from engine.analysis import tables
from engine.charts import downsample

PAGE = "pages/speedup.py"


def _count_calls(monkeypatch):
    """Counts of the dashboard's heavy engine calls: pooling the runs and building speedup tables."""
    calls = {"pool": 0, "table": 0}
    pool, table = data.pool, tables.speedup_table

    def counting_pool(*args, **kwargs):
        calls["pool"] += 1
        return pool(*args, **kwargs)

    def counting_table(*args, **kwargs):
        calls["table"] += 1
        return table(*args, **kwargs)

    monkeypatch.setattr(data, "pool", counting_pool)
    monkeypatch.setattr(tables, "speedup_table", counting_table)
    return calls


def test_a_rerun_with_the_same_data_recomputes_nothing(data_dirs, monkeypatch):
    calls = _count_calls(monkeypatch)
    at = open_page(PAGE)
    assert not at.exception
    assert calls["pool"] == 1 and calls["table"] >= 1
    before = dict(calls)
    at.run()
    assert not at.exception and calls == before  # cached: same folders, same filters
    runs, _ = data_dirs
    cpu = pl.read_parquet(fixture_data.CPU_RUNS)
    cpu.head(1).with_columns(pl.lit("extra-1").alias("run_id")).write_parquet(runs / "runs-extra.parquet")
    at.run()
    assert calls["pool"] == 2  # a new file: the folder's fingerprint changed, so it is pooled again


def test_cost_page_uses_the_cached_table(data_dirs, monkeypatch):
    calls = _count_calls(monkeypatch)
    at = open_page("pages/cost.py")
    assert not at.exception and at.dataframe
    before = dict(calls)
    at.run()
    assert calls == before


def test_caps_and_thinning_are_said_on_the_page(data_dirs, monkeypatch):
    monkeypatch.setattr(tables, "MAX_INTERVALS", 2)
    monkeypatch.setattr(downsample, "MAX_POINTS", 3)
    at = open_page(PAGE)
    assert not at.exception
    table = at.dataframe[0].value
    assert len(table) > 2
    assert f"95% intervals computed for the first 2 of {len(table)} pairs" in texts(at.info)
    assert table["ci_low"].notna().sum() == 2 and table["speedup"].notna().all()
    captions = texts(at.caption)
    assert f"Showing 3 of {len(table)} pairs" in captions  # speedup vs parameters, at most 3 points
    runs = tables.ok_runs(data.runs(["local", "reference", "imported"]).frame).height
    assert f"Showing 3 of {runs} runs" in captions  # time per epoch


def test_a_side_without_partner_is_listed_with_its_run_ids(data_dirs):
    runs, _ = data_dirs
    cpu = pl.read_parquet(fixture_data.CPU_RUNS)
    lonely = fixture_data.synthetic_gpu_runs(cpu).head(1).with_columns(
        pl.col("dataset_size") * 3, pl.lit("lonely-gpu-1").alias("run_id"))
    lonely.write_parquet(runs / "runs-lonely.parquet")
    at = open_page(PAGE)
    assert not at.exception
    listed = at.dataframe[-1].value
    row = listed[listed["reason"] == "no CPU run of this configuration"].iloc[0]
    assert list(row["run_ids"]) == ["lonely-gpu-1"]
