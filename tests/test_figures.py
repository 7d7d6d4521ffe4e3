"""engine.charts.figures: each function returns a labelled Plotly figure, also for empty frames."""

from __future__ import annotations

import sys
from pathlib import Path

import plotly.graph_objects as go
import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures"))

import fixture_data  # noqa: E402

from engine.analysis import perfmodel, tables  # noqa: E402
from engine.analysis.cost import Prices, cost_amortization, idle_cost_curve, run_cost_curve  # noqa: E402
from engine.charts import figures


@pytest.fixture(scope="module")
def runs() -> pl.DataFrame:
    cpu = pl.read_parquet(fixture_data.CPU_RUNS)
    return pl.concat([cpu, fixture_data.synthetic_gpu_runs(cpu)])


@pytest.fixture(scope="module")
def micro() -> pl.DataFrame:
    cpu = pl.read_parquet(fixture_data.CPU_MICRO)
    return pl.concat([cpu, fixture_data.synthetic_gpu_micro(cpu)])


def names(fig: go.Figure) -> list[str]:
    return [trace.name for trace in fig.data]


LEVELS = {"faster": 1.0, "cheaper": 2.5}


def legend_entries(fig: go.Figure) -> list[str]:
    return [t.name for t in fig.data if t.showlegend is not False and t.name]


def test_speedup_vs_params(runs):
    pairs = tables.speedup_table(runs).pairs
    crossings = tables.crossovers(pairs, LEVELS)
    fig = figures.speedup_vs_params(pairs, 2.5, crossings)
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    # The legend: one entry for the one GPU (its colour), the two reference lines and the crossovers; the three
    # model kinds are line styles, named in the subtitle, and batch sizes are on hover.
    assert legend_entries(fig) == [fixture_data.FAKE_GPU, "speedup 1: GPU as fast as CPU",
                                   "price ratio 2.5: above it the GPU is also cheaper", "crossover"]
    lines = [t for t in fig.data if t.showlegend is False]
    assert {t.line.dash for t in lines} == {"solid", "dash", "dot"}  # mlp, cnn, transformer
    assert len({t.line.color for t in lines}) == 1  # one device pair, one colour
    assert "Line style per model kind: cnn: dashed, mlp: solid, transformer: dotted" in fig.layout.title.subtitle.text.replace("<br>", " ")
    (marks,) = [t for t in fig.data if t.name == "crossover"]
    assert sorted(marks.x) == pytest.approx(sorted(crossings.filter(pl.col("kind") == "crossing")["size"].to_list()))
    first = lines[0]
    hover = first.hovertemplate  # the config shows on hover, with units
    assert "CPU s/epoch" in hover and "width" in hover and "dataset size" in hover and "_line" not in hover
    assert "model · batch" in hover and " s<br>" in hover and "samples" in hover and "}x<br>" in hover
    assert "95% CI low" in hover and "_ci_plus" not in hover
    # error bars are the bootstrap interval around each point
    row = pairs.filter(pl.col("params") == first.x[0]).row(0, named=True)
    assert first.error_y.array[0] == pytest.approx(row["ci_high"] - row["speedup"])
    assert first.error_y.arrayminus[0] == pytest.approx(row["speedup"] - row["ci_low"])


def test_speedup_legend_stays_short_with_many_batches_precisions_and_sizes():
    """Issue 18: 14 series (kinds x batches x precisions) of one GPU over one CPU made 14 legend entries; now one
    per colour. A second CPU makes two device pairs: two entries."""
    rows = []
    for kind in ("mlp", "cnn", "transformer"):
        for batch in (64, 128, 512):
            for precision in ("default", "highest"):
                for cpu in ("CPU A", "CPU B"):
                    for i, params in enumerate((1e4, 1e5, 1e6)):
                        rows.append({"model": kind, "batch_size": batch, "matmul_precision": precision,
                                     "cpu_device": cpu, "gpu_device": "GPU X", "dataset_size": 1024,
                                     "params": int(params), "speedup": 1.0 + i, "ci_low": 0.9 + i, "ci_high": 1.1 + i})
    fig = figures.speedup_vs_params(pl.DataFrame(rows), 2.0)
    assert legend_entries(fig) == ["GPU X vs CPU A", "GPU X vs CPU B", "speedup 1: GPU as fast as CPU",
                                   "price ratio 2: above it the GPU is also cheaper"]
    colours = {t.legendgroup: t.line.color for t in fig.data if t.showlegend is False}
    assert len(set(colours.values())) == 2


