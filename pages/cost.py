"""Cost: what a training run costs on a CPU machine and on a GPU machine, and when the GPU pays.

Prices are the sidebar's ($ per hour of each machine, engine.analysis.cost.Prices). For every
configuration measured on both a CPU and a GPU (engine.analysis.tables.speedup_table): cost per epoch
and per training run on each, the break-even speedup (the price ratio) and amortization: with
compile and transfer counted, after how many epochs the GPU's total time, and its total cost,
drop below the CPU's (engine.analysis.cost), for every configuration in a table and for one chosen configuration
in a chart (filters by model kind, batch size, dataset size and GPU narrow the choice: at most
engine.analysis.cost.MAX_CHOICES are offered at once). Last, what a GPU machine left running after the job costs.
Every time comes from measured runs; costs are those times at the sidebar's prices.
"""

import polars as pl
import streamlit as st

from dashboard import columns, data, state
from engine.analysis import cost
from engine.base import fmt
from engine.base.config import ConfigError
from engine.charts import figures, style

state.through_app()
st.title("Cost")
st.caption("What one epoch and one training run cost on each machine at your prices (sidebar), when the GPU's "
           "compile time is paid back, and what a GPU machine costs if it is not shut down after the job.")

prices = state.checked_prices()
if prices is None:
    st.stop()

c1, c2, c3 = st.columns(3)
c1.metric("CPU machine", f"${prices.cpu_per_h:g}/h", help="Sidebar price")
c2.metric("GPU machine", f"${prices.gpu_per_h:g}/h", help="Sidebar price")
c3.metric("Break-even speedup", f"{fmt.number(prices.break_even_speedup)}x",
          help="GPU $/h over CPU $/h: the GPU costs less for the same job only when it is more than this many "
               "times faster.")

c1, c2 = st.columns(2)
epochs_in = c1.number_input("Epochs per training run", value=100, step=10, key="co_epochs", bind="query-params",
                            help=f"1 to {cost.MAX_EPOCHS:,}. Compile and transfer are paid once per run.")
idle_in = c2.number_input("Hours the GPU machine stays on after the job", value=8.0, step=1.0,
                          key="co_idle_hours", bind="query-params",
                          help=f"0 to {cost.MAX_IDLE_HOURS:,}: e.g. a night (8 h) or a weekend (60 h).")
try:
    epochs = cost.check_epochs(epochs_in)
    idle_hours = cost.check_idle_hours(idle_in)
except ConfigError as exc:
    label = {"epochs": "Epochs per training run", "idle_hours": "Hours the GPU machine stays on after the job"}
    st.error(f"{label.get(exc.field, exc.field)}: {exc}. Change that setting above.")
    st.stop()

runs = data.runs()
data.show_warnings(runs)
if not state.selected_sources():
    st.info("No data source is selected: tick at least one in the sidebar.")
    st.stop()

table = data.speedup_table(epochs=epochs)  # cached per data folder contents and run length
pairs = table.pairs
have_gpu = bool(data.explorer_options()["gpu_devices"])
run_per_gpu = None  # one GPU run's cost of the chosen configuration, for the idle comparison


st.subheader("Cost per configuration")
if not have_gpu:
    st.warning("**No GPU measurements exist in the selected data sources yet**, so there is no GPU cost, "
               "break-even or amortization to show. Below: what the CPU runs cost at your CPU price. Run the "
               "Benchmark page on a machine with a GPU, import GPU runs on the Results page, or add reference "
               "files to data/reference/.")
    sides = data.pooled().sides.filter(pl.col("platform") == "cpu")  # pooled once per data folder contents
    if sides.height:
        fixed = pl.col("compile_s").fill_null(0.0) + pl.col("transfer_s").fill_null(0.0)
        per_s = prices.cpu_per_h / cost.SECONDS_PER_HOUR
        st.dataframe(
            sides.sort("model", "params").select(
                ((fixed + epochs * pl.col("epoch_s")) * per_s).alias(f"CPU $ per {epochs}-epoch run"),
                (pl.col("epoch_s") * per_s).alias("CPU $/epoch"),
                pl.col("epoch_s").alias("CPU s/epoch"), fixed.alias("compile + transfer s"),
                "device", "model", "params", "batch_size", "dataset_size", "width", "depth", "channels", "dtype",
            ),
            hide_index=True, key="co_cpu_table",
            column_config={
                **{name: columns.number(name, "dollars") for name in ("CPU $/epoch", f"CPU $ per {epochs}-epoch run")},
                **{name: columns.number(name, "seconds") for name in ("CPU s/epoch", "compile + transfer s")},
                **columns.table_config({"params": ("parameters", "count"), "batch_size": ("batch", "count"),
                                        "dataset_size": ("samples", "count")})},
        )
    else:
        st.info("No finished CPU runs either: measure one on the Benchmark page.")
