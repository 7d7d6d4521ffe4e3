"""The Overview's words: a `engine.answer.verdict.Verdict` turned into labels, sentences and a table.

Pure functions (no jax, no streamlit), so the page only lays them out. Every number in the text
comes from the verdict (measured, predicted or scaled, and the text says which).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from engine.analysis import tables
from engine.analysis.cost import Prices
from engine.analysis.workload import Workload
from engine.answer.verdict import Side, Verdict, verdict
from engine.base import counts, fmt
from engine.base.config import RunConfig
from engine.charts import figures

BASIS_LABEL = {"measured": "measured", "predicted": "predicted", "nearest measurement": "scaled from nearest"}


def answer(job, runs: pl.DataFrame, prices: Prices, epochs: int, **choices):
    """(verdict, chart or None): the Overview's answer for `job` (a RunConfig or a Workload) from
    `runs`, and its chart: the measured speedups of the job's kind on the verdict's two devices,
    with the job's parameter count marked (None when no CPU/GPU pair exists to place it among).
    choices: `verdict`'s cpu_device, gpu_device, facts and micro."""
    result = verdict(job, runs, prices, epochs, **choices)
    pairs = tables.verdict_pairs(runs, result)
    if not pairs.height:
        return result, None
    label = f"this network: {result.workload.params:,} parameters" + (
        "" if result.measured else f" ({BASIS_LABEL[result.basis]})")
    return result, figures.network_among_measured(pairs, result.workload.params, label, prices.break_even_speedup)


def qualifier(basis: str) -> str:
    """'' for a measurement, else ' (predicted)' / ' (scaled from nearest)' for metric labels."""
    return "" if basis == "measured" else f" ({BASIS_LABEL[basis]})"


def where(side: Side) -> str:
    """'this machine (<device>)' for own runs, else the device and where its runs came from."""
    if "local" in side.sources:
        return f"this machine ({side.device})"
    return f"{side.device} ({', '.join(side.sources) or 'no source'})"


def memory_text(verdict: Verdict, sides: list[Side]) -> str:
    """The memory verdict of the job and of each side's device, as one Markdown sentence."""
    text = verdict.memory.describe()
    for side in sides:
        if side.memory:
            text += f"; {side.memory.describe(side.device)}"
    return f"**Memory** (estimate: parameters, gradients, optimizer state, activations, dataset): {text}."


@dataclass(frozen=True)
class Tile:
    """One metric tile: its label, its value as shown, and its help text."""

    label: str
    value: str
    help: str


def tiles(v: Verdict, prices: Prices, epochs: int) -> list[tuple[Tile, Tile]]:
    """The Overview's numbers as rows of (CPU tile, GPU tile): time, cost, then job and epoch speedup (only when
    the CPU can hold the job; else its tiles say why it has no number)."""
    label, c = qualifier(v.basis), v.costs
    gpus = f"{v.gpu.devices} x {v.gpu.device}" if v.gpu.devices > 1 else v.gpu.device
    gpu_time = Tile(f"GPU time{label}", fmt.seconds(v.gpu.run_s), f"{epochs} epochs + compile and transfer, {gpus}")
    gpu_cost = Tile(f"GPU cost{label}", fmt.money(c.gpu_total), f"at {v.gpu.devices} x ${prices.gpu_per_h:g} per hour")
    if not v.cpu.feasible:
        return [(Tile("CPU time", "—", f"The CPU cannot hold this job. {v.cpu.memory.describe(v.cpu.device)}"),
                 gpu_time), (Tile("CPU cost", "—", "The CPU cannot hold this job: no cost to quote."), gpu_cost)]
    return [
        (Tile(f"CPU time{label}", fmt.seconds(v.cpu.run_s), f"{epochs} epochs + compile and transfer, {v.cpu.device}"),
         gpu_time),
        (Tile(f"CPU cost{label}", fmt.money(c.cpu_run), f"at ${prices.cpu_per_h:g} per hour"), gpu_cost),
        (Tile(f"Job speedup{label}", fmt.ratio(v.speedup_end_to_end, *(v.end_to_end_interval or (None, None))),
              f"CPU time / GPU time for {epochs} epochs, compile and transfer included"),
         Tile(f"Epoch speedup{label}", fmt.ratio(v.speedup, v.speedup_low, v.speedup_high),
              f"CPU epoch time / GPU epoch time; {interval_text(v)}")),
    ]


