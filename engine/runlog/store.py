"""The run log: Parquet files of run records (and microbenchmark records), never rewritten.

- `append(records, folder)` writes ONE new Parquet file per call: to a hidden temp name in
  the same folder, fsync, then `os.replace` to its final name, so a reader never sees a
  partial file and two writers never touch the same file.
- `load_runs(folders)` reads every `*.parquet` (not `*.micro.parquet`) lazily with Polars,
  skips unreadable or foreign files with a warning that names them, fills columns missing
  from older schema versions with nulls, and casts to the current schema.
- `add_to_file(records, path)` adds rows to ONE named file (the CLI's `--out x.parquet`): read,
  add, atomic rewrite, under an exclusive lock on `.<name>.lock`, so two writers lose no rows.
- `validate_frame` checks an imported frame (types, ranges, NaN); `import_bytes` imports an
  uploaded file: Parquet or CSV only (never pickle or code), capped in bytes and rows, stored
  under a generated name (the uploaded name never becomes a path); `export_csv` /
  `export_parquet` write one out.

No jax here: the dashboard process imports this module.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from engine.base.fmt import plural
from engine.base.limits import DEFAULT_MAX_IMPORT_ROWS, DEFAULT_MAX_UPLOAD_BYTES

SCHEMA_VERSION = 1
RUN_SUFFIX = ".parquet"
MICRO_SUFFIX = ".micro.parquet"
SOURCES = ("local", "reference", "imported")
STATUSES = ("ok", "oom", "error", "timeout", "skipped")

UTC_TIME = pl.Datetime("us", "UTC")

RUN_SCHEMA: dict[str, pl.DataType] = {
    "schema_version": pl.Int32,
    "engine_version": pl.Int32,  # engine.ENGINE_VERSION of the code that measured it; null before the column
    "run_id": pl.String,
    "batch_id": pl.String,
    "created_at": UTC_TIME,
    "source": pl.String,
    "host": pl.String,
    "os": pl.String,
    "cpu_model": pl.String,
    "cpu_cores": pl.Int32,
    "driver_version": pl.String,
    "cuda_version": pl.String,
    "platform": pl.String,
    "device_spec": pl.String,
    "device_kind": pl.String,
    "device_count": pl.Int32,  # devices one run trained on, data-parallel (engine.measure.parallel); 1 = one device
    "mesh_shape": pl.String,  # the device mesh's axes, e.g. "data=4"; null in files from before meshes
    "devices_emulated": pl.Boolean,  # several CPU devices of one process sharing its cores (engine.runlog.record)
    "process_count": pl.Int32,  # processes one run spanned (engine.measure.distributed); 1 = one; null before the column
    "hosts": pl.String,  # the host of each of those processes, by process id, joined by ","; null before the column
    "device_memory_bytes": pl.Int64,
    "jax_version": pl.String,
    "jaxlib_version": pl.String,
    "xla_options": pl.String,  # compiler options of its programs (engine.measure.xla_options); "" none; null before the column
    "allocator": pl.String,  # the measuring process's malloc setting (engine.measure.allocator); null before the column
    "model": pl.String,
    "width": pl.Int64,
    "depth": pl.Int64,
    "channels": pl.Int64,
    "heads": pl.Int64,
    "seq_len": pl.Int64,
    "vocab": pl.Int64,
    "input_shape": pl.String,
    "n_classes": pl.Int64,
    "seed": pl.Int64,
    "params": pl.Int64,
    "batch_size": pl.Int64,
    "dataset_size": pl.Int64,
    "steps_per_epoch": pl.Int64,
    "epochs": pl.Int64,
    "optimizer": pl.String,
    "learning_rate": pl.Float64,
    "dtype": pl.String,
    "matmul_precision": pl.String,
    "mode_requested": pl.String,
    "mode": pl.String,
    "warmup": pl.Int64,
    "repeats": pl.Int64,
    "time_budget_s": pl.Float64,
    "compile_s": pl.Float64,
    "compile_cache_hit": pl.Boolean,
    "transfer_s": pl.Float64,
    "first_epoch_s": pl.Float64,
    "epoch_times_s": pl.List(pl.Float64),
    "epoch_losses": pl.List(pl.Float64),
    "epoch_s_median": pl.Float64,
    "epoch_s_iqr": pl.Float64,
    "noisy": pl.Boolean,
    "end_to_end_s": pl.Float64,
    "steps_per_s": pl.Float64,
    "samples_per_s": pl.Float64,
    "flops_per_step_analytic": pl.Float64,
    "flops_per_step_xla": pl.Float64,
    "achieved_flops_per_s": pl.Float64,
    "peak_memory_bytes": pl.Int64,
    "executable_memory_bytes": pl.Int64,
    "dataset_bytes": pl.Int64,
    "loss_first": pl.Float64,
    "loss_last": pl.Float64,
    "status": pl.String,
    "error": pl.String,
}

MICRO_SCHEMA: dict[str, pl.DataType] = {
    "schema_version": pl.Int32,
    "engine_version": pl.Int32,
    "run_id": pl.String,
    "batch_id": pl.String,
    "created_at": UTC_TIME,
    "source": pl.String,
    "host": pl.String,
    "os": pl.String,
    "cpu_model": pl.String,
    "cpu_cores": pl.Int32,
    "driver_version": pl.String,
    "cuda_version": pl.String,
    "platform": pl.String,
    "device_spec": pl.String,
    "device_kind": pl.String,
    "jax_version": pl.String,
    "jaxlib_version": pl.String,
    "allocator": pl.String,  # as in RUN_SCHEMA
    "benchmark": pl.String,  # matmul | memory_bandwidth | host_to_device
    "size": pl.Int64,  # matrix side n for matmul; bytes moved otherwise
    "dtype": pl.String,
    "matmul_precision": pl.String,
    "times_s": pl.List(pl.Float64),
    "seconds_median": pl.Float64,
    "seconds_iqr": pl.Float64,
    "flops": pl.Float64,  # FLOPs of one timed operation (2 n^3 for a matmul)
    "bytes": pl.Float64,  # bytes read + written by one timed operation
    "flops_per_s": pl.Float64,
    "bytes_per_s": pl.Float64,
    "status": pl.String,
    "error": pl.String,
}

# Columns an imported file must have to be usable at all; the rest may be missing (null).
REQUIRED_RUN_COLUMNS = (
    "run_id",
    "created_at",
    "platform",
    "device_kind",
    "model",
    "params",
    "batch_size",
    "dataset_size",
    "dtype",
    "epoch_s_median",
    "status",
)


@dataclass
class Loaded:
    """What `load_runs` found: the frame (lazy) and the files skipped, each with why."""

    frame: pl.LazyFrame
    files: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        return [f"skipped {path}: {why}" for path, why in self.skipped]


def empty_runs() -> pl.DataFrame:
    return pl.DataFrame(schema=RUN_SCHEMA)


def records_to_frame(records: list[dict], schema: dict[str, pl.DataType] = RUN_SCHEMA) -> pl.DataFrame:
    """Records (dicts) to a frame with exactly `schema`'s columns and types."""
    rows = [{name: record.get(name) for name in schema} for record in records]
    return pl.DataFrame(rows, schema=schema, strict=False)


