"""The Overview's answer: from a job description, prices and the run log to one verdict. Pure Python + Polars.

`verdict(job, runs, prices, epochs)` answers, for one CPU and one accelerator (chosen below):
which device is faster and by how much (with its interval), what `epochs` epochs cost on each,
the crossover along parameter count (faster, and cheaper), the memory verdict, which runs the
answer rests on, and whether it is measured or predicted; `Verdict.describe()` is the text.

Basis, in order of preference:
1. "measured": the job is a RunConfig and both devices ran exactly that configuration
   (`engine.analysis.pairing.CONFIG_KEYS`); speedup interval = 95% CI over runs (two or more a side), else
   a bootstrap over one run's epochs, labelled (`engine.analysis.run_interval`).
2. "predicted": a performance model (`engine.analysis.perfmodel`) fitted on each device's runs of the
   same model kind, dtype and matmul precision; interval = the two prediction bands combined
   (cpu_low / gpu_high, cpu_high / gpu_low). Compile time is the device's median for the kind;
   transfer is the dataset's bytes at the device's median measured bytes/s. Always labelled.
3. "nearest measurement": no model could be fitted, but both devices ran a configuration of
   the same kind (nearest by log parameters, then batch, then dataset size); epoch times are
   scaled by the ratio of steps per epoch. Labelled with the configuration it comes from.
4. "none": nothing to go on; the text says what is missing.

Devices (`choose_pair`): the named ones; else the accelerator with local runs of the model kind
first, then the one with the most runs; and the CPU that ran on the same host as that
accelerator's runs (its own host: a fair pair), else the CPU whose table price is closest to
the accelerator's, else the CPU with local runs, then the most runs.

Memory is judged against each device's physical memory (`facts`: the price table's card memory,
else what the runs recorded). A job that does not fit one accelerator is answered as a plan:
N = the fewest devices that hold it with parameters, gradients, optimizer state and the batch
split evenly (fully sharded), time per epoch = one device's / (N x efficiency), with the
efficiency measured on this device kind's multi-device runs where there are any, else
ASSUMED_SCALING_EFFICIENCY (labelled an assumption; communication is not modelled beyond it),
cost = N x the device's price. A CPU that cannot hold the job is marked infeasible: no time
or cost is quoted for it.
Units: seconds, US dollars, bytes, parameters as counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import polars as pl

from engine.analysis.cost import Amortization, CostComparison, Prices, amortization, compare_costs
from engine.analysis.crossover import Crossover, find_crossover
from engine.analysis.memory import MemoryEstimate, MemoryVerdict, estimate
from engine.analysis.pairing import (
    ACCELERATOR_PLATFORMS,
    config_key,
    device_label,
    matches,
    one_device,
    pair_with_times,
)
from engine.analysis.perfmodel import Prediction, fit_runs, predict, select_fit
from engine.analysis.run_interval import interval_name, speedup_interval
from engine.analysis.tables import PARAMS_SERIES_KEYS
from engine.analysis.workload import Workload, from_config
from engine.base import fmt
from engine.base.config import RunConfig

BASES = ("measured", "predicted", "nearest measurement", "none")
RUNS_CHOICES = ("auto", "mine", "reference")
NOISY_IQR_FRACTION = 0.10  # a run's epochs are noisy when their IQR exceeds this fraction of the median
# Throughput of N sharded devices relative to N x one device, where no multi-device run measured it.
ASSUMED_SCALING_EFFICIENCY = 0.8


@dataclass(frozen=True)
class Plan:
    """How a job that does not fit one device runs on `devices` of them (module doc)."""

    devices: int
    efficiency: float
    efficiency_basis: str  # "measured on N-device runs of <device>" or "assumed"
    parallelism: str = "fully sharded data-parallel (parameters, gradients and optimizer state split evenly)"

    def describe(self, device: str) -> str:
        return (f"{self.devices} x {device}, {self.parallelism}; scaling efficiency {self.efficiency:.0%} "
                f"({self.efficiency_basis})")


@dataclass(frozen=True)
class Side:
    """One device's part of the answer. epoch_s in seconds; run_s = fixed_s + epochs x epoch_s."""

    device: str
    platform: str
    epoch_s: float
    fixed_s: float
    run_s: float
    memory: MemoryVerdict | None
    prediction: Prediction | None = None
    run_ids: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()  # where the runs came from: "local", "reference", "imported"
    plan: Plan | None = None  # set when the job needs several of these devices (epoch_s, run_s are for them all)
    feasible: bool = True  # False: this device cannot hold the job (a CPU), and its times are not an answer

    @property
    def devices(self) -> int:
        return self.plan.devices if self.plan else 1


