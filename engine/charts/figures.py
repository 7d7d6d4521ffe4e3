"""Plotly figures of measurements: pure functions (frame, options) -> go.Figure.

No I/O, no streamlit, no jax. Frames are Polars (plotly express reads them directly). Each
function states the columns it needs; pages check for emptiness before calling, and every
function still returns a labelled (empty) figure when given no rows.
"""

from __future__ import annotations

import math

import plotly.express as px
import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from engine.analysis.tables import with_device
from engine.charts.downsample import Thinned, thin_lines
from engine.charts.style import device_color, device_colors, readable_log_axes

SPEEDUP_HOVER = ["width", "depth", "channels", "heads", "seq_len", "dataset_size", "dtype", "matmul_precision",
                 "cpu_epoch_s", "gpu_epoch_s", "cpu_device", "gpu_device", "cpu_source", "gpu_source"]
CI_HOVER = ["ci_low", "ci_high", "ci_basis", "cpu_runs", "gpu_runs", "cpu_n_epochs", "gpu_n_epochs"]
LABELS = {
    "params": "parameters",
    "speedup": "GPU speedup over CPU (per epoch)",
    "speedup_end_to_end": "GPU speedup over CPU (end to end)",
    "dataset_size": "dataset size (samples)",
    "epoch_s_median": "seconds per epoch (median)",
    "cpu_epoch_s": "CPU s/epoch",
    "gpu_epoch_s": "GPU s/epoch",
    "series": "model · batch",
    "pair": "GPU (vs CPU)",
    "device": "device",
    "ci_low": "95% CI low",
    "ci_high": "95% CI high",
    "e2e_ci_low": "95% CI low",
    "e2e_ci_high": "95% CI high",
    "ci_basis": "95% CI over",
    "cpu_compile_s": "CPU compile s (cold)",
    "gpu_compile_s": "GPU compile s (cold)",
    "cpu_compile_cached_s": "CPU compile s (from cache)",
    "gpu_compile_cached_s": "GPU compile s (from cache)",
    "cpu_runs": "CPU runs",
    "gpu_runs": "GPU runs",
    "cpu_n_epochs": "CPU timed epochs",
    "gpu_n_epochs": "GPU timed epochs",
}


def _series(pairs: pl.DataFrame) -> pl.DataFrame:
    """Adds `series` (model and batch size, plus the matmul precision when more than one is shown: what one line
    holds fixed, shown on hover) and `pair` (the GPU, plus the CPU when several are shown: the line's colour)."""
    label = pl.format("{} · batch {}", pl.col("model"), pl.col("batch_size"))
    if pairs["matmul_precision"].n_unique() > 1:
        label = pl.format("{} · {} precision", label, pl.col("matmul_precision"))
    pair = pl.col("gpu_device")
    if pairs["cpu_device"].n_unique() > 1:
        pair = pl.format("{} vs {}", pl.col("gpu_device"), pl.col("cpu_device"))
    return pairs.with_columns(label.alias("series"), pair.alias("pair"))


# One line style and marker per model kind on every chart that mixes kinds (issue 18): the colour is the device's.
MODEL_DASH = {"mlp": "solid", "cnn": "dash", "transformer": "dot", "resnet": "dashdot", "gpt": "longdash"}
MODEL_SYMBOL = {"mlp": "circle", "cnn": "square", "transformer": "diamond", "resnet": "triangle-up", "gpt": "star"}
DASH_WORDS = {"solid": "solid", "dash": "dashed", "dot": "dotted", "dashdot": "dash-dot", "longdash": "long dashes",
              "longdashdot": "long dash-dot"}
DASHES = ("solid", "dot", "dash", "longdash", "dashdot", "longdashdot")


def dash_map(values: list[str], what: str) -> tuple[dict[str, str], str | None]:
    """({value: dash}, the subtitle saying which is which) for a px `line_dash` column; no key for a single value."""
    mapping = {v: DASHES[i % len(DASHES)] for i, v in enumerate(values)}
    key = f"Line style per {what}: " + ", ".join(f"{v}: {DASH_WORDS[d]}" for v, d in mapping.items())
    return mapping, key if len(values) > 1 else None
# What a hover value is measured in, after the number.
UNITS = {"speedup": "x", "speedup_end_to_end": "x", "ci_low": "x", "ci_high": "x", "e2e_ci_low": "x",
         "e2e_ci_high": "x", "cpu_epoch_s": " s", "gpu_epoch_s": " s", "epoch_s_median": " s", "epoch_s_iqr": " s",
         "cpu_end_to_end_s": " s", "gpu_end_to_end_s": " s", "cpu_compile_s": " s", "gpu_compile_s": " s",
         "cpu_compile_cached_s": " s", "gpu_compile_cached_s": " s", "dataset_size": " samples"}


