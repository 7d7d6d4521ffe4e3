"""engine.answer.verdict, number by number: each path's times, fixed costs, speedups and choices
checked against values worked out by hand on small synthetic run logs (and the boundaries of its
words: exactly 1x, exactly equal times)."""

import dataclasses
import math

import polars as pl
import pytest

from engine.analysis.cost import Prices
from engine.analysis.pairing import config_key
from engine.analysis.workload import preset_10b_network
from engine.answer.verdict import Plan, _seconds, alone, choose_pair, scaling_efficiency, verdict
from engine.base.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from engine.base.counts import flops_per_step, parameter_count
from engine.base.hostinfo import host_name
from engine.runlog.store import records_to_frame

CPU = (1e-4, 1e11)  # overhead s/step, FLOP/s
GPU = (2e-3, 1e13)


def _config(width=100, samples=1024, batch=64, kind="mlp"):
    return RunConfig(model=ModelConfig(kind, width=width, depth=2), data=DataConfig(samples=samples),
                     train=TrainConfig(batch_size=batch))


def _record(cfg, platform, step_s, run_id, *, source="reference", compile_s=0.5, transfer_s=0.25,
            dataset_bytes=10**6, memory=8 * 10**9, kind=None, cores=4, host="box", count=1):
    steps = cfg.steps_per_epoch
    epoch = step_s * steps
    return {**config_key(cfg), "run_id": run_id, "status": "ok", "source": source, "platform": platform,
            "host": host, "device_kind": kind or ("cpu" if platform == "cpu" else "Test GPU"),
            "cpu_model": "Test CPU", "cpu_cores": cores, "device_memory_bytes": memory, "device_count": count,
            "params": parameter_count(cfg), "flops_per_step_analytic": flops_per_step(cfg), "steps_per_epoch": steps,
            "epochs": 10, "mode": "fused", "compile_s": compile_s, "transfer_s": transfer_s,
            "dataset_bytes": dataset_bytes, "epoch_times_s": [epoch * f for f in (0.99, 1.0, 1.01)],
            "epoch_s_median": epoch}


def _fitted_runs(widths=(8, 32, 128, 512, 2048), gpu_compile=2.0):
    records = []
    for w in widths:
        cfg = _config(w)
        f = flops_per_step(cfg)
        records.append(_record(cfg, "cpu", CPU[0] + f / CPU[1], f"cpu-{w}", compile_s=0.5, transfer_s=0.01,
                               dataset_bytes=10**6))
        records.append(_record(cfg, "gpu", GPU[0] + f / GPU[1], f"gpu-{w}", compile_s=gpu_compile, transfer_s=0.001,
                               dataset_bytes=10**6))
    return records_to_frame(records)


def test_predicted_sides_are_model_time_plus_median_compile_plus_transfer_at_the_measured_rate():
    runs = _fitted_runs()
    cfg = _config(1000)
    v = verdict(cfg, runs, Prices(0.1, 1.0), epochs=7)
    steps = cfg.steps_per_epoch
    f = flops_per_step(cfg)
    assert v.basis == "predicted"
    for side, (overhead, rate), compile_s, transfer_rate in ((v.cpu, CPU, 0.5, 1e6 / 0.01),
                                                            (v.gpu, GPU, 2.0, 1e6 / 0.001)):
        assert side.epoch_s == pytest.approx((overhead + f / rate) * steps, rel=1e-3)
        dataset_bytes = steps * cfg.train.batch_size * (784 * 4 + 4)  # float32 inputs + int32 labels
        assert side.fixed_s == pytest.approx(compile_s + dataset_bytes / transfer_rate, rel=1e-6)
        assert side.run_s == pytest.approx(side.fixed_s + 7 * side.epoch_s)
    assert v.speedup == pytest.approx(v.cpu.epoch_s / v.gpu.epoch_s)
    p_cpu, p_gpu = v.cpu.prediction, v.gpu.prediction
    assert (v.speedup_low, v.speedup_high) == pytest.approx((p_cpu.low / p_gpu.high, p_cpu.high / p_gpu.low))
    assert v.speedup_low <= v.speedup <= v.speedup_high
    assert v.speedup_end_to_end == pytest.approx(v.cpu.run_s / v.gpu.run_s)
    assert v.costs.cpu_run == pytest.approx(v.cpu.run_s / 3600 * 0.1)
    assert v.costs.gpu_run == pytest.approx(v.gpu.run_s / 3600 * 1.0)