@dataclass(frozen=True)
class Verdict:
    """The answer for one job (module doc). speedup = CPU epoch seconds / accelerator epoch seconds."""

    workload: Workload
    basis: str
    epochs: int
    prices: Prices
    cpu: Side | None
    gpu: Side | None
    speedup: float | None
    speedup_low: float | None
    speedup_high: float | None
    interval: str
    speedup_end_to_end: float | None
    costs: CostComparison | None
    amortization: Amortization | None
    crossover_faster: Crossover | None
    crossover_cheaper: Crossover | None
    memory: MemoryEstimate
    notes: tuple[str, ...] = ()
    crossover_series: str = ""  # what the crossovers' series holds fixed, e.g. "batch 128, 4,096 samples, depth 3"

    @property
    def measured(self) -> bool:
        return self.basis == "measured"

    @property
    def faster(self) -> str | None:
        """"gpu", "cpu", "same" or None (unknown). Per epoch, steady state."""
        if self.cpu is not None and not self.cpu.feasible:
            return "gpu"
        if self.speedup is None:
            return None
        return "gpu" if self.speedup > 1 else "cpu" if self.speedup < 1 else "same"

    @property
    def end_to_end_interval(self) -> tuple[float, float] | None:
        """The end-to-end speedup at the ends of the per-epoch interval: (cpu fixed + E x cpu epoch) /
        (gpu fixed + E x cpu epoch / s) is monotonic in the per-epoch speedup s. None without an interval."""
        if (self.cpu is None or self.gpu is None or self.speedup_low is None or self.speedup_high is None
                or not math.isfinite(self.speedup_low) or not math.isfinite(self.speedup_high)
                or self.speedup_low <= 0):
            return None
        e, c = self.epochs, self.cpu

        def at(s: float) -> float:
            return (c.fixed_s + e * c.epoch_s) / (self.gpu.fixed_s + e * c.epoch_s / s)

        return at(self.speedup_low), at(self.speedup_high)

    @property
    def answer(self) -> str | None:
        """The verdict word, from one rule on the end-to-end numbers shown with it (times and costs of
        the whole job, compile and transfer included):
        "gpu_needed": the CPU cannot hold the job; "no_clear_difference": the end-to-end speedup's
        interval includes 1; "no_gpu": the GPU is slower end to end; "worth_it": faster and cheaper;
        "time_not_money": faster but dearer (costs within SAME_COST_TOLERANCE count as the same: worth it).
        None when there is no answer."""
        if self.cpu is None or self.gpu is None or self.costs is None:
            return None
        if not self.cpu.feasible:
            return "gpu_needed"
        interval = self.end_to_end_interval
        if interval is not None and min(interval) <= 1 <= max(interval):
            return "no_clear_difference"
        if self.gpu.run_s >= self.cpu.run_s:
            return "no_gpu"
        return "time_not_money" if self.costs.cheaper == "cpu" else "worth_it"  # same cost: time for free

    @property
    def clear(self) -> bool:
        """True when the whole interval lies on one side of 1 (the faster device is not in doubt)."""
        if self.speedup_low is None or self.speedup_high is None or math.isnan(self.speedup_low):
            return False
        return self.speedup_low > 1 or self.speedup_high < 1

    @property
    def cheaper(self) -> str | None:
        if self.cpu is not None and not self.cpu.feasible:
            return "gpu"
        return self.costs.cheaper if self.costs else None

    @property
    def run_ids(self) -> tuple[str, ...]:
        return tuple(rid for side in (self.cpu, self.gpu) if side for rid in side.run_ids)

    def describe(self) -> str:
        w = self.workload
        lines = [f"{w.name}: {w.params:,} parameters, batch {w.batch_size}, {w.samples:,} samples, {w.dtype}."]
        if self.basis == "none" or self.cpu is None or self.gpu is None:
            lines.append("No answer yet: " + " ".join(self.notes))
            lines.append("Memory: " + self.memory_text())
            return "\n".join(lines)
        label = {"measured": "Measured", "predicted": "Predicted, not measured",
                 "nearest measurement": "Not measured: from the nearest measured configuration"}[self.basis]
        if not self.cpu.feasible:
            gpu = self.gpu
            lines.append(f"{label}: a GPU is needed: the CPU ({self.cpu.device}) cannot hold this job. "
                         f"{fmt.plural(self.epochs, 'epoch')} on {gpu.devices} x {gpu.device}: {_seconds(gpu.run_s)} "
                         f"(${self.costs.gpu_run:,.4g} at {gpu.devices} x ${self.prices.gpu_per_h:g}/h).")
            lines.append("Memory: " + self.memory_text())
            lines.extend(f"{side.platform.upper()}: {side.prediction.describe()}." for side in (self.cpu, gpu)
                         if side.prediction)
            lines.extend(self.notes)
            return "\n".join(lines)
        if self.faster == "gpu":
            head = f"the GPU ({self.gpu.device}) is {fmt.number(self.speedup)}x faster than the CPU ({self.cpu.device}) per epoch"
        elif self.faster == "cpu":
            head = (f"the CPU ({self.cpu.device}) is {fmt.number(1 / self.speedup)}x faster than the GPU ({self.gpu.device}) "
                    f"per epoch (speedup {fmt.number(self.speedup)}x)")
        else:
            head = f"the CPU and the GPU are equally fast per epoch ({self.cpu.device} vs {self.gpu.device})"
        if self.speedup_low is not None and not math.isnan(self.speedup_low):
            head += f" ({self.interval} {fmt.number(self.speedup_low)}–{fmt.number(self.speedup_high)}x)"
            if not self.clear:
                head += "; the interval includes 1, so neither is clearly faster"
        lines.append(f"{label}: {head}.")
        c = self.costs
        lines.append(
            f"{fmt.plural(self.epochs, 'epoch')} with compile and transfer: CPU {_seconds(self.cpu.run_s)} (${c.cpu_run:,.4g}), "
            f"GPU {_seconds(self.gpu.run_s)} (${c.gpu_run:,.4g}"
            + (f" + ${c.idle_cost_gpu:,.4g} idle for {c.idle_hours:g} h" if c.idle_hours else "")
            + f"); {'the GPU' if c.cheaper == 'gpu' else 'the CPU' if c.cheaper == 'cpu' else 'neither'} is cheaper. "
            f"At ${self.prices.gpu_per_h:g}/h vs ${self.prices.cpu_per_h:g}/h the GPU must be "
            f"{fmt.number(self.prices.break_even_speedup)}x faster to cost less."
        )
        if self.amortization:
            lines.append(self.amortization.describe()[0].upper() + self.amortization.describe()[1:] + ".")
        for name, cross in (("Faster", self.crossover_faster), ("Cheaper per epoch", self.crossover_cheaper)):
            if cross:
                lines.append(f"{name}: {cross.describe('parameters', 'faster' if name == 'Faster' else 'cheaper')}.")
        lines.append("Memory: " + self.memory_text())
        for side in (self.cpu, self.gpu):
            if side.prediction:
                lines.append(f"{side.platform.upper()}: {side.prediction.describe()}.")
        if self.run_ids:
            lines.append(f"Rests on {len(self.run_ids)} runs.")
        lines.extend(self.notes)
        return "\n".join(lines)

    def memory_text(self) -> str:
        """The memory estimate and, per device, whether it fits (or how many devices it needs)."""
        text = self.memory.describe()
        for side in (self.cpu, self.gpu):
            if side and side.memory:
                text += f"; {side.memory.describe(side.device)}"
        return text