def test_speedup_vs_dataset(runs):
    fig = figures.speedup_vs_dataset(tables.speedup_table(runs).pairs, 2.5)
    assert fig.layout.yaxis.title.text == "GPU speedup over CPU (end to end)"
    assert "compile and transfer included" in fig.layout.title.subtitle.text
    assert fig.data[0].error_y.array is not None


def test_epoch_time_loss_and_comparison(runs):
    epoch = figures.epoch_time_vs_params(runs)
    assert len([t for t in epoch.data if t.showlegend is False]) == 6  # 2 devices x 3 model kinds
    assert sorted(legend_entries(epoch)) == sorted(["CPU: AMD EPYC (2 cores)", fixture_data.FAKE_GPU])
    loss = figures.loss_curves(runs.head(2))
    assert len(loss.data) == 2 and len(loss.data[0].y) == len(runs["epoch_losses"][0])
    one = tables.same_config(runs, runs.row(0, named=True))
    comparison = figures.config_comparison(one)
    assert sorted(comparison.data[0].x.tolist() + comparison.data[1].x.tolist()) == sorted(
        ["CPU: AMD EPYC (2 cores) (local)", f"{fixture_data.FAKE_GPU} (local)"])


def test_hardware_figures(micro, runs):
    devices = ["CPU: AMD EPYC (2 cores)", fixture_data.FAKE_GPU]
    matmul = figures.matmul_rates(micro)
    assert len([t for t in matmul.data if t.showlegend is False]) == 6  # 2 devices x 3 dtype/precision
    assert sorted(legend_entries(matmul)) == sorted(devices)  # one entry per device; the dashes in the subtitle
    key = matmul.layout.title.subtitle.text
    assert key.startswith("Line style per dtype · precision: ") and key.count(": ") == 4  # the key and 3 styles
    for trace in [t for t in matmul.data if t.showlegend is False]:  # each line's dash is the one its key names
        style = trace.name.split(", ")[1]
        word = key.split(f"{style}: ")[1].split(",")[0]
        assert figures.DASH_WORDS[trace.line.dash] == word
    bandwidth = figures.bandwidths(micro)
    assert len([t for t in bandwidth.data if t.showlegend is False]) == 4  # 2 devices x 2 benchmarks
    assert sorted(legend_entries(bandwidth)) == sorted(devices)
    roof = figures.roofline(tables.device_roofs(micro), tables.with_intensity(tables.ok_runs(runs)))
    assert [n.split(":")[0] for n in names(roof)] == ["roof", "roof", "runs", "runs"]
    assert [n.split(": ")[0] for n in legend_entries(roof)] == ["roof", "roof"]  # the dots join their roof's entry
    assert "ESTIMATE" in roof.layout.xaxis.title.text
    peak = max(roof.data[0].y)
    assert peak == pytest.approx(tables.device_roofs(micro)["peak_flops_per_s"][0] / 1e12)


def test_empty_frames_still_give_figures(runs, micro):
    empty = tables.speedup_table(runs.head(0)).pairs
    assert isinstance(figures.speedup_vs_params(empty, 2.5, tables.crossovers(empty, LEVELS)), go.Figure)
    assert isinstance(figures.speedup_vs_dataset(empty, None), go.Figure)
    assert isinstance(figures.epoch_time_vs_params(runs.head(0)), go.Figure)
    assert isinstance(figures.roofline(tables.device_roofs(micro.head(0)), runs.head(0)), go.Figure)
    assert isinstance(figures.perf_model_fit(perfmodel.measured_vs_fitted(runs.head(0), []),
                                             perfmodel.fit_curves([])), go.Figure)


def test_cost_vs_epochs_lines_cross_at_the_break_even():
    prices = Prices(cpu_per_h=0.10, gpu_per_h=0.25)
    # CPU 36 s/epoch, GPU 3.6 s/epoch + 360 s compile: costs equal where 0.001 n = 0.025 + 0.00025 n
    curve = run_cost_curve(prices, cpu_epoch_s=36, gpu_epoch_s=3.6, gpu_fixed_s=360, max_epochs=100)
    even = cost_amortization(prices, 0.0, 36, 360, 3.6)
    assert even.epochs == 34  # 0.025 / 0.00075 = 33.3
    fig = figures.cost_vs_epochs(curve, even.epochs, epochs=10)
    assert {"CPU", "GPU"} <= set(names(fig))
    (mark,) = [t for t in fig.data if t.name.startswith("GPU cheaper from")]
    assert mark.x[0] == 34 and mark.y[0] == pytest.approx(34 * 0.001)
    gpu = curve.filter(pl.col("instance") == "GPU")
    assert gpu["cost"][0] == pytest.approx(0.025)  # compile alone, before any epoch
    assert fig.layout.yaxis.title.text == "US$ per training run"