def wrapped(text: str, width: int = 48) -> str:
    """A subtitle broken into lines of at most ~`width` characters at its commas ("<br>" between lines): Plotly
    does not wrap, and a phone shows about 50 characters of a subtitle."""
    lines, line = [], ""
    for part in text.split(", "):
        candidate = f"{line}, {part}" if line else part
        if line and len(candidate) > width:
            lines.append(line + ",")
            line = part
        else:
            line = candidate
    return "<br>".join([*lines, line])


def model_style_key(kinds) -> str:
    """A line saying which line style and marker stands for which model kind: 'mlp: solid, cnn: dashed'."""
    return "Line style per model kind: " + ", ".join(
        f"{k}: {DASH_WORDS[MODEL_DASH.get(k, 'solid')]}" for k in kinds)


def _reference_lines(fig: go.Figure, xs: list[float], price_ratio: float | None):
    """Horizontal lines at speedup 1 and at the price ratio, as legend entries across the x range.

    Drawn as traces, not add_hline annotations: on a log axis plotly places an hline's text at
    10**y, which stretches the axis.
    """
    xs = [x for x in xs if x is not None and x > 0]
    if not xs:
        return
    span = [min(xs), max(xs)]
    fig.add_trace(go.Scatter(x=span, y=[1.0, 1.0], mode="lines", name="speedup 1: GPU as fast as CPU",
                             line={"dash": "dash", "color": "gray"}, hoverinfo="skip"))
    if price_ratio is not None and math.isfinite(price_ratio) and price_ratio > 0:
        fig.add_trace(go.Scatter(x=span, y=[price_ratio] * 2, mode="lines",
                                 name=f"price ratio {price_ratio:.3g}: above it the GPU is also cheaper",
                                 line={"dash": "dot", "color": "firebrick"}, hoverinfo="skip"))


def _log_line(frame: pl.DataFrame, x: str, y: str, color: str, group: list[str], hover: list[str],
              title: str, ci: tuple[str, str] | None = None, dash: str = "model") -> go.Figure:
    """Log-log lines: a colour per `color` (a device or device pair, `style.device_color`), a line style and marker
    per `dash` (the model kind, MODEL_DASH), a separate line per `group` within them.

    The legend holds one entry per colour, so it stays short whatever else the lines differ in (batch, precision,
    dataset size: on hover). One trace per (colour, model kind), its lines separated by gaps (a trace per line
    would cost ~5 ms each to build with thousands of lines). ci: (low, high) columns drawn as asymmetric error
    bars around y (missing bounds draw none).
    """
    # Columns with no value anywhere ("heads" of an MLP) would show "null" in every tooltip.
    hover = [c for c in hover if c in frame.columns and c not in (x, y) and frame[c].null_count() < frame.height]
    with_ci = ci is not None and all(c in frame.columns for c in ci)
    if with_ci:
        frame = frame.with_columns((pl.col(ci[1]) - pl.col(y)).clip(0).fill_null(0.0).alias("_ci_plus"),
                                   (pl.col(y) - pl.col(ci[0])).clip(0).fill_null(0.0).alias("_ci_minus"))
    if dash not in frame.columns:
        frame = frame.with_columns(pl.lit("").alias(dash))
    keys = [color, dash]
    frame = frame.sort(*keys, *group, x, nulls_last=True).with_row_index("_k")
    # a gap row (all null) after the last point of every line
    last = pl.struct(*keys, *group).ne_missing(pl.struct(*keys, *group).shift(-1))
    ends = frame.filter(last.fill_null(True)).select(*keys, (pl.col("_k") * 2 + 1).alias("_o"))
    rows = pl.concat([frame.with_columns((pl.col("_k") * 2).alias("_o")), ends], how="diagonal_relaxed").sort("_o")

    # Three significant figures, in full (d3 ",.3~r": 1,220 and 0.00236, never 0.23552897799999073 or 1.2e+3),
    # followed by the unit.
    def shown(c: str, ref: str) -> str:
        dtype = frame.schema[c]
        number = f"%{{{ref}:,.3~r}}" if dtype.is_float() else f"%{{{ref}:,d}}" if dtype.is_integer() else f"%{{{ref}}}"
        return number + UNITS.get(c, "")

    template = "<br>".join([f"{LABELS.get(color, color)}: %{{meta}}", f"{LABELS.get(x, x)}: {shown(x, 'x')}",
                            f"{LABELS.get(y, y)}: {shown(y, 'y')}",
                            *[f"{LABELS.get(c, c)}: {shown(c, f'customdata[{i}]')}" for i, c in enumerate(hover)]])
    colours = device_colors(frame[color].unique().sort().to_list())
    fig = go.Figure()
    for part in rows.partition_by(keys, maintain_order=True):
        name, kind = str(part[color][0]), str(part[dash][0])
        error = {}  # NumPy arrays, not lists: Plotly checks lists element by element (~0.1 s per 5,000 points)
        if with_ci:
            error = {"error_y": {"type": "data", "symmetric": False, "array": part["_ci_plus"].to_numpy(),
                                 "arrayminus": part["_ci_minus"].to_numpy(), "color": colours[name]}}
        fig.add_trace(go.Scatter(
            x=part[x].to_numpy(), y=part[y].to_numpy(), mode="lines+markers", name=f"{name} · {kind}" if kind else name,
            meta=name, legendgroup=name, showlegend=False, connectgaps=False,
            line={"color": colours[name], "dash": MODEL_DASH.get(kind, "solid")},
            marker={"symbol": MODEL_SYMBOL.get(kind, "circle")},
            customdata=part.select(hover).to_numpy() if hover else None, hovertemplate=template + "<extra></extra>",
            **error))
    for name, colour in colours.items():  # the legend: one entry per colour, standing for all its lines
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines+markers", name=name, legendgroup=name,
                                 line={"color": colour}, marker={"color": colour}, hoverinfo="skip"))
    kinds = [k for k in frame[dash].unique().sort().to_list() if k]
    fig.update_layout(title=title, legend_title_text="", hovermode="closest",
                      meta={"style_key": model_style_key(kinds)} if len(kinds) > 1 else None,
                      xaxis={"type": "log", "title": LABELS.get(x, x)}, yaxis={"type": "log", "title": LABELS.get(y, y)})
    return fig


