"""Cached access to the run log, the microbenchmarks, the devices and the shared worker.

Loads are cached keyed on the folder's file listing (names, sizes, modification times), so a
file dropped into data/reference or written by a run shows up on the next rerun without a
restart, and an unchanged folder is not read twice. Loaded frames are shared, not copied
(`st.cache_resource`: copying a 1,000,000-run frame out of `st.cache_data` takes seconds; Polars
frames are never changed in place here). Answers derived from them (speedup tables, crossovers,
filter options, the epoch-time chart) are cached with `st.cache_data` on the same listing
(`fingerprint()`), so a rerun with unchanged data and inputs recomputes nothing.
"""

from __future__ import annotations

import concurrent.futures
import threading
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import streamlit as st

from dashboard import state
from engine.analysis import perfmodel, prices, tables
from engine.analysis.cost import DEFAULT_CPU_PER_H, DEFAULT_GPU_PER_H, Prices
from engine.analysis.pairing import Paired, Pooled, pool
from engine.answer.verdict import choose_pair
from engine.base.limits import LimitError, Limits
from engine.charts import figures
from engine.jobs import guard
from engine.jobs.worker import DevicesUnavailable, Worker, list_devices
from engine.runlog import store


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


def _session_fingerprint() -> tuple:
    """The session's own uploads: () while it has none, so every such session shares one cache entry;
    else its folder and files, so no other session can ever be served an answer derived from them."""
    folder = state.session_imports_dir()
    files = _fingerprint(folder) if folder is not None else ()
    return (str(folder), files) if files else ()


def fingerprint() -> tuple:
    """What identifies the data this session sees (the runs and reference folders and the session's own
    uploads): a cache key for answers derived from them."""
    return _fingerprint(state.runs_dir()), _fingerprint(state.reference_dir()), _session_fingerprint()


def _rows(path: Path) -> int:
    """Rows of a Parquet file, from its footer (0 when unreadable: the loader names such files)."""
    try:
        return pl.scan_parquet(path).select(pl.len()).collect().item()
    except Exception:
        return 0


def newest_within(folder: Path, micro: bool, max_rows: int) -> tuple[list[Path], list[Path], int]:
    """(files to read, files left out, rows left out): the folder's newest run files (or micro files) whose rows
    add up to at most `max_rows` (newest by modification time, then name). What the server holds is bounded by
    rows, not by files or bytes: a small file can hold many rows (issue 21)."""
    files = [f for f in sorted(folder.glob("*.parquet")) if not f.name.startswith(".")
             and f.name.endswith(store.MICRO_SUFFIX) == micro] if folder.is_dir() else []
    def newest_first(f: Path):
        try:
            return -f.stat().st_mtime_ns, f.name
        except OSError:
            return 0, f.name
    kept, left, left_rows, total = [], [], 0, 0
    for f in sorted(files, key=newest_first):
        rows = _rows(f)
        if left or total + rows > max_rows:
            left.append(f)
            left_rows += rows
        else:
            kept.append(f)
            total += rows
    return sorted(kept), sorted(left), left_rows


def session_rows() -> int:
    """Rows this browser session's own uploads hold (0 when uploads are shared or there are none)."""
    folder = state.session_imports_dir()
    if folder is None or not folder.is_dir():
        return 0
    return sum(_rows(f) for f in folder.glob("*.parquet") if not f.name.startswith("."))


@st.cache_resource(show_spinner=False, max_entries=8)
def _load(folder: str, source: str | None, micro: bool, fingerprint: tuple,
          max_rows: int) -> tuple[pl.DataFrame, list[str]]:
    del fingerprint  # part of the cache key only
    kept, left, left_rows = newest_within(Path(folder), micro, max_rows)
    loaded = (store.load_micro if micro else store.load_runs)(kept, source=source)
    warnings = list(loaded.warnings)
    if left:
        warnings.append(f"{len(left):,} older files in {folder} ({left_rows:,} rows, e.g. {left[0].name}) were not "
                        f"read: the dashboard reads at most CROSSOVER_MAX_LOG_ROWS={max_rows:,} rows of a folder, "
                        "newest files first (a bound on the server's memory). Raise it on a private server.")
    return loaded.frame.collect(), warnings


def _max_log_rows() -> int:
    try:
        return limits().max_log_rows
    except LimitError:  # named by the page that runs jobs; here the default keeps the data pages working
        return Limits().max_log_rows


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
        frame, warn = _load(str(folder), None, micro, _fingerprint(folder), _max_log_rows())
        # Own runs and imported files share data/runs; the source column tells them apart.
        if not ("local" in sources and "imported" in sources):  # both: no filter (a copy of every row)
            imported = pl.col("source").fill_null("local") == "imported"
            frame = frame.filter(imported if "imported" in sources else ~imported)
        frames.append(frame)
        warnings += warn
    session_folder = state.session_imports_dir()
    if "imported" in sources and session_folder is not None and _fingerprint(session_folder):
        frame, warn = _load(str(session_folder), "imported", micro, _fingerprint(session_folder), _max_log_rows())
        frames.append(frame)
        warnings += warn
    if "reference" in sources:
        folder = state.reference_dir()
        frame, warn = _load(str(folder), "reference", micro, _fingerprint(folder), _max_log_rows())
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


