"""The sidebar every page shares: data sources, prices, and this machine's devices."""

from __future__ import annotations

import streamlit as st

from dashboard import data, state
from engine.base import fmt


def render():
    """Draw the shared sidebar; its widgets' values are read by the pages via session state."""
    with st.sidebar:
        # The settings sit in one popover: the browser draws a popover's contents only when it is opened.
        # Drawn in the sidebar, the multiselect alone made the browser load and run some twenty more
        # modules before Plotly's on every page (docs/PERFORMANCE.md, page load); the line under the
        # popover says what is set.
        with st.popover("Data sources and prices", icon=":material/tune:", width="stretch",
                        help="Which measurements the pages use, and what an hour of each machine costs you"):
            st.multiselect(
                "Data sources", options=list(state.SOURCE_LABELS), default=state.DEFAULTS["sources"],
                key="sources", bind="query-params",
                help="Several at once. " + "; ".join(f"{k}: {v}" for k, v in state.SOURCE_LABELS.items()) + ".",
            )
            # Each device is priced from the dated table; a typed price overrides it for every answer.
            # No min/max on the widgets: a bad price (typed or in a shared URL) reaches engine.analysis.cost.Prices,
            # whose message names the field, instead of being silently replaced by the default.
            st.number_input(state.PRICE_LABELS["gpu_per_h"], value=state.DEFAULTS["gpu_price"], step=0.05,
                            format="%.3f", key="gpu_price", bind="query-params", placeholder="from the price table")
            st.number_input(state.PRICE_LABELS["cpu_per_h"], value=state.DEFAULTS["cpu_price"], step=0.01,
                            format="%.3f", key="cpu_price", bind="query-params", placeholder="from the price table")
            _device_prices()
            _price_table()
        sources = state.selected_sources()
        # One caption says what is set and what this machine has: every element drawn here is drawn
        # before each page's own (docs/PERFORMANCE.md, page load).
        lines = ["**Data**: " + (", ".join(state.SOURCE_SHORT_LABELS[s] for s in sources) if sources else "none")]
        problem = state.price_problem()
        if problem:
            st.error(problem)
        else:
            cpu, gpu = data.pair()
            prices, _ = data.pair_prices(cpu, gpu)
            typed = state.price_overrides()
            origin = "typed" if any(v is not None for v in typed.values()) else "from the dated price table"
            lines.append(f"**Prices** ({origin}): {gpu or 'GPU'} ${prices.gpu_per_h:g}/h, {cpu or 'CPU'} "
                         f"${prices.cpu_per_h:g}/h: the GPU must be {fmt.number(prices.break_even_speedup)}x faster to cost "
                         "less.")
        info = data.devices(timeout_s=0)
        if info is None:  # the first look after the server started is still running: no page waits for it
            lines.append("**This machine**: looking for devices (a subprocess imports jax); reload to see them.")
            info = {}
        elif info.get("error"):
            st.error(info["error"])
        else:
            devices = info.get("devices", [])
            has_gpu = any(d["platform"] != "cpu" for d in devices)
            lines.append(f"**This machine**: {', '.join(d['spec'] for d in devices) or 'no devices'}"
                         + ("" if has_gpu else " (no GPU: your runs measure the CPU; GPU numbers come from reference "
                                               "or imported files)"))
        queue = data.worker().queue()
        if queue:
            lines.append(f"**Benchmark worker**: {len(queue)} job(s) running or waiting.")
        st.caption("\n\n".join(lines))
        _devices(info)


def _devices(info: dict):
    """This machine's devices in detail, and the refresh button, in a popover (drawn when opened)."""
    with st.popover("Devices", icon=":material/memory:", width="stretch"):
        if not info:
            st.caption("Still looking: reload in a few seconds.")
        elif not info.get("error"):
            st.caption(f"{info.get('cpu_model', '?')}, {info.get('cpu_cores', '?')} cores; "
                       f"jax {info.get('jax_version', '?')}")
            for d in info.get("devices", []):
                st.markdown(f"- `{d['spec']}` {d['device_kind']}, {fmt.nbytes(d.get('memory_bytes'))}")
        if st.button("Look for devices again", key="sidebar_refresh_devices"):
            data.refresh_devices()
            st.rerun()


def _device_prices():
    """One price input per measured device, empty (the price table's figure) unless typed."""
    try:
        facts = data.device_facts()
    except ValueError:  # a malformed price table: said by _price_table
        return
    if facts.height:
        st.caption("Or a price for one device (it wins over the two above):")
    for row in facts.iter_rows(named=True):
        table = f"{row['usd_per_hour']:g} from the table" if row["usd_per_hour"] is not None else "not in the table"
        st.number_input(f"{row['device']}, $ per hour", value=None, step=0.05, format="%.4f",
                        key=state.device_price_key(row["device"]), bind="query-params", placeholder=table)


def _plain(text) -> str:
    """Text from a file shown in Markdown as plain text: every Markdown and HTML character escaped."""
    return "".join("\\" + ch if ch in "\\`*_{}[]()<>#+-.!|~$" else ch for ch in str(text))


def _price_table():
    """The dated price table (data/prices.csv) the answers use, with where each figure came from."""
    try:
        table = data.price_table()
    except ValueError as exc:  # PriceTableError names the line and the column
        st.error(str(exc))
        return
    lines = []
    for r in table.iter_rows(named=True):
        memory = f", {r['memory_gb']:g} GB" if r["memory_gb"] else ""
        line = f"{r['device_kind']}: {r['usd_per_hour']:g} $/h per {r['unit']}{memory} ({r['offer']}; {r['source_date']}"
        source = str(r["source"]).replace("`", "")  # shown as code: no Markdown, no link, no escapes
        lines.append(f"- {_plain(line)}; `{source}`)")
    st.caption("Price table (data/prices.csv), on-demand:\n" + "\n".join(lines))