def _thinned(fig: go.Figure, thinned: Thinned) -> go.Figure:
    """Say on the chart (subtitle) and in fig.layout.meta["thinned"] what thinning left out; the model kinds' line
    styles (meta "style_key", from `_log_line`) go in the subtitle too."""
    readable_log_axes(fig)
    meta = dict(fig.layout.meta) if isinstance(fig.layout.meta, dict) else {}
    if thinned.note:
        meta["thinned"] = thinned.note
    # One line each, short enough for a phone: the note's first clause ("Showing 4,998 of 15,000 pairs"); the
    # page's caption gives the whole note (thinned_note).
    short = thinned.note.split(":")[0] + " (thinned)" if thinned.note else None
    subtitle = "<br>".join(wrapped(t) for t in (meta.get("what"), meta.get("style_key"), short) if t)
    if subtitle:
        fig.update_layout(title={"subtitle": {"text": subtitle}})
    fig.update_layout(meta=meta or None)
    return fig


def thinned_note(fig: go.Figure) -> str | None:
    """The note `engine.charts.downsample` left on a figure of this module (None when every point is drawn)."""
    meta = fig.layout.meta
    return meta.get("thinned") if isinstance(meta, dict) else None


def speedup_vs_params(pairs: pl.DataFrame, price_ratio: float | None = None,
                      crossings: pl.DataFrame | None = None) -> go.Figure:
    """Log-log GPU-over-CPU speedup per epoch against parameter count, a line per model and batch.

    pairs: `analysis.speedup_table(...).pairs`; its 95% interval (ci_low, ci_high) is
    drawn as error bars. crossings: `analysis.crossovers` output (kind, size, threshold, label);
    each interpolated crossing is marked with an x on its threshold line.
    """
    frame = _series(pairs) if pairs.height else pairs.with_columns(pl.lit("").alias("series"), pl.lit("").alias("pair"))
    # One line per dataset size: speedup at one size is not comparable to another's.
    shown = thin_lines(frame, "params", "speedup", ["series", "dataset_size"], what="pairs",
                       line_name="line (series and dataset size)", y_name="speedup")
    fig = _log_line(shown.frame, "params", "speedup", "pair", ["series", "dataset_size"],
                    ["series", *SPEEDUP_HOVER, *CI_HOVER],
                    "Speedup vs parameter count (error bars: 95% CI)", ci=("ci_low", "ci_high"))
    _reference_lines(fig, [frame["params"].min(), frame["params"].max()], price_ratio)
    _crossover_marks(fig, crossings, "parameters")
    return _thinned(legend_below(fig), shown)


def mark_size(fig: go.Figure, size: float, label: str) -> go.Figure:
    """A dashed vertical line at x = `size` (e.g. the user's parameter count) spanning the chart's
    y values, as a legend entry named `label` (a trace, so it is placed right on log axes too)."""
    ys = [y for trace in fig.data for y in (trace.y if trace.y is not None else []) if y is not None and y > 0]
    low, high = (min(ys), max(ys)) if ys else (0.5, 2.0)
    fig.add_trace(go.Scatter(x=[size, size], y=[low / 1.5, high * 1.5], mode="lines", name=label,
                             line={"dash": "dash", "color": "#6b7280"}, hoverinfo="name"))
    return readable_log_axes(fig)


def network_among_measured(pairs: pl.DataFrame, params: int, label: str, price_ratio: float) -> go.Figure:
    """The Overview's chart: measured speedups vs parameters (`speedup_vs_params`) with the user's
    network (`params`) drawn as a dashed vertical line named `label`. The legend sits under the plot:
    the Overview draws this chart in a column beside its numbers, where a legend on the right would
    take half the width."""
    return legend_below(mark_size(speedup_vs_params(pairs, price_ratio), params, label), base_height=450)