@st.cache_resource(show_spinner="Pooling repeated runs...", max_entries=4)
def _pooled(sources: tuple[str, ...], folders: tuple) -> Pooled:
    del folders  # part of the cache key only
    return pool(runs(list(sources)).frame)  # run ids kept for the unpaired list; pairs show counts


def pooled(sources: list[str] | None = None) -> Pooled:
    """The ticked sources' (or `sources`') ok runs pooled into sides (`engine.analysis.pairing.pool`), once per
    folder contents: the same object every speedup table of those sources starts from."""
    sources = state.selected_sources() if sources is None else sources
    return _pooled(tuple(sources), fingerprint())


@st.cache_data(show_spinner="Pairing runs and computing speedups...", max_entries=32)
def _speedup_table(sources: tuple[str, ...], folders: tuple, view: tuple | None, epochs: int | None) -> Paired:
    where = None if view is None else tables.explorer_view(*view)
    return tables.speedup_table(_pooled(sources, folders), epochs, where=where,
                                  max_intervals=tables.MAX_INTERVALS, times=False)


def speedup_table(view: tuple | None = None, epochs: int | None = None, sources: list[str] | None = None) -> Paired:
    """`engine.analysis.tables.speedup_table` of the ticked sources' runs (or `sources`), cached per data
    folder contents and inputs; without the raw time lists and run ids, and with intervals for at
    most `tables.MAX_INTERVALS` pairs (`.note` says when some have none). Repeated runs are
    pooled once per folder contents (`engine.analysis.pairing.pool`, shared by every view and run length).

    view: None for every run, or `tables.explorer_view`'s arguments as tuples (models, dtype,
    batches, devices, known devices). epochs: the end-to-end run length (None: each CPU run's own).
    """
    sources = state.selected_sources() if sources is None else sources
    return _speedup_table(tuple(sources), fingerprint(), view, epochs)


@st.cache_data(show_spinner=False, max_entries=64)
def _crossovers(sources: tuple[str, ...], folders: tuple, view: tuple | None, levels: tuple, along: str):
    pairs = _speedup_table(sources, folders, view, None).pairs
    if along == "params":
        return tables.crossovers(pairs, dict(levels))
    return tables.crossovers(pairs, dict(levels), size="dataset_size", speedup="speedup_end_to_end")


def crossovers(levels: dict[str, float], along: str = "params", view: tuple | None = None,
               sources: list[str] | None = None) -> pl.DataFrame:
    """Crossovers of `speedup_table(view)` at `levels` (`tables.thresholds`), cached: along="params"
    (per-epoch speedup against parameter count, a row per series and level) or "dataset_size"
    (end-to-end speedup against dataset size, per network)."""
    sources = state.selected_sources() if sources is None else sources
    return _crossovers(tuple(sources), fingerprint(), view, tuple(levels.items()), along)


@st.cache_data(show_spinner=False, max_entries=16)
def _speedup_charts(sources: tuple[str, ...], folders: tuple, view: tuple | None, levels: tuple, ratio: float):
    pairs = _speedup_table(sources, folders, view, None).pairs
    return (figures.speedup_vs_params(pairs, ratio, _crossovers(sources, folders, view, levels, "params")),
            figures.speedup_vs_dataset(pairs, ratio, _crossovers(sources, folders, view, levels, "dataset_size")))


def speedup_charts(levels: dict[str, float], ratio: float, view: tuple | None = None,
                   sources: list[str] | None = None):
    """(speedup vs parameters, end-to-end speedup vs dataset size): `engine.charts.figures` of
    `speedup_table(view)` with its crossovers at `levels` and the price `ratio` line, cached
    (building a 5,000-point figure takes ~0.15 s)."""
    sources = state.selected_sources() if sources is None else sources
    return _speedup_charts(tuple(sources), fingerprint(), view, tuple(levels.items()), ratio)


# What the Speedup explorer reads of every ok run: its filters' options and the epoch-time chart.
EXPLORER_COLUMNS = ("status", "platform", "cpu_model", "cpu_cores", "host", "device_kind", "model", "dtype", "batch_size",
                    "params", "epoch_s_median", "width", "depth", "dataset_size", "mode", "source", "epoch_s_iqr")