def test_idle_cost_vs_hours():
    curve = idle_cost_curve(Prices(cpu_per_h=0.10, gpu_per_h=0.25), max_hours=48)
    fig = figures.idle_cost_vs_hours(curve, hours=8)
    gpu = [t for t in fig.data if t.name == "GPU"][0]
    assert max(gpu.y) == pytest.approx(12.0) and max(gpu.x) == 48
    assert "shut it down" in fig.layout.title.text


def test_perf_model_fit_shows_measured_and_fitted(runs):
    cpu = runs.filter(pl.col("platform") == "cpu")
    fits, _ = perfmodel.fit_runs(cpu)
    points = perfmodel.measured_vs_fitted(cpu, fits)
    assert points.height == sum(f.line.n_points for f in fits)
    fig = figures.perf_model_fit(points, perfmodel.fit_curves(fits))
    assert sum(n.startswith("measured: ") for n in names(fig)) == len(fits)
    assert sum(n.startswith("fitted: ") for n in names(fig)) == len(fits)
    assert fig.layout.xaxis.type == "log"
    assert legend_entries(fig) == ["CPU: AMD EPYC (2 cores)"]  # one device: one entry, whatever the kinds
    assert "markers: measured" in fig.layout.title.subtitle.text.replace("<br>", " ")


def test_mark_size_draws_a_vertical_line_at_the_size_across_the_data(runs):
    fig = figures.speedup_vs_params(tables.speedup_table(runs).pairs, 2.5)
    ys = [y for trace in fig.data for y in trace.y if y is not None and y > 0]
    figures.mark_size(fig, 123_456, "this network")
    line = fig.data[-1]
    assert line.name == "this network" and list(line.x) == [123_456, 123_456]
    assert line.y[0] < min(ys) and line.y[1] > max(ys)


def test_network_among_measured_keeps_its_legend_under_the_plot(runs):
    """The Overview draws it in a column beside the numbers: a legend on the right would squeeze the plot."""
    fig = figures.network_among_measured(tables.speedup_table(runs).pairs, 123_456, "this network", 2.5)
    assert fig.data[-1].name == "this network"
    legend = fig.layout.legend
    assert legend.orientation == "h" and legend.yref == "container" and legend.y == 0  # the figure's bottom edge
    assert fig.layout.margin.b >= 22 * len(legend_entries(fig))  # a bottom margin that holds it


# --- one colour per device, readable log axes (engine.charts.style; issue 18 items 1 and 2) -----------------

def _device_of(trace) -> str | None:
    """The device a trace draws: px names traces "<device>, <dash value>" or "<device>"; ours "roof: <device>"."""
    name = trace.name or ""
    for prefix in ("roof: ", "runs: "):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name.split(", ")[0] or None


def _color(trace) -> str:
    return (trace.line.color if trace.mode and "lines" in trace.mode else None) or trace.marker.color


def test_a_device_has_one_colour_on_every_hardware_chart(micro, runs):
    figs = [figures.matmul_rates(micro), figures.bandwidths(micro),
            figures.roofline(tables.device_roofs(micro), tables.with_intensity(tables.ok_runs(runs)))]
    seen: dict[str, set] = {}
    for fig in figs:
        for trace in fig.data:
            seen.setdefault(_device_of(trace), set()).add(_color(trace))
    devices = [d for d in seen if d]
    assert len(devices) == 2
    assert all(len(seen[d]) == 1 for d in devices), seen  # the same colour on all three charts
    assert len({next(iter(seen[d])) for d in devices}) == 2  # and two devices, two colours


def test_the_reference_devices_keep_fixed_distinct_colours_and_others_a_stable_one():
    from engine.charts.style import device_color

    fixed = [device_color("NVIDIA H200"), device_color("CPU: Intel(R) Xeon(R) Processor (16 cores)"),
             device_color("CPU: AMD EPYC (2 cores)")]
    assert fixed == ["#00A36C", "#1F5FBF", "#E8710A"]
    assert device_color("NVIDIA H200 on box-a") == "#00A36C"  # the host suffix does not change the device
    other = device_color("NVIDIA A100-SXM4-80GB")
    assert other == device_color("NVIDIA A100-SXM4-80GB") and other.startswith("#") and other not in fixed


