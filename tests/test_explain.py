"""engine.answer.explain: the Overview's answer and words, from the shipped reference measurements."""

from pathlib import Path

import pytest

from engine.analysis.cost import Prices
from engine.answer import explain
from engine.base import fmt
from engine.base.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from engine.runlog import store

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "reference"


@pytest.fixture(scope="module")
def answered():
    runs = store.load_runs([REFERENCE], source="reference").frame.collect()
    job = RunConfig(ModelConfig("mlp", width=256, depth=2), DataConfig(samples=50_000), TrainConfig(batch_size=128))
    return explain.answer(job, runs, Prices(), 10)


def test_answer_has_a_two_sided_verdict_and_marks_the_network_on_its_chart(answered):
    v, chart = answered
    assert v.cpu is not None and v.gpu is not None
    assert chart.data[-1].name.startswith(f"this network: {v.workload.params:,} parameters")
    assert list(chart.data[-1].x) == [v.workload.params, v.workload.params]


def test_words_carry_the_verdicts_numbers_and_basis(answered):
    v, _ = answered
    level, text = explain.headline(v, Prices())
    assert level in ("info", "success", "warning")
    assert v.cpu.device in text and v.gpu.device in text  # both devices named
    assert fmt.seconds(v.cpu.run_s) in text and fmt.seconds(v.gpu.run_s) in text  # the whole job, end to end
    table = explain.used_table(v)
    assert table["side"].to_list() == ["CPU", "GPU"] and table["s per epoch"].to_list() == [v.cpu.epoch_s,
                                                                                           v.gpu.epoch_s]
    why = explain.why_text(v)
    assert "Dispatch overhead" in why and f"({explain.BASIS_LABEL[v.basis]})" in why
    assert explain.memory_text(v, [v.cpu, v.gpu]).startswith("**Memory**")
    assert (explain.basis_note(v) is None) == (v.basis == "measured")


def test_engine_versions_name_each_sides_measuring_code_and_warn_when_they_differ(answered):
    import dataclasses

    import polars as pl

    v, _ = answered
    cpu_ids, gpu_ids = list(v.cpu.run_ids), list(v.gpu.run_ids)
    v = dataclasses.replace(v, cpu=dataclasses.replace(v.cpu, run_ids=tuple(cpu_ids[:1])),
                            gpu=dataclasses.replace(v.gpu, run_ids=tuple(gpu_ids[:1])))
    frame = pl.DataFrame({"run_id": [cpu_ids[0], gpu_ids[0]], "engine_version": [5, None]},
                         schema={"run_id": pl.String, "engine_version": pl.Int32})
    text = explain.engine_versions_text(frame, v)
    assert text.startswith(f"Measuring code: CPU runs by engine 5; GPU runs by {explain.UNRECORDED_ENGINE}.")
    assert "different versions of the engine" in text
    same = frame.with_columns(pl.lit(5, pl.Int32).alias("engine_version"))
    text = explain.engine_versions_text(same.lazy(), v)
    assert text == "Measuring code: CPU runs by engine 5; GPU runs by engine 5."


def test_used_table_counts_each_sides_runs_and_timed_epochs(answered):
    """Issue 19: the UI shows runs and epochs per side. Epochs are counted from a runs frame built here: the CPU
    side's runs timed 3 and 4 epochs (7), the GPU side's 5 each."""
    import polars as pl

    v, _ = answered
    cpu_ids, gpu_ids = list(v.cpu.run_ids), list(v.gpu.run_ids)
    lengths = {r: 3 + (i % 2) for i, r in enumerate(cpu_ids)} | {r: 5 for r in gpu_ids}
    runs = pl.DataFrame({"run_id": list(lengths), "epoch_times_s": [[0.1] * n for n in lengths.values()]})
    table = explain.used_table(v, runs)
    assert table["runs"].to_list() == [len(cpu_ids), len(gpu_ids)]
    assert table["timed epochs"].to_list() == [sum(3 + (i % 2) for i in range(len(cpu_ids))), 5 * len(gpu_ids)]
    assert explain.used_table(v)["timed epochs"].to_list() == [None, None]  # not counted without the runs


def test_the_price_list_table_escapes_device_names_from_files():
    """A device name from an uploaded file is data: no link, no HTML, no table break."""
    import polars as pl

    from engine.answer.price_list import SCHEMA, as_markdown

    row = {"device": "[click](http://x) <b>|GPU", "platform": "gpu", "devices": 2, "basis": "measured", "job_s": 90.0,
           "usd_per_hour": 2.5, "cost_usd": 0.125, "fits": "yes", "price_basis": "typed"}
    text = as_markdown(pl.DataFrame([row], schema=SCHEMA))
    line = text.splitlines()[2]
    assert line == "| \\[click\\]\\(http://x\\) \\<b\\>\\|GPU x 2 | 90 s | $0.12 at $2.50/h | measured |"
    no_fit = as_markdown(pl.DataFrame([{**row, "fits": "no: planned on 3 devices"}], schema=SCHEMA))
    assert no_fit.splitlines()[2].endswith("| measured; no: planned on 3 devices |")
