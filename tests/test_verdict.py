"""engine.answer.verdict: measured, predicted, nearest and no-answer verdicts on synthetic run logs."""

import polars as pl
import pytest

from engine.analysis.cost import Prices
from engine.analysis.pairing import config_key
from engine.analysis.workload import preset_10b_network, preset_final_layer_200b
from engine.answer.verdict import alone, verdict
from engine.base.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from engine.base.counts import flops_per_step, parameter_count
from engine.runlog.store import load_runs, records_to_frame

# Per-step seconds: the CPU has little overhead and a low rate, the GPU the opposite.
CPU = (1e-4, 1e11)  # overhead s, FLOP/s
GPU = (2e-3, 1e13)


def _config(width, samples=1024, batch=64):
    return RunConfig(model=ModelConfig("mlp", width=width, depth=2), data=DataConfig(samples=samples),
                     train=TrainConfig(batch_size=batch))


def _record(cfg, platform, step_s, run_id, source="local"):
    steps = cfg.steps_per_epoch
    epoch = step_s * steps
    return {**config_key(cfg), "run_id": run_id, "status": "ok", "source": source, "platform": platform,
            "device_kind": "cpu" if platform == "cpu" else "Test GPU", "cpu_model": "Test CPU", "cpu_cores": 4,
            "device_memory_bytes": 8 * 10**9 if platform == "cpu" else 16 * 10**9, "params": parameter_count(cfg),
            "flops_per_step_analytic": flops_per_step(cfg), "steps_per_epoch": steps, "epochs": 10, "mode": "fused",
            "compile_s": 0.5 if platform == "cpu" else 2.0, "transfer_s": 0.01, "dataset_bytes": 10**6,
            "epoch_times_s": [epoch * f for f in (0.98, 1.0, 1.02)], "epoch_s_median": epoch}


def _runs(widths=(8, 32, 128, 512, 2048)):
    records = []
    for w in widths:
        cfg = _config(w)
        flops = flops_per_step(cfg)
        records.append(_record(cfg, "cpu", CPU[0] + flops / CPU[1], f"cpu-{w}"))
        records.append(_record(cfg, "gpu", GPU[0] + flops / GPU[1], f"gpu-{w}"))
    return records_to_frame(records)


def test_measured_verdict_exact_four_times():
    cfg = _config(100)
    runs = records_to_frame([_record(cfg, "cpu", 0.004, "c"), _record(cfg, "gpu", 0.001, "g")])
    v = verdict(cfg, runs, Prices(0.10, 0.25), epochs=10)
    assert v.basis == "measured" and v.measured
    assert v.speedup == pytest.approx(4.0) and v.speedup_low <= 4.0 <= v.speedup_high
    assert v.faster == "gpu" and v.clear
    assert v.run_ids == ("c", "g")
    steps = cfg.steps_per_epoch  # 16
    assert v.cpu.run_s == pytest.approx(0.51 + 10 * 0.004 * steps)
    assert v.gpu.run_s == pytest.approx(2.01 + 10 * 0.001 * steps)
    assert v.costs.cpu_run == pytest.approx(v.cpu.run_s / 3600 * 0.10)
    assert v.cheaper == "cpu"  # 2 s of GPU compile outweigh 0.5 s of CPU epochs
    assert v.amortization.epochs is not None
    assert v.describe().startswith("MLP 784-100x2-10: 89,610 parameters")
    assert "Measured: the GPU (Test GPU) is 4x faster" in v.describe()
    assert v.cpu.memory.fits and v.gpu.memory.fits


