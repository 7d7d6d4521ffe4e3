"""Hardware page: microbenchmark charts, roofline, and the run form."""

from page_helpers import button, by_key, open_page, texts

PAGE = "pages/hardware.py"


def test_microbenchmarks_and_roofline(data_dirs):
    at = open_page(PAGE)
    assert not at.exception
    assert len(at.get("plotly_chart")) == 4  # matmul, bandwidth, roofline, performance model
    per_device = at.dataframe[0].value
    assert len(per_device) == 2 and "best matmul TFLOP/s" in per_device.columns
    assert "ESTIMATE" in texts(at.caption)


def test_performance_model_table_and_chart(data_dirs):
    at = open_page(PAGE)
    fits = at.dataframe[1].value
    assert {"fitted rate TFLOP/s", "fitted overhead us/step", "median error %", "runs", "no fit because"} <= set(
        fits.columns)
    cpu_mlp = fits[(fits["model"] == "mlp") & fits["device"].str.startswith("CPU")].iloc[0]
    assert cpu_mlp["fitted rate TFLOP/s"] > 0 and cpu_mlp["runs"] == 3  # own and reference copies count once
    # the synthetic GPU's step time does not grow with FLOPs: no fit, and the reason is shown
    gpu = fits[fits["device"] == "TEST GPU (synthetic fixture)"]
    assert len(gpu) and gpu["no fit because"].str.contains("does not grow with FLOPs").all()
    assert "FITTED, not measured" in texts(at.caption)
    assert "Performance model" in texts(at.subheader)


def test_no_devices_is_an_error(data_dirs):
    at = open_page(PAGE)
    by_key(at.multiselect, "hw_devices").set_value([])
    button(at, "Run microbenchmarks").click().run()
    assert not at.exception
    assert "devices=[] is not allowed" in texts(at.error)


def test_cpu_only_says_so(cpu_only_dirs):
    at = open_page(PAGE)
    assert not at.exception
    assert "No GPU microbenchmarks exist" in texts(at.warning)
    assert "No GPU runs exist" in texts(at.warning)


def test_no_microbenchmarks(empty_dirs):
    at = open_page(PAGE)
    assert not at.exception
    assert "No microbenchmarks" in texts(at.info)
    assert "No finished training runs" in texts(at.info)
    assert not at.get("plotly_chart")
