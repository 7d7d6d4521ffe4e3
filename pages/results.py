"""Results: every run as a filterable table; download it; import runs made elsewhere.

Uploads go through engine.runlog.store.import_bytes: the file is validated and written with source
"imported" to this browser session's own folder (dashboard.state.imports_dir); a file that is not usable is
rejected with the reason.
"""

import io

import polars as pl
import streamlit as st

from dashboard import columns, data, state
from engine.analysis import tables
from engine.base import fmt
from engine.base.limits import LimitError
from engine.runlog import store

# The answer a row gives first (what ran where, and how fast), then when and how it was measured.
# host: the machine, so runs made on several machines (a rented GPU box, a laptop) are told apart.
MAIN_COLUMNS = ["device", "model", "params", "batch_size", "dataset_size", "epoch_s_median", "epoch_s_iqr",
                "end_to_end_s", "compile_s", "transfer_s", "status", "device_count", "width", "depth", "dtype",
                "matmul_precision", "mode", "created_at", "source", "host", "engine_version", "xla_options",
                "allocator", "error"]
FORMATS = {"params": ("parameters", "count"), "batch_size": ("batch", "count"), "dataset_size": ("samples", "count"),
           "epoch_s_median": ("s/epoch (median)", "seconds"), "epoch_s_iqr": ("s/epoch (IQR)", "seconds"),
           "end_to_end_s": ("end to end", "seconds"), "compile_s": ("compile", "seconds"),
           "transfer_s": ("transfer", "seconds")}
MAX_TABLE_ROWS = 1_000

state.through_app()
st.title("Results")

runs = data.runs()
data.show_warnings(runs)
frame = tables.with_device(runs.frame)


def options(column: str) -> list:
    return sorted(frame[column].drop_nulls().unique().to_list())


c1, c2, c3, c4 = st.columns([2, 1, 2, 2])
models = state.filter_all(c1, "Model kind", options("model"), "rs_models", pills=True)
platforms = state.filter_all(c2, "Platform", options("platform"), "rs_platforms", pills=True)
statuses = state.filter_all(c3, "Status", options("status"), "rs_statuses", pills=True)
text = c4.text_input("Device contains", key="rs_device", bind="query-params", placeholder="e.g. H100")

# The filter and the order are found on five columns, and only the rows on screen are gathered from the whole
# frame: a filtered, sorted copy of every column (lists of epoch times included) of a 10,000-row log raised the
# server's peak memory by ~25 MiB on every visit (benchmarks/server_memory.py).
wanted = pl.col("model").is_in(models) & pl.col("platform").is_in(platforms) & pl.col("status").is_in(statuses)
if text:
    wanted = wanted & pl.col("device").str.contains(text, literal=True)
order = (frame.select("model", "platform", "status", "device", "created_at").with_row_index("row").filter(wanted)
         .sort("created_at", descending=True, nulls_last=True).select("row", "platform"))


def shown_rows(n: int | None = None) -> pl.DataFrame:
    """The shown runs, newest first: all of them, or the first `n`."""
    rows = order["row"] if n is None else order["row"].head(n)
    return frame[rows]


if not frame.height:
    st.info("No runs in the selected data sources yet. Measure on the Benchmark page or import a file below.")
else:
    n_gpu = order.filter(pl.col("platform") != "cpu").height
    st.caption(f"{order.height:,} of {fmt.plural(frame.height, 'run')} shown; {n_gpu} on a GPU or other accelerator.")
    if not frame.filter(pl.col("platform") != "cpu").height:
        st.warning("**No GPU measurements exist in the selected data sources yet.**")
    all_columns = st.toggle("Show every column", key="rs_all_columns", bind="query-params")
    # The table shows the newest rows only: a 100,000-row log sent to the browser as a table (and kept in the
    # server's memory per visitor) cost hundreds of MB; the downloads below hold every shown row.
    table = shown_rows(MAX_TABLE_ROWS)
    if order.height > MAX_TABLE_ROWS:
        st.caption(f"The table lists the newest {MAX_TABLE_ROWS:,} of these {order.height:,} runs; the downloads "
                   "hold all of them.")
    st.dataframe(table if all_columns else table.select(MAIN_COLUMNS), hide_index=True,
                 column_config=columns.table_config(FORMATS))

    def as_csv() -> bytes:  # made when the button is pressed, not on every visit (memory on a public host)
        buffer = io.BytesIO()
        store.export_csv(shown_rows().drop("device"), buffer)
        return buffer.getvalue()

    def as_parquet() -> bytes:
        buffer = io.BytesIO()
        store.export_parquet(shown_rows().drop("device"), buffer)
        return buffer.getvalue()

    c1, c2 = st.columns(2)
    c1.download_button("Download CSV", as_csv, file_name="crossover-runs.csv", mime="text/csv", key="rs_csv",
                       on_click="ignore")
    c2.download_button("Download Parquet", as_parquet, file_name="crossover-runs.parquet",
                       mime="application/octet-stream", key="rs_parquet", on_click="ignore")

