"""Do you need a GPU? Describe the training, or pick one of the seed article's two examples, and get
CPU time, GPU time, the speedup with its interval, the cost on each, the crossover and the memory verdict.

The answer is engine.answer.verdict.verdict: measured when both devices ran exactly this configuration
(95% interval over runs, or over one run's epochs), else predicted by each device's fitted
performance model (labelled, with what it was fitted on), else scaled from the nearest measured
configuration (labelled). The page says which runs it rests on. The two presets (a
10-billion-parameter network; a final layer of 100 million outputs x 2,000) are far beyond
anything measured: they are always answered as labelled predictions, with a memory verdict.
"""

import streamlit as st

from dashboard import data, network_inputs, state
from engine.analysis.workload import PRESET_WORKLOADS
from engine.answer import explain
from engine.answer.price_list import as_markdown as price_list_markdown
from engine.answer.verdict import alone
from engine.base.config import DTYPES, ConfigError, DataConfig, ModelConfig, RunConfig, TrainConfig

POWERS = [2**k for k in range(3, 14)]  # 8 ... 8192
# The dataset-size slider's stops: powers of two (what sweeps measure) and 1-2-5 steps (what people quote: 50,000
# CIFAR images), 256 ... 100 million samples.
SAMPLE_STEPS = sorted({2**k for k in range(8, 27)} | {m * 10**e for e in range(3, 9) for m in (1, 2, 5) if m * 10**e <= 10**8})
EPOCH_STEPS = [m * 10**e for e in range(5) for m in (1, 2, 3, 5)] + [100_000]  # 1, 2, 3, 5, 10 ... 50,000, 100,000
FAIR = "Fair pair (default)"
# Radio label -> engine.answer.verdict's runs_choice.
RUNS_CHOICES = {"Auto": "auto", "My runs": "mine", "Reference": "reference"}
# Radio label (also its value in the URL) -> engine.analysis.workload.PRESET_WORKLOADS key ("custom": the widgets below).
PRESETS = {
    "Your network": "custom",
    "10-billion-parameter network": "10b_network",
    "200-billion-parameter final layer": "final_layer_200b",
}



state.through_app()
st.title("Do you need a GPU?")
st.caption("Describe the network and the training you plan. The answer comes from measured runs, "
           "never from a rule of thumb.")

# The inputs sit in sight beside the chart, as sliders: moving one redraws the answer (issue 18). The sliders show
# plain numbers on purpose: a select slider writes its shown label into the URL, and a link should read
# ov_samples=50000 (the line under the sliders says "50,000 samples"). The chart's
# column comes first in the page, so the browser asks for Plotly's module before the widgets' and draws the chart
# sooner (docs/PERFORMANCE.md, page load); the headline's slot is above both and filled once the answer is known.
headline_slot = st.empty()
chart_column, inputs = st.columns([3, 2], gap="medium")
with inputs.container(border=True):
    preset = PRESETS[st.radio(
        "Answer for", list(PRESETS), horizontal=True, key="ov_preset", bind="query-params",
        help="Your network, set with the sliders below, or one of the seed article's two examples: a network of 10 "
             "billion parameters, and a final layer of 100 million outputs x 2,000 inputs (200 billion parameters).")]
    c1, c2 = st.columns(2)
    if preset == "custom":
        fields, input_shape = network_inputs.network_inputs("ov", [c1, c2])
        kind = fields["kind"]
        dtype = c1.selectbox("Compute dtype", DTYPES, key="ov_dtype", bind="query-params")
        batch = c2.select_slider("Batch size", POWERS, value=128, key="ov_batch", bind="query-params")
        samples = c1.select_slider("Dataset size (samples)", SAMPLE_STEPS, value=50_000, key="ov_samples",
                                   bind="query-params")
    else:
        st.caption("The network, batch and dataset of the example are fixed; the number of epochs is yours.")
    epochs = (c2 if preset == "custom" else st).select_slider(
        "Epochs", EPOCH_STEPS, value=10, key="ov_epochs", bind="query-params")
    # Which devices and whose runs: settings of the comparison, not of the network; one click away.
    with st.popover("Devices compared", icon=":material/compare_arrows:", width="stretch"):
        options = data.explorer_options()
        cpu_pick = st.selectbox("CPU to compare with", [FAIR, *options["cpu_devices"]], key="ov_cpu",
                                bind="query-params",
                                help="Default: the accelerator's own host CPU where it was measured, else the measured "
                                     "CPU closest to it in price.")
        gpu_pick = st.selectbox("Accelerator", [FAIR, *options["gpu_devices"]], key="ov_gpu", bind="query-params",
                                help="Default: the accelerator with your own runs, else the one with the most runs.")
        whose = RUNS_CHOICES[st.radio(
            "Whose runs", list(RUNS_CHOICES), horizontal=True, key="ov_runs", bind="query-params",
            help="When your own runs and the reference (or imported) runs measured the same configuration: 'Auto' "
                 "uses yours unless they disagree beyond their intervals, and then says so.")]
if preset == "custom":
    try:
        job = RunConfig(
            model=ModelConfig(**fields),
            data=DataConfig(samples=int(samples), input_shape=input_shape),
            train=TrainConfig(batch_size=int(batch), epochs=int(epochs), dtype=dtype),
        )
    except ConfigError as exc:
        inputs.error(f"{exc}. Change that setting above.")
        st.stop()
