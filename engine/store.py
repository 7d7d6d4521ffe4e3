"""The run log: Parquet files of run records (and microbenchmark records), never rewritten.

- `append(records, folder)` writes ONE new Parquet file per call: to a hidden temp name in
  the same folder, fsync, then `os.replace` to its final name, so a reader never sees a
  partial file and two writers never touch the same file.
- `load_runs(folders)` reads every `*.parquet` (not `*.micro.parquet`) lazily with Polars,
  skips unreadable or foreign files with a warning that names them, fills columns missing
  from older schema versions with nulls, and casts to the current schema.
- `validate_frame` checks an imported frame; `export_csv` / `export_parquet` write one out.

No jax here: the dashboard process imports this module.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

SCHEMA_VERSION = 1
RUN_SUFFIX = ".parquet"
MICRO_SUFFIX = ".micro.parquet"
SOURCES = ("local", "reference", "imported")
STATUSES = ("ok", "oom", "error", "timeout", "skipped")

UTC_TIME = pl.Datetime("us", "UTC")

RUN_SCHEMA: dict[str, pl.DataType] = {
    "schema_version": pl.Int32,
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
    "device_count": pl.Int32,
    "device_memory_bytes": pl.Int64,
    "jax_version": pl.String,
    "jaxlib_version": pl.String,
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


def _write_atomically(frame: pl.DataFrame, folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / name
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".parquet", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            frame.write_parquet(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return final


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


def _list_files(folders, micro: bool) -> list[Path]:
    files = []
    for folder in folders:
        path = Path(folder)
        candidates = [path] if path.is_file() else sorted(path.glob("*.parquet")) if path.is_dir() else []
        for f in candidates:
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
        lazy = conform(pl.scan_parquet(path), schema)
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


def read_table(path: str | os.PathLike) -> pl.DataFrame:
    """Read a Parquet or CSV file (by extension) into a frame; nothing else is parsed."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return pl.read_parquet(path)
    if suffix == ".csv":
        # Text columns stay text: inference would read jax_version "0.10.2" as a date and
        # cuda_version "12.10" as the number 12.1.
        header = pl.read_csv(path, n_rows=0).columns
        text = {name: pl.String for name in header if RUN_SCHEMA.get(name) == pl.String}
        return pl.read_csv(path, try_parse_dates=True, schema_overrides=text)
    raise ValueError(f"file={path.name!r} is not allowed: expected a .parquet or .csv file")


class ImportRejected(ValueError):
    """An imported file cannot be used as run records; the message says why."""


def validate_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """Conform an imported frame to RUN_SCHEMA or raise ImportRejected saying why."""
    problem = check_schema(dict(frame.schema), REQUIRED_RUN_COLUMNS, RUN_SCHEMA)
    if problem:
        raise ImportRejected(problem)
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
    return out


def import_file(path: str | os.PathLike, folder: str | os.PathLike) -> Path:
    """Validate a Parquet/CSV file of run records and store it in `folder` with source=imported."""
    try:
        frame = read_table(path)
    except ImportRejected:
        raise
    except Exception as exc:
        raise ImportRejected(f"cannot read {Path(path).name}: {type(exc).__name__}: {exc}") from exc
    try:
        frame = validate_frame(frame)
    except ImportRejected:
        raise
    except Exception as exc:  # a value polars cannot convert: still a rejection, not a crash
        raise ImportRejected(f"cannot use {Path(path).name}: {type(exc).__name__}: {exc}") from exc
    frame = frame.with_columns(pl.lit("imported").alias("source"))
    return _write_atomically(frame, Path(folder), _new_name("imported", RUN_SUFFIX))


def export_csv(frame: pl.DataFrame, path: str | os.PathLike) -> None:
    """CSV cannot hold lists: list columns are written as JSON arrays ("[0.1, 0.2]")."""
    frame = frame.with_columns(
        pl.format("[{}]", pl.col(c).cast(pl.List(pl.String)).list.join(", ")).alias(c)
        for c, t in frame.schema.items()
        if isinstance(t, pl.List)
    )
    frame.write_csv(path)


def export_parquet(frame: pl.DataFrame, path: str | os.PathLike) -> None:
    frame.write_parquet(path)