def _seconds(s: float) -> str:
    for unit, size in (("days", 86_400), ("h", 3600), ("min", 60)):
        if s >= size:
            return f"{fmt.number(s / size)} {unit}"
    return f"{fmt.number(s)} s"


def _choose_device(ok: pl.DataFrame, platforms: tuple[str, ...], kind: str, named: str | None) -> str | None:
    if named is not None:
        return named if ok.filter(pl.col("device") == named).height else None
    rows = ok.filter(pl.col("platform").is_in(platforms))
    same_kind = rows.filter(pl.col("model") == kind)
    rows = same_kind if same_kind.height else rows
    if not rows.height:
        return None
    ranked = (rows.group_by("device").agg((pl.col("source") == "local").sum().alias("local"), pl.len().alias("n"))
              .sort("local", "n", "device", descending=[True, True, False]))
    return ranked["device"][0]


def choose_pair(runs: pl.DataFrame, kind: str, cpu_device: str | None = None, gpu_device: str | None = None,
                facts: pl.DataFrame | None = None) -> tuple[str | None, str | None]:
    """(CPU, accelerator) device labels the answer compares (module doc); None where none qualifies."""
    ok = _ok(runs)
    gpu = _choose_device(ok, ACCELERATOR_PLATFORMS, kind, gpu_device)
    if cpu_device is not None or gpu is None:
        return _choose_device(ok, ("cpu",), kind, cpu_device), gpu
    cpus = ok.filter(pl.col("platform") == "cpu")
    same_kind = cpus.filter(pl.col("model") == kind)
    cpus = same_kind if same_kind.height else cpus
    # Its own host: the same host name, CPU model and core count as the accelerator's runs recorded.
    hosts = ok.filter(pl.col("device") == gpu).select("host", "cpu_model", "cpu_cores").unique()
    own_host = cpus.join(hosts, on=["host", "cpu_model", "cpu_cores"], how="semi")
    if own_host.height:
        return _choose_device(own_host, ("cpu",), kind, None), gpu
    if facts is not None and cpus.height:
        price = dict(zip(facts["device"], facts["usd_per_hour"]))
        target = price.get(gpu)
        priced = [(abs(price[d] - target), d) for d in sorted(set(cpus["device"])) if price.get(d) and target]
        if priced:
            return min(priced)[1], gpu
    return _choose_device(ok, ("cpu",), kind, None), gpu


