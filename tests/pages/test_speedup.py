"""Speedup explorer: pairing, crossover table, charts, filters, and the no-GPU message."""

from page_helpers import by_key, open_page, texts

PAGE = "pages/speedup.py"


def test_charts_and_crossovers(data_dirs):
    at = open_page(PAGE)
    assert not at.exception
    assert len(at.get("plotly_chart")) == 3  # speedup vs params, vs dataset size, time per epoch
    by_params, by_size = at.dataframe[0].value, at.dataframe[1].value
    mlp = by_params[by_params["model"] == "mlp"].iloc[0]
    assert mlp["GPU faster (speedup 1)"].startswith("at about 100,000 parameters")  # synthetic: params / 1e5
    assert mlp["GPU cheaper (speedup 2.5)"].startswith("at about 250,000 parameters")
    assert "none in measured range" in " ".join(by_params["GPU cheaper (speedup 2.5)"])
    assert set(by_size.columns) >= {"params", "GPU faster (speedup 1)"} and len(by_size) == 7


def test_filters_bound_to_url(data_dirs):
    at = open_page(PAGE, {"sp_models": "mlp"})
    assert by_key(at.pills, "sp_models").value == ["mlp"]
    table = at.dataframe[0].value
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