def _crossover_marks(fig: go.Figure, crossings: pl.DataFrame | None, unit: str):
    """An x on its threshold line at each interpolated crossing (`analysis.crossovers` rows)."""
    if crossings is None or not crossings.height:
        return
    hits = crossings.filter(pl.col("kind") == "crossing")
    if not hits.height:
        return
    fig.add_trace(go.Scatter(
        x=hits["size"].to_list(), y=hits["threshold"].to_list(), mode="markers", name="crossover",
        marker={"symbol": "x", "size": 12, "color": "black"},
        text=[f"{label}: {m} · batch {b}" for label, m, b in zip(hits["label"], hits["model"], hits["batch_size"])],
        hovertemplate=f"crossover %{{text}}<br>%{{x:,.0f}} {unit} at speedup %{{y:.3g}} (interpolated)<extra></extra>",
    ))


def speedup_vs_dataset(pairs: pl.DataFrame, price_ratio: float | None = None,
                       crossings: pl.DataFrame | None = None) -> go.Figure:
    """Log-log end-to-end speedup (compile + transfer + epochs) against dataset size.

    Error bars: the end-to-end 95% interval (e2e_ci_low, e2e_ci_high). crossings:
    `analysis.crossovers(..., size="dataset_size", speedup="speedup_end_to_end")` output.
    """
    frame = _series(pairs) if pairs.height else pairs.with_columns(pl.lit("").alias("series"), pl.lit("").alias("pair"))
    hover = ["params", "epochs", "cpu_end_to_end_s", "gpu_end_to_end_s", "e2e_ci_low", "e2e_ci_high",
             "cpu_compile_s", "gpu_compile_s", "cpu_compile_cached_s", "gpu_compile_cached_s",
             *SPEEDUP_HOVER]
    # One line per network (its parameter count): the dataset grows, the network stays.
    shown = thin_lines(frame, "dataset_size", "speedup_end_to_end", ["series", "params"], what="pairs",
                       line_name="network", y_name="end-to-end speedup")
    fig = _log_line(shown.frame, "dataset_size", "speedup_end_to_end", "pair", ["series", "params"], ["series", *hover],
                    "End-to-end speedup vs dataset size", ci=("e2e_ci_low", "e2e_ci_high"))
    fig.update_layout(meta={**(fig.layout.meta or {}), "what": "compile and transfer included"})
    _reference_lines(fig, [frame["dataset_size"].min(), frame["dataset_size"].max()], price_ratio)
    _crossover_marks(fig, crossings, "samples")
    return _thinned(legend_below(fig), shown)


def epoch_time_vs_params(runs: pl.DataFrame) -> go.Figure:
    """Log-log median seconds per epoch against parameters, a colour per device, a marker per model kind
    (MODEL_SYMBOL); the legend lists the devices, the subtitle the markers."""
    hover = ["width", "depth", "batch_size", "dataset_size", "dtype", "mode", "source", "epoch_s_iqr"]
    frame = with_device(runs).select("device", "model", "params", "epoch_s_median",
                                     *[c for c in hover if c in runs.columns])
    shown = thin_lines(frame, "params", "epoch_s_median", ["device", "model"], what="runs",
                       line_name="device and model kind", y_name="time per epoch")
    colours = device_colors(frame["device"].unique().sort().to_list())
    fig = px.scatter(shown.frame.sort("device", "model", "params"), x="params", y="epoch_s_median", color="device",
                     color_discrete_map=colours, symbol="model", symbol_map=MODEL_SYMBOL, log_x=True, log_y=True,
                     hover_data=[c for c in hover if c in frame.columns], labels=LABELS,
                     title="Time per epoch vs parameters, per device")
    for trace in fig.data:  # px names a trace "<device>, <model>": one legend entry per device instead
        trace.update(legendgroup=trace.name.split(", ")[0], showlegend=False)
    for name, colour in colours.items():
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=name, legendgroup=name,
                                 marker={"color": colour}, hoverinfo="skip"))
    kinds = frame["model"].unique().sort().to_list()
    fig.update_layout(legend_title_text="")
    if len(kinds) > 1:
        fig.update_layout(meta={"style_key": "Marker per model kind: " + ", ".join(
            f"{k}: {MODEL_SYMBOL.get(k, 'circle').replace('-', ' ')}" for k in kinds)})
    return _thinned(legend_below(fig), shown)


