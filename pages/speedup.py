"""Speedup explorer: where does the GPU start to win, and where does it start to pay?

Runs of the same configuration on a CPU and on a GPU are paired (engine.analysis.tables.speedup_table:
engine.analysis.pairing + engine.analysis.confidence); speedup = CPU median epoch time / GPU median epoch time with
a 95% interval (over runs; with one run a side, over its epochs); runs that could not be paired are
listed. Lines at speedup 1 and at the price ratio; crossovers (engine.analysis.crossover) are
interpolated between measured points, never extrapolated. Tables, crossovers and charts come
from dashboard.data, cached per data folder contents and filters; large views get intervals for
their first tables.MAX_INTERVALS pairs and charts thinned to engine.charts.downsample.MAX_POINTS
points, and the page says so.
"""

import polars as pl
import streamlit as st

from dashboard import columns, data, state
from engine.analysis import tables
from engine.base import fmt
from engine.charts import figures

# What `tables.crossovers` adds to a series' keys (the rest of its columns name the series).
CROSSING_COLUMNS = ("label", "threshold", "kind", "size", "range_low", "range_high", "falls_below_at", "points", "text")

state.through_app()
st.title("Speedup explorer")

runs = data.runs()
data.show_warnings(runs)
options = data.explorer_options()
if not (options["cpu_devices"] or options["gpu_devices"]):
    st.info("No finished runs in the selected data sources yet. Run the Benchmark page, import files on Results, "
            "or add reference files to data/reference/.")
    st.stop()

c1, c2, c3 = st.columns([2, 1, 3])
models = state.filter_all(c1, "Model kind", options["model"], "sp_models", pills=True)
dtypes = options["dtype"]
dtype = c2.selectbox("dtype", dtypes, index=dtypes.index("float32") if "float32" in dtypes else 0, key="sp_dtype",
                     bind="query-params")
batches = state.filter_all(c3, "Batch size", options["batch_size"], "sp_batches", pills=True)
gpu_devices, cpu_devices = options["gpu_devices"], options["cpu_devices"]
c1, c2 = st.columns(2)
gpus = state.filter_all(c1, "GPU", gpu_devices, "sp_gpus")
cpus = state.filter_all(c2, "CPU", cpu_devices, "sp_cpus")

for label, chosen, allowed in (("Model kind", models, options["model"]), ("Batch size", batches,
                                                                           options["batch_size"]),
                               ("GPU", gpus, gpu_devices), ("CPU", cpus, cpu_devices)):
    if allowed and not chosen:
        st.error(f"{label}: nothing is selected; choose at least one of {', '.join(map(str, allowed))}.")
        st.stop()

prices = state.checked_prices()
if prices is None:
    st.stop()
ratio = prices.break_even_speedup
levels = tables.thresholds(prices)

# Failed runs of the chosen configurations are kept so the unpaired list can name them, also on a
# device that never finished a run (and so is not among the filter's options).
view = (tuple(models), dtype, tuple(batches), (*gpus, *cpus), (*gpu_devices, *cpu_devices))
table = data.speedup_table(view)  # cached per data folder contents and filter
pairs = table.pairs
if not gpu_devices:
    st.warning("**No GPU measurements exist in the selected data sources yet**, so there is no speedup to show. "
               "Below: CPU time per epoch only. GPU numbers appear here as soon as GPU run files are in "
               "data/reference/ or data/runs/ (import them on the Results page).")
elif not pairs.height:
    st.warning("No configuration in the current filter was measured on both a CPU and a GPU, so no speedup can be "
               "computed. Widen the filters, or measure the same configuration on both.")
