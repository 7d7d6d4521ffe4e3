"""Hardware: what each device can do (microbenchmarks), where the runs sit on its roofline, and
the fitted performance model.

Known problems of the shipped reference measurements of the devices shown (data/reference/caveats.csv,
engine.answer.caveats) are listed first, their text escaped: they come from a file.

Matmul FLOP/s by size, dtype and precision; device memory and host-to-device bandwidth; a
roofline per device (best measured matmul rate and memory bandwidth) with the training runs
placed at their estimated arithmetic intensity and achieved FLOP/s. Then, per device and model
kind, the step-time model t_step = overhead + max(FLOPs / rate at the batch, bytes / bandwidth) fitted on the training runs
(engine.analysis.perfmodel): the fitted rate, overhead and fit error, and measured against fitted.
"""

import polars as pl
import streamlit as st

from dashboard import columns, data, jobs, state
from dashboard.sidebar import _plain as plain  # every Markdown and HTML character escaped
from engine.analysis import perfmodel, tables
from engine.answer import caveats
from engine.base import fmt
from engine.base.limits import LimitError
from engine.charts import figures
from engine.jobs.worker import SubmitRefused

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
            try:
                jobs.remember(JOBS_KEY, data.worker().submit_micro(tuple(devices), float(limit), full=full))
            except (SubmitRefused, LimitError) as exc:  # over a limit, or the queue is full
                st.error(str(exc))
jobs.panel(JOBS_KEY)
for job in [j for j in jobs.session_jobs(JOBS_KEY) if not j.active][-1:]:
    (st.success if job.state == "done" else st.error)(f"{job.label}: {job.message}")

micro = data.micro()
data.show_warnings(micro)
ok = tables.with_device(micro.frame.filter(pl.col("status") == "ok"))
runs = tables.ok_runs(data.runs().frame)


def _caveats(shown: pl.DataFrame):
    """A warning and a folded list of the known problems of the reference rows of the devices in `shown`."""
    try:
        table = caveats.load_caveats(state.reference_dir() / caveats.FILE_NAME)
    except caveats.CaveatsError as exc:
        st.error(f"Known problems of the reference files could not be read: {plain(exc)}")
        return
    found = caveats.for_devices(table, shown)
    if not found.height:
        return
    st.warning(f"**Known problems in the reference measurements of the devices shown ({found.height})**: figures "
               f"that do not measure what their label says, which only a machine like the one that made them can "
               f"measure again (data/reference/caveats.csv).")
    with st.expander("Known problems of the reference measurements"):
        st.markdown("\n".join(
            f"- **{plain(r['file'])}** ({plain(r['device_kind'] if r['cpu_model'] is None else r['cpu_model'])}, "
            f"{plain(r['subject'])}): {plain(r['what'])}. *Why:* {plain(r['why'])}"
            for r in found.iter_rows(named=True)))


_caveats(pl.concat([frame.select("source", "device_kind", "cpu_model") for frame in (ok, runs)]))
if not ok.height:
    st.info("No microbenchmarks in the selected data sources yet. Run them above, or add *.micro.parquet files "
            "to data/reference/.")
else:
    if not ok.filter(pl.col("platform") != "cpu").height:
        st.warning("**No GPU microbenchmarks exist in the selected data sources yet**: only CPU numbers below.")
    roofs = tables.device_roofs(ok)
    overhead = ok.filter(pl.col("benchmark") == "call_overhead").group_by("device").agg(
        pl.col("seconds_median").median().alias("call_s"))
    st.subheader("Per device")
    st.dataframe(
        roofs.join(overhead, on="device", how="left").select(
            "device",
            (pl.col("peak_flops_per_s") / 1e12).round(3).alias("best matmul TFLOP/s"),
            pl.col("peak_dtype").alias("at dtype / precision"),
            (pl.col("bandwidth_bytes_per_s") / 1e9).round(1).alias("memory GB/s (read + write)"),
            # Text, so that files from before the call_overhead benchmark say so instead of a grey "None".
            pl.when(pl.col("call_s").is_null()).then(pl.lit("not measured"))
            .otherwise(pl.format("{} µs", (pl.col("call_s") * 1e6).round(1))).alias("fixed cost per call"),
        ),
        hide_index=True,
    )
    st.caption("Memory GB/s: the largest buffer measured (smaller ones may sit in a cache). Fixed cost per call: one "
               "trivial jitted call from dispatch until its result is ready (call_overhead; 'not measured' where the "
               "benchmarks predate it); matmul and memory rates repeat their call so that this cost stays out.")
    if ok.filter(pl.col("benchmark") == "matmul").height:
        st.plotly_chart(figures.matmul_rates(ok), key="hw_matmul")
        st.caption("float32 'default' precision is TF32 on recent NVIDIA GPUs; 'highest' is true float32.")
    if ok.filter(pl.col("benchmark").is_in(["memory_bandwidth", "host_to_device"])).height:
        st.plotly_chart(figures.bandwidths(ok), key="hw_bandwidth")

    st.subheader("Roofline")
    placed = tables.with_intensity(runs)
    st.plotly_chart(figures.roofline(roofs, placed), key="hw_roofline")
    st.caption(
        f"Each line: min(best matmul rate, memory bandwidth x intensity) of one device. Each dot: a training run's "
        f"analytic FLOPs per second against its arithmetic intensity, an ESTIMATE: analytic FLOPs per step / "
        f"({tables.BYTES_PER_PARAM_PER_STEP} bytes per parameter for weights, gradients and Adam state + the "
        f"input batch). Activations are not counted, so the true intensity is lower (dots sit further left). A dot "
        f"above its device's roof ran from cache: its weights and optimizer state fit in the CPU's or GPU's cache, "
        f"whose bandwidth is above the memory bandwidth measured on large arrays. "
        f"{placed.height} runs, {fmt.count(placed['params'].max()) if placed.height else 0} parameters at most."
    )

