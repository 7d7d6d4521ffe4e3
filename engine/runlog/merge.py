"""Join the run files of a sharded sweep (`sweep --shard K/N` on N machines) into one, refusing duplicates.

`merge(paths)` reads each file whole (`store.load_runs`; an unreadable file is an error here, not a
warning: a lost part would go unnoticed) and returns their rows, or raises MergeError when:
- a run id appears twice (the same file given twice, or a part copied into another);
- one configuration was measured on one device in two different files (two machines ran the same
  part: a job array with a wrong index). Repeats of a configuration within one file are kept: a sweep
  may measure a config twice on purpose.
No jax here.
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

from engine.runlog import store

# What makes two rows the same measurement: the configuration, the machine and the device.
SAME_MEASUREMENT = ("model", "width", "depth", "channels", "heads", "seq_len", "vocab", "input_shape", "n_classes",
                    "seed", "batch_size", "dataset_size", "epochs", "optimizer", "learning_rate", "dtype",
                    "matmul_precision", "mode_requested", "warmup", "repeats", "device_count", "host", "cpu_model",
                    "platform", "device_kind", "device_spec")


class MergeError(ValueError):
    """The files cannot be joined; the message names the files and the duplicate."""


def _describe(row: dict) -> str:
    return (f"{row['model']} width {row['width']} depth {row['depth']} batch {row['batch_size']} "
            f"samples {row['dataset_size']} {row['dtype']} on {row['device_kind']} ({row['host']})")


def merge(paths: list[str | os.PathLike]) -> pl.DataFrame:
    """The rows of every file in `paths` (run files, not folders), in the order given (module doc)."""
    if not paths:
        raise MergeError("no files to merge")
    frames = []
    for path in map(Path, paths):
        if not path.is_file():
            raise MergeError(f"{str(path)!r} is not a file")
        loaded = store.load_runs([path])
        if loaded.skipped:
            raise MergeError(f"{str(path)!r} cannot be used: {loaded.skipped[0][1]}")
        frames.append(loaded.frame.collect().with_columns(pl.lit(str(path)).alias("_file")))
    rows = pl.concat(frames, how="vertical")
    twice = rows.group_by("run_id").agg(pl.col("_file").unique(maintain_order=True), pl.len().alias("n")).filter(
        pl.col("n") > 1)
    if twice.height:
        first = twice.sort("run_id").row(0, named=True)
        raise MergeError(f"run id {first['run_id']!r} appears {first['n']} times (in {', '.join(first['_file'])}); "
                         f"{twice.height:,} run ids repeat in all: was a file given twice?")
    keys = [k for k in SAME_MEASUREMENT if k in rows.columns]
    spread = rows.group_by(keys).agg(pl.col("_file").unique(maintain_order=True).alias("files")).filter(
        pl.col("files").list.len() > 1)
    if spread.height:
        first = spread.row(0, named=True)
        raise MergeError(f"{_describe(first)} was measured in {len(first['files'])} files "
                         f"({', '.join(first['files'])}); {spread.height:,} configurations in all: did two machines "
                         "run the same part (--shard K/N with the same K)?")
    return rows.drop("_file")


def write_merged(paths: list[str | os.PathLike], out: str | os.PathLike) -> tuple[Path, int]:
    """Merge `paths` into the new file `out` (never an existing one). Returns (path, rows)."""
    out = Path(out)
    if out.suffix != ".parquet" or out.name.endswith(store.MICRO_SUFFIX):
        raise MergeError(f"--out={str(out)!r}: expected a new .parquet file name for runs")
    if out.exists():
        raise MergeError(f"--out={str(out)!r} exists: merging into it would mix runs in; give a new file name")
    rows = merge(paths)
    return store.write_file(rows, out), rows.height
