"""Crossover: do I need a GPU for deep learning, and is it worth the money?  Run with `streamlit run app.py`.

This file only starts the server: the app itself (page config, sidebar, navigation) is `crossover.py`. Wrapping it
in st.App gives the server a start-up hook, used to warm what every first visit needs (dashboard.warmup), so the
first visitor after a start does not wait for it (issue 18). `streamlit run crossover.py` runs the same app
without the warm-up.
"""

import streamlit as st

from dashboard.warmup import lifespan

app = st.App("crossover.py", lifespan=lifespan)