@pytest.mark.parametrize("low, high, ticks", [
    (0.002, 1200, [0.001, 0.01, 0.1, 1, 10, 100, 1000, 10000]),  # 5.8 decades: powers of ten
    (30, 30000, [10, 100, 1000, 10000, 100000]),
    (2, 7, [2, 5, 10]),  # half a decade: 1-2-5
    (1.2, 1.9, [1, 1.5, 2, 3]),  # a fifth of a decade: finer steps
])
def test_log_ticks(low, high, ticks):
    from engine.charts.style import log_ticks

    assert log_ticks(low, high) == pytest.approx(ticks)


@pytest.mark.parametrize("value, text", [(0.001, "0.001"), (1, "1"), (1.5, "1.5"), (2000, "2,000"),
                                         (10000, "10,000"), (1e-7, "1e-07")])
def test_tick_labels_are_numbers_in_full(value, text):
    from engine.charts.style import tick_text

    assert tick_text(value) == text


def test_every_log_axis_of_the_hardware_and_speedup_charts_has_full_number_ticks(micro, runs):
    pairs = tables.speedup_table(runs).pairs
    figs = [figures.matmul_rates(micro), figures.bandwidths(micro), figures.speedup_vs_params(pairs),
            figures.roofline(tables.device_roofs(micro), tables.with_intensity(tables.ok_runs(runs)))]
    for fig in figs:
        layout = fig.layout.to_plotly_json()
        logs = [name for name, axis in layout.items() if name.startswith(("xaxis", "yaxis")) and
                isinstance(axis, dict) and axis.get("type") == "log"]
        assert logs
        for name in logs:
            axis = layout[name]
            assert axis["tickmode"] == "array" and len(axis["tickvals"]) >= 2
            for value, text in zip(axis["tickvals"], axis["ticktext"]):
                assert float(text.replace(",", "")) == pytest.approx(value)  # the label is the value, in full


def test_a_comparison_of_very_different_times_is_drawn_on_a_log_axis(runs):
    """The issue's case: a GPU's 3.9 ms bar beside a CPU's 910 ms one (233x) is log; 1.5x apart stays linear."""
    two = tables.ok_runs(runs).head(2).with_columns(pl.Series("device_kind", ["cpu", "TEST GPU"]))
    far = figures.config_comparison(two.with_columns(pl.Series("epoch_s_median", [0.91, 0.0039])))
    assert far.layout.yaxis.type == "log" and "log scale" in far.layout.title.text
    assert far.layout.yaxis.tickvals  # with full-number ticks
    near = figures.config_comparison(two.with_columns(pl.Series("epoch_s_median", [0.3, 0.2])))
    assert near.layout.yaxis.type != "log"


def test_speedup_hover_text_rounds_to_three_figures_and_leaves_out_empty_columns(runs):
    pairs = tables.speedup_table(runs).pairs
    mlp = pairs.filter(pl.col("model") == "mlp")
    template = figures.speedup_vs_params(mlp).data[0].hovertemplate
    assert "GPU speedup over CPU (per epoch): %{y:,.3~r}" in template  # 3 significant figures, in full
    assert "parameters: %{x:,d}" in template  # a count, with thousands separators
    assert "heads" not in template and "seq_len" not in template  # an MLP has none: no "heads=null"


@pytest.mark.parametrize("text, lines", [
    ("short", ["short"]),
    ("Line style per model kind: cnn: dashed, mlp: solid, transformer: dotted, resnet: dash-dot",
     ["Line style per model kind: cnn: dashed,", "mlp: solid, transformer: dotted,", "resnet: dash-dot"]),
])
def test_subtitles_are_wrapped_for_a_phone(text, lines):
    assert figures.wrapped(text, width=40).split("<br>") == lines


def test_a_resnet_on_the_roofline_is_named_by_depth_and_stem_not_by_an_empty_width(micro, runs):
    ok = tables.ok_runs(runs)
    resnet = ok.head(1).with_columns(pl.lit("resnet").alias("model"), pl.lit(None).alias("width"),
                                     pl.lit(18).alias("depth"), pl.lit(64).alias("channels"))
    resnet = resnet.cast({c: ok.schema[c] for c in ("width", "depth", "channels")})
    fig = figures.roofline(tables.device_roofs(micro), tables.with_intensity(pl.concat([resnet, ok.slice(1)])))
    texts = [t for trace in fig.data if trace.text is not None for t in trace.text]
    assert any(t.startswith("resnet-18 stem 64 batch") for t in texts)
    assert not any("None" in t for t in texts)
