"""Streamlit helpers shared by app.py, crossover.py and the pages: settings, cached data, sidebar, job panel.

Only this package, app.py, crossover.py and pages/ import streamlit. Nothing here imports jax: measurements
run in `python -m engine` subprocesses through `engine.jobs.worker`.
"""
