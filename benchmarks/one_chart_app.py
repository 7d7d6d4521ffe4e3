"""The baseline for benchmarks/page_load.py: a Streamlit page with one Plotly scatter, nothing else.

ONE_CHART_POINTS (environment) sets how many points, to match the dashboard chart it is compared with.
"""

import os

import numpy as np
import plotly.express as px
import polars as pl
import streamlit as st

n = int(os.environ.get("ONE_CHART_POINTS", "100"))
rng = np.random.default_rng(0)
frame = pl.DataFrame({"x": rng.lognormal(10, 2, n), "y": rng.lognormal(1, 1, n)})
st.plotly_chart(px.scatter(frame, x="x", y="y", log_x=True, log_y=True))