def _ok(runs: pl.DataFrame) -> pl.DataFrame:
    runs = runs.filter(one_device(runs))
    return runs.filter((pl.col("status") == "ok") & (pl.col("epoch_s_median") > 0)).with_columns(device_label())


def _device_memory(ok: pl.DataFrame, device: str, facts: pl.DataFrame | None = None) -> int | None:
    """Physical memory of `device` in bytes: the facts' (price table) when known, else the runs' largest."""
    if facts is not None:
        known = facts.filter(pl.col("device") == device)["physical_memory_bytes"].drop_nulls()
        if known.len():
            return int(known[0])
    mem = ok.filter(pl.col("device") == device)["device_memory_bytes"].drop_nulls()
    return int(mem.max()) if mem.len() else None


def scaling_efficiency(runs: pl.DataFrame, device: str) -> tuple[float, str]:
    """(efficiency, basis) for N sharded `device`s: the median efficiency at the largest device count of
    its measured multi-device series (not emulated), else ASSUMED_SCALING_EFFICIENCY, "assumed"."""
    from engine.analysis.scaling import scaling_table

    table = scaling_table(runs)
    if table.height:
        table = table.filter((pl.col("device") == device) & ~pl.col("emulated") & (pl.col("device_count") > 1)
                             & pl.col("efficiency").is_not_null())
    if table.height:
        top = table.filter(pl.col("device_count") == table["device_count"].max())
        return float(top["efficiency"].median()), f"measured on {top['device_count'][0]}-device runs of {device}"
    return ASSUMED_SCALING_EFFICIENCY, "assumed: no multi-device runs of this device; communication not modelled"


def _planned(side: Side, runs: pl.DataFrame, epochs: int) -> Side:
    """`side` spread over the devices its memory verdict needs (module doc); unchanged when it fits."""
    if side.memory is None or side.memory.fits:
        return side
    if side.platform == "cpu":
        return replace(side, feasible=False)
    n = side.memory.devices_needed
    efficiency, basis = scaling_efficiency(runs, side.device)
    epoch = side.epoch_s / (n * efficiency)
    return replace(side, epoch_s=epoch, run_s=side.fixed_s + epochs * epoch, plan=Plan(n, efficiency, basis))


def _whose_runs(exact: pl.DataFrame, choice: str) -> tuple[dict, list[str]]:
    """The pair row a measured answer uses among the sources that measured this configuration, and notes.

    Per side (CPU, accelerator), when both your own runs and others (reference, imported) exist: "mine"
    takes yours, "reference" the others, "auto" yours unless the two disagree beyond their intervals
    (the 95% interval of your median epoch over theirs excludes 1): then theirs, said in a note.
    """
    notes, want_local = [], {}
    for side in ("cpu", "gpu"):
        mine = exact.filter(pl.col(f"{side}_source") == "local")
        theirs = exact.filter(pl.col(f"{side}_source") != "local")
        want_local[side] = choice != "reference"
        if choice != "auto" or not mine.height or not theirs.height:
            continue
        a, b = mine.row(0, named=True), theirs.row(0, named=True)
        ratio = speedup_interval(a[f"epoch_times_s_{side}"], b[f"epoch_times_s_{side}"], _runs(a, side), _runs(b, side))
        if not (ratio.low <= 1 <= ratio.high):
            want_local[side] = False
            notes.append(
                f"Your runs of this configuration on {a[f'{side}_device']} disagree with the {b[f'{side}_source']} runs "
                f"beyond their intervals (your epoch {fmt.seconds(a[f'{side}_epoch_s'])} against "
                f"{fmt.seconds(b[f'{side}_epoch_s'])}; ratio {fmt.number(ratio.speedup)}, 95% CI "
                f"{fmt.number(ratio.low)}-{fmt.number(ratio.high)}): the answer uses the "
                f"{b[f'{side}_source']} runs. Choose \"my runs\" to use yours.")
    order = [(pl.col(f"{side}_source") == "local") != want_local[side] for side in ("cpu", "gpu")]  # False first
    return exact.sort(order).row(0, named=True), notes