def test_alone_predicts_with_the_same_fixed_seconds():
    runs = _fitted_runs()
    cfg = _config(1000)
    side = alone(cfg, runs, "gpu", epochs=3)
    v = verdict(cfg, runs, Prices(0.1, 1.0), epochs=3)
    assert side.prediction is not None
    assert (side.epoch_s, side.fixed_s, side.run_s) == pytest.approx((v.gpu.epoch_s, v.gpu.fixed_s, v.gpu.run_s))
    assert side.run_s == pytest.approx(side.fixed_s + 3 * side.epoch_s)
    assert side.sources == ("reference",) and set(side.run_ids) == {f"gpu-{w}" for w in (8, 32, 128, 512, 2048)}


def test_alone_measured_fixed_seconds_are_medians():
    cfg = _config(100)
    runs = records_to_frame([_record(cfg, "cpu", 0.01, "a", compile_s=1.0, transfer_s=0.1),
                             _record(cfg, "cpu", 0.01, "b", compile_s=3.0, transfer_s=0.3),
                             _record(cfg, "cpu", 0.01, "c", compile_s=2.0, transfer_s=0.2)])
    side = alone(cfg, runs, "cpu", epochs=4)
    assert side.fixed_s == pytest.approx(2.0 + 0.2)
    assert side.run_s == pytest.approx(2.2 + 4 * 0.01 * cfg.steps_per_epoch)


def test_nearest_measurement_scales_by_steps_and_keeps_the_measured_fixed_seconds():
    near = _config(64, samples=1024, batch=64)  # 16 steps per epoch
    runs = records_to_frame([_record(near, "cpu", 0.01, "c", compile_s=0.5, transfer_s=0.25),
                             _record(near, "gpu", 0.002, "g", compile_s=2.0, transfer_s=0.125)])
    job = _config(80, samples=4096, batch=64)  # 64 steps: 4x
    v = verdict(job, runs, Prices(0.1, 1.0), epochs=5)
    assert v.basis == "nearest measurement"
    assert v.cpu.epoch_s == pytest.approx(0.01 * 16 * 4) and v.gpu.epoch_s == pytest.approx(0.002 * 16 * 4)
    assert v.cpu.fixed_s == pytest.approx(0.75) and v.gpu.fixed_s == pytest.approx(2.125)
    assert v.cpu.run_s == pytest.approx(0.75 + 5 * 0.64) and v.gpu.run_s == pytest.approx(2.125 + 5 * 0.128)
    assert v.gpu.platform == "gpu" and v.cpu.platform == "cpu"
    assert any("x4" in n for n in v.notes)


@pytest.mark.parametrize("params_width, batch, samples, expected", [
    (70, 64, 1024, "w64"),  # nearest in parameters
    (64, 120, 1024, "b128"),  # same parameters: nearest in batch
    (64, 64, 7000, "s8192"),  # same parameters and batch: nearest in dataset size
])
def test_the_nearest_measurement_weighs_parameters_then_batch_then_dataset(params_width, batch, samples, expected):
    candidates = {"w64": _config(64, 1024, 64), "w512": _config(512, 1024, 64), "b128": _config(64, 1024, 128),
                  "s8192": _config(64, 8192, 64)}
    records = []
    for name, cfg in candidates.items():
        # Steps that get no slower with more FLOPs: no model can be fitted, so the nearest measurement answers.
        slow = 1.0 if name != "w512" else 0.9
        records += [_record(cfg, "cpu", 0.01 * slow, f"{name}-c"), _record(cfg, "gpu", 0.001 * slow, f"{name}-g")]
    job = _config(params_width, samples, batch)
    v = verdict(job, records_to_frame(records), Prices(0.1, 1.0), epochs=1)
    assert v.basis == "nearest measurement" and v.cpu.run_ids == (f"{expected}-c",)


def test_the_nearest_measurement_prefers_own_runs_at_equal_distance():
    cfg = _config(64)
    runs = records_to_frame([_record(cfg, "cpu", 0.01, "ref-c"), _record(cfg, "cpu", 0.02, "own-c", source="local"),
                             _record(cfg, "gpu", 0.001, "ref-g"), _record(cfg, "gpu", 0.002, "own-g", source="local")])
    v = verdict(_config(70), runs, Prices(0.1, 1.0), epochs=1)
    assert v.cpu.run_ids == ("own-c",) and v.gpu.run_ids == ("own-g",)


