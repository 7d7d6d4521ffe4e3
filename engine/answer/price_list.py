"""Every measured device's answer for one job, like a price list: time for the whole job, cost,
whether it fits. Pure Python + Polars.

One row per device with ok runs: its side of the answer (`engine.answer.verdict.alone`: measured
when it ran exactly this configuration, else predicted, labelled), spread over N devices when
the job does not fit one accelerator (the verdict's plan), or marked "cannot hold it" for a CPU.
cost = run seconds / 3600 x devices x the device's $/h (the price table, or `prices_per_h`).
Sorted by cost, cheapest first; devices that cannot run the job, or have no answer for it, last.
"""

from __future__ import annotations

import polars as pl

from engine.analysis.workload import Workload
from engine.answer.verdict import _planned, alone
from engine.base import fmt
from engine.base.config import RunConfig

SCHEMA = {"device": pl.String, "platform": pl.String, "devices": pl.Int64, "basis": pl.String,
          "job_s": pl.Float64, "usd_per_hour": pl.Float64, "cost_usd": pl.Float64, "fits": pl.String,
          "price_basis": pl.String}


def price_list(job: RunConfig | Workload, runs: pl.DataFrame, facts: pl.DataFrame, epochs: int,
               micro: pl.DataFrame | None = None, prices_per_h: dict[str, float] | None = None) -> pl.DataFrame:
    """SCHEMA rows (module doc). facts: `engine.analysis.prices.device_prices` of `runs`;
    prices_per_h: device label -> $/h overriding the table (e.g. what the user typed)."""
    prices_per_h = prices_per_h or {}
    rows = []
    for fact in facts.iter_rows(named=True):
        side = alone(job, runs, fact["platform"], epochs, fact["device"], facts, micro)
        price = prices_per_h.get(fact["device"], fact["usd_per_hour"])
        if side is None:  # neither measured on this device nor predictable from its runs: said, not dropped
            rows.append({"device": fact["device"], "platform": fact["platform"], "devices": None, "basis": "none",
                         "job_s": None, "usd_per_hour": price, "cost_usd": None,
                         "fits": "no answer: no run of this job and no performance model for it on this device",
                         "price_basis": fact["price_basis"]})
            continue
        side = _planned(side, runs, epochs)
        basis = "measured" if side.prediction is None else "predicted"
        if not side.feasible:
            fits = f"no: cannot hold it ({side.memory.devices_needed} x its memory needed)"
            rows.append({"device": side.device, "platform": side.platform, "devices": None, "basis": basis,
                         "job_s": None, "usd_per_hour": price, "cost_usd": None, "fits": fits,
                         "price_basis": fact["price_basis"]})
            continue
        fits = ("yes" if side.memory is None or side.memory.fits
                else f"no: planned on {side.devices} ({side.plan.efficiency:.0%} scaling, {side.plan.efficiency_basis})")
        rows.append({"device": side.device, "platform": side.platform, "devices": side.devices, "basis": basis,
                     "job_s": side.run_s, "usd_per_hour": price,
                     "cost_usd": None if price is None else side.run_s / 3600 * side.devices * price,
                     "fits": fits, "price_basis": fact["price_basis"]})
    frame = pl.DataFrame(rows, schema=SCHEMA)
    return frame.sort(pl.col("cost_usd").is_null(), "cost_usd", "job_s", nulls_last=True)


def _plain(text: object) -> str:
    """Text from a file as plain Markdown table text: Markdown and HTML characters escaped, no line breaks."""
    return "".join("\\" + ch if ch in "\\`*_{}[]()<>#+-.!|~$" else ch for ch in str(text).replace("\n", " "))


def as_markdown(frame: pl.DataFrame) -> str:
    """The price list (SCHEMA rows) as a four-column Markdown table: device (x N when spread over N), time for the
    job, cost with the hourly price it used, and basis (measured or predicted, and whether it fits).

    Drawn as Markdown, not a data grid, on purpose: the grid's module was the heaviest element the Overview loaded
    before its chart was painted (docs/PERFORMANCE.md, page load); four columns fit a phone's width. Where each
    price comes from is in the sidebar's price table. Device names come from files, so they are escaped."""
    lines = ["| device | time | cost | basis |", "| --- | --- | --- | --- |"]
    for r in frame.iter_rows(named=True):
        device = _plain(r["device"]) + (f" x {r['devices']}" if (r["devices"] or 1) > 1 else "")
        time = fmt.seconds(r["job_s"]) if r["job_s"] is not None else "—"
        cost = fmt.money(r["cost_usd"]) if r["cost_usd"] is not None else "—"
        if r["usd_per_hour"] is not None:
            cost += f" at {fmt.money(r['usd_per_hour'])}/h"
        basis = _plain(r["basis"] or "—") + ("" if (r["fits"] or "yes") == "yes" else f"; {_plain(r['fits'])}")
        lines.append(f"| {device} | {time} | {cost} | {basis} |")
    return "\n".join(lines)