def cpu_alone(cpu: Side, prices: Prices, epochs: int) -> tuple[list[Tile], str]:
    """With no GPU to compare: the CPU's time and cost tiles, and the Markdown under them (the prediction, or the
    runs it was measured on)."""
    basis = "predicted" if cpu.prediction else "measured"
    shown = [Tile(f"CPU time{qualifier(basis)}", fmt.seconds(cpu.run_s),
                  f"{epochs} epochs + compile and transfer on {cpu.device}"),
             Tile(f"CPU cost{qualifier(basis)}", fmt.money(cpu.run_s / 3600 * prices.cpu_per_h),
                  f"at ${prices.cpu_per_h:g} per hour (sidebar)")]
    if cpu.prediction:
        return shown, prediction_line(cpu)
    return shown, (f"Measured on {where(cpu)}: {fmt.seconds(cpu.epoch_s)} per epoch (median of {len(cpu.run_ids)} "
                   f"runs) + {fmt.seconds(cpu.fixed_s)} compile and transfer.")


def prices_caption(v: Verdict, prices: Prices) -> str:
    """The Markdown under the tiles: the prices and the break-even speedup, why the numbers are not a measurement
    (when they are not), and the verdict's notes (plans, thin or disagreeing runs: said, not hidden)."""
    gpus = f"{v.gpu.devices} x {v.gpu.device}" if v.gpu.devices > 1 else v.gpu.device
    note = basis_note(v)
    return (f"{v.cpu.device} at ${prices.cpu_per_h:g}/h against {gpus} at ${prices.gpu_per_h:g}/h each: the GPU "
            f"must be {fmt.number(prices.break_even_speedup)}x faster to cost less." + (f"\n\n{note}" if note else "")
            + "".join(f"\n\n{line}" for line in v.notes))


def interval_text(v: Verdict) -> str:
    """The speedup's interval (bootstrap CI or prediction band), or why there is none."""
    if v.speedup_low == v.speedup_low:  # NaN when the fit has no error estimate
        return f"{v.interval} {fmt.number(v.speedup_low)}–{fmt.number(v.speedup_high)}x"
    return "no error estimate: a fit through two runs"


def headline(v: Verdict, prices: Prices) -> tuple[str, str]:
    """(level, Markdown) of the answer for the job as entered, end to end (compile, transfer and every
    epoch), naming both devices. The words come from `Verdict.answer`, applied to the same times and
    costs the sentence shows; the per-epoch speedup is the second line. level: "success" (worth it or
    needed), "warning" (time, not money), "info" (no GPU needed, or no clear difference)."""
    c, cpu, gpu = v.costs, v.cpu, v.gpu
    gpus = f"{gpu.devices} x {gpu.device}" if gpu.devices > 1 else gpu.device
    if v.answer == "gpu_needed":
        return "success", (f"**You need a GPU**: the CPU ({cpu.device}) cannot hold this job "
                           f"({fmt.gigabytes(v.memory.total_bytes)} against its "
                           f"{fmt.gigabytes(cpu.memory.device_memory_bytes)})."
                           f" On {gpus} it takes {fmt.seconds(gpu.run_s)} and costs {fmt.money(c.gpu_total)}.")
    interval = v.end_to_end_interval
    e2e = fmt.ratio(v.speedup_end_to_end, *(interval or (None, None)))
    per_epoch = (f"Per epoch: {fmt.ratio(v.speedup, v.speedup_low, v.speedup_high)} ({interval_text(v)}), "
                 f"compile and transfer left out.")
    times = (f"{fmt.seconds(gpu.run_s)} on {gpus} against {fmt.seconds(cpu.run_s)} on {cpu.device}, "
             f"{fmt.money(c.gpu_total)} against {fmt.money(c.cpu_run)}")
    if v.answer == "no_clear_difference":
        return "info", (f"**No clear difference**: {times} for {fmt.plural(v.epochs, 'epoch')}; the interval of the "
                        f"end-to-end speedup ({e2e}) includes 1. {per_epoch}")
    if v.answer == "no_gpu":
        return "info", (f"**No GPU needed**: the CPU finishes this job first: {times}. {per_epoch}")
    if v.answer == "worth_it":
        return "success", (f"**A GPU is worth it**: {e2e} faster and cheaper for this job: {times}. {per_epoch}")
    return "warning", (f"**A GPU saves time, not money**: {e2e} faster for this job, but dearer: {times}. "
                       f"{per_epoch}")


