"""Live progress of this session's worker jobs: a polling fragment with Cancel buttons.

The fragment reruns alone every POLL_S seconds while a job of this session is queued or
running (the rest of the page stays put); when one ends it reruns the whole page so the new
results appear, and polling stops.
"""

from __future__ import annotations

import streamlit as st

from dashboard import data
from engine.jobs.worker import Job

POLL_S = 0.5


def session_jobs(key: str) -> list[Job]:
    """This session's jobs stored under session_state[key] that the worker still knows."""
    w = data.worker()
    return [job for job in (w.get(i) for i in st.session_state.get(key, [])) if job is not None]


def remember(key: str, job: Job):
    st.session_state[key] = [*st.session_state.get(key, []), job.id]


def panel(key: str):
    """Progress, queue position and Cancel for each active job listed in session_state[key]."""
    active_ids = [job.id for job in session_jobs(key) if job.active]
    if not active_ids:
        return
    st.fragment(run_every=POLL_S)(_poll)(key, active_ids)


def _poll(key: str, watched: list[str]):
    w = data.worker()
    jobs = [w.get(i) for i in watched]
    if any(job is None or not job.active for job in jobs):
        st.rerun()  # a job ended: redraw the page with its results (and stop polling if none is left)
    for job in jobs:
        position = w.position(job.id)
        with st.status(f"{job.label}", state="running", expanded=True):
            st.progress(job.fraction, text=job.describe_progress())
            if position:
                st.caption(f"Queue position {position}: {position} job(s) run before this one (one measurement "
                           f"at a time on this machine, so timings do not disturb each other).")
            elif job.phase == "compile":
                st.caption("Compiling: timed on its own and never counted in the epoch times.")
            elif job.phase in ("warmup", "measure"):
                st.caption("Warm-up epochs are run and thrown away; measured epochs give the median and IQR.")
            st.button("Cancel", key=f"cancel-{job.id}", on_click=w.cancel, args=(job.id,))
    others = len(w.queue()) - len(jobs)
    if others > 0:
        st.caption(f"{others} other job(s) from other sessions are queued or running on this machine.")