st.subheader("Performance model: time per step = overhead + max(FLOPs / rate at the batch, bytes / bandwidth)")
if not runs.height:
    st.info("No finished training runs in the selected data sources yet, so there is nothing to fit. Measure on "
            "the Benchmark page or import runs on the Results page.")
    st.stop()
micro_rows = data.micro_with_device()
fits, fit_table = perfmodel.fit_runs(runs, micro=micro_rows)
if not runs.filter(pl.col("platform") != "cpu").height:
    st.warning("**No GPU runs exist in the selected data sources yet**, so there is no GPU model: only CPU fits "
               "below.")
st.dataframe(
    fit_table.select(
        "device", "model", "dtype", "matmul_precision", "mode",
        (pl.col("rate_flops_per_s") / 1e12).round(4).alias("fitted rate TFLOP/s"),
        (pl.col("overhead_s") * 1e6).round(2).alias("fitted overhead us/step"),
        pl.col("batch_half").alias("batch at half the rate"),
        (pl.col("bandwidth_bytes_per_s") / 1e9).round(1).alias("floor bandwidth GB/s"),
        (pl.col("median_rel_error") * 100).round(1).alias("median error %"),
        pl.col("band_factor").round(3).alias("band x (90% of runs within)"),
        pl.col("n_points").alias("runs"), pl.col("n_sizes").alias("distinct FLOP counts"),
        pl.col("flops_low").alias("FLOPs/step from"), pl.col("flops_high").alias("FLOPs/step to"),
        pl.col("error").alias("no fit because"),
    ),
    hide_index=True, key="hw_fits",
    column_config={name: columns.number(name, "count") for name in (
        "batch at half the rate", "FLOPs/step from", "FLOPs/step to", "runs", "distinct FLOP counts")},
)
st.caption("Fitted by robust weighted least squares on each group's runs (time per step = median epoch time / steps "
           "per epoch; FLOPs = analytic per step). The rate, the batch at which half of it is reached and the "
           "overhead are FITTED, not measured. The memory floor is the least bytes a step moves (40 per parameter "
           "with Adam, plus the batch) over the device's bandwidth: its memory micro benchmark at the largest buffer, "
           "raised to what its training runs were seen to move; no prediction is below it. Median error is "
           "|measured / fitted - 1| over the runs; 'band' is the factor that holds 90% of them. With two runs the "
           "line passes through both and there is no error estimate. Outside the FLOP range a prediction is an "
           "extrapolation.")
_, checked = data.model_validation()
st.markdown("**How well it predicts runs it was not fitted on**, per device:")
st.dataframe(
    checked.select(
        "device", "runs",
        (pl.col("loo_median_abs_error") * 100).round(1).alias("leave-one-out median error %"),
        (pl.col("loo_p90_abs_error") * 100).round(1).alias("leave-one-out 90th pct %"),
        "extrapolated_runs",
        (pl.col("extrapolation_median_abs_error") * 100).round(1).alias("extrapolation median error %"),
    ),
    hide_index=True, key="hw_validation",
)
st.caption("Leave-one-out: each run predicted by the model fitted on every other run of its group. Extrapolation: "
           "each group fitted on the smaller half of its FLOP counts, predicting the larger half: the error to expect "
           "when a prediction reaches beyond what was measured (benchmarks/model_errors.py).")
if fits:
    st.plotly_chart(figures.perf_model_fit(perfmodel.measured_vs_fitted(runs, fits), perfmodel.fit_curves(fits)),
                    key="hw_fit_chart")
else:
    st.info("No group of runs could be fitted (each needs runs at 2 or more FLOP counts whose time grows with "
            "FLOPs); the table says why for each.")
