"""The sidebar every page shares: data sources, prices, and this machine's devices."""

from __future__ import annotations

import streamlit as st

from dashboard import data, state
from engine import fmt


def render():
    """Draw the shared sidebar; its widgets' values are read by the pages via session state."""
    with st.sidebar:
        st.multiselect(
            "Data sources", options=list(state.SOURCE_LABELS), default=state.DEFAULTS["sources"],
            key="sources", bind="query-params",
            help="Several at once. " + "; ".join(f"{k}: {v}" for k, v in state.SOURCE_LABELS.items()) + ".",
        )
        # The price inputs sit in a popover: its contents are drawn in the browser only when opened.
        # Drawn in the sidebar they made every page's first paint ~0.5 s slower (docs/PERFORMANCE.md).
        with st.popover("Prices per hour", icon=":material/payments:", width="stretch",
                        help="What an hour of each machine costs you"):
            # No min/max on the widgets: a bad price (typed or in a shared URL) reaches engine.cost.Prices,
            # whose message names the field, instead of being silently replaced by the default.
            st.number_input(state.PRICE_LABELS["gpu_per_h"], value=state.DEFAULTS["gpu_price"], step=0.05,
                            format="%.3f", key="gpu_price", bind="query-params")
            st.number_input(state.PRICE_LABELS["cpu_per_h"], value=state.DEFAULTS["cpu_price"], step=0.01,
                            format="%.3f", key="cpu_price", bind="query-params")
        problem = state.price_problem()
        if problem:
            st.error(problem)
        else:
            prices = state.prices()
            st.caption(f"GPU ${prices.gpu_per_h:g} and CPU ${prices.cpu_per_h:g} per hour: price ratio "
                       f"{prices.break_even_speedup:.3g}, so the GPU must be that many times faster than the CPU "
                       "to cost less for the same training.")
        _machine()


def _machine():
    """One line on this machine's devices; the details and the refresh button in a popover (drawn when opened)."""
    info = data.devices()
    if info.get("error"):
        st.error(info["error"])
    else:
        devices = info.get("devices", [])
        has_gpu = any(d["platform"] != "cpu" for d in devices)
        st.markdown(f"**This machine**: {', '.join(d['spec'] for d in devices) or 'no devices'}"
                    + ("" if has_gpu else " (no GPU: your runs measure the CPU; GPU numbers come from reference "
                                          "or imported files)"))
    queue = data.worker().queue()
    if queue:
        st.caption(f"Benchmark worker: {len(queue)} job(s) running or waiting.")
    with st.popover("Devices", icon=":material/memory:", width="stretch"):
        if not info.get("error"):
            st.caption(f"{info.get('cpu_model', '?')}, {info.get('cpu_cores', '?')} cores; "
                       f"jax {info.get('jax_version', '?')}")
            for d in info.get("devices", []):
                st.markdown(f"- `{d['spec']}` {d['device_kind']}, {fmt.nbytes(d.get('memory_bytes'))}")
        if st.button("Look for devices again", key="sidebar_refresh_devices"):
            data.refresh_devices()
            st.rerun()
