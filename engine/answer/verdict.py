"""The Overview's answer: from a job description, prices and the run log to one verdict. Pure Python + Polars.

`verdict(job, runs, prices, epochs)` answers, for one CPU and one accelerator (chosen below):
which device is faster and by how much (with its interval), what `epochs` epochs cost on each,
the crossover along parameter count (faster, and cheaper), the memory verdict, which runs the
answer rests on, and whether it is measured or predicted; `Verdict.describe()` is the text.

Basis, in order of preference:
1. "measured": the job is a RunConfig and both devices ran exactly that configuration
   (`engine.analysis.pairing.CONFIG_KEYS`); speedup interval = 95% bootstrap CI over the raw epochs.
2. "predicted": a performance model (`engine.analysis.perfmodel`) fitted on each device's runs of the
   same model kind, dtype and matmul precision; interval = the two prediction bands combined
   (cpu_low / gpu_high, cpu_high / gpu_low). Compile time is the device's median for the kind;
   transfer is the dataset's bytes at the device's median measured bytes/s. Always labelled.
3. "nearest measurement": no model could be fitted, but both devices ran a configuration of
   the same kind (nearest by log parameters, then batch, then dataset size); epoch times are
   scaled by the ratio of steps per epoch. Labelled with the configuration it comes from.
4. "none": nothing to go on; the text says what is missing.

Devices: the named ones, else for each platform the device with local runs of the model kind
first ("this CPU"), then the one with the most runs (e.g. the shipped reference GPU).
Units: seconds, US dollars, bytes, parameters as counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import polars as pl

from engine.analysis.confidence import bootstrap_speedup
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
from engine.analysis.workload import Workload, from_config
from engine.base.config import RunConfig

BASES = ("measured", "predicted", "nearest measurement", "none")


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

    @property
    def measured(self) -> bool:
        return self.basis == "measured"

    @property
    def faster(self) -> str | None:
        """"gpu", "cpu", "same" or None (unknown). Per epoch, steady state."""
        if self.speedup is None:
            return None
        return "gpu" if self.speedup > 1 else "cpu" if self.speedup < 1 else "same"

    @property
    def clear(self) -> bool:
        """True when the whole interval lies on one side of 1 (the faster device is not in doubt)."""
        if self.speedup_low is None or self.speedup_high is None or math.isnan(self.speedup_low):
            return False
        return self.speedup_low > 1 or self.speedup_high < 1

    @property
    def cheaper(self) -> str | None:
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
        if self.faster == "gpu":
            head = f"the GPU ({self.gpu.device}) is {self.speedup:.3g}x faster than the CPU ({self.cpu.device}) per epoch"
        elif self.faster == "cpu":
            head = (f"the CPU ({self.cpu.device}) is {1 / self.speedup:.3g}x faster than the GPU ({self.gpu.device}) "
                    f"per epoch (speedup {self.speedup:.3g}x)")
        else:
            head = f"the CPU and the GPU are equally fast per epoch ({self.cpu.device} vs {self.gpu.device})"
        if self.speedup_low is not None and not math.isnan(self.speedup_low):
            head += f" ({self.interval} {self.speedup_low:.3g}–{self.speedup_high:.3g}x)"
            if not self.clear:
                head += "; the interval includes 1, so neither is clearly faster"
        lines.append(f"{label}: {head}.")
        c = self.costs
        lines.append(
            f"{self.epochs} epochs with compile and transfer: CPU {_seconds(self.cpu.run_s)} (${c.cpu_run:,.4g}), "
            f"GPU {_seconds(self.gpu.run_s)} (${c.gpu_run:,.4g}"
            + (f" + ${c.idle_cost_gpu:,.4g} idle for {c.idle_hours:g} h" if c.idle_hours else "")
            + f"); {'the GPU' if c.cheaper == 'gpu' else 'the CPU' if c.cheaper == 'cpu' else 'neither'} is cheaper. "
            f"At ${self.prices.gpu_per_h:g}/h vs ${self.prices.cpu_per_h:g}/h the GPU must be "
            f"{self.prices.break_even_speedup:.3g}x faster to cost less."
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
            return f"{s / size:,.3g} {unit}"
    return f"{s:.3g} s"


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


def _device_memory(ok: pl.DataFrame, device: str) -> int | None:
    mem = ok.filter(pl.col("device") == device)["device_memory_bytes"].drop_nulls()
    return int(mem.max()) if mem.len() else None


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
) -> Verdict:
    """The verdict for `job` (a RunConfig, or a Workload such as a preset) on the run log `runs`."""
    w = from_config(job) if isinstance(job, RunConfig) else job
    memory = estimate(w)
    runs = runs.filter(one_device(runs))  # one CPU against one accelerator; data-parallel runs are not
    ok = runs.filter((pl.col("status") == "ok") & (pl.col("epoch_s_median") > 0)).with_columns(device_label())
    cpu_dev = _choose_device(ok, ("cpu",), w.kind, cpu_device)
    gpu_dev = _choose_device(ok, ACCELERATOR_PLATFORMS, w.kind, gpu_device)
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
    mem = {dev: _device_memory(ok, dev) for dev in (cpu_dev, gpu_dev)}
    mem_verdict = {dev: memory.verdict(m) if m else None for dev, m in mem.items()}
    crossings = _crossovers(paired, w, prices)
    notes: list[str] = []

    exact = paired.filter(matches(config_key(job))) if isinstance(job, RunConfig) else paired.clear()
    if exact.height:
        own_first = [pl.col("cpu_source") != "local", pl.col("gpu_source") != "local"]  # False sorts first
        row = exact.sort(own_first).row(0, named=True)
        cpu_fixed = (row["cpu_compile_s"] or 0.0) + (row["cpu_transfer_s"] or 0.0)
        gpu_fixed = (row["gpu_compile_s"] or 0.0) + (row["gpu_transfer_s"] or 0.0)
        ci = bootstrap_speedup(row["epoch_times_s_cpu"], row["epoch_times_s_gpu"])
        cpu = Side(cpu_dev, "cpu", row["cpu_epoch_s"], cpu_fixed, cpu_fixed + epochs * row["cpu_epoch_s"],
                   mem_verdict[cpu_dev], run_ids=tuple(row["cpu_run_ids"]), sources=(row["cpu_source"],))
        gpu = Side(gpu_dev, row["gpu_platform"], row["gpu_epoch_s"], gpu_fixed, gpu_fixed + epochs * row["gpu_epoch_s"],
                   mem_verdict[gpu_dev], run_ids=tuple(row["gpu_run_ids"]), sources=(row["gpu_source"],))
        return _assemble(base, "measured", cpu, gpu, (ci.speedup, ci.low, ci.high), "95% bootstrap CI", crossings,
                         idle_hours, notes)

    fits, fit_table = fit_runs(runs.filter(pl.col("status") == "ok").with_columns(device_label())
                               .filter(pl.col("device").is_in([cpu_dev, gpu_dev])))
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
        if gpu.memory and not gpu.memory.fits:
            notes.append(f"It does not fit on one {gpu_dev}; the predicted time assumes a device that could hold it "
                         "(no multi-device communication counted).")
        if not w.exact:
            notes.append(f"The workload is an approximation: {w.note}.")
        return _assemble(base, "predicted", cpu, gpu, speed, "prediction band", crossings, idle_hours, notes)

    # Scaling the nearest measurement by steps per epoch only makes sense for a buildable config
    # near the measured ones, not for a preset many orders of magnitude away.
    near = paired.filter((pl.col("model") == w.kind) & (pl.col("dtype") == w.dtype))
    if near.height and isinstance(job, RunConfig):
        near = near.with_columns(
            ((pl.col("params").log() - math.log(w.params)).abs()
             + 0.5 * (pl.col("batch_size").log() - math.log(w.batch_size)).abs()
             + 0.25 * (pl.col("dataset_size").log() - math.log(w.samples)).abs()).alias("distance")
        ).sort("distance", pl.col("cpu_source") != "local", pl.col("gpu_source") != "local")  # own runs first
        row = near.row(0, named=True)
        scale = w.steps_per_epoch / max(row["dataset_size"] // row["batch_size"], 1)
        ci = bootstrap_speedup(row["epoch_times_s_cpu"], row["epoch_times_s_gpu"])
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
        return _assemble(base, "nearest measurement", *sides, (ci.speedup, ci.low, ci.high), "95% bootstrap CI",
                         crossings, idle_hours, notes)

    for dev, fit in chosen.items():
        if fit is None:
            notes.append(f"No performance model for {w.kind} {w.dtype} on {dev}: "
                         + _fit_problem(fit_table, dev, w) + ".")
    notes.append(f"no {w.kind} {w.dtype} runs on both {cpu_dev} and {gpu_dev} to measure or predict from.")
    return Verdict(basis="none", notes=tuple(notes), **base, **{**empty, **crossings})


def _fit_problem(fit_table: pl.DataFrame, device: str, w: Workload) -> str:
    """Why `device` has no fit for the workload's kind and dtype (from `fit_runs`' table)."""
    rows = fit_table.filter((pl.col("device") == device) & (pl.col("model") == w.kind) & (pl.col("dtype") == w.dtype)
                            & pl.col("error").is_not_null())
    if rows.height:
        return rows["error"][0]
    return "no ok runs of that kind and dtype with FLOP counts"


def alone(job: RunConfig | Workload, runs: pl.DataFrame, platform: str = "cpu", epochs: int = 10,
          device: str | None = None) -> Side | None:
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
    memory = _device_memory(ok, dev)
    mem_verdict = estimate(w).verdict(memory) if memory else None
    if isinstance(job, RunConfig):
        same = ok.filter((pl.col("device") == dev) & matches(config_key(job)))
        if same.height:
            times = same["epoch_times_s"].explode().drop_nulls()
            epoch = float(times.median()) if times.len() else float(same["epoch_s_median"].median())
            fixed = float(same["compile_s"].fill_null(0.0).median()) + float(same["transfer_s"].fill_null(0.0).median())
            return Side(dev, same["platform"][0], epoch, fixed, fixed + epochs * epoch, mem_verdict,
                        run_ids=tuple(same["run_id"].to_list()), sources=tuple(sorted(set(same["source"]))))
    fits, _ = fit_runs(ok.filter(pl.col("device") == dev))
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
    """Crossovers along parameters for the job's model kind, dtype and precision (its batch size if
    that leaves two or more sizes), from the pairs' median epoch speedups."""
    series = paired.filter((pl.col("model") == w.kind) & (pl.col("dtype") == w.dtype)
                           & (pl.col("matmul_precision") == w.matmul_precision))
    same_batch = series.filter(pl.col("batch_size") == w.batch_size)
    if same_batch["params"].n_unique() >= 2:
        series = same_batch
    out = {"crossover_faster": None, "crossover_cheaper": None}
    if series.height:
        sizes, speedups = series["params"].to_list(), (series["cpu_epoch_s"] / series["gpu_epoch_s"]).to_list()
        out["crossover_faster"] = find_crossover(sizes, speedups, 1.0)
        out["crossover_cheaper"] = find_crossover(sizes, speedups, prices.break_even_speedup)
    return out


def _assemble(base: dict, basis: str, cpu: Side, gpu: Side, speed: tuple[float, float, float], interval: str,
              crossings: dict, idle_hours: float, notes: list[str]) -> Verdict:
    prices, epochs = base["prices"], base["epochs"]
    costs = compare_costs(prices, cpu.epoch_s, gpu.epoch_s, epochs, cpu.fixed_s, gpu.fixed_s, idle_hours)
    amort = amortization(cpu.fixed_s, cpu.epoch_s, gpu.fixed_s, gpu.epoch_s)
    low, high = speed[1], speed[2]
    return Verdict(basis=basis, cpu=cpu, gpu=gpu, speedup=speed[0], speedup_low=low, speedup_high=high,
                   interval=interval, speedup_end_to_end=cpu.run_s / gpu.run_s, costs=costs, amortization=amort,
                   notes=tuple(notes), **base, **crossings)