def loss_curves(runs: pl.DataFrame) -> go.Figure:
    """Training loss per epoch (warm-up and timed epochs) from the epoch_losses column."""
    frame = (
        with_device(runs)
        .select("run_id", "device", "model", "params", pl.col("epoch_losses"))
        .with_columns(pl.int_ranges(1, pl.col("epoch_losses").list.len() + 1).alias("epoch"))
        .explode("epoch_losses", "epoch")
        .rename({"epoch_losses": "loss"})
        .drop_nulls("loss")
        .with_columns(pl.format("{} · {}", pl.col("device"), pl.col("run_id").str.slice(0, 6)).alias("run"))
    )
    fig = px.line(frame, x="epoch", y="loss", color="run", markers=True, hover_data=["model", "params"],
                  title="Training loss per epoch (the loss must fall)")
    fig.update_layout(legend_title_text="")
    return fig


def config_comparison(runs: pl.DataFrame) -> go.Figure:
    """Seconds per epoch (median, IQR as error bar) for one configuration on each device."""
    frame = with_device(runs).with_columns(
        pl.format("{} ({})", pl.col("device"), pl.col("source")).alias("measured on"),
        (pl.col("epoch_s_iqr") / 2).alias("half_iqr"),
    ).sort("epoch_s_median")
    hover = ["end_to_end_s", "compile_s", "transfer_s", "mode", "created_at"]
    times = [t for t in frame["epoch_s_median"].to_list() if t is not None and t > 0]
    # A linear axis hid a GPU's 3.9 ms bar beside a CPU's 910 ms one: past 20x apart the axis is logarithmic.
    log_y = bool(times) and max(times) / min(times) > 20
    fig = px.bar(frame, x="measured on", y="epoch_s_median", error_y="half_iqr", color="device",
                 color_discrete_map=device_colors(frame["device"].unique()), log_y=log_y,
                 hover_data=[c for c in hover if c in frame.columns], labels=LABELS,
                 title="This configuration on each device (lower is faster" + (", log scale)" if log_y else ")"))
    fig.update_layout(showlegend=False)
    return readable_log_axes(fig)


def one_entry_per_device(fig: go.Figure, device_of, style_key: str | None = None) -> go.Figure:
    """Fold a figure's legend to one entry per device: every trace is hidden from the legend and grouped under its
    device (`device_of(trace) -> label`, or None to leave a trace as it is), and one entry per device, in its
    colour, stands for the group (clicking it hides them all). What line styles or markers mean goes in the
    subtitle (`style_key`): a legend of device x dtype x model kind entries ran past 8 and off a phone."""
    devices = []
    for trace in fig.data:
        device = device_of(trace)
        if device is None:
            continue
        trace.update(legendgroup=device, showlegend=False)
        if device not in devices:
            devices.append(device)
    for device in devices:
        colour = device_color(device)
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines+markers", name=device, legendgroup=device,
                                 line={"color": colour}, marker={"color": colour}, hoverinfo="skip"))
    if style_key:
        fig.update_layout(title={"subtitle": {"text": wrapped(style_key)}})
    return fig


def legend_below(fig: go.Figure, base_height: int = 450) -> go.Figure:
    """The legend in rows under the plot, and the figure taller by one line (px) per entry: on a phone a legend on
    the right takes most of the width, and one below wraps to a line per entry without squeezing the plot away."""
    entries = sum(1 for t in fig.data if t.showlegend is not False and t.name)
    # Anchored to the figure's bottom edge, in a bottom margin that holds it: a legend placed at a fraction of
    # the plot's height below the axis ran into the x-axis title once the plot was short (a phone).
    legend_px = 22 * entries
    fig.update_layout(height=base_height + legend_px, legend_title_text="", margin={"b": 70 + legend_px},
                      legend={"orientation": "h", "yref": "container", "yanchor": "bottom", "y": 0,
                              "xanchor": "left", "x": 0})
    return fig


def matmul_rates(micro: pl.DataFrame) -> go.Figure:
    """Matmul FLOP/s against matrix side n, a colour per device, a dash per dtype and precision."""
    frame = (
        with_device(micro.filter((pl.col("benchmark") == "matmul") & (pl.col("status") == "ok")))
        .with_columns(
            pl.format("{} {}", pl.col("dtype"), pl.col("matmul_precision").fill_null("")).alias("dtype · precision"),
            (pl.col("flops_per_s") / 1e12).alias("TFLOP/s"),
        )
        .sort("device", "dtype · precision", "size")
    )
    dashes, key = dash_map(frame["dtype · precision"].unique().sort().to_list(), "dtype · precision")
    fig = px.line(frame, x="size", y="TFLOP/s", color="device", color_discrete_map=device_colors(frame["device"].unique()),
                  line_dash="dtype · precision", line_dash_map=dashes, markers=True,
                  log_x=True, log_y=True, hover_data=["seconds_median", "seconds_iqr", "source"],
                  labels={"size": "matrix side n (n x n @ n x n)"}, title="Matrix multiplication rate")
    one_entry_per_device(fig, lambda t: t.name.split(", ")[0], key)
    return readable_log_axes(legend_below(fig))


