"""Do you need a GPU? Describe the training; get CPU time, GPU time, speedup and cost.

Every number comes from measurements: the nearest measured CPU/GPU pair of the same model
kind (own runs first, else reference or imported ones), scaled linearly to the asked-for
dataset size and epochs. The page says which runs it used.
"""

import polars as pl
import streamlit as st

from dashboard import data, fmt, state
from engine import analysis, counts
from engine.config import DTYPES, MODEL_KINDS, ConfigError, DataConfig, ModelConfig, RunConfig, TrainConfig

POWERS = [2**k for k in range(3, 14)]  # 8 ... 8192

state.through_app()
st.title("Do you need a GPU?")
st.caption("Describe the network and the training you plan. The answer comes from measured runs, "
           "never from a rule of thumb.")

c1, c2, c3, c4 = st.columns(4)
kind = c1.selectbox("Network", MODEL_KINDS, key="ov_model", bind="query-params",
                    help="mlp: dense layers; cnn: 3x3 convolutions on 32x32x3 images; transformer: an encoder "
                         "over 32 tokens.")
width = c2.select_slider("Width (units / d_model)", POWERS[1:], value=256, key="ov_width", bind="query-params")
depth = c3.slider("Depth (layers / blocks)", 1, 8, value=2, key="ov_depth", bind="query-params")
channels = c4.select_slider("First conv channels (CNN)", [4, 8, 16, 32, 64, 128], value=16, key="ov_channels",
                            bind="query-params", disabled=kind != "cnn")
c1, c2, c3, c4 = st.columns(4)
samples = c1.number_input("Dataset size (samples)", min_value=1, max_value=100_000_000, value=50_000, step=1000,
                          key="ov_samples", bind="query-params")
epochs = c2.number_input("Epochs", min_value=1, max_value=100_000, value=10, key="ov_epochs", bind="query-params")
batch = c3.select_slider("Batch size", POWERS, value=128, key="ov_batch", bind="query-params")
dtype = c4.selectbox("Compute dtype", DTYPES, key="ov_dtype", bind="query-params")

try:
    config = RunConfig(
        model=ModelConfig(kind, width=int(width), depth=int(depth), channels=int(channels)),
        data=DataConfig(samples=int(samples)),
        train=TrainConfig(batch_size=int(batch), epochs=int(epochs), dtype=dtype),
    )
except ConfigError as exc:
    st.error(f"{exc}. Change that setting above.")
    st.stop()

params = counts.parameter_count(config)
st.markdown(f"Your network has **{params:,} parameters** ({fmt.count(params)}; exact count for this "
            f"configuration) and one training step costs {fmt.si(counts.flops_per_step(config), 'FLOPs')} (analytic).")

runs = data.runs()
data.show_warnings(runs)
have = analysis.source_summary(runs.frame)
gpu_price, cpu_price = state.prices()
ratio = analysis.price_ratio(gpu_price, cpu_price)

if not state.selected_sources():
    st.info("No data source is selected: tick at least one in the sidebar.")
    st.stop()
if have["gpu"] + have["tpu"] == 0:
    st.warning("**No GPU measurements exist in the selected data sources yet**, so there is no measured GPU time "
               "or speedup to show. Run the Benchmark page on a machine with a GPU, import a file of GPU runs on "
               "the Results page, or add reference files to data/reference/.")

pairs = analysis.pair_runs(runs.frame, epochs=int(epochs))
pair = analysis.nearest_pair(pairs, kind, dtype, params, int(batch), int(samples))

if pair is None:
    cpu = analysis.nearest_run(runs.frame, "cpu", kind, dtype, params, int(batch), int(samples))
    if cpu is None:
        st.info(f"No measured {kind} runs in the selected sources. Measure one on the Benchmark page.")
        st.stop()
    cpu_s = analysis.scaled_seconds(cpu["compile_s"], cpu["transfer_s"], cpu["epoch_s_median"],
                                    cpu["dataset_size"], int(samples), cpu["batch_size"], int(epochs))
    st.metric("CPU time (from the nearest measured CPU run)", fmt.seconds(cpu_s))
    st.metric("CPU cost", fmt.money(analysis.cost(cpu_s, cpu_price)))
    st.caption(f"Measured: {cpu['model']} width {cpu['width']} depth {cpu['depth']}, {cpu['params']:,} parameters, "
               f"batch {cpu['batch_size']}, {cpu['dataset_size']:,} samples on {cpu['device']} ({cpu['source']}): "
               f"{fmt.seconds(cpu['epoch_s_median'])} per epoch, scaled to {samples:,} samples x {epochs} epochs.")
    if have["gpu"] + have["tpu"]:
        st.info(f"GPU runs exist, but none of a {kind} configuration that was also measured on a CPU.")
    st.stop()


def scaled(side: str) -> float:
    """Seconds for the asked-for dataset and epochs from one side of the measured pair."""
    return analysis.scaled_seconds(pair[f"{side}_compile_s"], pair[f"{side}_transfer_s"], pair[f"{side}_epoch_s"],
                                   pair["dataset_size"], int(samples), pair["batch_size"], int(epochs))


cpu_s, gpu_s = scaled("cpu"), scaled("gpu")
speedup = cpu_s / gpu_s
cpu_cost, gpu_cost = analysis.cost(cpu_s, cpu_price), analysis.cost(gpu_s, gpu_price)