def _answered(cpu_step=0.004, gpu_step=0.001, spread=True):
    cfg = _config(100)
    runs = records_to_frame([_record(cfg, "cpu", cpu_step, "c"), _record(cfg, "gpu", gpu_step, "g")])
    return verdict(cfg, runs, Prices(0.1, 0.25), epochs=10)


def test_words_at_their_boundaries():
    v = _answered()
    assert v.faster == "gpu" and v.clear
    assert dataclasses.replace(v, speedup=1.0).faster == "same"
    assert dataclasses.replace(v, speedup=0.5).faster == "cpu"
    assert dataclasses.replace(v, speedup=1.5).faster == "gpu"
    assert dataclasses.replace(v, speedup=None).faster is None
    # clear: the interval lies strictly on one side of 1
    assert not dataclasses.replace(v, speedup_low=1.0, speedup_high=1.5).clear
    assert dataclasses.replace(v, speedup_low=1.01, speedup_high=1.5).clear
    assert not dataclasses.replace(v, speedup_low=0.5, speedup_high=1.0).clear
    assert dataclasses.replace(v, speedup_low=0.5, speedup_high=0.99).clear
    assert not dataclasses.replace(v, speedup_low=math.nan, speedup_high=math.nan).clear
    assert not dataclasses.replace(v, speedup_low=None).clear
    # the end-to-end interval needs an interval
    assert dataclasses.replace(v, speedup_low=None).end_to_end_interval is None
    assert dataclasses.replace(v, speedup_low=0.0).end_to_end_interval is None
    assert dataclasses.replace(v, speedup_high=math.inf).end_to_end_interval is None
    assert dataclasses.replace(v, costs=None).answer is None
    assert dataclasses.replace(v, gpu=None).answer is None
    # equal end-to-end times: the GPU is not faster, so no GPU is needed
    same = dataclasses.replace(v, gpu=dataclasses.replace(v.gpu, run_s=v.cpu.run_s), speedup_low=None,
                               speedup_high=None)
    assert same.answer == "no_gpu"
    infeasible = dataclasses.replace(v, cpu=dataclasses.replace(v.cpu, feasible=False))
    assert infeasible.faster == "gpu" and infeasible.cheaper == "gpu" and infeasible.answer == "gpu_needed"
    lo, hi = v.end_to_end_interval
    c, g, e = v.cpu, v.gpu, v.epochs
    assert lo == pytest.approx((c.fixed_s + e * c.epoch_s) / (g.fixed_s + e * c.epoch_s / v.speedup_low))
    assert hi == pytest.approx((c.fixed_s + e * c.epoch_s) / (g.fixed_s + e * c.epoch_s / v.speedup_high))


def test_the_text_of_each_answer():
    v = _answered()
    text = v.describe()
    lines = text.split("\n")
    assert lines[0] == "MLP 784-100x2-10: 89,610 parameters, batch 64, 1,024 samples, float32."
    assert lines[1].startswith("Measured: the GPU (Test GPU) is 4x faster than the CPU (CPU: Test CPU (4 cores)) "
                               "per epoch (95% CI over one run's epochs only ")
    assert any(line.startswith("10 epochs with compile and transfer: CPU ") for line in lines)
    assert any(line.startswith("Memory: parameters ") for line in lines)
    assert v.amortization.describe()[1:] in text and v.amortization.describe()[0].upper() in text
    assert "Rests on 2 runs." in lines
    slower = _answered(cpu_step=0.001, gpu_step=0.004)
    assert "Measured: the CPU (CPU: Test CPU (4 cores)) is 4x faster than the GPU (Test GPU) per epoch " \
           "(speedup 0.25x)" in slower.describe()
    wide = dataclasses.replace(v, speedup_low=0.5, speedup_high=8.0)
    assert "the interval includes 1, so neither is clearly faster" in wide.describe()
    assert "the interval includes 1" not in text
    equal = dataclasses.replace(v, speedup=1.0)
    assert "the CPU and the GPU are equally fast per epoch" in equal.describe()
    none = verdict(_config(100), records_to_frame([_record(_config(100), "cpu", 0.01, "c")]), Prices(0.1, 1.0), 1)
    assert none.describe().split("\n")[1] == "No answer yet: no ok runs on an accelerator."
    assert none.describe().split("\n")[2].startswith("Memory: parameters ")