def _runs(row: dict, side: str) -> tuple:
    """(runs, log_run_mean, log_run_var) of one side of a pair row (`engine.analysis.pairing`)."""
    return row[f"{side}_runs"], row[f"{side}_log_run_mean"], row[f"{side}_log_run_var"]


def _thin_evidence(row: dict, runs: pl.DataFrame) -> list[str]:
    """Notes for a side that rests on a single run, or on runs whose epochs were noisy."""
    notes = []
    for side, label in (("cpu", "CPU"), ("gpu", "accelerator")):
        ids = list(row.get(f"{side}_run_ids") or [])
        if len(ids) == 1:
            notes.append(f"The {label} side rests on a single run ({ids[0]}): repeat it to see its spread.")
        if ids and "epoch_s_iqr" in runs.columns:
            chosen = runs.filter(pl.col("run_id").is_in(ids))
            noisy = chosen.filter(pl.col("epoch_s_iqr") > NOISY_IQR_FRACTION * pl.col("epoch_s_median"))
            if noisy.height:
                notes.append(f"{noisy.height} of the {label} side's {chosen.height} runs were noisy (epoch IQR over "
                             f"{NOISY_IQR_FRACTION:.0%} of the median): treat its figures with care.")
    return notes


def _fixed_seconds(ok: pl.DataFrame, device: str, kind: str, dataset_bytes: int) -> float:
    rows = ok.filter((pl.col("device") == device) & (pl.col("model") == kind))
    compile_s = rows["compile_s"].drop_nulls().median() or 0.0
    rate = rows.filter(pl.col("transfer_s") > 0).select(pl.col("dataset_bytes") / pl.col("transfer_s")).to_series()
    rate = rate.drop_nulls().median()
    return float(compile_s) + (dataset_bytes / rate if rate else 0.0)