st.subheader("Import runs")
st.caption("A Parquet or CSV file of run records (for example from `python -m engine sweep --out runs.parquet` on a "
           "rented GPU machine). It is checked, then stored with source 'imported' "
           + ("in the shared run log, where every visitor of this app sees it." if state.shared_imports() else
              "for this browser session only: other visitors never see it, and reloading the page starts a new "
              "session without it (download the table above to keep it)."))


def import_upload(upload) -> tuple[str, str]:
    """("ok" | "rejected", message) for one uploaded file, stored in this session's folder (or the shared one)."""
    shown = f"file={upload.name!r}"
    try:
        caps = data.limits()
    except LimitError as exc:
        return "rejected", f"{shown} was not imported: {exc}."
    held = 0 if state.shared_imports() else data.session_rows()
    room = caps.max_session_rows - held
    if room <= 0:
        return "rejected", (f"{shown} was not imported: this session's uploads already hold {held:,} runs, the most "
                            f"CROSSOVER_MAX_SESSION_ROWS={caps.max_session_rows:,} allows (a bound on the server's "
                            "memory). Reload the page to start a new session without them.")
    state.prune_session_folders()  # uploads of sessions long closed
    try:
        # Parsed as Parquet or CSV only; stored under a generated name in the session's own folder (or the shared
        # runs folder), never the uploaded one.
        written = store.import_bytes(upload.name, upload.getvalue(), state.imports_dir(),
                                     max_bytes=caps.max_upload_bytes, max_rows=min(caps.max_import_rows, room),
                                     also_known=[state.runs_dir(), state.reference_dir()])
    except store.ImportRejected as exc:
        room_note = (f" (this session's uploads hold {held:,} runs: room for {room:,} more of "
                     f"CROSSOVER_MAX_SESSION_ROWS={caps.max_session_rows:,})" if room < caps.max_import_rows else "")
        return "rejected", (f"{shown} was rejected: {exc}{room_note}. Expected run records with at least: "
                            f"{', '.join(store.REQUIRED_RUN_COLUMNS)}.")
    except OSError as exc:  # the folder is full or read-only: the real cause, no traceback
        return "rejected", (f"{shown} could not be stored in {state.imports_dir()}: "
                            f"{exc.strerror or type(exc).__name__}. Nothing was added.")
    return "ok", f"{upload.name}: {written.describe()}."


uploads = st.file_uploader("Run files", type=["parquet", "csv"], accept_multiple_files=True, key="rs_upload")
done: dict = st.session_state["results_imported"]
outcomes = []
for upload in uploads or []:
    if upload.file_id not in done:  # every rerun sees the same uploads; import each once
        done[upload.file_id] = import_upload(upload)
    outcomes.append(done[upload.file_id])
# A rejection followed by a successful import is history, not a live error (issue 18: the red box stayed after the
# fixed file went in): it moves into a closed expander; rejections since the last success stay in sight.
last_ok = max((i for i, (verdict, _) in enumerate(outcomes) if verdict == "ok"), default=-1)
earlier = [message for verdict, message in outcomes[:last_ok] if verdict != "ok"]
if earlier:
    with st.expander(f"{fmt.plural(len(earlier), 'earlier file')} rejected before a later import succeeded"):
        for message in earlier:
            st.caption(message)
for i, (verdict, message) in enumerate(outcomes):
    if verdict == "ok":
        st.success(message)
    elif i > last_ok:
        st.error(message)
if any(verdict == "ok" for verdict, _ in done.values()) and "imported" not in state.selected_sources():
    st.info("Tick 'Imported files' under Data sources in the sidebar to see imported runs.")
