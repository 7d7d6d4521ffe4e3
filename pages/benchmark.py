"""Benchmark: measure one configuration on this machine's devices.

The form builds a validated RunConfig; Run hands it to the shared worker, which measures it
in a `python -m engine run` subprocess (one job at a time per machine). Progress polls live;
the finished runs show as a table, a loss curve and a comparison with every other
measurement of the same configuration (CPU vs GPU).
"""

from collections import Counter

import polars as pl
import streamlit as st

from dashboard import columns, data, jobs, network_inputs, state
from engine.analysis import tables
from engine.base import fmt
from engine.base.config import (
    DTYPES,
    MATMUL_PRECISIONS,
    MODES,
    BenchConfig,
    ConfigError,
    DataConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
    check_devices_present,
)
from engine.base.limits import LimitError
from engine.charts import figures
from engine.jobs.worker import STARTUP_SLACK_S, SubmitRefused
from engine.runlog import store

JOBS_KEY = "bench_job_ids"
POWERS = [2**k for k in range(3, 17)]  # 8 ... 65,536
# The answer first (where, how fast), then how the run went and what it trained.
SHOWN_COLUMNS = ["device", "status", "epoch_s_median", "epoch_s_iqr", "samples_per_s", "end_to_end_s", "compile_s",
                 "transfer_s", "achieved_flops_per_s", "noisy", "loss_first", "loss_last", "model", "params",
                 "batch_size", "dataset_size", "width", "depth", "dtype", "matmul_precision", "mode", "source", "error"]
FORMATS = {"epoch_s_median": ("s/epoch (median)", "seconds"), "epoch_s_iqr": ("s/epoch (IQR)", "seconds"),
           "samples_per_s": ("samples/s", "per_s"), "end_to_end_s": ("end to end", "seconds"),
           "compile_s": ("compile", "seconds"), "transfer_s": ("transfer", "seconds"),
           "achieved_flops_per_s": ("FLOP/s achieved", "per_s"), "params": ("parameters", "count"),
           "batch_size": ("batch", "count"), "dataset_size": ("samples", "count")}

state.through_app()
st.title("Benchmark")
st.caption("Measure a network on this machine. Compile and host-to-device transfer are timed on their own; "
           "epochs are timed after a warm-up, and the median and spread are kept.")

specs = data.device_specs()
most_per_platform = max(Counter(spec.split(":")[0] for spec in specs).values())
# The network's sliders sit outside the form: which ones there are depends on the model kind chosen, and a form
# redraws nothing until it is submitted.
fields, input_shape = network_inputs.network_inputs("bm", list(st.columns(4)))
with st.form("bench_form"):
    c1, c2, c3, c4 = st.columns(4)
    samples = c3.select_slider("Dataset size (samples)", POWERS[5:], value=2048, key="bm_samples",
                               bind="query-params")
    batch = c4.select_slider("Batch size", POWERS[:8], value=128, key="bm_batch", bind="query-params")
    c1, c2, c3, c4 = st.columns(4)
    epochs = c1.number_input("Epochs to price (end-to-end time)", 1, 10_000, value=10, key="bm_epochs",
                             bind="query-params")
    dtype = c2.selectbox("Compute dtype", DTYPES, key="bm_dtype", bind="query-params")
    precision = c3.selectbox("Float32 matmul precision", MATMUL_PRECISIONS, key="bm_precision", bind="query-params",
                             help="'default' is TF32 on recent NVIDIA GPUs; 'highest' is true float32.")
    mode = c4.selectbox("Epoch runner", MODES, key="bm_mode", bind="query-params",
                        help="per_step: one dispatch per batch; fused: the whole epoch in one lax.scan; auto picks.")
    c1, c2, c3, c4 = st.columns([1, 2, 1, 1])
    repeats = c1.slider("Timed epochs (repeats)", 1, 10, value=5, key="bm_repeats", bind="query-params",
                        help="Five or more: fewer timed epochs give intervals that cover less (docs/PERFORMANCE.md).")
    devices = c2.multiselect("Devices", specs, default=specs, key="bm_devices", bind="query-params",
                             help="Devices present on this machine.")
    limit = c3.number_input("Time limit for the job (s)", 10, 3600, value=300, key="bm_limit", bind="query-params",
                            help="Past it the worker is killed and the unfinished runs are recorded as 'timeout'.")
    # No max_value: a number from a shared link that this machine cannot run reaches
    # check_devices_present, whose message names the field, instead of being silently clamped.
    device_count = c4.number_input(
        "Devices per run (data-parallel)", min_value=1, value=1, key="bm_device_count", bind="query-params",
        help=f"Split every batch over this many devices of each chosen device's platform (jax.sharding); 1 is "
             f"ordinary training. This machine has up to {most_per_platform} of one platform. The Scaling page "
             "shows throughput against this number.")
    submitted = st.form_submit_button("Run", type="primary")