@pytest.mark.parametrize("seconds, shown", [(59.9, "59.9 s"), (60, "1 min"), (3599, "60 min"), (3600, "1 h"),
                                            (86_399, "24 h"), (86_400, "1 days"), (2 * 86_400, "2 days")])
def test_durations_in_the_text(seconds, shown):
    assert _seconds(seconds) == shown


def test_named_devices_that_did_not_run_give_no_answer_and_say_so():
    runs = _fitted_runs()
    v = verdict(_config(100), runs, Prices(0.1, 1.0), 1, gpu_device="Other GPU")
    assert v.basis == "none" and "no ok runs on an accelerator named Other GPU." in v.notes


def test_choose_pair_prefers_the_jobs_kind_then_own_host_then_price_then_local():
    cnn, mlp = _config(16, kind="cnn"), _config(100)
    gpu = _record(mlp, "gpu", 0.001, "g", host="gpu-box", kind="Test GPU")
    other_kind = _record(cnn, "cpu", 0.01, "cnn-cpu", cores=64, host="elsewhere")
    same_kind = _record(mlp, "cpu", 0.01, "mlp-cpu", cores=2, host="laptop")
    runs = records_to_frame([gpu, other_kind, same_kind])
    assert choose_pair(runs, "mlp") == ("CPU: Test CPU (2 cores)", "Test GPU")  # a CPU that ran the kind
    assert choose_pair(runs, "cnn") == ("CPU: Test CPU (64 cores)", "Test GPU")
    # Two CPUs of the kind, neither on the GPU's host: the one closest in price to the GPU.
    runs = records_to_frame([gpu, _record(mlp, "cpu", 0.01, "a", cores=2, host="a"),
                             _record(mlp, "cpu", 0.01, "b", cores=32, host="b"),
                             _record(mlp, "cpu", 0.01, "b2", cores=32, host="b")])
    facts = pl.DataFrame({"device": ["CPU: Test CPU (2 cores)", "CPU: Test CPU (32 cores)", "Test GPU"],
                          "usd_per_hour": [0.08, 1.3, 1.0]})
    assert choose_pair(runs, "mlp", facts=facts)[0] == "CPU: Test CPU (32 cores)"
    facts = facts.with_columns(pl.Series("usd_per_hour", [0.9, 1.3, 1.0]))
    assert choose_pair(runs, "mlp", facts=facts)[0] == "CPU: Test CPU (2 cores)"
    # Without prices: the CPU with the most runs; a named CPU that never ran: none.
    assert choose_pair(runs, "mlp")[0] == "CPU: Test CPU (32 cores)"
    assert choose_pair(runs, "mlp", cpu_device="CPU: Nowhere (1 cores)")[0] is None


def test_a_device_with_local_runs_is_chosen_before_one_with_more_runs():
    mlp = _config(100)
    runs = records_to_frame([_record(mlp, "gpu", 0.001, f"g{i}", kind="Busy GPU") for i in range(3)]
                            + [_record(mlp, "gpu", 0.001, "mine", kind="My GPU", source="local",
                                       host=host_name()),
                               _record(mlp, "cpu", 0.01, "c")])
    assert choose_pair(runs, "mlp")[1] == "My GPU"


def test_runs_with_no_time_are_left_out():
    cfg = _config(100)
    zero = {**_record(cfg, "gpu", 0.001, "zero", kind="Zero GPU"), "epoch_s_median": 0.0}
    runs = records_to_frame([_record(cfg, "cpu", 0.01, "c"), zero, _record(cfg, "gpu", 0.001, "g")])
    assert choose_pair(runs, "mlp")[1] == "Test GPU"


def test_scaling_efficiency_is_measured_where_multi_device_runs_exist():
    cfg = _config(100, batch=64)
    one = _record(cfg, "gpu", 0.001, "one", kind="Small GPU", memory=10**9)
    two = {**_record(cfg, "gpu", 0.001 / 1.5, "two", kind="Small GPU", memory=10**9, count=2),
           "mesh_shape": "data=2", "devices_emulated": False}
    other = {**_record(cfg, "gpu", 0.001 / 1.9, "other", kind="Other GPU", count=2), "mesh_shape": "data=2",
             "devices_emulated": False}
    runs = records_to_frame([one, two, other, _record(cfg, "cpu", 0.01, "c", memory=10**12)])
    efficiency, basis = scaling_efficiency(runs, "Small GPU")
    assert efficiency == pytest.approx(0.75, rel=1e-3) and basis == "measured on 2-device runs of Small GPU"
    assert scaling_efficiency(runs, "No GPU")[1].startswith("assumed")