@st.cache_resource(show_spinner=False, max_entries=4)
def _ok_runs(sources: tuple[str, ...], folders: tuple) -> pl.DataFrame:
    del folders  # part of the cache key only
    return tables.with_device(tables.ok_runs(runs(list(sources)).frame.select(EXPLORER_COLUMNS)))


@st.cache_data(show_spinner=False, max_entries=16)
def _explorer_options(sources: tuple[str, ...], folders: tuple) -> dict[str, list]:
    return tables.explorer_options(_ok_runs(sources, folders))


def explorer_options(sources: list[str] | None = None) -> dict[str, list]:
    """`engine.analysis.tables.explorer_options` of the ticked sources' runs, cached per folder contents."""
    sources = state.selected_sources() if sources is None else sources
    return _explorer_options(tuple(sources), fingerprint())


@st.cache_data(show_spinner=False, max_entries=16)
def _epoch_chart(sources: tuple[str, ...], folders: tuple, view: tuple):
    frame = _ok_runs(sources, folders)
    models, dtype, batches, devices, _ = view
    shown = frame.filter(pl.col("model").is_in(list(models)) & (pl.col("dtype") == dtype)
                         & pl.col("batch_size").is_in(list(batches)) & pl.col("device").is_in(list(devices)))
    return figures.epoch_time_vs_params(shown)


def epoch_chart(view: tuple, sources: list[str] | None = None):
    """`engine.charts.figures.epoch_time_vs_params` of the ok runs in `view` (thinned when large), cached."""
    sources = state.selected_sources() if sources is None else sources
    return _epoch_chart(tuple(sources), fingerprint(), view)


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


def _look_for_devices() -> dict:
    try:
        return list_devices()
    except DevicesUnavailable as exc:
        return {"error": str(exc), "devices": []}


# This machine's devices, looked up once per server in a background thread: `python -m engine devices` imports jax
# (2-3 s on 2 cores), and the sidebar asked for it before any page was drawn, so the first visitor after a start
# waited that long for the first chart (issue 18). The lookup starts when this module is first imported.
_lookup_pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="crossover-devices")
_lookup_lock = threading.Lock()
_lookup: concurrent.futures.Future | None = None


def _device_lookup() -> concurrent.futures.Future:
    global _lookup
    with _lookup_lock:
        if _lookup is None:
            _lookup = _lookup_pool.submit(_look_for_devices)
        return _lookup


_device_lookup()


def devices(timeout_s: float | None = None) -> dict | None:
    """This machine's devices as the engine sees them; {"error": ..., "devices": []} on failure.

    timeout_s: how long to wait for the lookup (None: until it is done); None is returned if it is still running
    then, so the sidebar can say "looking" instead of holding the page back."""
    try:
        return _device_lookup().result(timeout=timeout_s)
    except concurrent.futures.TimeoutError:
        return None


def refresh_devices():
    """Look for devices again (a GPU plugged in, a driver installed); the next `devices()` waits for the new look."""
    global _lookup
    with _lookup_lock:
        _lookup = None
    _device_lookup()


def device_specs() -> list[str]:
    """Device specs present here, CPU first (e.g. ["cpu:0", "gpu:0"])."""
    return [d["spec"] for d in devices().get("devices", [])] or ["cpu:0"]


@st.cache_data(show_spinner=False)
def price_table() -> pl.DataFrame:
    """data/prices.csv, validated (`engine.analysis.prices.load_table`); raises PriceTableError."""
    return prices.load_table()


@st.cache_data(show_spinner=False, max_entries=16)
def _device_facts(sources: tuple[str, ...], folders: tuple) -> pl.DataFrame:
    del folders  # part of the cache key only
    return prices.device_prices(tables.ok_runs(runs(list(sources)).frame), price_table())


def device_facts(sources: list[str] | None = None) -> pl.DataFrame:
    """Per measured device of the ticked sources: its table price and physical memory
    (`engine.analysis.prices.device_prices`), cached per folder contents."""
    sources = state.selected_sources() if sources is None else sources
    return _device_facts(tuple(sources), fingerprint())


@st.cache_data(show_spinner=False, max_entries=16)
def _micro_with_device(sources: tuple[str, ...], folders: tuple) -> pl.DataFrame:
    del folders
    return tables.with_device(micro(list(sources)).frame)


def micro_with_device(sources: list[str] | None = None) -> pl.DataFrame:
    """The ticked sources' micro benchmark rows with a `device` label (the memory floor's bandwidth)."""
    sources = state.selected_sources() if sources is None else sources
    return _micro_with_device(tuple(sources), fingerprint())


def pair(kind: str = "mlp", cpu_device: str | None = None, gpu_device: str | None = None) -> tuple:
    """(CPU, accelerator) the answer compares: the named ones, else a fair pair (`verdict.choose_pair`)."""
    return choose_pair(runs().frame, kind, cpu_device, gpu_device, device_facts())


