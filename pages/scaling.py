"""Scaling: how much faster does training get on N devices of one kind (data-parallel)?

Throughput and efficiency against the device count, per configuration and device
(engine.analysis.scaling; chart engine.charts.figures.scaling). Runs on emulated CPU devices are labelled as such.
"""

import polars as pl
import streamlit as st

from dashboard import columns, data, state
from engine.analysis import scaling
from engine.charts import figures

state.through_app()
st.title("Scaling")
st.caption("Data-parallel training: every batch split over N devices of one kind, parameters replicated, "
           "gradients combined by the compiler (engine/measure/parallel.py).")

runs = data.runs()
data.show_warnings(runs)
table = scaling.scaling_table(runs.frame)
if not table.height:
    st.info("**No multi-device runs in the selected data sources yet**, so there is no scaling to show. Make some "
            "with the command line, then reload:\n\n"
            f"- on a machine with several GPUs: `{scaling.GPU_COMMAND}`\n"
            f"- on this CPU, with emulated devices (they share its cores, and are labelled emulated): "
            f"`{scaling.CPU_COMMAND}`\n\n"
            "`--device-counts 1,2,4` picks the device counts; `--device-count N` on `python -m engine run` "
            "measures one network on N devices, and `--processes N` trains it across N processes (on a cluster, "
            "across machines: see the README, \"Several machines\").")
    st.stop()

if table["series_emulated"].any():
    st.warning("Some series ran on **emulated** CPU devices: several devices in one process (JAX_NUM_CPU_DEVICES) "
               "or several processes on one machine (`--processes N`), sharing the same CPU cores. They check that "
               "data-parallel training works and show what splitting the batch costs; they do not show what more "
               "hardware would gain.")
st.plotly_chart(figures.scaling(table), key="sc_chart")
st.caption("Throughput = samples per epoch / median epoch time over every timed epoch of every run (all devices "
           "together). Ideal = N x the one-device throughput of the same configuration on the same device kind "
           "and machine; efficiency = throughput / ideal (1 = perfect linear scaling). A series without a "
           "one-device run has no ideal line or efficiency. Devices within one process, processes on one host and "
           "processes across hosts (`run --processes N`, or a cluster launcher) are separate series, each measured "
           "against the same one-device run.")

st.subheader("Scaling table")
# The answer first (how much faster on N devices, and how close to ideal), then what was measured.
st.dataframe(
    table.select(
        pl.col("label").alias("series"), "device_count", "speedup", "efficiency", "samples_per_s",
        "ideal_samples_per_s", pl.col("layout").alias("devices where"), "mesh_shape", "emulated", "model", "params",
        "batch_size", "dataset_size", "dtype", "mode", "device", "host", "epoch_s", "runs", "epochs_timed",
    ),
    hide_index=True, key="sc_table",
    column_config=columns.table_config({
        "device_count": ("devices N", "count"), "speedup": ("speedup over 1 device", "speedup"),
        "efficiency": ("efficiency", "ratio"), "samples_per_s": ("samples/s", "per_s"),
        "ideal_samples_per_s": ("ideal samples/s", "per_s"), "params": ("parameters", "count"),
        "batch_size": ("batch", "count"), "dataset_size": ("samples", "count"),
        "epoch_s": ("s/epoch (median)", "seconds"), "runs": ("runs", "count"),
        "epochs_timed": ("epochs timed", "count")}),
)
