"""Overview page: the answer from measurements, which ones, and plain errors."""

from page_helpers import by_key, open_page, texts

PAGE = "pages/overview.py"


def test_answers_with_times_speedup_and_cost(data_dirs):
    at = open_page(PAGE)
    assert not at.exception
    labels = {m.label: m.value for m in at.metric}
    assert {"CPU time", "GPU time", "GPU speedup", "CPU cost", "GPU cost", "Price ratio"} <= set(labels)
    assert labels["Price ratio"] == "2.5"  # 0.25 $/h over 0.10 $/h, the defaults
    body = texts(at.markdown)
    assert "Which measurements" in texts(at.subheader)
    assert "mlp width 256 depth 2" in body  # the default network was measured: it is its own nearest
    assert "Dispatch overhead" in body and "Memory bandwidth" in body and "Matrix multiplication" in body
    # own CPU runs come first, the GPU side comes from the reference folder
    used = at.dataframe[0].value
    assert list(used["source"]) == ["local", "reference"]
    assert "crossover" in body.lower() and "100,000 parameters" in body  # synthetic GPU: speedup = params / 1e5


def test_network_widgets_present_and_bound_to_url(data_dirs):
    at = open_page(PAGE, {"ov_width": "1024", "ov_epochs": "20"})
    assert by_key(at.select_slider, "ov_width").value == 1024
    assert by_key(at.number_input, "ov_epochs").value == 20
    for key in ("ov_model", "ov_dtype"):
        by_key(at.selectbox, key)
    assert "1,863,690 parameters" in texts(at.markdown)


def test_bad_input_names_the_field(data_dirs):
    at = open_page(PAGE)
    by_key(at.selectbox, "ov_model").set_value("cnn")
    by_key(at.slider, "ov_depth").set_value(6).run()  # 32x32 images allow 5 pooling blocks
    assert not at.exception
    assert "depth=6 is not allowed" in texts(at.error)
    assert "at most log2(min(H, W))=5" in texts(at.error)


def test_says_plainly_when_no_gpu_data(cpu_only_dirs):
    at = open_page(PAGE)
    assert not at.exception
    assert "No GPU measurements exist" in texts(at.warning)
    labels = [m.label for m in at.metric]
    assert "GPU time" not in labels and any("CPU time" in label for label in labels)


def test_nothing_measured_yet(empty_dirs):
    at = open_page(PAGE)
    assert not at.exception
    assert "No measured mlp runs" in texts(at.info)
