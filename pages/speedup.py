"""Speedup explorer: where does the GPU start to win, and where does it start to pay?

Runs of the same configuration on a CPU and on a GPU are paired (engine.analysis.pair_runs);
speedup = CPU median epoch time / GPU median epoch time. Lines at speedup 1 and at the price
ratio; crossovers are interpolated between measured points, never extrapolated.
"""

import polars as pl
import streamlit as st

from dashboard import data, state
from engine import analysis, figures

state.through_app()
st.title("Speedup explorer")

runs = data.runs()
data.show_warnings(runs)
frame = analysis.with_device(analysis.ok_runs(runs.frame))
if not frame.height:
    st.info("No finished runs in the selected data sources yet. Run the Benchmark page, import files on Results, "
            "or add reference files to data/reference/.")
    st.stop()


def options(column: str) -> list:
    return sorted(frame[column].drop_nulls().unique().to_list())


c1, c2, c3 = st.columns([2, 1, 3])
models = state.filter_all(c1, "Model kind", options("model"), "sp_models", pills=True)
dtypes = options("dtype")
dtype = c2.selectbox("dtype", dtypes, index=dtypes.index("float32") if "float32" in dtypes else 0, key="sp_dtype",
                     bind="query-params")
batches = state.filter_all(c3, "Batch size", options("batch_size"), "sp_batches", pills=True)
gpu_devices = sorted(frame.filter(pl.col("platform") != "cpu")["device"].unique().to_list())
cpu_devices = sorted(frame.filter(pl.col("platform") == "cpu")["device"].unique().to_list())
c1, c2 = st.columns(2)
gpus = state.filter_all(c1, "GPU", gpu_devices, "sp_gpus")
cpus = state.filter_all(c2, "CPU", cpu_devices, "sp_cpus")

for label, chosen, allowed in (("Model kind", models, options("model")), ("Batch size", batches, options("batch_size")),
                               ("GPU", gpus, gpu_devices), ("CPU", cpus, cpu_devices)):
    if allowed and not chosen:
        st.error(f"{label}: nothing is selected; choose at least one of {', '.join(map(str, allowed))}.")
        st.stop()

shown = frame.filter(pl.col("model").is_in(models) & (pl.col("dtype") == dtype) & pl.col("batch_size").is_in(batches)
                     & pl.col("device").is_in([*gpus, *cpus]))
gpu_price, cpu_price = state.prices()
ratio = analysis.price_ratio(gpu_price, cpu_price)

pairs = analysis.pair_runs(shown)
if not gpu_devices:
    st.warning("**No GPU measurements exist in the selected data sources yet**, so there is no speedup to show. "
               "Below: CPU time per epoch only. GPU numbers appear here as soon as GPU run files are in "
               "data/reference/ or data/runs/ (import them on the Results page).")
elif not pairs.height:
    st.warning("No configuration in the current filter was measured on both a CPU and a GPU, so no speedup can be "
               "computed. Widen the filters, or measure the same configuration on both.")
else:
    thresholds = tuple(sorted({1.0, ratio}))
    by_params = analysis.crossovers(pairs, thresholds)
    st.plotly_chart(figures.speedup_vs_params(pairs, ratio, by_params), key="sp_params")
    st.caption(f"Above the grey line the GPU is faster; above the red line (price ratio {ratio:.3g} = "
               f"${gpu_price:g}/h over ${cpu_price:g}/h) it is also cheaper. x marks a crossover, interpolated in "
               "log-log between the two measured points around it; a line per dataset size.")
    by_size = analysis.crossovers(pairs, thresholds, x="dataset_size", y="speedup_end_to_end",
                                  by=(*analysis.SERIES_KEYS, "params"), unit="samples")
    st.plotly_chart(figures.speedup_vs_dataset(pairs, ratio, by_size), key="sp_dataset")
    st.caption("End to end = compile + host-to-device transfer + epochs x epoch time, for the CPU run's number "
               "of epochs on both devices: what you wait for. A line per network (parameter count).")

    def table(crossings: pl.DataFrame, extra: tuple[str, ...] = ()) -> pl.DataFrame:
        """One row per series, a column per threshold: where the speedup first reaches it."""
        names = {t: "GPU faster (speedup 1)" if t == 1.0 else f"GPU cheaper (speedup {t:.3g})" for t in thresholds}
        keys = ["model", "batch_size", *extra, "matmul_precision", "gpu_device", "cpu_device"]
        wide = crossings.with_columns(pl.col("threshold").replace_strict(names, return_dtype=pl.String))
        return wide.pivot("threshold", index=keys, values="text").select(*keys, *names.values())

    st.subheader("Crossovers")
    st.markdown("**By parameter count** (speedup per epoch)")
    st.dataframe(table(by_params), hide_index=True)
    st.markdown("**By dataset size** (end-to-end speedup, per network)")
    st.dataframe(table(by_size, ("params",)), hide_index=True)

st.plotly_chart(figures.epoch_time_vs_params(shown), key="sp_epoch")