elif not pairs.height:
    st.warning("No configuration was measured on both a CPU and a GPU, so no cost comparison can be made. Measure "
               "the same configuration on both (Benchmark page), or import matching runs.")
else:
    if table.note:
        st.info(table.note)
    costed = cost.with_amortization(cost.with_costs(pairs, prices, epochs), prices).with_columns(
        cost.above_break_even(prices).alias("beats_break_even"))
    st.dataframe(
        # The answer first (which run is cheaper, by how much, from which epoch), then what was measured.
        costed.select(
            pl.col("cheaper").str.to_uppercase().alias("cheaper run"),
            pl.col("cpu_cost_run").alias(f"CPU $ per {epochs}-epoch run"),
            pl.col("gpu_cost_run").alias(f"GPU $ per {epochs}-epoch run"),
            pl.col("speedup").alias("speedup per epoch"),
            pl.col("ci_low").alias("95% CI low"), pl.col("ci_high").alias("95% CI high"),
            pl.col("beats_break_even").alias(f"above break-even {fmt.number(prices.break_even_speedup)}x?"),
            pl.col("time_amort").alias("GPU total time lower from epoch"),
            pl.col("cost_amort").alias("GPU total cost lower from epoch"),
            "model", "params", "batch_size", "dataset_size", "gpu_device", "cpu_device",
            pl.col("cpu_cost_epoch").alias("CPU $/epoch"), pl.col("gpu_cost_epoch").alias("GPU $/epoch"),
            "width", "depth", "channels", "dtype", "matmul_precision",
        ),
        hide_index=True, key="co_table",
        column_config={
            **{name: columns.number(name, "dollars") for name in (
                "CPU $/epoch", "GPU $/epoch", f"CPU $ per {epochs}-epoch run", f"GPU $ per {epochs}-epoch run")},
            **{name: columns.number(name, "speedup") for name in ("speedup per epoch", "95% CI low", "95% CI high")},
            **columns.table_config({"params": ("parameters", "count"), "batch_size": ("batch", "count"),
                                    "dataset_size": ("samples", "count")})},
    )
    st.caption(f"A run = compile + host-to-device transfer + {fmt.plural(epochs, 'epoch')} x the median measured epoch time, on "
               "each machine, at the sidebar's prices. 'Lower from epoch' is amortization: the fewest epochs from "
               "which the GPU's total (compile and transfer included) stays below the CPU's; 'only below N' means "
               "the GPU starts ahead but its epochs are slower or dearer; 'from the start' means its compile and "
               "transfer alone are already shorter (cheaper) than the CPU's.")

    st.subheader("One configuration: when does the GPU pay?")
    offer = cost.choice_filters(costed)
    names = {"model": "Model kind", "batch_size": "Batch size", "dataset_size": "Dataset size", "gpu_device": "GPU"}
    keys = {"model": "co_kind", "batch_size": "co_batch", "dataset_size": "co_samples", "gpu_device": "co_gpu"}
    chosen = {column: box.selectbox(names[column], [None, *offer[column]], key=keys[column],
                                    format_func=lambda v: "any" if v is None else f"{v:,}" if isinstance(v, int) else v)
              for column, box in zip(cost.CHOICE_FILTERS, st.columns(len(cost.CHOICE_FILTERS)))}
    offered, matching = cost.choices(costed, **chosen)
    if matching > offered.height:
        st.caption(f"The first {offered.height:,} of {matching:,} configurations (in table order) are offered: narrow "
                   "them with the filters above.")
    if not offered.height:
        st.info("No configuration matches these filters: set one of them back to \"any\".")
    else:
        labels = offered["label"].to_list()
        index = st.selectbox("Configuration", range(offered.height), index=offered["default"].arg_max(),
                             format_func=lambda i: labels[i], key="co_config")
        row = costed.row(offered["row"][index], named=True)
        run_per_gpu = row["gpu_cost_run"]
        args = (row["cpu_fixed_s"], row["cpu_epoch_s"], row["gpu_fixed_s"], row["gpu_epoch_s"])
        t_amort, c_amort = cost.amortization(*args), cost.cost_amortization(prices, *args)
        longest = max([epochs, *(2 * a.epochs for a in (t_amort, c_amort) if a.epochs),
                       *(2 * a.ahead_until for a in (t_amort, c_amort) if a.ahead_until)])
        curve = cost.run_cost_curve(prices, row["cpu_epoch_s"], row["gpu_epoch_s"], row["cpu_fixed_s"],
                                    row["gpu_fixed_s"], max_epochs=min(longest, cost.MAX_EPOCHS))
        colours = {"CPU": style.device_color(row["cpu_device"]), "GPU": style.device_color(row["gpu_device"])}
        st.plotly_chart(figures.cost_vs_epochs(curve, c_amort.epochs, epochs, colours), key="co_cost_chart")
        st.markdown(
            f"- Measured: CPU {fmt.seconds(row['cpu_epoch_s'])} per epoch + {fmt.seconds(row['cpu_fixed_s'])} "
            f"compile and transfer; GPU {fmt.seconds(row['gpu_epoch_s'])} per epoch + "
            f"{fmt.seconds(row['gpu_fixed_s'])} compile and transfer (speedup {fmt.number(row['speedup'])}x, 95% CI "
            f"{fmt.number(row['ci_low'])}–{fmt.number(row['ci_high'])}).\n"
            f"- **Time**: {t_amort.describe('time')}.\n"
            f"- **Cost**: {c_amort.describe('cost')}.\n"
            f"- {fmt.plural(epochs, 'epoch')} cost {fmt.money(row['cpu_cost_run'])} on the CPU and {fmt.money(row['gpu_cost_run'])} "
            f"on the GPU; the GPU would need to be more than {fmt.number(prices.break_even_speedup)}x faster per epoch to be "
            "cheaper in the long run."
        )

st.subheader("Forgot to shut it down?")
idle_gpu = cost.idle_cost(idle_hours, prices.gpu_per_h)
c1, c2 = st.columns(2)
c1.metric(f"GPU machine idle for {idle_hours:g} h", fmt.money(idle_gpu),
          help=f"{idle_hours:g} h x ${prices.gpu_per_h:g}/h")
c2.metric(f"CPU machine idle for {idle_hours:g} h", fmt.money(cost.idle_cost(idle_hours, prices.cpu_per_h)),
          help=f"{idle_hours:g} h x ${prices.cpu_per_h:g}/h")
if run_per_gpu:
    st.markdown(f"Leaving the GPU machine on for {idle_hours:g} h after the job costs as much as "
                f"**{fmt.number(idle_gpu / run_per_gpu)} training runs** of the configuration above ({epochs} epochs each, "
                f"{fmt.money(run_per_gpu)} per run). Closing the browser or the SSH session does not stop the meter: "
                "shut the instance down.")
else:
    st.markdown("Closing the browser or the SSH session does not stop the meter: shut the instance down.")
st.plotly_chart(figures.idle_cost_vs_hours(cost.idle_cost_curve(prices, max(24.0, 2 * idle_hours)), idle_hours),
                key="co_idle_chart")
