"""Crossover: do I need a GPU for deep learning, and is it worth the money?

Router and frame only: page config, session defaults, the shared sidebar, and the pages
listed explicitly (never auto-discovered). Run with `streamlit run app.py`, which serves this script through st.App
with a start-up warm-up (dashboard.warmup); `streamlit run crossover.py` serves it without.
This process never imports jax: measurements run in `python -m engine` subprocesses.
"""

import streamlit as st

from dashboard import gc_tuning, sidebar, state

gc_tuning.freeze_imported_objects()

st.set_page_config(page_title="Crossover: do I need a GPU?", page_icon=":material/speed:", layout="wide")
state.init_session()

PAGES = [
    # The default page lives at the root URL whatever its url_path (Streamlit), so it is given none: "/overview"
    # was never a link of the app, and opening it showed "Page not found".
    st.Page("pages/overview.py", title="Do you need a GPU?", icon=":material/help:", default=True),
    st.Page("pages/benchmark.py", title="Benchmark", icon=":material/timer:", url_path="benchmark"),
    st.Page("pages/speedup.py", title="Speedup explorer", icon=":material/show_chart:", url_path="speedup"),
    st.Page("pages/cost.py", title="Cost", icon=":material/payments:", url_path="cost"),
    st.Page("pages/hardware.py", title="Hardware", icon=":material/memory:", url_path="hardware"),
    st.Page("pages/scaling.py", title="Scaling", icon=":material/stacked_line_chart:", url_path="scaling"),
    st.Page("pages/results.py", title="Results", icon=":material/table:", url_path="results"),
]

page = st.navigation(PAGES)
# Before any widget reads its value from the URL: a non-finite number is removed and the script run again
# (widgets of this run already hold the URL's values), and the message shown on that run.
if problems := state.drop_non_finite_query_params():
    st.session_state["url_problems"] = problems
    st.rerun()
for problem in st.session_state.pop("url_problems", []):
    st.error(problem)
state.keep_sidebar_in_url()
sidebar.render()
with state.app_frame():
    page.run()