def basis_note(v: Verdict) -> str | None:
    """Why the numbers are not a measurement, or None when they are."""
    if v.basis == "measured":
        return None
    return "Not measured: " + ("each device's time comes from its fitted performance model (below)."
                               if v.basis == "predicted" else "scaled from the nearest measured configuration.")


def crossover_text(v: Verdict) -> str | None:
    """The faster / cheaper crossovers along parameter count, or None when there are none."""
    parts = [cross.describe("parameters", name)
             for name, cross in (("faster", v.crossover_faster), ("cheaper", v.crossover_cheaper)) if cross]
    if not parts:
        return None
    series = f" ({v.crossover_series}: only the width grows)" if v.crossover_series else ""
    return (f"**Crossover** for {v.workload.kind} ({v.workload.dtype}) on these two devices, speedup per epoch "
            f"measured across parameter counts{series}: " + "; ".join(parts) + ".")


def prediction_line(side: Side) -> str:
    """One Markdown bullet: where a predicted side stands and what its prediction was fitted on."""
    return f"- **{where(side)}**: {side.prediction.describe()}."


def after_numbers(v: Verdict) -> str:
    """The Markdown under the Overview's numbers, as one element: the crossover, the compile time paid back,
    the memory, and the predictions with what they were fitted on (only the parts that apply)."""
    parts = [text for text in (
        crossover_text(v),
        v.amortization and v.cpu.feasible and f"**Compile time paid back**: {v.amortization.describe('time')}.",
        memory_text(v, [v.cpu, v.gpu]),
    ) if text]
    if v.cpu.prediction or v.gpu.prediction:
        parts.append("#### Prediction, and what it was fitted on\n" + "\n".join(
            prediction_line(side) for side in (v.cpu, v.gpu) if side.prediction))
    return "\n\n".join(parts)


def used_table(v: Verdict, runs: pl.DataFrame | None = None) -> pl.DataFrame:
    """One row per side: device, sources, basis (with what a prediction was fitted on), runs, timed epochs (the
    epochs those runs timed, counted in `runs`; null without it), seconds."""
    sides = (v.cpu, v.gpu)
    epochs: list[int | None] = [None, None]
    if runs is not None:
        ids = [r for s in sides for r in s.run_ids]
        counts = dict(runs.filter(pl.col("run_id").is_in(ids))
                      .select("run_id", pl.col("epoch_times_s").list.len()).iter_rows())
        epochs = [sum(counts.get(r) or 0 for r in s.run_ids) if s.run_ids else None for s in sides]
    return pl.DataFrame({
        "side": ["CPU", "GPU"],
        "device": [s.device for s in sides],
        "source": [", ".join(s.sources) for s in sides],
        "basis": [f"predicted: fitted on {s.prediction.fitted_on}" if s.prediction else v.basis for s in sides],
        "runs": [len(s.run_ids) for s in sides],
        "timed epochs": pl.Series(epochs, dtype=pl.Int64),
        "s per epoch": [s.epoch_s for s in sides],
        "compile + transfer s": [s.fixed_s for s in sides],
    })


# engine_version was first recorded by engine 3; a null means code older than that.
UNRECORDED_ENGINE = "an engine before version 3 (not recorded)"


def engine_versions_text(runs: pl.DataFrame | pl.LazyFrame, v: Verdict) -> str:
    """Which measuring code (`engine_version`) made the runs each side rests on, and a warning when
    the two sides differ (a change of engine can move measured times: engine/__init__.py)."""
    ids = {label: side.run_ids for label, side in (("CPU", v.cpu), ("GPU", v.gpu)) if side is not None and side.run_ids}
    wanted = pl.DataFrame({"run_id": [r for run_ids in ids.values() for r in run_ids],
                           "_side": [label for label, run_ids in ids.items() for _ in run_ids]},
                          schema={"run_id": pl.String, "_side": pl.String})
    # One pass over the runs for both sides.
    versions = dict(wanted.lazy().join(runs.lazy().select("run_id", "engine_version"), on="run_id")
                    .group_by("_side").agg(pl.col("engine_version").unique()).collect().iter_rows())
    found = {}
    for label in ids:
        seen = versions.get(label, [])
        found[label] = sorted(f"engine {x}" for x in seen if x is not None) + (
            [UNRECORDED_ENGINE] if None in seen else [])
    text = "Measuring code: " + "; ".join(f"{label} runs by {', '.join(names)}" for label, names in found.items()) + "."
    if len(found) == 2 and found["CPU"] != found["GPU"]:
        text += (" The two sides were measured by different versions of the engine, and a new version can change "
                 "measured times (each version's change is listed in `engine/__init__.py`; the Results page shows "
                 "`engine_version` per run).")
    return text