TEMP_PREFIX = ".tmp-"
STALE_TEMP_S = 3600.0  # a writer's temp file older than this was left by a killed process


def _write_atomically(frame: pl.DataFrame, folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / name
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".parquet", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            frame.write_parquet(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    remove_stale_temps(folder)
    return final


def write_file(frame: pl.DataFrame, path: str | os.PathLike) -> Path:
    """`frame` as the one file `path`, written atomically (a reader never sees it half written)."""
    path = Path(path)
    return _write_atomically(frame, path.parent, path.name)


def remove_stale_temps(folder: Path, older_than_s: float = STALE_TEMP_S) -> list[Path]:
    """Delete temp files that writers killed mid-write left behind (never read as data anyway)."""
    removed, now = [], time.time()
    for tmp in Path(folder).glob(TEMP_PREFIX + "*.parquet"):
        with contextlib.suppress(OSError):
            if now - tmp.stat().st_mtime > older_than_s:
                tmp.unlink()
                removed.append(tmp)
    return removed


def _new_name(prefix: str, suffix: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{prefix}-{stamp}-{uuid.uuid4().hex[:8]}{suffix}"


def append(records: list[dict], folder: str | os.PathLike, prefix: str = "runs") -> Path | None:
    """Write `records` as one new Parquet file in `folder`; returns its path (None if empty)."""
    if not records:
        return None
    return _write_atomically(records_to_frame(records), Path(folder), _new_name(prefix, RUN_SUFFIX))


def append_micro(records: list[dict], folder: str | os.PathLike, prefix: str = "micro") -> Path | None:
    """Write microbenchmark records as one new `*.micro.parquet` file in `folder`."""
    if not records:
        return None
    return _write_atomically(records_to_frame(records, MICRO_SCHEMA), Path(folder), _new_name(prefix, MICRO_SUFFIX))


def add_to_file(records: list[dict], path: str | os.PathLike, micro: bool = False) -> Path:
    """Add `records` to the one file `path` (created if missing), rewritten atomically under an
    exclusive lock, so concurrent writers to the same file lose no rows. Raises ValueError when
    `path` exists but is not a usable run file (it is never overwritten)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    schema = MICRO_SCHEMA if micro else RUN_SCHEMA
    with open(path.parent / f".{path.name}.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            frame = records_to_frame(records, schema)
            if path.exists():
                loaded = (load_micro if micro else load_runs)([path])
                if loaded.skipped:
                    raise ValueError(f"{str(path)!r} exists and is not a usable run file: {loaded.skipped[0][1]}")
                frame = loaded.frame.collect().vstack(frame)
            return _write_atomically(frame, path.parent, path.name)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _list_files(folders, micro: bool) -> list[Path]:
    files = []
    for folder in folders:
        path = Path(folder)
        if path.is_file():  # named on purpose: read whatever its name (a wrong kind is refused by its columns)
            files.append(path)
            continue
        for f in sorted(path.glob("*.parquet")) if path.is_dir() else []:
            if f.name.startswith("."):  # temp files of a writer still at work
                continue
            if f.name.endswith(MICRO_SUFFIX) == micro:
                files.append(f)
    return files


def conform(frame: pl.DataFrame | pl.LazyFrame, schema: dict[str, pl.DataType]) -> pl.LazyFrame:
    """Add missing columns as nulls, cast present ones to the schema's types, drop extras."""
    lazy = frame.lazy()
    have = lazy.collect_schema()
    exprs = []
    for name, dtype in schema.items():
        if name in have:
            exprs.append(pl.col(name).cast(dtype, strict=False))
        else:
            exprs.append(pl.lit(None, dtype=dtype).alias(name))
    return lazy.select(exprs)


def known_wrong_as_null(runs: pl.LazyFrame) -> pl.LazyFrame:
    """Run records with the figures known to be wrong emptied, as the engine now records them (issue 19):
    flops_per_step_xla off the CPU (XLA's count misses library calls on GPUs), and a peak_memory_bytes that
    did not rise above an earlier run's of the same batch and device (the backend's high-water mark is per
    process: such a run's own peak is unknown; `engine.measure.bench.run_peak`)."""
    earlier = (pl.col("peak_memory_bytes").cum_max().shift(1)
               .over(["batch_id", "device_spec"], order_by="created_at"))
    return runs.with_columns(
        pl.when(pl.col("platform") == "cpu").then(pl.col("flops_per_step_xla")).alias("flops_per_step_xla"),
        pl.when(earlier.is_null() | (pl.col("peak_memory_bytes") > earlier)).then(pl.col("peak_memory_bytes"))
        .alias("peak_memory_bytes"),
    )


def check_schema(have: dict, required: tuple[str, ...], schema: dict[str, pl.DataType]) -> str | None:
    """Why a file's columns are unusable, or None when they will do."""
    missing = [c for c in required if c not in have]
    if missing:
        return "missing columns " + ", ".join(missing)
    for name in required:
        want, got = schema[name], have[name]
        numeric_ok = want.is_numeric() and got.is_numeric()
        temporal_ok = isinstance(want, pl.Datetime) and isinstance(got, (pl.Datetime, pl.Date, pl.String))
        if got != want and not numeric_ok and not temporal_ok and got != pl.Null:
            return f"column {name} has type {got}, expected {want}"
    return None


def _load(folders, micro: bool, schema, required, source: str | None) -> Loaded:
    loaded = Loaded(frame=pl.DataFrame(schema=schema).lazy())
    frames = []
    for path in _list_files(folders, micro):
        try:
            have = dict(pl.read_parquet_schema(path))
        except Exception as exc:  # truncated, empty or not Parquet at all
            loaded.skipped.append((path, f"not a readable Parquet file ({type(exc).__name__})"))
            continue
        problem = check_schema(have, required, schema)
        if problem:
            loaded.skipped.append((path, problem))
            continue
        try:  # read whole: a file with a valid footer and damaged pages, or a column that cannot be converted,
            # is skipped with its reason here instead of failing every page that collects the log (issue 21)
            frame = conform(pl.read_parquet(path), schema).collect()
        except Exception as exc:
            loaded.skipped.append((path, f"unreadable ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})"))
            continue
        wrong = next((name for name, dtype in frame.schema.items() if dtype != schema[name]), None)
        if wrong is not None:  # a cast Polars could not make keeps its own type (a struct stays a struct)
            loaded.skipped.append((path, f"unreadable (column {wrong} has type {frame.schema[wrong]}, expected "
                                         f"{schema[wrong]})"))
            continue
        lazy = frame.lazy()
        if not micro:
            lazy = known_wrong_as_null(lazy)
        if source is not None:
            lazy = lazy.with_columns(pl.lit(source).alias("source"))
        frames.append(lazy)
        loaded.files.append(path)
    if frames:
        loaded.frame = pl.concat(frames, how="vertical")
    return loaded


def load_runs(folders, source: str | None = None) -> Loaded:
    """Every run file under `folders` (folders or files) as one lazy frame of RUN_SCHEMA.

    `source`, when given, overrides the rows' source column (e.g. "reference" for the
    shipped files). Unusable files land in `Loaded.skipped` with the reason.
    """
    return _load(folders, False, RUN_SCHEMA, REQUIRED_RUN_COLUMNS, source)


def load_micro(folders, source: str | None = None) -> Loaded:
    """Every `*.micro.parquet` file under `folders` as one lazy frame of MICRO_SCHEMA."""
    return _load(folders, True, MICRO_SCHEMA, ("benchmark", "device_kind", "seconds_median"), source)


class ImportRejected(ValueError):
    """An imported file cannot be used as run records; the message says why."""


IMPORT_SUFFIXES = (".parquet", ".csv")
MAX_IMPORT_COLUMNS = 1_000
# Text from an imported file: run ids as the engine writes them (uuid hex; names of letters, digits, ".", "_",
# "-"), and no text cell longer than MAX_TEXT_CHARS (a 84 KB Parquet file of 10 kB strings once took the server
# to 6.7 GB: the bytes on disk say nothing of what the text decompresses to).
RUN_ID_PATTERN = r"^[A-Za-z0-9._-]{1,128}$"
MAX_TEXT_CHARS = 2_000
MAX_LIST_ITEMS = 100_000  # timed epochs or losses of one run (repeats are at most 1,000)
# Totals over a whole file, since many cells just under the per-cell caps add up (5,000 rows with 2,000
# characters in each of 20 text columns is 200 MB of text): on average per row, plus one cell at its own cap
# (a file of one failed run with a long error is fine). A run the engine writes holds about 200-320 characters
# (ids, host, versions; the shipped reference: 221 on average; a failure's error is at most 2,000, most are
# one line) and 2 x epochs + 1 list items (7 for 5 timed epochs). Sized by benchmarks/server_memory.py: a session's 5,000 rows at these caps keep the server < 400 MB.
MAX_TEXT_CHARS_PER_ROW = 500
MAX_LIST_ITEMS_PER_ROW = 50
MAX_SECONDS = 1e9  # ~32 years: any time column above it is garbage
# Allowed ranges of numeric columns in an imported file (null is allowed unless said otherwise).
INT_RANGES = {
    "params": (1, 10**13), "batch_size": (1, 10**9), "dataset_size": (1, 10**12), "steps_per_epoch": (0, 10**12),
    "epochs": (1, 10**9), "width": (1, 10**9), "depth": (1, 10**6), "channels": (1, 10**9), "heads": (1, 10**6),
    "seq_len": (1, 10**9), "vocab": (1, 10**12), "n_classes": (1, 10**12), "seed": (0, 2**62),
    "warmup": (0, 10**6), "repeats": (0, 10**6), "cpu_cores": (1, 10**6), "device_count": (1, 10**6),
    "process_count": (1, 10**6),
    "device_memory_bytes": (0, 10**18), "peak_memory_bytes": (0, 10**18), "executable_memory_bytes": (0, 10**18),
    "dataset_bytes": (0, 10**18), "schema_version": (0, 10**6), "engine_version": (1, 10**6),
}
FLOAT_RANGES = {
    **{name: (0.0, MAX_SECONDS) for name in ("compile_s", "transfer_s", "first_epoch_s", "epoch_s_median",
                                            "epoch_s_iqr", "end_to_end_s", "time_budget_s")},
    "steps_per_s": (0.0, 1e15), "samples_per_s": (0.0, 1e18), "learning_rate": (0.0, 1e6),
    "flops_per_step_analytic": (0.0, 1e30), "flops_per_step_xla": (0.0, 1e30), "achieved_flops_per_s": (0.0, 1e30),
}
# Losses are not range-checked: a diverged run's losses are NaN or inf, and that is a finding.


def _shown_value(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _first_bad(frame: pl.DataFrame, name: str, bad: pl.Expr) -> tuple[int, object] | None:
    """(row, value) of the first row where `bad` holds, or None."""
    hits = frame.with_row_index("_row").filter(bad.fill_null(False)).select("_row", name).head(1)
    return (hits["_row"][0], hits[name][0]) if hits.height else None


def _check_types(original: pl.DataFrame, out: pl.DataFrame):
    """Every known column the file has must convert without losing values (strings in a number
    column, 1.5 in an integer column, 1e30 beyond Int64)."""
    for name, got in original.schema.items():
        want = RUN_SCHEMA.get(name)
        if want is None or got == pl.Null:
            continue
        if want.is_integer() and got.is_float():
            found = _first_bad(original, name, ~pl.col(name).is_finite() | (pl.col(name) != pl.col(name).floor()))
            if found:
                raise ImportRejected(f"column {name} has {_shown_value(found[1])} in row {found[0] + 1}; "
                                     f"allowed: whole numbers")
        lost = out[name].is_null() & original[name].is_not_null()
        if lost.any():
            row = int(lost.arg_max())
            raise ImportRejected(f"column {name} has {_shown_value(original[name][row])} in row {row + 1}, "
                                 f"which is not a {want}")


def _check_ranges(out: pl.DataFrame):
    for name, (low, high) in INT_RANGES.items():
        found = _first_bad(out, name, (pl.col(name) < low) | (pl.col(name) > high))
        if found:
            raise ImportRejected(f"column {name} has {found[1]!r} in row {found[0] + 1}; allowed: an integer in "
                                 f"[{low:,}, {high:,}]")
    for name, (low, high) in FLOAT_RANGES.items():
        found = _first_bad(out, name, ~pl.col(name).is_finite() | (pl.col(name) < low) | (pl.col(name) > high))
        if found:
            raise ImportRejected(f"column {name} has {found[1]!r} in row {found[0] + 1}; allowed: a finite number "
                                 f"in [{low:g}, {high:g}]")
    times = pl.col("epoch_times_s").list.eval(
        (~pl.element().is_finite() | (pl.element() < 0) | (pl.element() > MAX_SECONDS)).fill_null(True)).list.any()
    found = _first_bad(out, "epoch_times_s", times)
    if found:
        raise ImportRejected(f"column epoch_times_s has {_shown_value(found[1].to_list())} in row {found[0] + 1}; "
                             f"allowed: finite seconds in [0, {MAX_SECONDS:g}]")
    ok_without_time = _first_bad(out, "epoch_s_median", (pl.col("status") == "ok")
                                 & ~(pl.col("epoch_s_median") > 0).fill_null(False))  # missing counts as bad
    if ok_without_time:
        raise ImportRejected(f"column epoch_s_median has {ok_without_time[1]!r} in row {ok_without_time[0] + 1}, a run "
                             f"with status ok; allowed: a positive number of seconds")


def validate_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """Conform an imported frame to RUN_SCHEMA or raise ImportRejected saying why (naming the column)."""
    problem = check_schema(dict(frame.schema), REQUIRED_RUN_COLUMNS, RUN_SCHEMA)
    if problem:
        raise ImportRejected(problem)
    original = frame
    for name in ("epoch_times_s", "epoch_losses"):
        if name in frame.columns and frame.schema[name] == pl.String:
            # CSV stores lists as "[0.1, 0.2]": parse them back. Not as JSON: a diverged run's
            # losses are written as NaN / inf, which JSON cannot hold.
            numbers = pl.col(name).str.extract_all(r"[^\s,\[\]]+")
            frame = frame.with_columns(numbers.list.eval(pl.element().cast(pl.Float64, strict=False)).alias(name))
    if "created_at" in frame.columns and frame.schema["created_at"] == pl.String:
        frame = frame.with_columns(pl.col("created_at").str.to_datetime(time_zone="UTC", strict=False))
    out = conform(frame, RUN_SCHEMA).collect()
    bad_status = out.filter(~pl.col("status").is_in(STATUSES))
    if bad_status.height:
        raise ImportRejected(f"column status has {bad_status['status'][0]!r}; allowed: {', '.join(STATUSES)}")
    for name in ("params", "batch_size", "dataset_size"):
        if out[name].null_count() or (out[name] <= 0).any():
            raise ImportRejected(f"column {name} must be a positive integer in every row")
    bad_ids = out.filter(~pl.col("run_id").fill_null("").str.contains(RUN_ID_PATTERN))
    if bad_ids.height:
        raise ImportRejected(f"column run_id has {str(bad_ids['run_id'][0])[:40]!r}; allowed: 1 to 128 letters, "
                             "digits, '.', '_' or '-'")
    text = [c for c, t in out.schema.items() if t == pl.String]
    longest = out.select(pl.col(c).str.len_chars().max() for c in text).row(0, named=True) if text else {}
    for name, length in longest.items():
        if length is not None and length > MAX_TEXT_CHARS:
            raise ImportRejected(f"column {name} has a text of {length:,} characters; at most "
                                 f"{MAX_TEXT_CHARS:,} are allowed")
    # A CSV's text is only known here (a Parquet file was measured before it was read).
    totals = out.select(pl.sum_horizontal(pl.col(c).str.len_chars().sum() for c in text).alias("text") if text
                        else pl.lit(0).alias("text"),
                        pl.sum_horizontal(pl.col(c).list.len().sum() for c in ("epoch_times_s", "epoch_losses"))
                        .alias("lists")).row(0, named=True)
    _check_totals("the file", out.height, int(totals["text"] or 0), int(totals["lists"] or 0))
    _check_types(original, out)
    _check_ranges(out)
    return out


def decompressed_caps(rows: int) -> tuple[int, int]:
    """(text characters, list items) a file of `rows` rows may hold in total, over all its columns: the per-row
    average times `rows`, plus one cell at its own cap (so one failed run with a long error still imports)."""
    return (MAX_TEXT_CHARS + MAX_TEXT_CHARS_PER_ROW * rows, MAX_LIST_ITEMS + MAX_LIST_ITEMS_PER_ROW * rows)


def _check_decompressed(shown: str, lazy: pl.LazyFrame, schema: dict, rows: int) -> None:
    """Refuse a file whose text or lists would be large once decompressed, before reading it whole: the longest
    and the total text and list per column are measured by Polars' streaming engine, a batch at a time.
    `schema`: the columns that will be read; `rows`: the file's row count."""
    text = [c for c, t in schema.items() if t in (pl.String, pl.Utf8)]
    lists = [c for c, t in schema.items() if isinstance(t, pl.List)]
    if not text and not lists:
        return
    lengths = [pl.col(c).str.len_chars() for c in text] + [pl.col(c).list.len() for c in lists]
    found = lazy.select(*(e.max().alias(f"max {c}") for e, c in zip(lengths, text + lists)),
                        *(e.sum().alias(f"sum {c}") for e, c in zip(lengths, text + lists))
                        ).collect(engine="streaming").row(0, named=True)
    for name in text + lists:
        cap, what = (MAX_TEXT_CHARS, "a text of {:,} characters") if name in text else (MAX_LIST_ITEMS, "a list of {:,} items")
        value = found[f"max {name}"]
        if value is not None and value > cap:
            raise ImportRejected(f"{shown}: column {name} has {what.format(value)}; at most {cap:,} are allowed")
    _check_totals(shown, rows, sum(found[f"sum {c}"] or 0 for c in text), sum(found[f"sum {c}"] or 0 for c in lists))


def _check_totals(shown: str, rows: int, text_chars: int, list_items: int) -> None:
    text_cap, list_cap = decompressed_caps(rows)
    if text_chars > text_cap:
        raise ImportRejected(f"{shown}: its {rows:,} rows hold {text_chars:,} characters of text in all; at most "
                             f"{text_cap:,} are allowed ({MAX_TEXT_CHARS_PER_ROW:,} per row on average, plus "
                             f"{MAX_TEXT_CHARS:,} for one long cell)")
    if list_items > list_cap:
        raise ImportRejected(f"{shown}: its {rows:,} rows hold {list_items:,} list items (epoch times and losses) "
                             f"in all; at most {list_cap:,} are allowed ({MAX_LIST_ITEMS_PER_ROW:,} per row on "
                             f"average, plus {MAX_LIST_ITEMS:,} for one long run)")


def _safe_name(name: object) -> str:
    """The uploaded name for messages only: its last path part, cut short. Never used as a path."""
    text = str(name).replace("\\", "/").rsplit("/", 1)[-1]
    return text if len(text) <= 80 else text[:77] + "..."


def _read_bytes(shown: str, suffix: str, data: bytes, max_rows: int | None) -> pl.DataFrame:
    if suffix == ".parquet":
        if len(data) < 12 or data[:4] != b"PAR1" or data[-4:] != b"PAR1":
            raise ImportRejected(f"{shown} is not a Parquet file (no PAR1 marks at its start and end)")
        columns = pl.read_parquet_schema(io.BytesIO(data))
        if len(columns) > MAX_IMPORT_COLUMNS:
            raise ImportRejected(f"{shown} has {len(columns):,} columns; at most {MAX_IMPORT_COLUMNS:,} are allowed")
        rows = pl.scan_parquet(io.BytesIO(data)).select(pl.len()).collect().item()
        if max_rows is not None and rows > max_rows:
            raise ImportRejected(f"{shown} has {rows:,} rows; at most {max_rows:,} are allowed here")
        # Only the run record's columns are decompressed: others would be dropped anyway.
        known = {name: dtype for name, dtype in columns.items() if name in RUN_SCHEMA}
        _check_decompressed(shown, pl.scan_parquet(io.BytesIO(data)).select(list(known)), known, rows)
        return pl.read_parquet(io.BytesIO(data), columns=list(known))
    if b"\x00" in data:
        raise ImportRejected(f"{shown} is not a text CSV file (it holds binary data)")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise ImportRejected(f"{shown} is not a UTF-8 text CSV file") from None
    header = pl.read_csv(io.BytesIO(data), n_rows=0).columns
    if len(header) > MAX_IMPORT_COLUMNS:
        raise ImportRejected(f"{shown} has {len(header):,} columns; at most {MAX_IMPORT_COLUMNS:,} are allowed")
    # Text columns stay text: inference would read jax_version "0.10.2" as a date and
    # cuda_version "12.10" as the number 12.1.
    text = {name: pl.String for name in header if RUN_SCHEMA.get(name) == pl.String}
    limit = None if max_rows is None else max_rows + 1
    frame = pl.read_csv(io.BytesIO(data), try_parse_dates=True, schema_overrides=text, n_rows=limit,
                        infer_schema_length=None)
    if max_rows is not None and frame.height > max_rows:
        raise ImportRejected(f"{shown} has more than {max_rows:,} rows; at most {max_rows:,} are allowed here")
    return _unescape_formulas(frame)


def import_bytes(name: str, data: bytes, folder: str | os.PathLike, max_bytes: int | None = DEFAULT_MAX_UPLOAD_BYTES,
                 max_rows: int | None = DEFAULT_MAX_IMPORT_ROWS, also_known=()) -> Imported:
    """Import an uploaded run file: `name` is what the visitor called it, `data` its bytes.

    Only the name's extension is used (.parquet or .csv, which picks the parser; nothing else is
    ever parsed, so no pickle or code runs), and the message names it; the stored file gets a
    generated name in `folder` (never the uploaded name, so no path can leave `folder`). Caps:
    `max_bytes`, `max_rows` (None = no cap). Runs whose run_id is already in `folder` or `also_known`
    (e.g. the shipped reference) are skipped, and an import that would add nothing is rejected.
    Raises ImportRejected saying why.
    """
    shown = repr(_safe_name(name))
    suffix = Path(_safe_name(name)).suffix.lower()
    if suffix not in IMPORT_SUFFIXES:
        raise ImportRejected(f"{shown} is not a .parquet or .csv file; only those are read")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ImportRejected(f"{shown}: expected the file's bytes, got {type(data).__name__}")
    data = bytes(data)
    if max_bytes is not None and len(data) > max_bytes:
        raise ImportRejected(f"{shown} is {len(data):,} bytes; at most {max_bytes:,} are allowed here")
    if not data.strip():
        raise ImportRejected(f"{shown} is empty")
    try:
        frame = _read_bytes(shown, suffix, data, max_rows)
    except ImportRejected:
        raise
    except Exception as exc:
        raise ImportRejected(f"cannot read {shown}: {type(exc).__name__}: {str(exc)[:300]}") from None
    try:
        frame = validate_frame(frame)
    except ImportRejected:
        raise  # the caller names the file: "file='x.csv' was rejected: <why>"
    except Exception as exc:  # a value polars cannot convert: still a rejection, not a crash
        raise ImportRejected(f"cannot use {shown}: {type(exc).__name__}: {str(exc)[:300]}") from None
    if frame.is_empty():
        raise ImportRejected(f"{shown} holds no runs")
    # Run ids are unique in the log: runs already there (or twice in the file) are not added again.
    rows = frame.height
    frame = frame.unique("run_id", keep="first", maintain_order=True)
    present = known_run_ids([folder, *also_known])
    frame = frame.filter(~pl.col("run_id").is_in(list(present)))
    if frame.is_empty():
        raise ImportRejected(f"{shown}: all {rows:,} runs are already in the run log (the same run ids); "
                             "nothing was added")
    frame = frame.with_columns(pl.lit("imported").alias("source"))
    path = _write_atomically(frame, Path(folder), _new_name("imported", RUN_SUFFIX))
    return Imported(path, frame.height, rows - frame.height)


@dataclass(frozen=True)
class Imported:
    """What an import stored: the new file, how many runs it added, and how many it skipped because the log
    (or the file itself) already held their run ids."""

    path: Path
    added: int
    skipped: int

    def describe(self) -> str:
        text = f"imported {plural(self.added, 'run')} as {self.path.name}"
        if self.skipped:
            text += f"; {self.skipped:,} already in the run log (same run ids) {'was' if self.skipped == 1 else 'were'} skipped"
        return text


def known_run_ids(folders) -> set[str]:
    """Every run id in the run files under `folders` (only the run_id column is read; unreadable files
    count as empty: `load_runs` reports them)."""
    ids: set[str] = set()
    for path in _list_files([f for f in folders if Path(f).exists()], micro=False):
        try:
            ids.update(pl.read_parquet(path, columns=["run_id"])["run_id"].drop_nulls().to_list())
        except Exception:  # unreadable or without run_id: skipped by the loader too, with its reason
            continue
    return ids


def import_file(path: str | os.PathLike, folder: str | os.PathLike, max_bytes: int | None = DEFAULT_MAX_UPLOAD_BYTES,
                max_rows: int | None = DEFAULT_MAX_IMPORT_ROWS, also_known=()) -> Imported:
    """Validate a Parquet/CSV file of run records and store it in `folder` with source=imported
    (`import_bytes` on the file's contents; caps as there)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if max_bytes is not None and size > max_bytes:
            raise ImportRejected(f"{path.name!r} is {size:,} bytes; at most {max_bytes:,} are allowed here")
        data = path.read_bytes()
    except OSError as exc:
        raise ImportRejected(f"cannot read {path.name}: {type(exc).__name__}: {exc}") from None
    return import_bytes(path.name, data, folder, max_bytes=max_bytes, max_rows=max_rows, also_known=also_known)


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection, OWASP).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def export_csv(frame: pl.DataFrame, path: str | os.PathLike) -> None:
    """CSV cannot hold lists: list columns are written as JSON arrays ("[0.1, 0.2]"). A text cell that a
    spreadsheet would run as a formula (FORMULA_STARTS) is written with a leading apostrophe, which shows
    it as text; `import_bytes` takes the apostrophe off again, so a round trip keeps every value."""
    frame = frame.with_columns(
        pl.format("[{}]", pl.col(c).cast(pl.List(pl.String)).list.join(", ")).alias(c)
        for c, t in frame.schema.items()
        if isinstance(t, pl.List)
    )
    frame = frame.with_columns(
        pl.when(_starts_like_formula(pl.col(c))).then(pl.lit("'") + pl.col(c)).otherwise(pl.col(c)).alias(c)
        for c, t in frame.schema.items() if t == pl.String)
    frame.write_csv(path)


def _starts_like_formula(text: pl.Expr) -> pl.Expr:
    """A formula's first character after any leading apostrophes (so "'=x" is escaped too, and comes back)."""
    bare = text.str.strip_chars_start("'")
    return pl.any_horizontal(bare.str.starts_with(start) for start in FORMULA_STARTS).fill_null(False)


def _unescape_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """`export_csv`'s apostrophe off again: "'=x" back to "=x", "''=x" back to "'=x"."""
    return frame.with_columns(
        pl.when(pl.col(c).str.starts_with("'") & _starts_like_formula(pl.col(c)))
        .then(pl.col(c).str.slice(1)).otherwise(pl.col(c)).alias(c)
        for c, t in frame.schema.items() if t == pl.String)


def export_parquet(frame: pl.DataFrame, path: str | os.PathLike) -> None:
    frame.write_parquet(path)
