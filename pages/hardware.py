"""Hardware: what each device can do (microbenchmarks) and where the runs sit on its roofline.

Matmul FLOP/s by size, dtype and precision; device memory and host-to-device bandwidth; a
roofline per device (best measured matmul rate and memory bandwidth) with the training runs
placed at their estimated arithmetic intensity and achieved FLOP/s.
"""

import polars as pl
import streamlit as st

from dashboard import data, fmt, jobs, state
from engine import analysis, figures

JOBS_KEY = "hw_job_ids"

state.through_app()
st.title("Hardware")

specs = data.device_specs()
with st.form("hw_form"):
    c1, c2, c3 = st.columns([2, 1, 1])
    devices = c1.multiselect("Devices to measure", specs, default=specs, key="hw_devices")
    full = c2.toggle("Large sizes (8192^3 matmul, 1 GiB copies)", key="hw_full")
    limit = c3.number_input("Time limit (s)", 10, 3600, value=300, key="hw_limit")
    if st.form_submit_button("Run microbenchmarks"):
        if not devices:
            st.error("devices=[] is not allowed: expected at least one of " + ", ".join(specs))
        else:
            jobs.remember(JOBS_KEY, data.worker().submit_micro(tuple(devices), float(limit), full=full))
jobs.panel(JOBS_KEY)
for job in [j for j in jobs.session_jobs(JOBS_KEY) if not j.active][-1:]:
    (st.success if job.state == "done" else st.error)(f"{job.label}: {job.message}")

micro = data.micro()
data.show_warnings(micro)
ok = analysis.with_device(micro.frame.filter(pl.col("status") == "ok"))
if not ok.height:
    st.info("No microbenchmarks in the selected data sources yet. Run them above, or add *.micro.parquet files "
            "to data/reference/.")
    st.stop()
if not ok.filter(pl.col("platform") != "cpu").height:
    st.warning("**No GPU microbenchmarks exist in the selected data sources yet**: only CPU numbers below.")

roofs = analysis.device_roofs(ok)
st.subheader("Per device")
st.dataframe(
    roofs.select(
        "device",
        (pl.col("peak_flops_per_s") / 1e12).round(3).alias("best matmul TFLOP/s"),
        pl.col("peak_dtype").alias("at dtype / precision"),
        (pl.col("bandwidth_bytes_per_s") / 1e9).round(1).alias("memory GB/s (read + write)"),
    ),
    hide_index=True,
)
if ok.filter(pl.col("benchmark") == "matmul").height:
    st.plotly_chart(figures.matmul_rates(ok), key="hw_matmul")
    st.caption("float32 'default' precision is TF32 on recent NVIDIA GPUs; 'highest' is true float32.")
if ok.filter(pl.col("benchmark") != "matmul").height:
    st.plotly_chart(figures.bandwidths(ok), key="hw_bandwidth")

st.subheader("Roofline")
runs = analysis.with_intensity(analysis.ok_runs(data.runs().frame))
st.plotly_chart(figures.roofline(roofs, runs), key="hw_roofline")
st.caption(
    f"Each line: min(best matmul rate, memory bandwidth x intensity) of one device. Each dot: a training run's "
    f"analytic FLOPs per second against its arithmetic intensity, an ESTIMATE: analytic FLOPs per step / "
    f"({analysis.BYTES_PER_PARAM_PER_STEP} bytes per parameter for weights, gradients and Adam state + the input "
    f"batch). Activations are not counted, so the true intensity is lower (dots sit further left). A dot above "
    f"its device's roof ran from cache: its weights and optimizer state fit in the CPU's or GPU's cache, whose "
    f"bandwidth is above the memory bandwidth measured on large arrays. "
    f"{runs.height} runs, {fmt.count(runs['params'].max()) if runs.height else 0} parameters at most."
)