def test_a_plan_divides_the_time_and_keeps_the_speedups_consistent():
    runs = _fitted_runs()
    # A CPU with room (1 TB) and a GPU that needs several devices for the 10 B preset.
    runs = runs.with_columns(pl.when(pl.col("platform") == "cpu").then(10**12).otherwise(16 * 10**9)
                             .alias("device_memory_bytes"))
    v = verdict(preset_10b_network(), runs, Prices(0.1, 1.0), epochs=2)
    n = v.gpu.devices
    assert n == math.ceil(v.memory.total_bytes / (16 * 10**9)) and isinstance(v.gpu.plan, Plan) and v.cpu.feasible
    one = v.gpu.prediction.seconds_per_epoch
    assert v.gpu.epoch_s == pytest.approx(one / (n * v.gpu.plan.efficiency))
    assert v.gpu.run_s == pytest.approx(v.gpu.fixed_s + 2 * v.gpu.epoch_s)
    assert v.speedup == pytest.approx(v.cpu.epoch_s / v.gpu.epoch_s)  # the plan's speedup, not one device's
    assert v.speedup_low < v.speedup < v.speedup_high
    assert v.costs.gpu_run == pytest.approx(v.gpu.run_s / 3600 * n * 1.0)
    assert any(f"planned on {n} x Test GPU" in note for note in v.notes)


def test_a_model_missing_on_one_device_names_that_device_and_why():
    runs = _fitted_runs().filter(~((pl.col("platform") == "gpu") & (pl.col("run_id") != "gpu-8")))
    v = verdict(preset_10b_network(), runs, Prices(0.1, 1.0), 1)
    assert v.basis == "none"
    assert any(n.startswith("No performance model for mlp float32 on Test GPU: needs runs at 2 or more") for n in v.notes)
    assert not any(n.startswith("No performance model for mlp float32 on CPU") for n in v.notes)


def test_missing_compile_and_transfer_times_count_as_nothing():
    cfg = _config(100)
    bare = {"compile_s": None, "transfer_s": None}
    measured = records_to_frame([{**_record(cfg, "cpu", 0.01, "c"), **bare}, {**_record(cfg, "gpu", 0.001, "g"), **bare}])
    v = verdict(cfg, measured, Prices(0.1, 1.0), 2)
    assert v.basis == "measured" and v.cpu.fixed_s == 0.0 and v.gpu.fixed_s == 0.0
    assert v.cpu.run_s == pytest.approx(2 * 0.01 * cfg.steps_per_epoch)
    near = verdict(_config(80), measured, Prices(0.1, 1.0), 2)
    assert near.basis == "nearest measurement" and near.cpu.fixed_s == 0.0 and near.gpu.fixed_s == 0.0
    side = alone(cfg, measured, "cpu", 2)
    assert side.fixed_s == 0.0 and side.run_s == pytest.approx(2 * 0.01 * cfg.steps_per_epoch)
    fitted = _fitted_runs().with_columns(pl.lit(None, pl.Float64).alias("compile_s"),
                                         pl.lit(None, pl.Float64).alias("transfer_s"))
    predicted = verdict(_config(1000), fitted, Prices(0.1, 1.0), 2)
    assert predicted.basis == "predicted" and predicted.cpu.fixed_s == 0.0 and predicted.gpu.fixed_s == 0.0


def test_noisy_means_an_iqr_over_ten_percent_of_the_median():
    cfg = _config(100)
    epoch = 0.001 * cfg.steps_per_epoch

    def notes(iqr_fraction):
        gpu = {**_record(cfg, "gpu", 0.001, "g"), "epoch_s_iqr": iqr_fraction * epoch}
        runs = records_to_frame([_record(cfg, "cpu", 0.01, "c"), _record(cfg, "cpu", 0.01, "c2"), gpu,
                                 {**gpu, "run_id": "g2"}])
        return [n for n in verdict(cfg, runs, Prices(0.1, 1.0), 1).notes if "noisy" in n]

    assert notes(0.15) and not notes(0.10) and not notes(0.05)


