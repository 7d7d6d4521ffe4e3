"""Where the data lives and the defaults of every setting, in one place.

Folders can be moved with environment variables (tests point them at fixtures):
CROSSOVER_RUNS_DIR (default data/runs: own runs, and files imported with the command line),
CROSSOVER_REFERENCE_DIR (default data/reference: shipped measurements) and
CROSSOVER_SESSIONS_DIR (default data/sessions: a folder per browser session for the files that
session uploaded, seen by that session only). CROSSOVER_SHARED_IMPORTS=1 (an operator's choice, for
a private server) stores uploads in the runs folder instead, where every visitor sees them.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import secrets
import shutil
import threading
import time
from pathlib import Path

import streamlit as st

from engine.analysis.cost import Prices
from engine.base.config import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent

SOURCE_LABELS = {
    "local": "My runs (data/runs)",
    "reference": "Reference (data/reference)",
    "imported": "Imported files",
}
# The same names in running text (the sidebar's summary line): "my runs", "reference", "imported files".
SOURCE_SHORT_LABELS = {key: label.split(" (")[0].lower() for key, label in SOURCE_LABELS.items()}

# Widget defaults (passed as each widget's own default, so a URL only carries what differs).
# Prices: empty by default, i.e. each device is priced from the dated price table (data/prices.csv);
# a typed price overrides the table for the CPU or the GPU side of every answer.
DEFAULTS = {
    "sources": ["local", "reference", "imported"],
    "gpu_price": None,
    "cpu_price": None,
}

# Session state that is not a widget: set once per browser session (crossover.py).
SESSION_DEFAULTS = {
    "bench_job_ids": [],  # jobs this session sent from the Benchmark page, oldest first
    "hw_job_ids": [],  # microbenchmark jobs sent from the Hardware page
    "results_imported": {},  # uploaded file id -> message, so a rerun does not import it twice
}


def init_session():
    """Set every non-widget default once (setdefault keeps what a session already has)."""
    for key, value in SESSION_DEFAULTS.items():
        st.session_state.setdefault(key, type(value)(value))


def drop_non_finite_query_params() -> list[str]:
    """Remove URL parameters whose value is a non-finite number ("inf", "-inf", "1e400", "nan") and say which.

    A number widget bound to the URL turns "inf" into an OverflowError before any page code runs (issue 21),
    and the link stays broken. Removed here, before any widget reads it, the widget takes its default and the
    browser's URL loses the bad value. Returns one message per removed parameter, naming it."""
    messages = []
    for key in list(st.query_params):
        value = st.query_params.get(key)
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue  # not a number: the widget itself decides
        if not math.isfinite(number):
            del st.query_params[key]
            messages.append(f"{key}={str(value)[:40]!r} in the link is not a finite number; its default is used.")
    return messages


def keep_sidebar_in_url() -> None:
    """Put the sidebar's set values back into the URL on a page switch, before the sidebar is drawn.

    Streamlit 1.67's browser drops the query string when a visitor moves to another page; a bound widget
    writes its value back only if it was last set on screen, not when it came from the opened link. So a
    shared link's prices and sources vanished from the URL on the first page switch (issue 18). Assigning
    the held value again before the widget is drawn marks it as set by code, and Streamlit then writes it
    to the URL. Only values that differ from the default and are missing from the URL are touched.
    """
    for key in sidebar_url_keys():
        if key in st.query_params or key not in st.session_state:
            continue
        value = st.session_state[key]
        if value is not None and value != DEFAULTS.get(key):
            st.session_state[key] = value


def sidebar_url_keys() -> list[str]:
    """The URL keys of the sidebar's widgets: sources, the two price overrides and each device's price."""
    return ["sources", "gpu_price", "cpu_price"] + [k for k in st.session_state if str(k).startswith("px_")]


_frame = threading.local()  # each browser session's script runs in its own thread


@contextlib.contextmanager
def app_frame():
    """crossover.py runs the selected page inside this, so a page can tell it was not run alone."""
    _frame.active = True
    try:
        yield
    finally:
        _frame.active = False


def through_app():
    """Make sure this page runs inside crossover.py's frame; call first thing in every page.

    A folder named pages/ beside crossover.py also means Streamlit's older multipage mode: until
    some script calls st.navigation, Streamlit runs a deep link such as /speedup as the page
    file alone, without crossover.py's frame, sidebar or defaults. That happens to the first visitor
    of a freshly started (or woken) server who opens a shared link, and to AppTest's
    switch_page. Then switch the old mode off and rerun: crossover.py runs, and since every
    st.Page's url_path equals its file name, the same page opens.
    """
    if getattr(_frame, "active", False):
        return
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a Streamlit without this internal: render the page alone, with defaults
        init_session()
        return
    PagesManager.uses_pages_directory = False  # what st.navigation itself does on its first call
    st.rerun()


def select_new_options(key: str, options: list):
    """Call before a keyed multi-select filter whose default is "all of them".

    A keyed widget keeps its value when its options change, so a GPU whose files just appeared
    would start unselected (or the filter empty). New options join the selection; options that
    disappeared leave it.
    """
    seen_key = f"_options_seen_{key}"
    seen = st.session_state.get(seen_key)
    chosen = st.session_state.get(key)
    if seen is not None and chosen is not None:
        new = [o for o in options if o not in seen]
        kept = [o for o in chosen if o in options]
        if new or len(kept) != len(chosen):
            st.session_state[key] = kept + new
    st.session_state[seen_key] = list(options)


