"""engine.figures: each function returns a labelled Plotly figure, also for empty frames."""

from __future__ import annotations

import sys
from pathlib import Path

import plotly.graph_objects as go
import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures"))

import fixture_data  # noqa: E402

from engine import analysis, figures  # noqa: E402


@pytest.fixture(scope="module")
def runs() -> pl.DataFrame:
    cpu = pl.read_parquet(fixture_data.CPU_RUNS)
    return pl.concat([cpu, fixture_data.synthetic_gpu_runs(cpu)])


@pytest.fixture(scope="module")
def micro() -> pl.DataFrame:
    cpu = pl.read_parquet(fixture_data.CPU_MICRO)
    return pl.concat([cpu, fixture_data.synthetic_gpu_micro(cpu)])


def names(fig: go.Figure) -> list[str]:
    return [trace.name for trace in fig.data]


def test_speedup_vs_params(runs):
    pairs = analysis.pair_runs(runs)
    crossings = analysis.crossovers(pairs, (1.0, 2.5))
    fig = figures.speedup_vs_params(pairs, 2.5, crossings)
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    assert {"mlp · batch 128", "cnn · batch 64", "transformer · batch 64"} <= set(names(fig))
    assert "speedup 1: GPU as fast as CPU" in names(fig)
    assert any(n.startswith("price ratio 2.5") for n in names(fig))
    (marks,) = [t for t in fig.data if t.name == "crossover"]
    assert sorted(marks.x) == pytest.approx(sorted(crossings.filter(pl.col("state") == "crosses")["x"].to_list()))
    hover = fig.data[0].hovertemplate  # the config shows on hover
    assert "CPU s/epoch" in hover and "width" in hover and "dataset size" in hover and "_line" not in hover


def test_speedup_vs_dataset(runs):
    fig = figures.speedup_vs_dataset(analysis.pair_runs(runs), 2.5)
    assert fig.layout.yaxis.title.text == "GPU speedup over CPU (end to end)"
    assert "compile and transfer" in fig.layout.title.text


def test_epoch_time_loss_and_comparison(runs):
    assert len(figures.epoch_time_vs_params(runs).data) == 6  # 2 devices x 3 model kinds
    loss = figures.loss_curves(runs.head(2))
    assert len(loss.data) == 2 and len(loss.data[0].y) == len(runs["epoch_losses"][0])
    one = analysis.same_config(runs, runs.row(0, named=True))
    comparison = figures.config_comparison(one)
    assert sorted(comparison.data[0].x.tolist() + comparison.data[1].x.tolist()) == sorted(
        ["CPU: AMD EPYC (2 cores) (local)", f"{fixture_data.FAKE_GPU} (local)"])


def test_hardware_figures(micro, runs):
    assert len(figures.matmul_rates(micro).data) == 6  # 2 devices x 3 dtype/precision
    assert len(figures.bandwidths(micro).data) == 4  # 2 devices x 2 benchmarks
    roof = figures.roofline(analysis.device_roofs(micro), analysis.with_intensity(analysis.ok_runs(runs)))
    assert [n.split(":")[0] for n in names(roof)] == ["roof", "roof", "runs", "runs"]
    assert "ESTIMATE" in roof.layout.xaxis.title.text
    peak = max(roof.data[0].y)
    assert peak == pytest.approx(analysis.device_roofs(micro)["peak_flops_per_s"][0] / 1e12)


def test_empty_frames_still_give_figures(runs, micro):
    empty = analysis.pair_runs(runs.head(0))
    assert isinstance(figures.speedup_vs_params(empty, 2.5, analysis.crossovers(empty, (1.0,))), go.Figure)
    assert isinstance(figures.speedup_vs_dataset(empty, None), go.Figure)
    assert isinstance(figures.epoch_time_vs_params(runs.head(0)), go.Figure)
    assert isinstance(figures.roofline(analysis.device_roofs(micro.head(0)), runs.head(0)), go.Figure)