def why_text(v: Verdict) -> str:
    """The plain-language explanation (dispatch, matrix products, bandwidth, compile) with this job's numbers."""
    w = v.workload
    steps = max(w.steps_per_epoch, 1)
    gpu_step, cpu_step = v.gpu.epoch_s / steps, v.cpu.epoch_s / steps
    how = "measured" if v.measured else BASIS_LABEL[v.basis]
    return (
        f"- **Dispatch overhead.** Each training step is a launch of work on the device, and a launch has a fixed "
        f"cost however small the step. Here one step takes {fmt.seconds(gpu_step)} on the GPU and "
        f"{fmt.seconds(cpu_step)} on the CPU ({how}). When the step is tiny, that fixed cost is most of the time, "
        f"and the GPU's size does not help.\n"
        f"- **Matrix multiplication.** A step of this network is {fmt.si(w.flops_per_step, 'FLOPs')}, almost all of "
        f"it matrix products. That is {fmt.si(w.flops_per_step / gpu_step, 'FLOP/s')} on the GPU and "
        f"{fmt.si(w.flops_per_step / cpu_step, 'FLOP/s')} on the CPU ({how}). Wider layers and bigger batches give "
        f"the GPU's thousands of cores enough work; narrow ones leave most of them idle.\n"
        f"- **Memory bandwidth.** Small layers do few operations per byte they read, so the speed of memory, not "
        f"of arithmetic, sets the pace. GPU memory is much faster than a CPU's; the Hardware page shows the "
        f"measured bandwidths and where each run sits on the roofline.\n"
        f"- **Compile and transfer.** Both are paid once: {fmt.seconds(v.gpu.fixed_s)} on the GPU and "
        f"{fmt.seconds(v.cpu.fixed_s)} on the CPU ({how}). For short trainings they can outweigh the faster "
        f"epochs; the Cost page shows after how many epochs they are paid back."
    )


ATTENTION_KINDS = ("transformer", "gpt")


def network_name(job: RunConfig) -> str:
    """The network in a few words: 'ResNet-50, stem 64, 224x224 px' or 'GPT, width 768, depth 12, 12 heads,
    1,024 tokens, vocabulary 50,257'."""
    m = job.model
    if m.kind == "resnet":
        side = job.input_shape[0]
        return f"ResNet-{m.depth}, stem {m.channels}, {side}x{side} px"
    text = f"{m.kind.upper()}, width {m.width}, depth {m.depth}"
    if m.kind == "cnn":
        text += f", {m.channels} first channels"
    if m.kind in ATTENTION_KINDS:
        text += f", {m.heads} heads, {m.seq_len:,} tokens, vocabulary {m.vocab:,}"
    return text


def job_summary(job: RunConfig | Workload, epochs: int) -> tuple[str, str | None]:
    """(Markdown, caption or None) saying what the Overview answers for: the network with its exact parameter count,
    the data, the training and the analytic FLOPs of one step; for one of the seed article's examples (a Workload)
    also how it was built, and that its answer is a prediction."""
    if isinstance(job, RunConfig):
        params = counts.parameter_count(job)
        return (f"**{network_name(job)}**: **{params:,} parameters** ({fmt.count(params)}; exact count), "
                f"{job.data.samples:,} samples, batch {job.train.batch_size}, {epochs} epochs, {job.train.dtype}. "
                f"One training step costs {fmt.si(counts.flops_per_step(job), 'FLOPs')} (analytic)."), None
    return (f"**{job.name}**: {job.params:,} parameters ({fmt.count(job.params)}), batch {job.batch_size}, "
            f"{job.samples:,} samples, {job.dtype}, {epochs} epochs; one training step costs "
            f"{fmt.si(job.flops_per_step, 'FLOPs')} (analytic)."), (
        f"Built as {job.note}. Nothing this size was measured: the answer below is a PREDICTION from the "
        "performance model fitted on measured runs, and says what it was fitted on.")
