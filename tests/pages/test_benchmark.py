"""Benchmark page: the form, input errors, and a real tiny run through the worker."""

from page_helpers import button, by_key, open_page, texts

from dashboard.data import _worker, limits

PAGE = "pages/benchmark.py"


def test_form_widgets_present(data_dirs):
    at = open_page(PAGE)
    assert not at.exception
    for key in ("bm_model", "bm_dtype", "bm_precision", "bm_mode"):
        by_key(at.selectbox, key)
    for key in ("bm_width", "bm_samples", "bm_batch"):
        by_key(at.select_slider, key)
    assert by_key(at.multiselect, "bm_devices").value == ["cpu:0"]
    # each kind's own sliders, drawn when it is chosen (outside the form, so they appear at once)
    sliders = {"cnn": {"bm_channels"}, "transformer": {"bm_heads", "bm_seq_len", "bm_vocab"},
               "gpt": {"bm_heads", "bm_seq_len", "bm_vocab"}, "resnet": {"bm_rn_depth", "bm_rn_channels", "bm_rn_side"}}
    for kind, keys in sliders.items():
        by_key(at.selectbox, "bm_model").set_value(kind).run()
        assert not at.exception
        shown = {w.key for w in at.select_slider}
        assert keys <= shown, kind
        assert not (set().union(*sliders.values()) - keys) & shown, kind  # no other kind's sliders
    assert [b.label for b in at.button if b.label == "Run"]
    assert "No benchmark from this session yet" in texts(at.info)


def test_batch_larger_than_dataset_is_refused(data_dirs):
    at = open_page(PAGE)
    by_key(at.select_slider, "bm_samples").set_value(256)
    by_key(at.select_slider, "bm_batch").set_value(1024)
    button(at, "Run").click().run()
    assert not at.exception
    assert "batch_size=1024 is not allowed: expected at most samples=256" in texts(at.error)
    assert at.session_state["bench_job_ids"] == []


def test_heads_must_divide_width(data_dirs):
    at = open_page(PAGE)
    by_key(at.selectbox, "bm_model").set_value("transformer").run()
    by_key(at.select_slider, "bm_heads").set_value(12)
    button(at, "Run").click().run()
    assert "heads=12 is not allowed: expected a divisor of width=256" in texts(at.error)


def test_more_devices_per_run_than_this_machine_has_is_refused(data_dirs):
    at = open_page(PAGE, {"bm_device_count": "2"})  # e.g. a link from a machine with two GPUs
    assert by_key(at.number_input, "bm_device_count").value == 2
    button(at, "Run").click().run()
    assert not at.exception
    assert "device_count=2 is not allowed: expected an integer in [1, 1] for cpu:0" in texts(at.error)
    assert at.session_state["bench_job_ids"] == []


def test_tiny_run_shows_table_loss_and_comparison(data_dirs):
    runs_dir, _ = data_dirs
    at = open_page(PAGE, {"bm_width": "32", "bm_depth": "1", "bm_samples": "256", "bm_batch": "64",
                          "bm_repeats": "1", "bm_epochs": "2"})
    button(at, "Run").click().run()
    assert not at.exception and not at.error
    (job_id,) = at.session_state["bench_job_ids"]
    if _worker(str(runs_dir), limits()).get(job_id).active:  # a new python + jax process: seconds to start
        assert "No benchmark from this session yet" not in texts(at.info)  # the progress panel speaks
    job = _worker(str(runs_dir), limits()).wait(job_id, timeout=60)
    assert job.state == "done", job.message + job.stderr_tail
    at.run()
    assert not at.exception
    assert "Runs of this job" in texts(at.subheader)
    table = at.dataframe[0].value
    assert list(table["status"]) == ["ok"] and list(table["width"]) == [32]
    assert len(at.get("plotly_chart")) == 2  # loss curve + this config on every device
    assert "No GPU measurement of this exact configuration" in texts(at.info)
    assert any(p.name.startswith("runs-") for p in runs_dir.glob("*.parquet"))


def test_a_job_over_the_hosts_limits_is_refused_with_the_estimate_and_the_limit(data_dirs, monkeypatch):
    monkeypatch.setenv("CROSSOVER_MAX_PARAMS", "100000")  # an operator's limit for a small public host
    at = open_page(PAGE, {"bm_width": "1024", "bm_depth": "2", "bm_samples": "256", "bm_batch": "64"})
    button(at, "Run").click().run()
    assert not at.exception
    error = texts(at.error)
    assert "CROSSOVER_MAX_PARAMS" in error and "100,000" in error, error
    assert at.session_state["bench_job_ids"] == []  # nothing was queued


def test_an_unusable_limit_setting_is_named(data_dirs, monkeypatch):
    monkeypatch.setenv("CROSSOVER_MAX_QUEUED_JOBS", "lots")
    at = open_page(PAGE)
    assert not at.exception
    assert "CROSSOVER_MAX_QUEUED_JOBS='lots'" in texts(at.error)
