"""Names from an imported file reach every visitor's Overview as Markdown (issue 21: live links and external
images). A name Markdown would act on is shown as itself: its active characters swapped for look-alikes."""

from __future__ import annotations

import re

import polars as pl

from engine.analysis.cost import Prices
from engine.analysis.pairing import config_key, device_label, plain_name
from engine.answer import explain
from engine.answer.verdict import verdict
from engine.base.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from engine.base.counts import flops_per_step, parameter_count
from engine.runlog.store import records_to_frame

HOSTILE_GPU = "[Free GPU](http://evil.example/x) ![pixel](https://evil.example/p.png)"
HOSTILE_CPU = ":red[EPYC] `code` $x$ www.evil.example <b>bold</b>"
# What must not survive: a link or image, an autolink, a directive, code, LaTeX, HTML.
ACTIVE = re.compile(r"\]\(|!\[|https?:|www\.|:red\[|`|\$x\$|<b>")


def _cfg():
    return RunConfig(model=ModelConfig("mlp", width=64, depth=2), data=DataConfig(samples=1024),
                     train=TrainConfig(batch_size=64))


def _record(platform, kind, cpu_model, step, run_id):
    cfg = _cfg()
    return {**config_key(cfg), "run_id": run_id, "status": "ok", "source": "imported", "host": None,
            "platform": platform, "device_kind": kind, "cpu_model": cpu_model, "cpu_cores": 4,
            "params": parameter_count(cfg), "flops_per_step_analytic": flops_per_step(cfg), "epochs": 10,
            "mode": "fused", "compile_s": 0.5, "transfer_s": 0.0, "steps_per_epoch": cfg.steps_per_epoch,
            "epoch_times_s": [step * 16] * 3, "epoch_s_median": step * 16}


def test_names_markdown_acts_on_are_shown_as_themselves():
    frame = pl.DataFrame({"n": [HOSTILE_GPU, HOSTILE_CPU, "Intel(R) Xeon(R) Processor", "NVIDIA H200", None]})
    got = frame.select(plain_name(pl.col("n")))["n"].to_list()
    assert got[2:] == ["Intel(R) Xeon(R) Processor", "NVIDIA H200", None]  # ordinary names untouched
    assert all(not ACTIVE.search(text) for text in got[:2])
    assert got[0] == "⟦Free GPU⟧(http∶//evil.example/x) ǃ⟦pixel⟧(https∶//evil.example/p.png)"


def test_the_answer_shows_hostile_device_names_inert():
    runs = records_to_frame([_record("cpu", "cpu", HOSTILE_CPU, 0.01, "c1"), _record("cpu", "cpu", HOSTILE_CPU, 0.01, "c2"),
                             _record("gpu", HOSTILE_GPU, "x", 0.001, "g1"), _record("gpu", HOSTILE_GPU, "x", 0.001, "g2")])
    labels = runs.select(device_label())["device"].to_list()
    assert all(not ACTIVE.search(label) for label in labels)
    v = verdict(_cfg(), runs, Prices(0.1, 1.0), 10)
    assert v.basis == "measured"
    texts = [explain.headline(v, Prices(0.1, 1.0))[1], explain.memory_text(v, [v.cpu, v.gpu]),
             explain.crossover_text(v) or "", " ".join(v.notes), v.describe()]
    for text in texts:
        assert not ACTIVE.search(text), text
    assert "⟦Free GPU⟧" in texts[0]