def typed_prices() -> dict[str, float]:
    """Device label -> the $/h typed in the sidebar: for that device, else for its side (CPU or
    accelerator); devices with nothing typed are left out (the price table prices them)."""
    typed = state.price_overrides()
    facts = device_facts()
    found = {device: typed["cpu_per_h" if platform == "cpu" else "gpu_per_h"]
             for device, platform in zip(facts["device"], facts["platform"])}
    found.update(state.device_price_overrides(facts["device"]))
    return {device: price for device, price in found.items() if price is not None}


def pair_prices(cpu_device: str | None, gpu_device: str | None) -> tuple[Prices, list[str]]:
    """(prices, notes): each device's $/h as typed in the sidebar for that device, else for its side,
    else from the price table; a device the table lacks falls back to the seed article's figure, said in a note.
    Raises ConfigError (naming the sidebar field) for a bad override."""
    overrides = state.price_overrides()
    facts = device_facts()
    table = dict(zip(facts["device"], facts["usd_per_hour"]))
    per_device = state.device_price_overrides(facts["device"])
    notes, chosen = [], {}
    for side, device, fallback in (("cpu", cpu_device, DEFAULT_CPU_PER_H), ("gpu", gpu_device, DEFAULT_GPU_PER_H)):
        typed = per_device.get(device, overrides[f"{side}_per_h"])
        if typed is not None:
            chosen[side] = typed
        elif table.get(device) is not None:
            chosen[side] = table[device]
        else:
            chosen[side] = fallback
            if device is not None:
                notes.append(f"{device} is not in the price table: priced at ${fallback:g}/h (the seed article's "
                             "example); type its price in the sidebar.")
    return Prices(cpu_per_h=chosen["cpu"], gpu_per_h=chosen["gpu"]), notes


@st.cache_data(show_spinner="Checking the performance model on runs it was not fitted on...", max_entries=8)
def _model_validation(sources: tuple[str, ...], folders: tuple) -> tuple[pl.DataFrame, pl.DataFrame]:
    del folders
    table = perfmodel.validation(runs(list(sources)).frame, _micro_with_device(sources, fingerprint()))
    return table, perfmodel.validation_summary(table)


def model_validation(sources: list[str] | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(per run, per device) leave-one-out and extrapolation errors of the performance model
    (`engine.analysis.perfmodel.validation`), cached per folder contents."""
    sources = state.selected_sources() if sources is None else sources
    return _model_validation(tuple(sources), fingerprint())


def warm_for_first_visit() -> None:
    """What a first visit needs that no visitor's settings change, done ahead (dashboard.warmup, at server start):
    the run and micro files of the runs and reference folders in their caches, and one Overview answer computed
    and drawn on them, so that Polars, NumPy and Plotly have run their first-use code. The answer itself is not
    kept: a visit's answer depends on its session (sources, prices, uploads) and is computed and cached then."""
    from engine.answer import explain  # the Overview's module, with its imports
    from engine.base.config import RunConfig

    frames = []
    for folder, source in ((state.runs_dir(), None), (state.reference_dir(), "reference")):
        for micro in (False, True):
            frame, _ = _load(str(folder), source, micro, _fingerprint(folder), _max_log_rows())
            if not micro:
                frames.append(frame)
    frame = pl.concat(frames, how="vertical")
    facts = prices.device_prices(tables.ok_runs(frame), price_table())
    _, chart = explain.answer(RunConfig(), frame, Prices(), 10, facts=facts)
    if chart is not None:
        chart.to_json()  # what st.plotly_chart sends: Plotly's validators and JSON encoder run once


@st.cache_data(show_spinner=False, max_entries=64)
def overview_answer(job, prices, epochs: int, cpu_device, gpu_device, whose: str, sources: tuple[str, ...],
                    folders: tuple):
    """The Overview's verdict and its chart of measured speedups around the job (`engine.answer.explain.answer`),
    cached per input and per contents of the data folders (`folders`), so a visit or a rerun with the same inputs
    is instant."""
    from engine.answer import explain

    return explain.answer(job, runs(list(sources)).frame, prices, epochs, cpu_device=cpu_device,
                          gpu_device=gpu_device, facts=device_facts(list(sources)),
                          micro=micro_with_device(list(sources)), runs_choice=whose)


@st.cache_data(show_spinner=False, max_entries=64)
def every_device(job, epochs: int, typed: tuple, sources: tuple[str, ...], folders: tuple):
    """The price list: every measured device's time and cost for the job (engine.answer.price_list);
    typed: (device, $/h) the sidebar overrides."""
    from engine.answer.price_list import price_list

    return price_list(job, runs(list(sources)).frame, device_facts(list(sources)), epochs,
                      micro_with_device(list(sources)), dict(typed))