def bandwidths(micro: pl.DataFrame) -> go.Figure:
    """GB/s of device memory (read + write) and host-to-device copies against bytes moved."""
    frame = (
        with_device(micro.filter(pl.col("benchmark").is_in(["memory_bandwidth", "host_to_device"])
                                 & (pl.col("status") == "ok")))
        .with_columns((pl.col("bytes_per_s") / 1e9).alias("GB/s"), (pl.col("size") / 2**20).alias("MiB"))
        .sort("benchmark", "device", "size")
    )
    dashes, key = dash_map(frame["benchmark"].unique().sort().to_list(), "benchmark")
    fig = px.line(frame, x="MiB", y="GB/s", color="device", color_discrete_map=device_colors(frame["device"].unique()),
                  line_dash="benchmark", line_dash_map=dashes, markers=True, log_x=True,
                  log_y=True, hover_data=["seconds_median", "source"], title="Memory and host-to-device bandwidth")
    one_entry_per_device(fig, lambda t: t.name.split(", ")[0], key)
    return readable_log_axes(legend_below(fig))


def roofline(roofs: pl.DataFrame, runs: pl.DataFrame) -> go.Figure:
    """Roofline per device (min(peak FLOP/s, bandwidth x intensity)) with runs placed on it.

    roofs: `analysis.device_roofs` output. runs: `analysis.with_intensity` output; x is the
    ESTIMATED arithmetic intensity (analytic FLOPs / estimated bytes), y the achieved FLOP/s.
    """
    fig = go.Figure()
    grid = [10 ** (k / 8) for k in range(-16, 41)]  # 0.01 ... 1e5 FLOP/byte
    for row in roofs.iter_rows(named=True):
        peak, bw = row["peak_flops_per_s"], row["bandwidth_bytes_per_s"]
        if not peak or not bw:
            continue
        fig.add_trace(go.Scatter(
            x=grid, y=[min(peak, bw * x) / 1e12 for x in grid], mode="lines", name=f"roof: {row['device']}",
            line={"color": device_color(row["device"])}, legendgroup=row["device"],
            hovertemplate=(f"{row['device']}<br>peak {peak / 1e12:.3g} TFLOP/s ({row['peak_dtype']}), "
                           f"bandwidth {bw / 1e9:.3g} GB/s<extra></extra>"),
        ))
    if runs.height:
        frame = with_device(runs).filter(pl.col("achieved_flops_per_s").is_not_null()
                                          & pl.col("arithmetic_intensity").is_not_null())
        for (device,) in frame.select("device").unique(maintain_order=True).iter_rows():
            part = frame.filter(pl.col("device") == device)
            fig.add_trace(go.Scatter(
                x=part["arithmetic_intensity"].to_list(), y=(part["achieved_flops_per_s"] / 1e12).to_list(),
                mode="markers", name=f"runs: {device}", legendgroup=device, showlegend=False,
                marker={"color": device_color(device), "size": 9},
                # A ResNet has no width (its stem channels say its size): no "w=None" on hover.
                text=[f"{m} w={w} d={d} batch {b}" if w is not None else f"{m}-{d} stem {c} batch {b}"
                      for m, w, d, c, b in zip(part["model"], part["width"], part["depth"], part["channels"],
                                               part["batch_size"])],
                hovertemplate="%{text}<br>intensity %{x:.3g} FLOP/byte (estimate)<br>%{y:.3g} TFLOP/s<extra></extra>",
            ))
    fig.update_layout(
        title={"text": "Roofline: achieved FLOP/s against arithmetic intensity",
               "subtitle": {"text": "Line: the device's roof; dots: its runs"}},
        # What the estimate counts is in the page's caption: a long axis title is cut off on a phone.
        xaxis={"type": "log", "title": "arithmetic intensity, FLOP/byte (ESTIMATE)"},
        yaxis={"type": "log", "title": "TFLOP/s"},
    )
    return readable_log_axes(legend_below(fig))


INSTANCE_COLORS = {"CPU": "#636EFA", "GPU": "#EF553B"}