m1, m2, m3 = st.columns(3)
m1.metric("CPU time", fmt.seconds(cpu_s), help=pair["cpu_device"])
m2.metric("GPU time", fmt.seconds(gpu_s), help=pair["gpu_device"])
m3.metric("GPU speedup", f"{speedup:.2f}x", help="CPU time / GPU time, compile and transfer included")
m1, m2, m3 = st.columns(3)
m1.metric("CPU cost", fmt.money(cpu_cost), help=f"at ${cpu_price:g} per hour (sidebar)")
m2.metric("GPU cost", fmt.money(gpu_cost), help=f"at ${gpu_price:g} per hour (sidebar)")
m3.metric("Price ratio", f"{ratio:.3g}", help="GPU $/h over CPU $/h: the speedup at which both cost the same")

if speedup < 1:
    st.info(f"**No GPU needed**: the CPU finishes first ({fmt.seconds(cpu_s)} against {fmt.seconds(gpu_s)}) "
            f"and costs less ({fmt.money(cpu_cost)}).")
elif speedup >= ratio:
    st.success(f"**A GPU is worth it**: {speedup:.2f}x faster, above the price ratio {ratio:.3g}, so it is also "
               f"cheaper ({fmt.money(gpu_cost)} against {fmt.money(cpu_cost)}).")
else:
    st.warning(f"**A GPU saves time, not money**: {speedup:.2f}x faster ({fmt.seconds(cpu_s - gpu_s)} saved), but "
               f"below the price ratio {ratio:.3g}, so it costs more ({fmt.money(gpu_cost)} against "
               f"{fmt.money(cpu_cost)}).")

st.subheader("Which measurements this used")
exact = pair["params"] == params and pair["batch_size"] == batch
st.markdown(
    f"{'Your network at your batch size' if exact else 'The nearest measured network'}: "
    f"**{pair['model']} width {pair['width']} "
    f"depth {pair['depth']}** ({pair['params']:,} parameters), batch {pair['batch_size']}, "
    f"{pair['dataset_size']:,} samples, {pair['dtype']} (matmul precision {pair['matmul_precision']})."
)
used = pl.DataFrame({
    "side": ["CPU", "GPU"],
    "device": [pair["cpu_device"], pair["gpu_device"]],
    "source": [pair["cpu_source"], pair["gpu_source"]],
    "runs combined": [pair["cpu_runs"], pair["gpu_runs"]],
    "s per epoch (median)": [pair["cpu_epoch_s"], pair["gpu_epoch_s"]],
    "compile s": [pair["cpu_compile_s"], pair["gpu_compile_s"]],
    "transfer s": [pair["cpu_transfer_s"], pair["gpu_transfer_s"]],
})
st.dataframe(used, hide_index=True)
st.caption(f"Times above: compile + transfer x ({samples:,} / {pair['dataset_size']:,} samples) + {epochs} epochs x "
           f"the measured epoch time x (steps in your dataset / steps measured). Own runs are preferred over "
           f"reference ones. {'' if exact else 'Measure your exact network on the Benchmark page for a direct answer.'}")

series = pairs.filter((pl.col("model") == kind) & (pl.col("batch_size") == pair["batch_size"])
                      & (pl.col("dtype") == pair["dtype"]) & (pl.col("cpu_device") == pair["cpu_device"])
                      & (pl.col("gpu_device") == pair["gpu_device"]))
cross = analysis.crossover(series["params"].to_list(), series["speedup"].to_list(), 1.0)
st.markdown(f"**Crossover** for {kind} at batch {pair['batch_size']} on these two devices (speedup per epoch = 1): "
            f"{cross.describe()}.")

st.subheader("Why")
steps = max(pair["dataset_size"] // pair["batch_size"], 1)
gpu_step, cpu_step = pair["gpu_epoch_s"] / steps, pair["cpu_epoch_s"] / steps
flops = pair["flops_per_step_analytic"]
st.markdown(
    f"- **Dispatch overhead.** Each training step is a launch of work on the device, and a launch has a fixed "
    f"cost however small the step. Here one step took {fmt.seconds(gpu_step)} on the GPU and "
    f"{fmt.seconds(cpu_step)} on the CPU. When the step is tiny, that fixed cost is most of the time, and the "
    f"GPU's size does not help.\n"
    f"- **Matrix multiplication.** A step of this network is {fmt.si(flops, 'FLOPs')}, almost all of it matrix "
    f"products. The GPU ran them at {fmt.si(flops / gpu_step, 'FLOP/s')} and the CPU at "
    f"{fmt.si(flops / cpu_step, 'FLOP/s')}. Wider layers and bigger batches give the GPU's thousands of cores "
    f"enough work; narrow ones leave most of them idle.\n"
    f"- **Memory bandwidth.** Small layers do few operations per byte they read, so the speed of memory, not of "
    f"arithmetic, sets the pace. GPU memory is much faster than a CPU's; the Hardware page shows the measured "
    f"bandwidths and where each run sits on the roofline.\n"
    f"- **Compile and transfer.** Both are paid once: {fmt.seconds(pair['gpu_compile_s'])} compile and "
    f"{fmt.seconds(pair['gpu_transfer_s'])} transfer on the GPU for the measured dataset. For short trainings "
    f"they can outweigh the faster epochs."
)
