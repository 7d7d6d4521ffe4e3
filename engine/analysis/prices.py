"""What an hour of each device costs: the dated price table in data/prices.csv. Polars; US$ per hour.

One row per accelerator kind (priced per device) or per CPU (priced per vCPU, times the cores a
run recorded). Columns: platform ("gpu", "cpu", ...), device_kind (as JAX reports it, e.g.
"NVIDIA H200"; "cpu" for the per-vCPU row), unit ("device" or "vcpu"), usd_per_hour, memory_gb
(the card's physical memory, GB = 1e9 bytes; empty for CPUs, whose runs record the host's),
offer, source (where the figure was read), source_date (YYYY-MM-DD). Every device in an answer
is priced from here unless the user types another price; a device not in the table has no price.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from engine.analysis.pairing import device_label

PRICE_TABLE = Path(__file__).resolve().parents[2] / "data" / "prices.csv"
COLUMNS = {"platform": pl.String, "device_kind": pl.String, "unit": pl.String, "usd_per_hour": pl.Float64,
           "memory_gb": pl.Float64, "offer": pl.String, "source": pl.String, "source_date": pl.String}
UNITS = ("device", "vcpu")


class PriceTableError(ValueError):
    """The price table is malformed; the message names the row and column."""


@dataclass(frozen=True)
class DevicePrice:
    """The hourly price of one device (US$/h) and where it came from."""

    usd_per_hour: float
    basis: str  # e.g. "H200 SXM, 1 GPU, on demand (Spheron), 2026-03-17"
    memory_bytes: int | None = None  # physical memory of the card, when the table knows it


def load_table(path: str | Path = PRICE_TABLE) -> pl.DataFrame:
    """The price table at `path`, validated (PriceTableError names the row and the column)."""
    try:
        table = pl.read_csv(path, schema_overrides=COLUMNS)
    except (OSError, pl.exceptions.PolarsError) as err:
        raise PriceTableError(f"price table {Path(path).name}: {err}") from None
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise PriceTableError(f"price table {Path(path).name}: missing column(s) {', '.join(missing)}")
    table = table.select(list(COLUMNS)).cast(COLUMNS)
    for i, row in enumerate(table.iter_rows(named=True), start=2):  # line 1 is the header
        where = f"price table line {i}"
        price = row["usd_per_hour"]
        if price is None or not math.isfinite(price) or price <= 0:
            raise PriceTableError(f"{where}: usd_per_hour={price!r}; expected a positive number of dollars")
        if row["unit"] not in UNITS:
            raise PriceTableError(f"{where}: unit={row['unit']!r}; expected one of {', '.join(UNITS)}")
        if not row["platform"] or not row["device_kind"] or not row["source"]:
            raise PriceTableError(f"{where}: platform, device_kind and source must not be empty")
        try:
            date.fromisoformat(row["source_date"] or "")
        except ValueError:
            raise PriceTableError(f"{where}: source_date={row['source_date']!r}; expected YYYY-MM-DD") from None
        if row["memory_gb"] is not None and not row["memory_gb"] > 0:
            raise PriceTableError(f"{where}: memory_gb={row['memory_gb']!r}; expected a positive number or empty")
    return table


def price_for(table: pl.DataFrame, platform: str, device_kind: str | None, cpu_cores: int | None) -> DevicePrice | None:
    """The table's price of one device: a CPU is priced per vCPU x `cpu_cores`; an accelerator by its
    device_kind (exact match). None when the table has no row for it (or a CPU's core count is unknown)."""
    if platform == "cpu":
        rows = table.filter((pl.col("platform") == "cpu") & (pl.col("unit") == "vcpu"))
        if not rows.height or not cpu_cores:
            return None
        row = rows.row(0, named=True)
        return DevicePrice(row["usd_per_hour"] * cpu_cores,
                           f"{cpu_cores} vCPUs x ${row['usd_per_hour']:g}/h ({row['offer']}, {row['source_date']})")
    rows = table.filter((pl.col("device_kind") == device_kind) & (pl.col("unit") == "device"))
    if not rows.height:
        return None
    row = rows.row(0, named=True)
    memory = int(row["memory_gb"] * 1e9) if row["memory_gb"] else None
    return DevicePrice(row["usd_per_hour"], f"{row['offer']}, {row['source_date']}", memory)


def device_prices(runs: pl.DataFrame, table: pl.DataFrame) -> pl.DataFrame:
    """One row per device in `runs` (label column `device`, as `engine.analysis.pairing.device_label`):
    device, platform, usd_per_hour (null when the table has none), price_basis, physical_memory_bytes
    (the table's card memory, else the largest memory a run recorded)."""
    if "device" not in runs.columns:
        runs = runs.with_columns(device_label())
    devices = (runs.group_by("device").agg(pl.col("platform").first(), pl.col("device_kind").first(),
                                           pl.col("cpu_cores").max(), pl.col("device_memory_bytes").max())
               .sort("device"))
    rows = []
    for d in devices.iter_rows(named=True):
        found = price_for(table, d["platform"], d["device_kind"], d["cpu_cores"])
        rows.append({"device": d["device"], "platform": d["platform"],
                     "usd_per_hour": found.usd_per_hour if found else None,
                     "price_basis": found.basis if found else "not in the price table",
                     "physical_memory_bytes": (found.memory_bytes if found and found.memory_bytes
                                               else d["device_memory_bytes"])})
    return pl.DataFrame(rows, schema={"device": pl.String, "platform": pl.String, "usd_per_hour": pl.Float64,
                                      "price_basis": pl.String, "physical_memory_bytes": pl.Int64})