def cost_vs_epochs(curve: pl.DataFrame, break_even: int | None = None, epochs: int | None = None,
                   colours: dict[str, str] | None = None) -> go.Figure:
    """US$ of a training run against its number of epochs, a line per instance (CPU, GPU).

    curve: `engine.analysis.cost.run_cost_curve` output (epochs, instance, seconds, cost). Each line
    starts at the instance's fixed cost (compile + transfer) and rises by its cost per epoch;
    where the GPU's line drops below the CPU's its run costs less. break_even: that epoch count
    (`engine.analysis.cost.cost_amortization(...).epochs`), marked when given; epochs: the run length
    chosen on the page, marked with a vertical line. colours: {"CPU": colour, "GPU": colour}, the two devices'
    colours on every other chart (`style.device_color`); else a generic pair.
    """
    fig = px.line(curve, x="epochs", y="cost", color="instance", color_discrete_map=colours or INSTANCE_COLORS,
                  hover_data={"seconds": ":,.3~r", "price_per_h": ":,.3~r"},
                  labels={"cost": "US$ per training run", "epochs": "epochs in the run", "seconds": "seconds",
                          "price_per_h": "US$ per hour"},
                  title="Cost of a training run vs its length")
    fig.update_layout(title_subtitle_text="compile and transfer included")
    if break_even is not None and break_even > 0 and curve.height:
        at = curve.filter(pl.col("instance") == "CPU")
        x = float(break_even)
        slope_points = at.sort("epochs")
        cost_at = None
        if slope_points.height >= 2:  # both lines are straight: read the CPU's cost at break_even off its line
            (e0, c0), (e1, c1) = slope_points.select("epochs", "cost").head(2).rows()
            cost_at = c0 + (c1 - c0) / (e1 - e0) * (x - e0)
        if cost_at is not None:
            fig.add_trace(go.Scatter(x=[x], y=[cost_at], mode="markers", name=f"GPU cheaper from {break_even:,} epochs",
                                     marker={"symbol": "x", "size": 12, "color": "black"},
                                     hovertemplate="GPU run costs less from %{x:,} epochs on<extra></extra>"))
    if epochs is not None and curve.height:
        fig.add_vline(x=epochs, line_dash="dot", line_color="gray")
    fig.update_layout(legend_title_text="", hovermode="x unified", yaxis_tickprefix="$")
    return legend_below(fig)


def idle_cost_vs_hours(curve: pl.DataFrame, hours: float | None = None) -> go.Figure:
    """US$ of an instance left running idle against hours, a line per instance.

    curve: `engine.analysis.cost.idle_cost_curve` output (hours, instance, cost). hours: the idle time
    chosen on the page, marked with a vertical line.
    """
    fig = px.line(curve, x="hours", y="cost", color="instance", color_discrete_map=INSTANCE_COLORS,
                  hover_data={"price_per_h": True},
                  labels={"cost": "US$ spent while idle", "hours": "hours left running after the job",
                          "price_per_h": "US$ per hour"},
                  title="Forgot to shut it down? An idle instance")
    if hours is not None and curve.height:
        fig.add_vline(x=hours, line_dash="dot", line_color="gray")
    fig.update_layout(legend_title_text="", hovermode="x unified", yaxis_tickprefix="$")
    return legend_below(fig)


def perf_model_fit(points: pl.DataFrame, curves: pl.DataFrame) -> go.Figure:
    """Measured seconds per training step (markers) and the fitted overhead + FLOPs / rate (lines).

    points: `engine.analysis.perfmodel.measured_vs_fitted` output; curves: `engine.analysis.perfmodel.fit_curves`.
    Log-log, a colour per fit (device · model · dtype · precision · mode).
    """
    fig = go.Figure()
    labels = sorted(set(points["fit"].to_list()) | set(curves["fit"].to_list()))
    for label in labels:
        # "<device> · <model> <dtype> (...)" (perfmodel.fit_label): the device's colour, a dash per model kind
        device, _, rest = label.partition(" · ")
        color, dash = device_color(device), MODEL_DASH.get(rest.split(" ")[0], "solid")
        line = curves.filter(pl.col("fit") == label)
        if line.height:
            fig.add_trace(go.Scatter(x=line["flops_per_step"].to_list(), y=line["fitted_step_s"].to_list(),
                                     mode="lines", name=f"fitted: {label}", line={"color": color, "dash": dash},
                                     hovertemplate=("fitted %{y:,.3~r} s/step at %{x:,.3~r} FLOPs<extra>" + label
                                                    + "</extra>")))
        dots = points.filter(pl.col("fit") == label)
        if dots.height:
            fig.add_trace(go.Scatter(
                x=dots["flops_per_step"].to_list(), y=dots["measured_step_s"].to_list(), mode="markers",
                name=f"measured: {label}", marker={"color": color, "size": 8,
                                                   "symbol": MODEL_SYMBOL.get(rest.split(" ")[0], "circle")},
                customdata=list(zip(dots["fitted_step_s"].to_list(), dots["params"].to_list())),
                hovertemplate=("measured %{y:,.3~r} s/step, fitted %{customdata[0]:,.3~r} s<br>%{x:,.3~r} "
                               "FLOPs/step, %{customdata[1]:,} parameters<extra>" + label + "</extra>"),
            ))
    fig.update_layout(
        title="Performance model: measured vs fitted",
        xaxis={"type": "log", "title": "FLOPs per training step (analytic)"},
        yaxis={"type": "log", "title": "seconds per step"},
    )
    kinds = sorted({label.partition(" · ")[2].split(" ")[0] for label in labels})
    one_entry_per_device(fig, lambda t: t.name.partition(": ")[2].partition(" · ")[0],
                         "Lines: fitted (at each fit's typical batch, no floor), markers: measured"
                         + (". " + model_style_key(kinds) if len(kinds) > 1 else ""))
    return readable_log_axes(legend_below(fig))