def test_an_approximate_workload_says_so_and_a_config_does_not():
    runs = _fitted_runs()
    preset = verdict(preset_10b_network(), runs, Prices(0.1, 1.0), 1)
    assert any(n.startswith("The workload is an approximation: a 4-hidden-layer MLP") for n in preset.notes)
    config = verdict(_config(1000), runs, Prices(0.1, 1.0), 1)
    assert not any("approximation" in n for n in config.notes)


def test_the_nearest_measurement_weights_by_hand():
    from engine.analysis.workload import from_config
    from engine.answer.verdict import nearest

    job = from_config(_config(64, samples=2048, batch=64))
    # distance = |ln params| + 0.5 |ln batch| + 0.25 |ln samples| (ratios to the job's)
    candidates = {"batch x2": (job.params, 128, 2048),  # 0.5 ln 2 = 0.347
                  "samples x5": (job.params, 64, 10240),  # 0.25 ln 5 = 0.402
                  "samples x3.5": (job.params, 64, 7168),  # 0.25 ln 3.5 = 0.313
                  "params x1.1": (int(job.params * 1.1), 64, 2048)}  # ln 1.1 = 0.095

    def pick(*names, local=()):
        frame = pl.DataFrame({"name": list(names), "params": [candidates[n][0] for n in names],
                              "batch_size": [candidates[n][1] for n in names],
                              "dataset_size": [candidates[n][2] for n in names],
                              "cpu_source": ["local" if n in local else "reference" for n in names],
                              "gpu_source": ["reference"] * len(names)})
        return nearest(frame, job)["name"]

    assert pick("batch x2", "samples x5") == "batch x2"
    assert pick("batch x2", "samples x3.5") == "samples x3.5"
    assert pick("batch x2", "params x1.1") == "params x1.1"
    assert pick("samples x5", "params x1.1") == "params x1.1"
    candidates.update({"params x0.5": (job.params // 2, 64, 2048), "params x1.2": (int(job.params * 1.2), 64, 2048)})
    assert pick("params x0.5", "params x1.2") == "params x1.2"  # |ln 0.5| = 0.69 > |ln 1.2| = 0.18
    assert pick("samples x3.5", "samples x3.5", local=()) == "samples x3.5"


def test_the_fair_cpu_ran_the_jobs_kind_before_it_shares_the_host():
    cnn, mlp = _config(16, kind="cnn"), _config(100)
    runs = records_to_frame([_record(mlp, "gpu", 0.001, "g", host="gpu-box"),
                             _record(cnn, "cpu", 0.01, "host-cnn", host="gpu-box"),  # the GPU's own host
                             _record(mlp, "cpu", 0.01, "laptop-mlp", host="laptop", cores=2)])
    assert choose_pair(runs, "mlp")[0] == "CPU: Test CPU (2 cores)"
    # An accelerator missing from the price table: no price to be close to; the runs decide.
    facts = pl.DataFrame({"device": ["CPU: Test CPU (2 cores)", "CPU: Test CPU (16 cores)"],
                          "usd_per_hour": [0.08, 0.65]})
    runs = records_to_frame([_record(mlp, "gpu", 0.001, "g", host="gpu-box"),
                             _record(mlp, "cpu", 0.01, "a", host="a", cores=2),
                             _record(mlp, "cpu", 0.01, "b", host="b", cores=16),
                             _record(mlp, "cpu", 0.01, "b2", host="b", cores=16)])
    assert choose_pair(runs, "mlp", facts=facts)[0] == "CPU: Test CPU (16 cores)"


def test_runs_with_no_time_never_become_a_device_or_a_side():
    cfg = _config(100)
    zero = {**_record(cfg, "gpu", 0.001, "zero", kind="A Zero GPU"), "epoch_s_median": 0.0}
    runs = records_to_frame([_record(cfg, "cpu", 0.01, "c"), zero, _record(cfg, "gpu", 0.001, "g")])
    assert choose_pair(runs, "mlp")[1] == "Test GPU"
    assert alone(cfg, runs, "gpu", 1).device == "Test GPU"
    only_zero = records_to_frame([{**_record(cfg, "cpu", 0.01, "c"), "epoch_s_median": 0.0}])
    assert alone(cfg, only_zero, "cpu", 1) is None
