"""Scaling page: the chart and table from multi-device runs, and a plain message without them."""

import shutil

from page_helpers import open_page, texts

PAGE = "pages/scaling.py"


def test_chart_and_table_from_emulated_runs(data_dirs, emulated_scaling_runs):
    runs, _ = data_dirs
    shutil.copy(emulated_scaling_runs, runs / "runs-scaling.parquet")
    at = open_page(PAGE)
    assert not at.exception
    assert at.title[0].value == "Scaling"
    (chart,) = at.get("plotly_chart")
    assert "emulated" in chart.proto.spec and "ideal (linear)" in chart.proto.spec
    table = at.dataframe[0].value
    assert list(table["device_count"]) == [1, 2, 4]
    assert list(table["mesh_shape"]) == ["data=1", "data=2", "data=4"]
    assert list(table["emulated"]) == [False, True, True]
    assert all("emulated" in label for label in table["series"])
    assert table["efficiency"].iloc[0] == 1.0
    assert "emulated" in texts(at.warning)


def test_no_multi_device_runs_said_plainly(data_dirs):
    at = open_page(PAGE)  # the fixtures hold one-device runs only
    assert not at.exception
    message = texts(at.info)
    assert "No multi-device runs" in message and "--preset scaling" in message
    assert "JAX_NUM_CPU_DEVICES" in message
    assert not at.get("plotly_chart") and not at.dataframe


def test_no_runs_at_all(empty_dirs):
    at = open_page(PAGE)
    assert not at.exception
    assert "No multi-device runs" in texts(at.info)
