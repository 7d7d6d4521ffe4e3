"""Crossover series hold everything fixed but the swept axis (issue 19: two dataset sizes with true crossovers at
1e6 and 4e6 parameters, mixed in one series, gave 1.6e6)."""

from __future__ import annotations

import polars as pl
import pytest

from engine.analysis import tables
from engine.analysis.cost import Prices
from engine.answer.verdict import verdict
from engine.base.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from engine.runlog.store import records_to_frame

CROSS = {1024: 1e6, 4096: 4e6}  # dataset size -> where the GPU starts to win (speedup = params / crossover)


def _pairs() -> pl.DataFrame:
    rows = []
    for samples, cross in CROSS.items():
        for params in (2.5e5, 5e5, 2e6, 8e6, 1.6e7):
            rows.append({"model": "mlp", "batch_size": 64, "dtype": "float32", "matmul_precision": "default",
                         "cpu_device": "C", "gpu_device": "G", "dataset_size": samples, "depth": 2,
                         "optimizer": "adam", "params": int(params), "speedup": params / cross})
    return pl.DataFrame(rows)


def test_each_dataset_size_is_its_own_series_along_parameters():
    table = tables.crossovers(_pairs(), {"faster": 1.0})
    got = dict(zip(table["dataset_size"], table["size"]))
    assert got == pytest.approx({1024: 1e6, 4096: 4e6}, rel=1e-9)
    mixed = tables.crossovers(_pairs(), {"faster": 1.0}, by=tables.SERIES_KEYS)  # the old, mixed series
    assert mixed.height == 1 and not (0.99e6 < mixed["size"][0] < 1.01e6 or 3.96e6 < mixed["size"][0] < 4.04e6)


def test_depths_are_series_of_their_own():
    deeper = _pairs().filter(pl.col("dataset_size") == 1024).with_columns(pl.lit(4, pl.Int64).alias("depth"),
                                                                          pl.col("speedup") / 2)
    table = tables.crossovers(pl.concat([_pairs().filter(pl.col("dataset_size") == 1024), deeper]), {"faster": 1.0})
    assert dict(zip(table["depth"], table["size"])) == pytest.approx({2: 1e6, 4: 2e6}, rel=1e-9)


def _record(width: int, samples: int, platform: str, epoch: float, run_id: str) -> dict:
    cfg = RunConfig(model=ModelConfig("mlp", width=width, depth=2), data=DataConfig(samples=samples),
                    train=TrainConfig(batch_size=64))
    from engine.analysis.pairing import config_key
    from engine.base.counts import parameter_count

    return {**config_key(cfg), "run_id": run_id, "status": "ok", "source": "reference", "platform": platform,
            "device_kind": "cpu" if platform == "cpu" else "G", "cpu_model": "C", "cpu_cores": 4,
            "params": parameter_count(cfg), "flops_per_step_analytic": 1.0, "steps_per_epoch": samples // 64,
            "epochs": 10, "mode": "fused", "compile_s": 0.1, "transfer_s": 0.0,
            "epoch_times_s": [epoch] * 3, "epoch_s_median": epoch}


def test_the_answer_uses_the_series_of_the_jobs_dataset_size():
    """Speedup = width / 100 at 1,024 samples and width / 400 at 4,096: faster from width 100 / 400."""
    records = []
    for samples, scale in ((1024, 100), (4096, 400)):
        for width in (50, 200, 800, 1600):
            records += [_record(width, samples, "cpu", 1.0, f"c{samples}-{width}"),
                        _record(width, samples, "gpu", scale / width, f"g{samples}-{width}")]
    runs = records_to_frame(records)
    for samples in (1024, 4096):
        job = RunConfig(model=ModelConfig("mlp", width=200, depth=2), data=DataConfig(samples=samples),
                        train=TrainConfig(batch_size=64))
        v = verdict(job, runs, Prices(0.1, 1.0), 10)
        assert v.crossover_series == f"batch 64, {samples:,} samples, depth 2"
        from engine.base.counts import parameter_count

        def params(width: int) -> int:
            return parameter_count(RunConfig(model=ModelConfig("mlp", width=width, depth=2)))

        # Speedup 0.5 and 2 at the widths either side: log-log interpolation lands on their geometric mean.
        below, above = (50, 200) if samples == 1024 else (200, 800)
        assert v.crossover_faster.size == pytest.approx((params(below) * params(above)) ** 0.5, rel=1e-6)