def test_predicted_verdict_and_crossover_from_the_fit():
    runs = _runs()
    cfg = _config(1000)  # not measured
    v = verdict(cfg, runs)
    assert v.basis == "predicted" and not v.measured
    flops = flops_per_step(cfg)
    expected = (CPU[0] + flops / CPU[1]) / (GPU[0] + flops / GPU[1])
    assert v.speedup == pytest.approx(expected, rel=0.02)
    assert v.cpu.prediction.is_prediction and v.gpu.prediction.is_prediction
    assert "Predicted, not measured" in v.describe()
    assert set(v.run_ids) == {f"{p}-{w}" for p in ("cpu", "gpu") for w in (8, 32, 128, 512, 2048)}
    # Speedup 1 where 1e-4 + f/1e11 = 2e-3 + f/1e13, i.e. f = 1.9e-3 / (1e-11 - 1e-13) ~ 1.92e8 FLOPs per step.
    cross = v.crossover_faster
    assert cross.kind == "crossing"
    below = max(parameter_count(_config(w)) for w in (8, 32, 128, 512, 2048) if flops_per_step(_config(w)) < 1.92e8)
    above = min(parameter_count(_config(w)) for w in (8, 32, 128, 512, 2048) if flops_per_step(_config(w)) > 1.92e8)
    assert below < cross.size < above
    assert v.crossover_cheaper.threshold == pytest.approx(2.5)


def test_nearest_measurement_when_no_model_can_be_fitted():
    runs = _runs(widths=(64,))  # one size per device: no fit
    v = verdict(_config(80), runs)
    assert v.basis == "nearest measurement"
    assert any("nearest measured configuration" in n for n in v.notes)
    assert v.speedup == pytest.approx(v.cpu.epoch_s / v.gpu.epoch_s)


def test_no_accelerator_runs_is_an_answer_saying_so():
    runs = _runs().filter(pl.col("platform") == "cpu")
    v = verdict(_config(100), runs)
    assert v.basis == "none" and v.speedup is None and v.faster is None
    assert "no ok runs on an accelerator" in v.describe()
    assert "Memory:" in v.describe()


def test_final_layer_preset_on_the_reference_data_is_a_labelled_prediction():
    runs = load_runs(["data/reference"]).frame.collect()
    v = verdict(preset_final_layer_200b(), runs)
    assert v.basis == "predicted" and v.faster == "gpu"
    assert v.gpu.device == "NVIDIA H200" and not v.gpu.memory.fits and v.gpu.memory.devices_needed >= 25
    assert v.gpu.prediction.extrapolation > 10
    text = v.describe()
    assert "Predicted, not measured" in text and "does not fit" in text and "extrapolated" in text


def test_measured_prefers_own_runs_over_reference_copies():
    cfg = _config(100)
    runs = records_to_frame([_record(cfg, "cpu", 0.004, "c-ref", source="reference"),
                             _record(cfg, "cpu", 0.004, "c-own"), _record(cfg, "gpu", 0.001, "g", "reference")])
    v = verdict(cfg, runs)
    assert v.cpu.run_ids == ("c-own",) and v.cpu.sources == ("local",) and v.gpu.sources == ("reference",)


def test_a_preset_is_never_scaled_from_a_small_measurement():
    runs = _runs(widths=(64,))  # one size per device: no model can be fitted
    v = verdict(preset_10b_network(), runs)
    assert v.basis == "none" and v.speedup is None
    assert any(n.startswith("No performance model for mlp float32 on Test GPU") for n in v.notes)
    assert any("needs runs at 2 or more distinct FLOP counts" in n for n in v.notes)


def test_one_device_alone_measured_or_predicted():
    runs = _runs().filter(pl.col("platform") == "cpu")
    measured = alone(_config(128), runs, "cpu", epochs=10)
    assert measured.prediction is None and measured.run_ids == ("cpu-128",) and measured.sources == ("local",)
    flops = flops_per_step(_config(128))
    assert measured.epoch_s == pytest.approx((CPU[0] + flops / CPU[1]) * _config(128).steps_per_epoch)
    assert measured.run_s == pytest.approx(0.51 + 10 * measured.epoch_s)
    predicted = alone(preset_10b_network(), runs, "cpu")
    assert predicted.prediction.is_prediction and "fitted on 5 mlp float32 runs" in predicted.prediction.describe()
    assert not predicted.memory.fits  # 160 GB against the test CPU's 8 GB
    assert alone(_config(128), runs, "gpu") is None


def test_analysis_core_imports_no_jax():
    import subprocess
    import sys

    modules = ["engine.answer.verdict", "engine.analysis.confidence", "engine.analysis.crossover", "engine.analysis.cost", "engine.analysis.perfmodel",
               "engine.analysis.memory", "engine.analysis.workload", "engine.analysis.pairing"]
    code = ("import importlib, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'streamlit', 'scipy')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