else:
    if table.note:
        st.info(table.note)
    by_params = data.crossovers(levels, "params", view)
    by_size = data.crossovers(levels, "dataset_size", view)
    chart, size_chart = data.speedup_charts(levels, ratio, view)  # engine.charts.figures, cached
    st.plotly_chart(chart, key="sp_params")
    st.caption(f"Above the grey line the GPU is faster; above the red line (price ratio {fmt.number(ratio)} = "
               f"${prices.gpu_per_h:g}/h over ${prices.cpu_per_h:g}/h) it is also cheaper. Error bars: 95% "
               "interval over runs (two or more a side), else over one run's epochs (which leaves run-to-run "
               "variation out: hover says which). x marks a crossover, interpolated in log-log "
               "between the two measured points around it; a line per dataset size. "
               + (figures.thinned_note(chart) or ""))
    st.plotly_chart(size_chart, key="sp_dataset")
    st.caption("End to end = compile + host-to-device transfer + epochs x epoch time, for the CPU run's number "
               "of epochs on both devices: what you wait for. A line per network (parameter count). "
               + (figures.thinned_note(size_chart) or ""))

    st.subheader("Speedup table")
    # The answer first (speedups and their intervals), then what was measured; the rest behind the toggle.
    every_column = st.toggle("Show every column", key="sp_all_columns", bind="query-params",
                             help="Network shape, dtype, sources, epochs and runs behind each speedup")
    answer_columns = {"speedup": ("speedup per epoch", "speedup"), "ci_low": ("95% CI low", "speedup"),
                      "ci_high": ("95% CI high", "speedup"),
                      "speedup_end_to_end": ("speedup end to end", "speedup"),
                      "model": None, "params": ("parameters", "count"), "batch_size": ("batch", "count"),
                      "dataset_size": ("samples", "count"), "gpu_device": None, "cpu_device": None}
    detail_columns = {"cpu_epoch_s": ("CPU s/epoch", "seconds"), "gpu_epoch_s": ("GPU s/epoch", "seconds"),
                      "ci_basis": None, "e2e_ci_low": ("e2e 95% CI low", "speedup"),
                      "e2e_ci_high": ("e2e 95% CI high", "speedup"), "epochs": ("epochs (end to end)", "count"),
                      "width": ("width", "count"), "depth": ("depth", "count"), "channels": ("channels", "count"),
                      "dtype": None, "matmul_precision": None, "gpu_source": None, "cpu_source": None,
                      "cpu_n_epochs": ("CPU epochs timed", "count"), "gpu_n_epochs": ("GPU epochs timed", "count"),
                      "cpu_runs": ("CPU runs", "count"), "gpu_runs": ("GPU runs", "count")}
    shown = {**answer_columns, **(detail_columns if every_column else {})}
    st.dataframe(pairs.select([c for c in shown if c in pairs.columns]), hide_index=True, key="sp_table",
                 column_config={**columns.table_config({c: f for c, f in shown.items() if f}),
                                "gpu_device": "GPU", "cpu_device": "CPU", "ci_basis": "interval over"})
    st.caption("speedup = median CPU epoch time / median GPU epoch time, over every timed epoch of every run of "
               "that configuration on that device. The 95% interval ('interval over'): with two or more runs a side, "
               "over runs (a t interval on the runs' log epoch times, so run-to-run variation counts; its coverage "
               "was checked on synthetic data, docs/PERFORMANCE.md); with one run a side, a bootstrap over that run's "
               "epochs, which cannot see run-to-run variation: read it as too narrow. Measure more runs to fix that.")

    def crossing_table(crossings: pl.DataFrame, extra: tuple[str, ...] = ()) -> pl.DataFrame:
        """One row per series, a column per threshold: where the speedup first exceeds it."""
        names = {"faster": "GPU faster (speedup 1)", "cheaper": f"GPU cheaper (speedup {fmt.number(ratio)})"}
        # A row per series: every series key indexes the pivot; only the ones that vary are shown.
        series = [c for c in crossings.columns if c not in CROSSING_COLUMNS]
        shown = ["model", "batch_size", *extra] + [c for c in series if c not in ("model", "batch_size", *extra)
                                                    and crossings[c].n_unique() > 1]
        wide = crossings.with_columns(pl.col("label").replace_strict(names, return_dtype=pl.String))
        return wide.pivot("label", index=series, values="text").select(*shown, *names.values())

    st.subheader("Crossovers")
    st.markdown("**By parameter count** (speedup per epoch)")
    st.dataframe(crossing_table(by_params, ("dataset_size",)), hide_index=True)
    st.markdown("**By dataset size** (end-to-end speedup, per network)")
    st.dataframe(crossing_table(by_size, ("params",)), hide_index=True)
    st.caption("A series holds everything fixed but the swept axis: along parameters the dataset size, depth and "
               "the rest of the network (only width or channels grow); along dataset size the whole network.")

unpaired = table.unpaired
if unpaired.height:
    with st.expander(f"{unpaired.height} runs or device sides without a partner (not in the speedups)"):
        st.caption("Pairs compare like with like: the same network, data, dtype, precision and optimizer, measured "
                   "by the same engine version with the same epoch runner (or each device's own `auto` runner). "
                   "Each row says why it was left out.")
        st.dataframe(unpaired.select("reason", "platform", "device", "source", "model", "width", "depth", "channels",
                                     "params", "batch_size", "dataset_size", "dtype", "matmul_precision", "optimizer",
                                     "mode", "engine_version", "runs", "run_ids"), hide_index=True, key="sp_unpaired")

chart = data.epoch_chart(view)
st.plotly_chart(chart, key="sp_epoch")
if figures.thinned_note(chart):
    st.caption(figures.thinned_note(chart))