else:
    job = PRESET_WORKLOADS[preset]()
    kind = job.kind
epochs = int(epochs)
summary, built_as = explain.job_summary(job, epochs)
inputs.markdown(summary)
if built_as:
    inputs.caption(built_as)

runs = data.runs()
data.show_warnings(runs)
if not state.selected_sources():
    st.info("No data source is selected: tick at least one in the sidebar.")
    st.stop()
problem = state.price_problem()
if problem:
    st.error(problem + " Enter a positive price in the sidebar, or clear it to use the price table.")
    st.stop()
cpu_device, gpu_device = data.pair(kind, None if cpu_pick == FAIR else cpu_pick,
                                   None if gpu_pick == FAIR else gpu_pick)
prices, price_notes = data.pair_prices(cpu_device, gpu_device)
if not data.explorer_options()["gpu_devices"]:  # accelerators with ok runs; cached per folder contents
    st.warning("**No GPU measurements exist in the selected data sources yet**, so there is no measured or "
               "predicted GPU time or speedup to show. Run the Benchmark page on a machine with a GPU, import a "
               "file of GPU runs on the Results page, or add reference files to data/reference/.")



v, chart = data.overview_answer(job, prices, epochs, cpu_device, gpu_device, whose, tuple(state.selected_sources()),
                  data.fingerprint())
for note in price_notes:
    st.warning(note)


if v.basis == "none":
    cpu = alone(job, runs.frame, "cpu", epochs, micro=data.micro_with_device())
    if cpu is None:
        chart_column.info(f"No measured {kind} runs in the selected sources to measure or predict from. Measure one on the "
                "Benchmark page.")
    else:
        shown, below = explain.cpu_alone(cpu, prices, epochs)
        for tile in shown:
            chart_column.metric(tile.label, tile.value, help=tile.help)
        (chart_column.markdown if cpu.prediction else chart_column.caption)(below)
    for note in v.notes:
        st.info(note[0].upper() + note[1:])
    st.markdown(explain.memory_text(v, [cpu] if cpu else []))
    st.stop()

level, headline = explain.headline(v, prices)
getattr(headline_slot, level)(headline)
if chart is not None:
    chart_column.plotly_chart(chart, key="ov_chart")
    chart_column.caption(f"Where your network (dashed line) sits among the measured speedups of {v.workload.kind} "
                         f"networks ({v.workload.dtype}), {v.gpu.device} over {v.cpu.device}.")
# The numbers grouped by device, a column each: CPU, GPU, then the speedups (on a phone the columns stack, so
# each device's time and cost stay together).
groups = list(zip(*explain.tiles(v, prices, epochs), strict=True))  # (CPU tiles, GPU tiles)
cpu_tiles, gpu_tiles = groups
speedups = [t for t in (*cpu_tiles, *gpu_tiles) if "speedup" in t.label.lower()]
for column, shown in zip(st.columns(3), ([t for t in cpu_tiles if t not in speedups],
                                          [t for t in gpu_tiles if t not in speedups], speedups), strict=True):
    for tile in shown:
        column.metric(tile.label, tile.value, help=tile.help)
st.caption(explain.prices_caption(v, prices))

# Every measured device's answer, cheapest first, like a price list.
listing = data.every_device(job, epochs, tuple(sorted(data.typed_prices().items())), tuple(state.selected_sources()),
                       data.fingerprint())
if listing.height:
    st.markdown(f"**Every measured device, for this job** ({epochs} epochs, compile and transfer included), cheapest "
                "first:")
    st.markdown(price_list_markdown(listing))
# What follows the numbers is one Markdown element: the browser draws all of the answer's elements
# before Plotly's module runs, so each one more delays the chart (docs/PERFORMANCE.md, page load).
st.markdown(explain.after_numbers(v))

# The details are drawn only while their expander is open (it reruns the page when toggled), so a first
# visit renders the answer and its chart without them (docs/PERFORMANCE.md, page load).
used_box = st.expander("Which measurements this used", key="ov_used_open", bind="query-params",
                       icon=":material/fact_check:")
if used_box.open:
    with used_box:
        st.markdown(f"Basis: **{v.basis}**. " + " ".join(v.notes))
        st.dataframe(explain.used_table(v, runs.frame), hide_index=True, key="ov_used")
        if v.measured and isinstance(job, RunConfig):
            st.markdown(f"Your exact configuration was measured on both: **{v.workload.name}** "
                        f"({v.workload.params:,} parameters), batch {v.workload.batch_size}, "
                        f"{v.workload.samples:,} samples, {v.workload.dtype}.")
        st.markdown(f"Run ids. CPU: {', '.join(v.cpu.run_ids)}\n\nGPU: {', '.join(v.gpu.run_ids)}")
        st.markdown(explain.engine_versions_text(runs.frame, v))
        st.caption("The whole answer as text")
        st.text(v.describe())

# The same for the explanation: its expander says what it covers, and opening it draws it.
why_box = st.expander("Why: dispatch overhead, matrix products, memory bandwidth, compile time", key="ov_why_open",
                      bind="query-params", icon=":material/lightbulb:")
if why_box.open:
    why_box.markdown(explain.why_text(v))
