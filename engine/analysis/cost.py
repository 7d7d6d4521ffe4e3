"""What a training run costs on a CPU instance and on a GPU instance. Pure Python + Polars.

Units: prices in US dollars per hour of an instance, times in seconds, costs in US dollars.
Defaults: the seed article's example of a GPU instance at US$0.25/h, and a CPU instance at
1/2.5 of it (US$0.10/h); both are meant to be replaced by the user's own prices.

- break-even speedup = gpu $/h / cpu $/h: the GPU costs less for the same job exactly when it
  is more than that many times faster.
- amortization: a GPU run pays fixed seconds (compile + host-to-device transfer) before its
  faster epochs; `amortization` says after how many epochs its total time drops below the CPU's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import polars as pl

from engine.base import fmt
from engine.base.config import ConfigError

SECONDS_PER_HOUR = 3600.0
DEFAULT_GPU_PER_H = 0.25
CPU_PRICE_FRACTION = 1 / 2.5
DEFAULT_CPU_PER_H = DEFAULT_GPU_PER_H * CPU_PRICE_FRACTION  # 0.10
MAX_PRICE_PER_H = 10_000.0
MAX_EPOCHS = 1_000_000
MAX_IDLE_HOURS = 24 * 365  # a year
SAME_COST_TOLERANCE = 0.005  # costs within 0.5 % of each other count as the same


def _check_price(name: str, value: object) -> float:
    allowed = f"a price in US$/hour in (0, {MAX_PRICE_PER_H:g}]"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(name, value, allowed)
    if not math.isfinite(value) or not 0 < value <= MAX_PRICE_PER_H:
        raise ConfigError(name, value, allowed)
    return float(value)


def _check_seconds(name: str, value: object, positive: bool = False) -> float:
    allowed = "positive finite seconds" if positive else "non-negative finite seconds"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(name, value, allowed)
    if value < 0 or (positive and value == 0):
        raise ConfigError(name, value, allowed)
    return float(value)


@dataclass(frozen=True)
class Prices:
    """Hourly prices of the two instances (US$/h). Validated: positive, finite, at most MAX_PRICE_PER_H."""

    cpu_per_h: float = DEFAULT_CPU_PER_H
    gpu_per_h: float = DEFAULT_GPU_PER_H

    def __post_init__(self):
        object.__setattr__(self, "cpu_per_h", _check_price("cpu_per_h", self.cpu_per_h))
        object.__setattr__(self, "gpu_per_h", _check_price("gpu_per_h", self.gpu_per_h))

    @property
    def break_even_speedup(self) -> float:
        """How many times faster the GPU must be to cost less than the CPU for the same job."""
        return self.gpu_per_h / self.cpu_per_h


def check_epochs(value: object) -> int:
    """A training run's number of epochs: an integer in [1, MAX_EPOCHS] (a float like 10.0 is accepted)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_EPOCHS:
        raise ConfigError("epochs", value, f"an integer in [1, {MAX_EPOCHS:,}]")
    return value


