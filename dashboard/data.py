"""Cached access to the run log, the microbenchmarks, the devices and the shared worker.

Loads are cached with `st.cache_data` keyed on the folder's file listing (names, sizes,
modification times), so a file dropped into data/reference or written by a run shows up on
the next rerun without a restart, and an unchanged folder is not read twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import streamlit as st

from dashboard import state
from engine import guard, store
from engine.limits import LimitError, Limits
from engine.worker import DevicesUnavailable, Worker, list_devices


def _fingerprint(folder: Path) -> tuple:
    """What identifies a folder's contents cheaply: (name, size, mtime) of each Parquet file."""
    if not folder.is_dir():
        return ()
    out = []
    for path in sorted(folder.glob("*.parquet")):
        try:
            info = path.stat()
        except OSError:  # removed between glob and stat
            continue
        out.append((path.name, info.st_size, info.st_mtime_ns))
    return tuple(out)


def fingerprint() -> tuple:
    """What identifies the contents of both data folders: a cache key for answers derived from them."""
    return _fingerprint(state.runs_dir()), _fingerprint(state.reference_dir())


@st.cache_data(show_spinner=False, max_entries=16)
def _load(folder: str, source: str | None, micro: bool, fingerprint: tuple) -> tuple[pl.DataFrame, list[str]]:
    del fingerprint  # part of the cache key only
    loaded = (store.load_micro if micro else store.load_runs)([folder], source=source)
    return loaded.frame.collect(), loaded.warnings


@dataclass
class Data:
    """Rows from the selected sources plus the warnings about files that could not be used."""

    frame: pl.DataFrame
    warnings: list[str] = field(default_factory=list)


def _select(micro: bool, sources: list[str] | None) -> Data:
    sources = state.selected_sources() if sources is None else sources
    schema = store.MICRO_SCHEMA if micro else store.RUN_SCHEMA
    frames, warnings = [], []
    if "local" in sources or "imported" in sources:
        folder = state.runs_dir()
        frame, warn = _load(str(folder), None, micro, _fingerprint(folder))
        # Own runs and imported files share data/runs; the source column tells them apart.
        imported = pl.col("source").fill_null("local") == "imported"
        keep = (imported if "imported" in sources else pl.lit(False)) | (
            ~imported if "local" in sources else pl.lit(False))
        frames.append(frame.filter(keep))
        warnings += warn
    if "reference" in sources:
        folder = state.reference_dir()
        frame, warn = _load(str(folder), "reference", micro, _fingerprint(folder))
        frames.append(frame)
        warnings += warn
    frame = pl.concat(frames, how="vertical") if frames else pl.DataFrame(schema=schema)
    return Data(frame, warnings)


def runs(sources: list[str] | None = None) -> Data:
    """Run records (RUN_SCHEMA) of the sources ticked in the sidebar (or `sources`)."""
    return _select(False, sources)


def micro(sources: list[str] | None = None) -> Data:
    """Microbenchmark records (MICRO_SCHEMA) of the ticked sources."""
    return _select(True, sources)


def show_warnings(data: Data):
    """Name each file that was skipped and why, folded away so it does not crowd the page."""
    if data.warnings:
        with st.expander(f"{len(data.warnings)} files could not be used"):
            for warning in data.warnings:
                st.warning(warning)


def _secrets() -> dict | None:
    """st.secrets as a plain mapping, or None when the app has no secrets file."""
    try:
        return dict(st.secrets)
    except Exception:  # no secrets.toml: Streamlit raises on first access
        return None


def limits() -> Limits:
    """Job limits from environment variables, then st.secrets, then safe public-host defaults.

    Raises LimitError naming the variable when one is set to something unusable.
    """
    return Limits.from_env(secrets=_secrets())


@st.cache_resource(show_spinner=False)
def _worker(runs_dir: str, job_limits: Limits) -> Worker:
    return Worker(runs_dir, limits=job_limits)


def worker() -> Worker:
    """The one worker of this server process, shared by every browser session, guarding every job.

    An unusable limit setting stops the page with an error naming the variable: running jobs
    without the limits an operator asked for would be worse than running none.
    """
    try:
        job_limits = limits()
    except LimitError as exc:
        st.error(f"{exc}. Fix that environment variable or secret and reload.")
        st.stop()
    return _worker(str(state.runs_dir()), job_limits)


def host_fits(runs_frame: pl.DataFrame) -> list:
    """Performance-model fits of this machine's own runs, for the guard's time estimate."""
    return guard.fits_for_host(runs_frame)


@st.cache_data(show_spinner="Looking for devices (a subprocess imports jax)...")
def _devices() -> dict:
    try:
        return list_devices()
    except DevicesUnavailable as exc:
        return {"error": str(exc), "devices": []}


def devices() -> dict:
    """This machine's devices as the engine sees them; {"error": ..., "devices": []} on failure."""
    return _devices()


def refresh_devices():
    _devices.clear()


def device_specs() -> list[str]:
    """Device specs present here, CPU first (e.g. ["cpu:0", "gpu:0"])."""
    return [d["spec"] for d in devices().get("devices", [])] or ["cpu:0"]