def filter_all(where, label: str, options: list, key: str, pills: bool = False) -> list:
    """A multi-choice filter bound to the URL that starts with every option chosen and keeps
    options that appear later chosen too. `where`: st or a column. Returns the chosen options."""
    select_new_options(key, options)
    if pills:
        return where.pills(label, options, selection_mode="multi", default=options, key=key, bind="query-params")
    return where.multiselect(label, options, default=options, key=key, bind="query-params")


def runs_dir() -> Path:
    return Path(os.environ.get("CROSSOVER_RUNS_DIR", REPO_ROOT / "data" / "runs"))


def reference_dir() -> Path:
    return Path(os.environ.get("CROSSOVER_REFERENCE_DIR", REPO_ROOT / "data" / "reference"))


def sessions_dir() -> Path:
    return Path(os.environ.get("CROSSOVER_SESSIONS_DIR", REPO_ROOT / "data" / "sessions"))


def shared_imports() -> bool:
    """Whether uploads go to the shared runs folder (CROSSOVER_SHARED_IMPORTS=1) instead of the session's own."""
    return os.environ.get("CROSSOVER_SHARED_IMPORTS", "").strip() == "1"


SESSION_KEY = "_imports_key"
SESSION_FOLDER_TTL_S = 24 * 3600.0  # a session folder untouched this long belongs to a closed session


def session_imports_dir() -> Path | None:
    """This browser session's own folder for uploaded run files, or None when uploads are shared.

    On a public host an upload must not change another visitor's answer (issue 21): each session
    stores its uploads under a random key that only its own session state holds. The folder may not
    exist yet (nothing uploaded)."""
    if shared_imports():
        return None
    key = st.session_state.get(SESSION_KEY)
    if key is None:
        key = st.session_state[SESSION_KEY] = secrets.token_hex(16)
    return sessions_dir() / key


def imports_dir() -> Path:
    """Where this session's uploads are stored: its own folder, or the runs folder when shared."""
    return session_imports_dir() or runs_dir()


def prune_session_folders(older_than_s: float = SESSION_FOLDER_TTL_S, now: float | None = None) -> list[Path]:
    """Remove session folders whose newest file is older than `older_than_s` seconds (their sessions are
    long gone: a browser session's key lives only in its session state). Returns the removed folders."""
    root, now = sessions_dir(), time.time() if now is None else now
    removed = []
    if not root.is_dir():
        return removed
    for folder in root.iterdir():
        try:
            if not folder.is_dir():
                continue
            newest = max([folder.stat().st_mtime, *(f.stat().st_mtime for f in folder.iterdir())])
            if now - newest > older_than_s:
                shutil.rmtree(folder)
                removed.append(folder)
        except OSError:  # removed meanwhile, or not ours to remove: leave it
            continue
    return removed


def selected_sources() -> list[str]:
    """The data sources ticked in the sidebar (all of them before the sidebar ran)."""
    return list(st.session_state.get("sources", DEFAULTS["sources"]))


# The sidebar's price inputs, by the engine.analysis.cost.Prices field they fill.
PRICE_LABELS = {"gpu_per_h": "GPU price override, $ per hour", "cpu_per_h": "CPU price override, $ per hour"}


def price_overrides() -> dict[str, float | None]:
    """The sidebar's typed prices ({"cpu_per_h", "gpu_per_h"}: None = from the price table), validated:
    raises ConfigError naming the field for a price that is not a positive finite number."""
    typed = {"cpu_per_h": _number(st.session_state.get("cpu_price", DEFAULTS["cpu_price"])),
             "gpu_per_h": _number(st.session_state.get("gpu_price", DEFAULTS["gpu_price"]))}
    probe = {k: v for k, v in typed.items() if v is not None}
    Prices(**probe)  # the same checks as every price (engine.analysis.cost.Prices)
    return typed


def device_price_key(device: str) -> str:
    """The session-state (and URL) key of one device's typed $/h: "px_" + 8 hex digits of its name."""
    return "px_" + hashlib.sha1(device.encode()).hexdigest()[:8]


def device_price_overrides(devices) -> dict[str, float]:
    """Device label -> the $/h typed for that device in the sidebar (unset ones left out), validated:
    raises ConfigError naming the device for a price that is not a positive finite number."""
    typed = {}
    for device in devices:
        value = _number(st.session_state.get(device_price_key(device)))
        if value is not None:
            try:
                Prices(cpu_per_h=value)
            except ConfigError as exc:
                raise ConfigError(f"price of {device}", exc.value, exc.allowed) from None
            typed[device] = float(value)
    return typed


def _number(value):
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def price_problem() -> str | None:
    """None when the sidebar's prices are usable, else a sentence naming the input and what is allowed."""
    from dashboard import data  # data imports this module

    try:
        price_overrides()
        device_price_overrides(data.device_facts()["device"])
    except ConfigError as exc:
        return f"{PRICE_LABELS.get(exc.field, exc.field)} (sidebar): {exc}."
    except ValueError as exc:  # engine.analysis.prices.PriceTableError: names the line and column
        return str(exc)
    return None


def prices(cpu_device: str | None = None, gpu_device: str | None = None) -> Prices:
    """Hourly prices of a CPU and an accelerator (default: the fair pair the Overview answers for):
    the sidebar's override, else the price table (dashboard.data.pair_prices). Raises ConfigError."""
    from dashboard import data  # data imports this module

    if cpu_device is None and gpu_device is None:
        cpu_device, gpu_device = data.pair()
    return data.pair_prices(cpu_device, gpu_device)[0]


def checked_prices() -> Prices | None:
    """The sidebar's prices, or None after showing an error that names the bad input."""
    problem = price_problem()
    if problem:
        st.error(problem + " Enter a positive price in the sidebar.")
        return None
    return prices()