def check_idle_hours(value: object) -> float:
    """Hours an instance stays on after the job: a number in [0, MAX_IDLE_HOURS]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 0 <= value <= MAX_IDLE_HOURS:
        raise ConfigError("idle_hours", value, f"hours in [0, {MAX_IDLE_HOURS:,}]")
    return float(value)


def cost(seconds: float, price_per_h: float) -> float:
    """US$ for `seconds` of an instance rented at `price_per_h` US$/hour."""
    return _check_seconds("seconds", seconds) / SECONDS_PER_HOUR * _check_price("price_per_h", price_per_h)


def run_seconds(epoch_s: float, epochs: int, fixed_s: float = 0.0) -> float:
    """Seconds of a training run: fixed_s (compile + transfer) + epochs x epoch_s."""
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ConfigError("epochs", epochs, "a non-negative integer")
    return _check_seconds("fixed_s", fixed_s) + epochs * _check_seconds("epoch_s", epoch_s, positive=True)


def idle_cost(hours: float, price_per_h: float = DEFAULT_GPU_PER_H) -> float:
    """US$ for an instance left running `hours` after the job ends (default price: the GPU's)."""
    if isinstance(hours, bool) or not isinstance(hours, (int, float)) or not math.isfinite(hours) or hours < 0:
        raise ConfigError("idle_hours", hours, "non-negative finite hours")
    return hours * _check_price("price_per_h", price_per_h)


@dataclass(frozen=True)
class CostComparison:
    """Cost of one epoch and of one training run on each instance (US$), and which is cheaper.

    run costs include each side's fixed seconds; idle_cost_gpu is the GPU instance left running
    idle_hours after the job (added to gpu_total, not to gpu_run).
    """

    prices: Prices
    epochs: int
    cpu_epoch: float
    gpu_epoch: float
    cpu_run: float
    gpu_run: float
    idle_hours: float
    idle_cost_gpu: float

    @property
    def gpu_total(self) -> float:
        return self.gpu_run + self.idle_cost_gpu

    @property
    def cheaper(self) -> str:
        """"gpu", "cpu" or "same" (totals within SAME_COST_TOLERANCE of each other, relatively)."""
        if abs(self.gpu_total - self.cpu_run) <= SAME_COST_TOLERANCE * max(self.gpu_total, self.cpu_run):
            return "same"
        return "gpu" if self.gpu_total < self.cpu_run else "cpu"

    def describe(self) -> str:
        idle = f" + ${self.idle_cost_gpu:,.2f} idle for {self.idle_hours:g} h" if self.idle_hours else ""
        return (f"{fmt.plural(self.epochs, 'epoch')}: CPU ${self.cpu_run:,.4f} at ${self.prices.cpu_per_h:g}/h, "
                f"GPU ${self.gpu_run:,.4f}{idle} at ${self.prices.gpu_per_h:g}/h")


def compare_costs(
    prices: Prices,
    cpu_epoch_s: float,
    gpu_epoch_s: float,
    epochs: int,
    cpu_fixed_s: float = 0.0,
    gpu_fixed_s: float = 0.0,
    idle_hours: float = 0.0,
) -> CostComparison:
    """Cost per epoch and per `epochs`-long run on each instance from measured (or predicted) seconds."""
    return CostComparison(
        prices=prices,
        epochs=epochs,
        cpu_epoch=cost(cpu_epoch_s, prices.cpu_per_h),
        gpu_epoch=cost(gpu_epoch_s, prices.gpu_per_h),
        cpu_run=cost(run_seconds(cpu_epoch_s, epochs, cpu_fixed_s), prices.cpu_per_h),
        gpu_run=cost(run_seconds(gpu_epoch_s, epochs, gpu_fixed_s), prices.gpu_per_h),
        idle_hours=float(idle_hours),
        idle_cost_gpu=idle_cost(idle_hours, prices.gpu_per_h),
    )


@dataclass(frozen=True)
class Amortization:
    """When the GPU's total time (fixed + n x epoch) drops below the CPU's.

    epochs: the smallest n >= 0 from which the GPU stays ahead for every longer run; 0 means
    ahead from the first epoch on (its fixed seconds alone are already fewer); None means the
    GPU never catches up (its epochs are no faster).
    ahead_until: when the GPU starts ahead but its epochs are slower, it is ahead only for runs
    of fewer than this many epochs (else None).
    """

    epochs: int | None
    ahead_until: int | None = None

    def describe(self, measure: str = "time") -> str:
        """One sentence; measure: "time" (seconds) or "cost" (US$), what `epochs` refers to."""
        if self.epochs == 0:
            return f"the GPU's total {measure} is lower from the first epoch, compile and transfer included"
        if self.epochs is not None:
            epochs = f"{self.epochs:,} epoch" + ("s" if self.epochs > 1 else "")
            return (f"the GPU's total {measure} drops below the CPU's from {epochs} on "
                    "(compile and transfer included)")
        if self.ahead_until is not None:
            return (f"the GPU's total {measure} is lower only for runs shorter than {self.ahead_until:,} epochs; "
                    f"each of its epochs {'takes longer' if measure == 'time' else 'costs more'}")
        return (f"the GPU's total {measure} never drops below the CPU's: each of its epochs "
                f"{'is no faster' if measure == 'time' else 'costs no less'}")


def amortization(cpu_fixed_s: float, cpu_epoch_s: float, gpu_fixed_s: float, gpu_epoch_s: float) -> Amortization:
    """Epochs after which GPU total seconds < CPU total seconds (fixed = compile + transfer).

    Solves gpu_fixed + n gpu_epoch < cpu_fixed + n cpu_epoch for the smallest integer n >= 0.
    """
    oc, ec = _check_seconds("cpu_fixed_s", cpu_fixed_s), _check_seconds("cpu_epoch_s", cpu_epoch_s, True)
    og, eg = _check_seconds("gpu_fixed_s", gpu_fixed_s), _check_seconds("gpu_epoch_s", gpu_epoch_s, True)
    if eg < ec:
        gap = (og - oc) / (ec - eg)  # GPU ahead for every n > gap
        return Amortization(0 if gap < 0 else math.floor(gap) + 1)
    if eg == ec:
        return Amortization(0 if og < oc else None)
    if og < oc:
        # Ahead while n < (oc - og) / (eg - ec): for runs shorter than ceil of it.
        return Amortization(None, ahead_until=math.ceil((oc - og) / (eg - ec)))
    return Amortization(None)


def break_even_epochs(cpu_fixed_s: float, cpu_epoch_s: float, gpu_fixed_s: float, gpu_epoch_s: float) -> int | None:
    """`amortization(...).epochs`: 0 if the GPU is ahead from the first epoch, None if never."""
    return amortization(cpu_fixed_s, cpu_epoch_s, gpu_fixed_s, gpu_epoch_s).epochs


def with_costs(
    pairs: pl.DataFrame,
    prices: Prices,
    epochs: int,
    cpu_epoch: str = "cpu_epoch_s",
    gpu_epoch: str = "gpu_epoch_s",
    cpu_fixed: tuple[str, ...] = ("cpu_compile_s", "cpu_transfer_s"),
    gpu_fixed: tuple[str, ...] = ("gpu_compile_s", "gpu_transfer_s"),
) -> pl.DataFrame:
    """`pairs` plus cpu_cost_epoch, gpu_cost_epoch, cpu_cost_run, gpu_cost_run (US$) and cheaper.

    cheaper: "gpu" when its run costs less, "cpu" otherwise, null when a time is missing. Run costs are for `epochs` epochs plus the fixed columns that exist (nulls count 0).
    """
    run_seconds(1.0, epochs)  # validates epochs

    def fixed(cols: tuple[str, ...]) -> pl.Expr:
        present = [pl.col(c).fill_null(0.0) for c in cols if c in pairs.columns]
        return pl.sum_horizontal(present) if present else pl.lit(0.0)

    per_s_cpu, per_s_gpu = prices.cpu_per_h / SECONDS_PER_HOUR, prices.gpu_per_h / SECONDS_PER_HOUR
    out = pairs.with_columns(
        (pl.col(cpu_epoch) * per_s_cpu).alias("cpu_cost_epoch"),
        (pl.col(gpu_epoch) * per_s_gpu).alias("gpu_cost_epoch"),
        ((fixed(cpu_fixed) + epochs * pl.col(cpu_epoch)) * per_s_cpu).alias("cpu_cost_run"),
        ((fixed(gpu_fixed) + epochs * pl.col(gpu_epoch)) * per_s_gpu).alias("gpu_cost_run"),
    )
    return out.with_columns(
        pl.when(pl.col("gpu_cost_run") < pl.col("cpu_cost_run")).then(pl.lit("gpu"))
        .when(pl.col("gpu_cost_run") >= pl.col("cpu_cost_run")).then(pl.lit("cpu"))
        .alias("cheaper")
    )


def cost_amortization(prices: Prices, cpu_fixed_s: float, cpu_epoch_s: float, gpu_fixed_s: float,
                      gpu_epoch_s: float) -> Amortization:
    """`amortization` in money: epochs after which the GPU's run cost drops below the CPU's.

    The same solve as `amortization` on each side's seconds times its price per second, so a
    GPU that is faster but not by the price ratio never gets cheaper per epoch.
    """
    per_s_cpu, per_s_gpu = prices.cpu_per_h / SECONDS_PER_HOUR, prices.gpu_per_h / SECONDS_PER_HOUR
    return amortization(_check_seconds("cpu_fixed_s", cpu_fixed_s) * per_s_cpu,
                        _check_seconds("cpu_epoch_s", cpu_epoch_s, True) * per_s_cpu,
                        _check_seconds("gpu_fixed_s", gpu_fixed_s) * per_s_gpu,
                        _check_seconds("gpu_epoch_s", gpu_epoch_s, True) * per_s_gpu)


def epoch_grid(max_epochs: int, points: int = 60) -> list[int]:
    """About `points` distinct integers from 0 to max_epochs (both included), evenly spread."""
    run_seconds(1.0, max_epochs)  # validates max_epochs
    step = max(1, math.ceil(max_epochs / points))
    return sorted({*range(0, max_epochs + 1, step), max_epochs})


def run_cost_curve(prices: Prices, cpu_epoch_s: float, gpu_epoch_s: float, cpu_fixed_s: float = 0.0,
                   gpu_fixed_s: float = 0.0, max_epochs: int = 100) -> pl.DataFrame:
    """Seconds and US$ of a training run of 0 ... max_epochs epochs on each instance.

    Columns: epochs (int), instance ("CPU" | "GPU"), seconds (fixed + epochs x epoch), cost (US$),
    price_per_h. Straight lines; where they cross the GPU's run starts to cost less.
    """
    rows = []
    for name, epoch_s, fixed_s, price in (("CPU", cpu_epoch_s, cpu_fixed_s, prices.cpu_per_h),
                                          ("GPU", gpu_epoch_s, gpu_fixed_s, prices.gpu_per_h)):
        for n in epoch_grid(max_epochs):
            seconds = run_seconds(epoch_s, n, fixed_s)
            rows.append({"epochs": n, "instance": name, "seconds": seconds, "cost": cost(seconds, price),
                         "price_per_h": price})
    return pl.DataFrame(rows, schema={"epochs": pl.Int64, "instance": pl.String, "seconds": pl.Float64,
                                      "cost": pl.Float64, "price_per_h": pl.Float64})


def idle_cost_curve(prices: Prices, max_hours: float, points: int = 49) -> pl.DataFrame:
    """US$ of each instance left running idle for 0 ... max_hours hours.

    Columns: hours, instance ("CPU" | "GPU"), cost (US$), price_per_h.
    """
    idle_cost(max_hours)  # validates max_hours
    hours = [max_hours * i / (points - 1) for i in range(points)]
    rows = [{"hours": h, "instance": name, "cost": idle_cost(h, price), "price_per_h": price}
            for name, price in (("CPU", prices.cpu_per_h), ("GPU", prices.gpu_per_h)) for h in hours]
    return pl.DataFrame(rows, schema={"hours": pl.Float64, "instance": pl.String, "cost": pl.Float64,
                                      "price_per_h": pl.Float64})


# Tables: amortization for many pairs at once, and a chooser of one pair among many.

def _thousands(n: pl.Expr) -> pl.Expr:
    """A non-negative integer as text with thousands separators, like f"{n:,}" (1234567 -> "1,234,567")."""
    return n.cast(pl.String).str.reverse().str.replace_all(r"(\d{3})", "$1,").str.strip_suffix(",").str.reverse()


def _valid(oc: pl.Expr, ec: pl.Expr, og: pl.Expr, eg: pl.Expr) -> pl.Expr:
    """Times `amortization` accepts: fixed seconds finite and >= 0, epoch seconds finite and > 0 (null: False)."""
    return (oc.is_finite() & (oc >= 0) & og.is_finite() & (og >= 0) & ec.is_finite() & (ec > 0) & eg.is_finite()
            & (eg > 0)).fill_null(False)


def _amortize(oc: pl.Expr, ec: pl.Expr, og: pl.Expr, eg: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """`amortization` as expressions: (epochs, ahead_until), Int64, null where `amortization` says None or
    where an input is not a valid time (null, negative fixed seconds, a non-positive epoch)."""
    valid = _valid(oc, ec, og, eg)
    gap = (og - oc) / (ec - eg)  # GPU ahead for every n > gap, when its epochs are faster
    first = gap.floor().clip(upper_bound=2.0**62).cast(pl.Int64) + 1  # (counts beyond 2**62 shown as 2**62 + 1)
    epochs = (pl.when(~valid).then(None)
              .when(eg < ec).then(pl.when(gap < 0).then(0).otherwise(first))
              .when((eg == ec) & (og < oc)).then(0))
    ahead = pl.when(valid & (eg > ec) & (og < oc)).then(((oc - og) / (eg - ec)).ceil().clip(upper_bound=2.0**62)
                                                         .cast(pl.Int64))
    return epochs.cast(pl.Int64), ahead


def amortization_text(epochs: pl.Expr, ahead_until: pl.Expr) -> pl.Expr:
    """What a table cell says of an amortization: "from the start" (0 epochs), "1,234" (from that many
    epochs), "only below 56" (ahead only for shorter runs), "never"; null where the times were invalid."""
    return (pl.when(epochs == 0).then(pl.lit("from the start"))
            .when(epochs.is_not_null()).then(_thousands(epochs))
            .when(ahead_until.is_not_null()).then(pl.lit("only below ") + _thousands(ahead_until))
            .otherwise(pl.lit("never")))


def with_amortization(pairs: pl.DataFrame, prices: Prices, cpu_fixed: str = "cpu_fixed_s",
                      cpu_epoch: str = "cpu_epoch_s", gpu_fixed: str = "gpu_fixed_s",
                      gpu_epoch: str = "gpu_epoch_s") -> pl.DataFrame:
    """`pairs` plus `amortization` (time) and `cost_amortization` (money) of every row, as columns:
    time_amort_epochs, time_ahead_until, cost_amort_epochs, cost_ahead_until (Int64; null for None)
    and their texts time_amort, cost_amort (`amortization_text`). The same numbers as the scalar
    functions (tests/test_cost.py), for any number of rows in one pass; a row whose times are not
    valid (the scalar functions would raise) gets nulls.
    """
    per_s_cpu, per_s_gpu = prices.cpu_per_h / SECONDS_PER_HOUR, prices.gpu_per_h / SECONDS_PER_HOUR
    oc, ec, og, eg = (pl.col(c).cast(pl.Float64) for c in (cpu_fixed, cpu_epoch, gpu_fixed, gpu_epoch))
    time_epochs, time_ahead = _amortize(oc, ec, og, eg)
    cost_epochs, cost_ahead = _amortize(oc * per_s_cpu, ec * per_s_cpu, og * per_s_gpu, eg * per_s_gpu)
    valid = _valid(oc, ec, og, eg)
    out = pairs.with_columns(time_epochs.alias("time_amort_epochs"), time_ahead.alias("time_ahead_until"),
                             cost_epochs.alias("cost_amort_epochs"), cost_ahead.alias("cost_ahead_until"))
    return out.with_columns(
        pl.when(valid).then(amortization_text(pl.col("time_amort_epochs"), pl.col("time_ahead_until")))
        .alias("time_amort"),
        pl.when(valid).then(amortization_text(pl.col("cost_amort_epochs"), pl.col("cost_ahead_until")))
        .alias("cost_amort"),
    )


def above_break_even(prices: Prices, low: str = "ci_low", high: str = "ci_high") -> pl.Expr:
    """Whether a pair's speedup beats the break-even speedup, judged by its 95% interval: "yes" (all of it
    above), "no" (all of it below), "not clear (interval spans it)" (or no interval)."""
    level = prices.break_even_speedup
    return (pl.when(pl.col(low) > level).then(pl.lit("yes")).when(pl.col(high) < level).then(pl.lit("no"))
            .otherwise(pl.lit("not clear (interval spans it)")))


# The Cost page's configuration chooser offers at most this many pairs at once (a select box of 20,000
# labels is slow to send and to scroll); the filters narrow them.
MAX_CHOICES = 500
CHOICE_FILTERS = ("model", "batch_size", "dataset_size", "gpu_device")


def choice_filters(pairs: pl.DataFrame) -> dict[str, list]:
    """The distinct values of each of CHOICE_FILTERS in `pairs`, sorted: what the chooser's filters offer."""
    return {c: sorted(pairs[c].drop_nulls().unique().to_list()) for c in CHOICE_FILTERS}


def choices(pairs: pl.DataFrame, limit: int | None = None, **chosen) -> tuple[pl.DataFrame, int]:
    """(offered, matching): the pairs whose CHOICE_FILTERS columns equal the values in `chosen` (None or
    left out: any), the first `limit` (None: MAX_CHOICES) of them in table order, with `row` (their
    index in `pairs`), `label` (one line naming the configuration and the two devices) and `default`
    (True on the one with the most parameters: the largest network offered); and how many match."""
    unknown = set(chosen) - set(CHOICE_FILTERS)
    if unknown:
        raise ValueError(f"unknown filters {sorted(unknown)}: expected some of {CHOICE_FILTERS}")
    keep = pl.lit(True)
    for column, value in chosen.items():
        if value is not None:
            keep = keep & (pl.col(column) == value)
    limit = MAX_CHOICES if limit is None else limit
    matching = pairs.with_row_index("row").filter(keep)

    def text(column: str, thousands: bool = False) -> pl.Expr:  # as an f-string shows it; None for a null
        value = pl.col(column)
        return (_thousands(value) if thousands else value.cast(pl.String)).fill_null("None")

    label = pl.format("{} width {} depth {} · {} parameters · batch {} · {} samples · {} · {} vs {}",
                      text("model"), text("width"), text("depth"), text("params", True), text("batch_size"),
                      text("dataset_size", True), text("dtype"), text("gpu_device"), text("cpu_device"))
    offered = matching.head(limit).select("row", label.alias("label"), "params")
    offered = offered.with_columns((pl.int_range(pl.len()) == pl.col("params").arg_max()).alias("default"))
    return offered.drop("params"), matching.height
