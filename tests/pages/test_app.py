"""crossover.py (the app; app.py wraps it in st.App): the frame (navigation, shared sidebar) and the rule that the server never imports jax."""

import json
import os
import subprocess
import sys
from pathlib import Path

import fixture_data
import polars as pl
import pytest
from page_helpers import APP, by_key, in_page_order, open_page, texts

from dashboard import state

ROOT = Path(APP).parent
PAGES = ["pages/overview.py", "pages/benchmark.py", "pages/speedup.py", "pages/cost.py", "pages/hardware.py",
         "pages/scaling.py", "pages/results.py"]


def test_sidebar_sources_prices_and_devices(data_dirs):
    from dashboard import data

    data.devices()  # the background lookup done (a jax subprocess): the sidebar then lists the devices
    at = open_page("pages/overview.py")
    sources = by_key(at.sidebar.multiselect, "sources")
    assert sources.value == ["local", "reference", "imported"]
    assert by_key(at.sidebar.number_input, "gpu_price").value is None  # empty: priced from the table
    assert by_key(at.sidebar.number_input, "cpu_price").value is None
    assert "from the dated price table" in texts(at.sidebar.caption)
    assert "cpu:0" in texts(at.sidebar.markdown)


def test_sidebar_settings_wait_in_a_popover_and_one_caption_says_what_is_set(data_dirs):
    at = open_page("pages/overview.py", {"sources": ["reference", "local"], "gpu_price": "1.0"})
    popovers = [n for n in in_page_order(at.sidebar) if getattr(n, "type", "") == "popover"]
    inside = {n.key for n in in_page_order(popovers[0]) if getattr(n, "key", None)}
    # not drawn by the browser until opened: sources, the two side overrides, one price per measured device
    devices = {state.device_price_key(d) for d in ("CPU: AMD EPYC (2 cores)", "TEST GPU (synthetic fixture)")}
    assert inside == {"sources", "gpu_price", "cpu_price"} | devices
    summary = texts(at.sidebar.caption)
    assert "**Data**: reference, my runs\n" in summary  # in the order chosen; imported files not chosen
    # The typed GPU price; the CPU from the table: 2 vCPUs x $0.0408/h (data/prices.csv) = $0.0816/h.
    assert "**Prices** (typed): TEST GPU (synthetic fixture) $1/h, CPU: AMD EPYC (2 cores) $0.0816/h" in summary
    assert "must be 12.3x faster" in summary
    assert "**This machine**: cpu:0" in summary


def test_source_selector_filters_every_page(data_dirs):
    at = open_page("pages/results.py", {"sources": "reference"})
    assert len(at.dataframe[0].value) == 14  # reference only: 7 CPU + 7 synthetic GPU
    at = open_page("pages/results.py", {"sources": "local"})
    assert len(at.dataframe[0].value) == 7
    assert "No GPU measurements exist" in texts(at.warning)


def test_prices_change_the_price_ratio(data_dirs):
    at = open_page("pages/overview.py", {"gpu_price": "1.0", "cpu_price": "0.5"})
    assert "the GPU must be 2x faster to cost less" in texts(at.caption)


def test_bad_price_in_the_sidebar_names_the_field(data_dirs):
    at = open_page("pages/results.py", {"gpu_price": "0"})
    assert not at.exception
    assert "GPU price override, $ per hour (sidebar): gpu_per_h=0.0 is not allowed" in texts(at.sidebar.error)


def test_new_reference_files_show_without_a_restart(cpu_only_dirs):
    _, reference = cpu_only_dirs
    at = open_page("pages/speedup.py")
    assert "No GPU measurements exist" in texts(at.warning)
    cpu = pl.read_parquet(fixture_data.CPU_RUNS)
    fixture_data.synthetic_gpu_runs(cpu).write_parquet(reference / "new-gpu.parquet")
    at.run()
    assert not at.warning and len(at.get("plotly_chart")) == 3


def test_every_page_renders(data_dirs):
    for page in PAGES:
        at = open_page(page)
        assert not at.exception, (page, at.exception)
        assert at.title, page


def test_streamlit_process_never_imports_jax(data_dirs):
    """Every page rendered in a fresh interpreter leaves jax out of sys.modules."""
    script = f"""
import json, sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file({APP!r}, default_timeout=60)
at.run()
failed = []
for page in {PAGES!r}:
    at.switch_page(page).run()
    failed += [(page, e.message) for e in at.exception]
import engine.analysis.tables, engine.base.config, engine.base.counts, engine.charts.figures, engine.base.presets, engine.runlog.store, engine.jobs.worker
import engine.answer.verdict, engine.analysis.cost, engine.analysis.crossover, engine.analysis.confidence, engine.analysis.pairing, engine.analysis.perfmodel
print(json.dumps({{"jax": sorted(m for m in sys.modules if m == "jax" or m.startswith("jax.")), "failed": failed}}))
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=dict(os.environ), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"jax": [], "failed": []}


@pytest.mark.old_pages_mode
def test_a_page_run_alone_reruns_inside_app_frame(data_dirs):
    """A deep link on a fresh server (or AppTest's switch_page) first runs the page file alone;
    the page's guard reruns it through crossover.py, so the sidebar and URL settings are there."""
    at = open_page("pages/results.py", {"sources": "reference"})
    assert not at.exception
    assert by_key(at.sidebar.multiselect, "sources").value == ["reference"]
    assert len(at.dataframe[0].value) == 14


def test_a_price_typed_for_one_device_wins_and_a_bad_one_names_it(data_dirs):
    key = state.device_price_key("TEST GPU (synthetic fixture)")
    at = open_page("pages/overview.py", {key: "2.0", "gpu_price": "0.5", "cpu_price": "0.1"})
    assert not at.exception
    assert "the GPU must be 20x faster to cost less" in texts(at.caption)  # $2.00 for this device, not $0.50
    at = open_page("pages/overview.py", {key: "-3"})
    assert "price of TEST GPU (synthetic fixture)=-3.0 is not allowed" in texts(at.error)


def test_the_sidebar_says_looking_while_the_device_lookup_runs_and_the_page_is_drawn(data_dirs, monkeypatch):
    """Issue 18: the first visit after a start no longer waits 2-3 s for `python -m engine devices`."""
    from dashboard import data

    monkeypatch.setattr(data, "devices", lambda timeout_s=None: None)  # still running
    at = open_page("pages/overview.py")
    assert not at.exception
    assert "looking for devices" in texts(at.sidebar.caption)
    assert at.get("plotly_chart")  # the page's answer did not wait
