"""Hardware page: microbenchmark charts, roofline, and the run form."""

from page_helpers import button, by_key, open_page, texts

PAGE = "pages/hardware.py"


def test_microbenchmarks_and_roofline(data_dirs):
    at = open_page(PAGE)
    assert not at.exception
    assert len(at.get("plotly_chart")) == 3  # matmul, bandwidth, roofline
    per_device = at.dataframe[0].value
    assert len(per_device) == 2 and "best matmul TFLOP/s" in per_device.columns
    assert "ESTIMATE" in texts(at.caption)


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


def test_no_microbenchmarks(empty_dirs):
    at = open_page(PAGE)
    assert not at.exception
    assert "No microbenchmarks" in texts(at.info)
