"""The baseline for benchmarks/page_load.py: a Streamlit page with one Plotly chart, nothing else.

ONE_CHART_FIGURE (environment) names a JSON file written by `plotly.io.write_json`: the page
shows exactly that figure (benchmarks/page_load.py passes the Overview's own figure). Without
it, ONE_CHART_POINTS sets the points of a plain log-log scatter. ONE_CHART_WIDTH and ONE_CHART_HEIGHT
(pixels) draw it at the size the Overview draws its chart (the whole width otherwise).
"""

import os

import numpy as np
import plotly.express as px
import plotly.io as pio
import polars as pl
import streamlit as st

size = {k: int(os.environ[f"ONE_CHART_{k.upper()}"]) for k in ("width", "height") if os.environ.get(f"ONE_CHART_{k.upper()}")}
if os.environ.get("ONE_CHART_FIGURE"):
    st.plotly_chart(pio.read_json(os.environ["ONE_CHART_FIGURE"]), **size)
else:
    n = int(os.environ.get("ONE_CHART_POINTS", "100"))
    rng = np.random.default_rng(0)
    frame = pl.DataFrame({"x": rng.lognormal(10, 2, n), "y": rng.lognormal(1, 1, n)})
    st.plotly_chart(px.scatter(frame, x="x", y="y", log_x=True, log_y=True))