if submitted:
    try:
        if not devices:
            raise ConfigError("devices", [], "at least one of " + ", ".join(specs))
        budget = max((limit - STARTUP_SLACK_S) / len(devices), 5.0)  # per run, inside the job's limit
        config = RunConfig(
            model=ModelConfig(**fields),
            data=DataConfig(samples=int(samples), input_shape=input_shape),
            train=TrainConfig(batch_size=int(batch), epochs=int(epochs), dtype=dtype, matmul_precision=precision,
                              mode=mode),
            bench=BenchConfig(warmup=1, repeats=int(repeats), devices=tuple(devices), time_budget_s=budget,
                              device_count=int(device_count)),
        )
        check_devices_present(config, specs)
    except ConfigError as exc:
        st.error(f"{exc}. Change that setting and press Run again.")
    else:
        try:
            job = data.worker().submit_run(config, time_limit_s=float(limit), fits=data.host_fits(data.runs(["local"]).frame))
        except (SubmitRefused, LimitError) as exc:  # over a limit, out of memory, or the queue is full
            st.error(str(exc))
        else:
            jobs.remember(JOBS_KEY, job)

jobs.panel(JOBS_KEY)

mine = jobs.session_jobs(JOBS_KEY)
finished = [job for job in mine if not job.active]
if not finished:
    # While the first job runs, the panel above shows its progress: "nothing yet" would contradict it.
    if not mine:
        st.info("No benchmark from this session yet: set the network above and press Run.")
    st.stop()

job = finished[-1]
(st.success if job.state == "done" else st.error)(f"{job.label}: {job.message}")
if job.state == "failed" and job.stderr_tail:
    with st.expander("What the worker printed"):
        st.code(job.stderr_tail[-2000:])
if not job.saved:
    st.stop()

mine = store.load_runs(job.saved).frame.collect()
st.subheader("Runs of this job")
st.dataframe(tables.with_device(mine).select(SHOWN_COLUMNS), hide_index=True,
             column_config=columns.table_config(FORMATS))

ok = tables.ok_runs(mine)
if ok.height and ok["epoch_losses"].list.len().max():
    st.plotly_chart(figures.loss_curves(ok), key="bm_loss")

if ok.height:
    record = ok.row(0, named=True)
    everything = pl.concat([data.runs().frame, mine], how="vertical").unique("run_id", keep="last")
    same = tables.ok_runs(tables.same_config(everything, record))
    st.subheader("This configuration on every device measured")
    st.plotly_chart(figures.config_comparison(same), key="bm_compare")
    pairs = tables.speedup_table(same).pairs
    if pairs.height:
        for row in pairs.iter_rows(named=True):
            st.markdown(f"**{row['speedup']:.2f}x** per epoch (95% CI {row['ci_low']:.2f}–{row['ci_high']:.2f}) and "
                        f"**{row['speedup_end_to_end']:.2f}x** end to end "
                        f"for {fmt.plural(row['epochs'], 'epoch')}: {row['gpu_device']} ({row['gpu_source']}) over "
                        f"{row['cpu_device']} ({row['cpu_source']}); {fmt.seconds(row['gpu_epoch_s'])} against "
                        f"{fmt.seconds(row['cpu_epoch_s'])} per epoch.")
    else:
        st.info("No GPU measurement of this exact configuration exists in the selected sources yet, so there is "
                "no CPU-vs-GPU comparison for it. Run it on a machine with a GPU, or import such runs.")

if len(finished) > 1:
    with st.expander(f"Earlier jobs of this session ({len(finished) - 1})"):
        for earlier in reversed(finished[:-1]):
            st.markdown(f"- {earlier.label}: {earlier.state}, {earlier.message}")