def scaling(table: pl.DataFrame) -> go.Figure:
    """Data-parallel scaling: two panels against the device count N, a colour per series.

    table: `engine.analysis.scaling.scaling_table` output (label, device_count, samples_per_s,
    ideal_samples_per_s, efficiency, series_emulated, mesh_shape, runs, epochs_timed).
    Top: throughput in samples/s (log-log), measured (solid) and ideal = N x the one-device
    throughput (dashed, same colour). Bottom: efficiency = throughput / (N x one-device throughput),
    with the ideal efficiency 1 (dashed grey). A series without a one-device run has neither
    ideal nor efficiency. Series on emulated devices say "emulated" in their names, and the title
    says what that means.
    """
    # The panels one above the other: side by side, each was 150 px wide on a phone and their titles were cut.
    fig = make_subplots(rows=2, cols=1, vertical_spacing=0.16,
                        subplot_titles=("Throughput (dashed: ideal, N x one device)", "Efficiency (1 = ideal)"))
    labels = table["label"].unique(maintain_order=True).to_list() if table.height else []
    for label in labels:
        rows = table.filter(pl.col("label") == label).sort("device_count")
        # The device's colour, as on every chart (style.device_color); a marker per model kind tells a device's
        # series apart, and the legend names each one.
        color = device_color(rows["device"][0])
        symbol = MODEL_SYMBOL.get(rows["model"][0], "circle")
        n = rows["device_count"].to_list()
        custom = list(zip(rows["mesh_shape"].fill_null("").to_list(), rows["runs"].to_list(),
                          rows["epochs_timed"].to_list()))
        fig.add_trace(go.Scatter(
            x=n, y=rows["samples_per_s"].to_list(), mode="lines+markers", name=label, legendgroup=label,
            line={"color": color}, marker={"symbol": symbol, "size": 8}, customdata=custom,
            hovertemplate=("%{x} devices (%{customdata[0]}): %{y:,.4g} samples/s<br>%{customdata[1]} runs, "
                           "%{customdata[2]} timed epochs<extra>" + label + "</extra>"),
        ), row=1, col=1)
        ideal = rows.filter(pl.col("ideal_samples_per_s").is_not_null())
        if ideal.height:
            fig.add_trace(go.Scatter(
                x=ideal["device_count"].to_list(), y=ideal["ideal_samples_per_s"].to_list(), mode="lines",
                name=f"ideal (linear): {label}", legendgroup=label, showlegend=False,
                line={"color": color, "dash": "dash"},
                hovertemplate="ideal: %{x} x one-device throughput = %{y:,.4g} samples/s<extra></extra>",
            ), row=1, col=1)
        efficient = rows.filter(pl.col("efficiency").is_not_null())
        if efficient.height:
            fig.add_trace(go.Scatter(
                x=efficient["device_count"].to_list(), y=efficient["efficiency"].to_list(), mode="lines+markers",
                name=f"efficiency: {label}", legendgroup=label, showlegend=False, line={"color": color},
                marker={"symbol": symbol, "size": 8},
                hovertemplate="%{x} devices: efficiency %{y:.3g}<extra>" + label + "</extra>",
            ), row=2, col=1)
    if any(t.name.startswith("ideal (linear): ") for t in fig.data):  # one legend entry for all dashed ideals
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", line={"color": "gray", "dash": "dash"},
                                 name="ideal: N x one-device throughput (dashed, in each series' colour)"),
                      row=1, col=1)
    counts = sorted(set(table["device_count"].to_list())) if table.height else [1]
    fig.add_trace(go.Scatter(x=[min(counts), max(counts)], y=[1.0, 1.0], mode="lines",
                             name="ideal efficiency 1 (perfect linear scaling)", line={"dash": "dash", "color": "gray"},
                             hoverinfo="skip"), row=2, col=1)
    ticks = {"tickvals": counts, "ticktext": [str(c) for c in counts]}
    fig.update_xaxes(type="log", title_text="devices N", **ticks)
    fig.update_yaxes(type="log", title_text="samples/s (all devices)", row=1, col=1)
    fig.update_yaxes(title_text="efficiency", rangemode="tozero", row=2, col=1)
    readable_log_axes(fig)
    fig.update_xaxes(**ticks)  # the device counts themselves, not 1-2-5 steps
    title = "Data-parallel scaling against the number of devices"
    if table.height and table["series_emulated"].any():
        # Short enough for a phone; the page says the rest above the chart.
        title += "<br><sup>emulated: several CPU devices sharing one CPU's cores</sup>"
    # The legend under the panels: series names are long (what was trained, on which device).
    fig.update_layout(title=title, legend_title_text="", hovermode="closest", margin={"t": 110})
    return legend_below(fig, base_height=720)
