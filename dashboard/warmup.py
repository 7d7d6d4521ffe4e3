"""Warm the server when it starts: what the first visit would otherwise pay for, done before anyone arrives.

`lifespan` is st.App's start-up hook (app.py). It starts one background thread and returns at once, so the
server accepts visitors immediately; the thread imports the modules every page uses, looks for this machine's
devices (a subprocess that imports jax), loads the run log and builds the Overview's default answer and chart,
filling the same caches a visit reads (dashboard.data). A visitor who arrives before it is done simply computes
what is still missing. Failures are logged, never raised: a cold cache is only slower.
"""

from __future__ import annotations

import contextlib
import threading
import time

from streamlit.logger import get_logger

LOG = get_logger(__name__)  # Streamlit's logging set-up: its level and format, in the server's log


def warm() -> float:
    """Fill the caches of a first visit to the Overview; returns the seconds it took."""
    started = time.perf_counter()
    from dashboard import data  # imports polars, plotly and the engine's analysis; starts the device lookup

    data.warm_for_first_visit()
    data.devices()  # wait for the lookup, so its subprocess is not competing with a visit later
    return time.perf_counter() - started


def _warm_logged():
    try:
        LOG.info("warm-up done in %.2f s", warm())
    except Exception:  # noqa: BLE001 - a failed warm-up must never stop the server; the visit computes it
        LOG.exception("warm-up failed; the first visit computes what it needs")


@contextlib.asynccontextmanager
async def lifespan(app):
    """st.App lifespan: start the warm-up in a daemon thread, serve at once."""
    threading.Thread(target=_warm_logged, name="crossover-warmup", daemon=True).start()
    yield
