"""Known problems of shipped reference measurements that only a machine like the one that made them can
re-measure (data/reference/caveats.csv). Pure Python + Polars.

One CSV row per problem, every column text:
- file: the reference file the rows are in (e.g. nvidia-h200-2026-11-26.micro.parquet);
- device_kind: the rows' device_kind ("NVIDIA H200"; "cpu" for a CPU);
- cpu_model: for a CPU, the rows' cpu_model (CPUs all report device_kind "cpu"); empty for any;
- subject: the micro benchmark, or the model kind and dtype of training runs, it concerns;
- what: what the rows show; why: why that is not what the label says, and what would fix it.

The text is data: read as strings (nothing inferred, nothing evaluated) and shown escaped by the page.
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

FILE_NAME = "caveats.csv"
COLUMNS = ("file", "device_kind", "cpu_model", "subject", "what", "why")
REQUIRED_TEXT = ("file", "device_kind", "subject", "what", "why")  # cpu_model may be empty
MAX_ROWS = 200
MAX_CHARS = 2_000


class CaveatsError(ValueError):
    """A caveats file that cannot be used; the message names the file, and the line or column."""


def empty() -> pl.DataFrame:
    return pl.DataFrame(schema=dict.fromkeys(COLUMNS, pl.String))


def load_caveats(path: str | os.PathLike) -> pl.DataFrame:
    """The rows of the caveats CSV at `path` with COLUMNS as strings, surrounding spaces stripped (an empty
    cpu_model is null); no file: no rows. Raises CaveatsError for a missing column, an empty required
    field (naming its line), more than MAX_ROWS rows or a field over MAX_CHARS characters."""
    path = Path(path)
    if not path.exists():
        return empty()
    try:
        frame = pl.read_csv(path, infer_schema=False, n_rows=MAX_ROWS + 1)
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as exc:
        raise CaveatsError(f"{path.name}: not a readable CSV file ({type(exc).__name__})") from None
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise CaveatsError(f"{path.name}: missing columns {', '.join(missing)}; expected {', '.join(COLUMNS)}")
    if frame.height > MAX_ROWS:
        raise CaveatsError(f"{path.name}: more than {MAX_ROWS} rows")
    frame = frame.select(pl.col(c).str.strip_chars() for c in COLUMNS).with_columns(
        pl.when(pl.col("cpu_model") != "").then(pl.col("cpu_model")).alias("cpu_model"))
    for column in COLUMNS:
        too_long = frame.with_row_index("line", offset=2).filter(pl.col(column).str.len_chars() > MAX_CHARS)
        if too_long.height:
            raise CaveatsError(f"{path.name}, line {too_long['line'][0]}: {column} is over {MAX_CHARS} characters")
    for column in REQUIRED_TEXT:
        blank = frame.with_row_index("line", offset=2).filter(pl.col(column).fill_null("") == "")
        if blank.height:
            raise CaveatsError(f"{path.name}, line {blank['line'][0]}: {column} is empty")
    return frame


def for_devices(caveats: pl.DataFrame, rows: pl.DataFrame) -> pl.DataFrame:
    """The caveats about devices that have reference rows in `rows` (run or micro records with source,
    device_kind and cpu_model): same device_kind, and the same cpu_model where the caveat names one.
    In the caveats' order."""
    if caveats.is_empty() or rows.is_empty():
        return caveats.clear()
    shown = (rows.filter(pl.col("source") == "reference").select("device_kind", "cpu_model").unique()
             .rename({"cpu_model": "shown_cpu_model"}))
    matched = (caveats.with_row_index("_order").join(shown, on="device_kind", how="inner")
               .filter(pl.col("cpu_model").is_null() | (pl.col("cpu_model") == pl.col("shown_cpu_model"))))
    return matched.unique("_order").sort("_order").select(COLUMNS)