def verdict(
    job: RunConfig | Workload,
    runs: pl.DataFrame,
    prices: Prices = Prices(),
    epochs: int = 10,
    idle_hours: float = 0.0,
    cpu_device: str | None = None,
    gpu_device: str | None = None,
    facts: pl.DataFrame | None = None,
    micro: pl.DataFrame | None = None,
    runs_choice: str = "auto",
) -> Verdict:
    """The verdict for `job` (a RunConfig, or a Workload such as a preset) on the run log `runs`.

    facts: per device (`engine.analysis.prices.device_prices`) its physical memory and price, for the
    memory verdicts and the choice of a fair CPU; prices: the two chosen devices' hourly prices.
    micro: micro benchmark rows with `device`, for the memory floor's bandwidth.
    runs_choice: whose measurements a measured answer uses when both your own ("local") and shipped or
    imported runs of the configuration exist: "auto" (yours, unless they disagree with the others
    beyond their intervals: then the others, and a note says so), "mine" or "reference".
    """
    if runs_choice not in RUNS_CHOICES:
        raise ValueError(f"runs_choice={runs_choice!r}: expected one of {', '.join(RUNS_CHOICES)}")
    w = from_config(job) if isinstance(job, RunConfig) else job
    memory = estimate(w)
    all_runs = runs
    runs = runs.filter(one_device(runs))  # one CPU against one accelerator; data-parallel runs are not
    ok = _ok(runs)
    cpu_dev, gpu_dev = choose_pair(runs, w.kind, cpu_device, gpu_device, facts)
    base = {"workload": w, "epochs": epochs, "prices": prices, "memory": memory}
    empty = {"cpu": None, "gpu": None, "speedup": None, "speedup_low": None, "speedup_high": None, "interval": "",
             "speedup_end_to_end": None, "costs": None, "amortization": None, "crossover_faster": None,
             "crossover_cheaper": None}
    if cpu_dev is None or gpu_dev is None:
        missing = [name for name, dev in (("a CPU", cpu_dev), ("an accelerator", gpu_dev)) if dev is None]
        wanted = " or ".join(n for n in (cpu_device, gpu_device) if n)
        note = f"no ok runs on {' or '.join(missing)}" + (f" named {wanted}" if wanted else "") + "."
        return Verdict(basis="none", notes=(note,), **base, **empty)

    paired = pair_with_times(runs).pairs.filter((pl.col("cpu_device") == cpu_dev) & (pl.col("gpu_device") == gpu_dev))
    mem = {dev: _device_memory(ok, dev, facts) for dev in (cpu_dev, gpu_dev)}
    mem_verdict = {dev: memory.verdict(m) if m else None for dev, m in mem.items()}
    crossings = _crossovers(paired, w, prices)
    notes: list[str] = []

    exact = paired.filter(matches(config_key(job))) if isinstance(job, RunConfig) else paired.clear()
    if exact.height:
        row, whose = _whose_runs(exact, runs_choice)
        notes.extend(whose)
        notes.extend(_thin_evidence(row, runs))
        cpu_fixed = (row["cpu_compile_s"] or 0.0) + (row["cpu_transfer_s"] or 0.0)
        gpu_fixed = (row["gpu_compile_s"] or 0.0) + (row["gpu_transfer_s"] or 0.0)
        ci = speedup_interval(row["epoch_times_s_cpu"], row["epoch_times_s_gpu"], _runs(row, "cpu"), _runs(row, "gpu"))
        cpu = Side(cpu_dev, "cpu", row["cpu_epoch_s"], cpu_fixed, cpu_fixed + epochs * row["cpu_epoch_s"],
                   mem_verdict[cpu_dev], run_ids=tuple(row["cpu_run_ids"]), sources=(row["cpu_source"],))
        gpu = Side(gpu_dev, row["gpu_platform"], row["gpu_epoch_s"], gpu_fixed, gpu_fixed + epochs * row["gpu_epoch_s"],
                   mem_verdict[gpu_dev], run_ids=tuple(row["gpu_run_ids"]), sources=(row["gpu_source"],))
        return _assemble(base, "measured", cpu, gpu, (ci.speedup, ci.low, ci.high), interval_name(ci.basis), crossings,
                         idle_hours, notes, all_runs)

    fits, fit_table = fit_runs(runs.filter(pl.col("status") == "ok").with_columns(device_label())
                               .filter(pl.col("device").is_in([cpu_dev, gpu_dev])), micro=micro)
    chosen = {dev: select_fit(fits, device=dev, model=w.kind, dtype=w.dtype, matmul_precision=w.matmul_precision)
              for dev in (cpu_dev, gpu_dev)}
    if all(chosen.values()):
        sides = []
        for dev in (cpu_dev, gpu_dev):
            p = predict(chosen[dev], w)
            fixed = _fixed_seconds(ok, dev, w.kind, w.dataset_bytes)
            sides.append(Side(dev, chosen[dev].platform, p.seconds_per_epoch, fixed, fixed + epochs * p.seconds_per_epoch,
                              mem_verdict[dev], prediction=p, run_ids=chosen[dev].run_ids,
                              sources=_sources(ok, dev, chosen[dev].run_ids)))
        cpu, gpu = sides
        speed = (cpu.epoch_s / gpu.epoch_s, cpu.prediction.low / gpu.prediction.high,
                 cpu.prediction.high / gpu.prediction.low)
        if not w.exact:
            notes.append(f"The workload is an approximation: {w.note}.")
        return _assemble(base, "predicted", cpu, gpu, speed, "prediction band", crossings, idle_hours, notes, all_runs)

    # Scaling the nearest measurement by steps per epoch only makes sense for a buildable config
    # near the measured ones, not for a preset many orders of magnitude away.
    near = paired.filter((pl.col("model") == w.kind) & (pl.col("dtype") == w.dtype))
    if near.height and isinstance(job, RunConfig):
        row = nearest(near, w)
        scale = w.steps_per_epoch / max(row["dataset_size"] // row["batch_size"], 1)
        ci = speedup_interval(row["epoch_times_s_cpu"], row["epoch_times_s_gpu"], _runs(row, "cpu"), _runs(row, "gpu"))
        sides = []
        for side, dev in (("cpu", cpu_dev), ("gpu", gpu_dev)):
            epoch = row[f"{side}_epoch_s"] * scale
            fixed = (row[f"{side}_compile_s"] or 0.0) + (row[f"{side}_transfer_s"] or 0.0)
            platform = "cpu" if side == "cpu" else row["gpu_platform"]
            sides.append(Side(dev, platform, epoch, fixed, fixed + epochs * epoch, mem_verdict[dev],
                              run_ids=tuple(row[f"{side}_run_ids"]), sources=(row[f"{side}_source"],)))
        notes.append(f"From the nearest measured configuration: {row['model']} with {row['params']:,} parameters, "
                     f"batch {row['batch_size']}, {row['dataset_size']:,} samples (epoch times scaled by steps "
                     f"per epoch x{scale:.3g}).")
        return _assemble(base, "nearest measurement", *sides, (ci.speedup, ci.low, ci.high), interval_name(ci.basis),
                         crossings, idle_hours, notes, all_runs)

    for dev, fit in chosen.items():
        if fit is None:
            notes.append(f"No performance model for {w.kind} {w.dtype} on {dev}: "
                         + _fit_problem(fit_table, dev, w) + ".")
    notes.append(f"no {w.kind} {w.dtype} runs on both {cpu_dev} and {gpu_dev} to measure or predict from.")
    return Verdict(basis="none", notes=tuple(notes), **base, **{**empty, **crossings})


def nearest(pairs: pl.DataFrame, w: Workload) -> dict:
    """The pair (a row of `pairs`) nearest to `w`: distance = |ln params ratio| + 0.5 |ln batch ratio|
    + 0.25 |ln dataset-size ratio|, your own runs first at equal distance."""
    return pairs.with_columns(
        ((pl.col("params").log() - math.log(w.params)).abs()
         + 0.5 * (pl.col("batch_size").log() - math.log(w.batch_size)).abs()
         + 0.25 * (pl.col("dataset_size").log() - math.log(w.samples)).abs()).alias("distance")
    ).sort("distance", pl.col("cpu_source") != "local", pl.col("gpu_source") != "local").row(0, named=True)


def _fit_problem(fit_table: pl.DataFrame, device: str, w: Workload) -> str:
    """Why `device` has no fit for the workload's kind and dtype (from `fit_runs`' table)."""
    rows = fit_table.filter((pl.col("device") == device) & (pl.col("model") == w.kind) & (pl.col("dtype") == w.dtype)
                            & pl.col("error").is_not_null())
    if rows.height:
        return rows["error"][0]
    return "no ok runs of that kind and dtype with FLOP counts"


def alone(job: RunConfig | Workload, runs: pl.DataFrame, platform: str = "cpu", epochs: int = 10,
          device: str | None = None, facts: pl.DataFrame | None = None, micro: pl.DataFrame | None = None) -> Side | None:
    """One device's time for `job` without a partner (e.g. only CPU runs exist): measured or predicted.

    Measured when `job` is a RunConfig with ok runs of exactly that configuration on the device
    (median of the pooled epoch times; compile and transfer medians); else predicted by the
    device's performance model (labelled, with what it was fitted on); None when neither works.
    """
    w = from_config(job) if isinstance(job, RunConfig) else job
    runs = runs.filter(one_device(runs))  # one CPU against one accelerator; data-parallel runs are not
    ok = runs.filter((pl.col("status") == "ok") & (pl.col("epoch_s_median") > 0)).with_columns(device_label())
    platforms = ("cpu",) if platform == "cpu" else ACCELERATOR_PLATFORMS
    dev = _choose_device(ok, platforms, w.kind, device)
    if dev is None:
        return None
    memory = _device_memory(ok, dev, facts)
    mem_verdict = estimate(w).verdict(memory) if memory else None
    if isinstance(job, RunConfig):
        same = ok.filter((pl.col("device") == dev) & matches(config_key(job)))
        if same.height:
            times = same["epoch_times_s"].explode().drop_nulls()
            epoch = float(times.median()) if times.len() else float(same["epoch_s_median"].median())
            fixed = float(same["compile_s"].fill_null(0.0).median()) + float(same["transfer_s"].fill_null(0.0).median())
            return Side(dev, same["platform"][0], epoch, fixed, fixed + epochs * epoch, mem_verdict,
                        run_ids=tuple(same["run_id"].to_list()), sources=tuple(sorted(set(same["source"]))))
    fits, _ = fit_runs(ok.filter(pl.col("device") == dev), micro=micro)
    fit = select_fit(fits, device=dev, model=w.kind, dtype=w.dtype, matmul_precision=w.matmul_precision)
    if fit is None:
        return None
    p = predict(fit, w)
    fixed = _fixed_seconds(ok, dev, w.kind, w.dataset_bytes)
    return Side(dev, fit.platform, p.seconds_per_epoch, fixed, fixed + epochs * p.seconds_per_epoch, mem_verdict,
                prediction=p, run_ids=fit.run_ids, sources=_sources(ok, dev, fit.run_ids))


def _sources(ok: pl.DataFrame, device: str, run_ids: tuple[str, ...]) -> tuple[str, ...]:
    rows = ok.filter((pl.col("device") == device) & pl.col("run_id").is_in(list(run_ids)))
    return tuple(sorted(set(rows["source"].drop_nulls())))


def _crossovers(paired: pl.DataFrame, w: Workload, prices: Prices) -> dict:
    """Crossovers along parameters for the job's model kind, dtype and precision, from the pairs' median
    epoch speedups, on ONE series that holds everything but the network's width fixed
    (`engine.analysis.tables.PARAMS_SERIES_KEYS`): of the series with two or more sizes, the job's batch
    size first, then the dataset size nearest the job's (in log), then the most sizes."""
    out = {"crossover_faster": None, "crossover_cheaper": None, "crossover_series": ""}
    series = paired.filter((pl.col("model") == w.kind) & (pl.col("dtype") == w.dtype)
                           & (pl.col("matmul_precision") == w.matmul_precision))
    keys = [c for c in PARAMS_SERIES_KEYS if c in series.columns
            and c not in ("model", "dtype", "matmul_precision", "cpu_device", "gpu_device")]
    if not series.height:
        return out
    candidates = (series.group_by(keys).agg(pl.col("params").n_unique().alias("_sizes"))
                  .with_columns((pl.col("batch_size") != w.batch_size).alias("_other_batch"),
                                (pl.col("dataset_size").cast(pl.Float64).log() - math.log(max(w.samples, 1)))
                                .abs().alias("_distance"))
                  .sort(pl.col("_sizes") < 2, "_other_batch", "_distance", pl.col("_sizes"),
                        descending=[False, False, False, True], nulls_last=True))
    chosen = candidates.row(0, named=True)
    rows = series.join(candidates.head(1).select(keys), on=keys, how="semi", nulls_equal=True)
    sizes, speedups = rows["params"].to_list(), (rows["cpu_epoch_s"] / rows["gpu_epoch_s"]).to_list()
    out["crossover_faster"] = find_crossover(sizes, speedups, 1.0)
    out["crossover_cheaper"] = find_crossover(sizes, speedups, prices.break_even_speedup)
    fixed = [f"batch {chosen['batch_size']}", f"{chosen['dataset_size']:,} samples"]
    if chosen.get("depth") is not None:
        fixed.append(f"depth {chosen['depth']}")
    out["crossover_series"] = ", ".join(fixed)
    return out


def _assemble(base: dict, basis: str, cpu: Side, gpu: Side, speed: tuple[float, float, float], interval: str,
              crossings: dict, idle_hours: float, notes: list[str], runs: pl.DataFrame) -> Verdict:
    prices, epochs = base["prices"], base["epochs"]
    one_gpu = gpu
    cpu, gpu = _planned(cpu, runs, epochs), _planned(gpu, runs, epochs)
    if gpu.plan:
        speed = tuple(s * one_gpu.epoch_s / gpu.epoch_s for s in speed)
        notes.append(f"It does not fit on one {gpu.device}: planned on {gpu.plan.describe(gpu.device)}; cost at "
                     f"{gpu.plan.devices} x the device's price.")
    if not cpu.feasible:
        notes.append(f"The CPU cannot hold it: {cpu.memory.describe(cpu.device)}.")
    # What the GPU side costs per hour: all of its devices.
    plan_prices = Prices(prices.cpu_per_h, prices.gpu_per_h * gpu.devices)
    costs = compare_costs(plan_prices, cpu.epoch_s, gpu.epoch_s, epochs, cpu.fixed_s, gpu.fixed_s, idle_hours)
    amort = amortization(cpu.fixed_s, cpu.epoch_s, gpu.fixed_s, gpu.epoch_s)
    low, high = speed[1], speed[2]
    return Verdict(basis=basis, cpu=cpu, gpu=gpu, speedup=speed[0], speedup_low=low, speedup_high=high,
                   interval=interval, speedup_end_to_end=cpu.run_s / gpu.run_s, costs=costs, amortization=amort,
                   notes=tuple(notes), **base, **crossings)
