"""The Overview's answer: one rule for the verdict word, applied to the numbers shown beside it;
plans for jobs that do not fit one device; the fair CPU; physical memory; prices per device."""

import math

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.analysis.cost import Prices
from engine.analysis.pairing import config_key
from engine.analysis.prices import device_prices, load_table, price_for
from engine.analysis.workload import preset_10b_network, preset_final_layer_200b
from engine.answer import explain
from engine.answer.verdict import ASSUMED_SCALING_EFFICIENCY, choose_pair, verdict
from engine.base.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from engine.base.counts import flops_per_step, parameter_count
from engine.base.hostinfo import host_name
from engine.runlog.store import records_to_frame

WORDS = {"no_gpu": "No GPU needed", "worth_it": "A GPU is worth it", "time_not_money": "A GPU saves time, not money",
         "no_clear_difference": "No clear difference", "gpu_needed": "You need a GPU"}


def _config(width=100, samples=1024, batch=64):
    return RunConfig(model=ModelConfig("mlp", width=width, depth=2), data=DataConfig(samples=samples),
                     train=TrainConfig(batch_size=batch))


def _record(cfg, platform, step_s, run_id, *, host="box", cpu_model="Test CPU", cores=4, spread=0.02,
            compile_s=0.5, memory=16 * 10**9, kind=None):
    steps = cfg.steps_per_epoch
    epoch = step_s * steps
    return {**config_key(cfg), "run_id": run_id, "status": "ok", "source": "reference", "platform": platform,
            "host": host, "device_kind": kind or ("cpu" if platform == "cpu" else "Test GPU"), "cpu_model": cpu_model,
            "cpu_cores": cores, "device_memory_bytes": memory, "params": parameter_count(cfg),
            "flops_per_step_analytic": flops_per_step(cfg), "steps_per_epoch": steps, "epochs": 10, "mode": "fused",
            "compile_s": compile_s, "transfer_s": 0.0, "dataset_bytes": 10**6,
            "epoch_times_s": [epoch * (1 - spread), epoch, epoch * (1 + spread)], "epoch_s_median": epoch}


@settings(max_examples=60, deadline=None)
@given(cpu_step=st.floats(1e-4, 1e-1), ratio=st.floats(0.05, 50), gpu_compile=st.floats(0.0, 30.0),
       cpu_price=st.floats(0.01, 5.0), gpu_price=st.floats(0.05, 20.0), epochs=st.integers(1, 500),
       spread=st.sampled_from([0.0, 0.01, 0.3]))
def test_the_verdict_word_agrees_with_the_numbers_it_shows(cpu_step, ratio, gpu_compile, cpu_price, gpu_price,
                                                         epochs, spread):
    """On a grid of measured jobs: the word follows from the end-to-end times and costs, by hand."""
    cfg = _config()
    runs = records_to_frame([_record(cfg, "cpu", cpu_step, "c", spread=spread, compile_s=0.2),
                             _record(cfg, "gpu", cpu_step / ratio, "g", spread=spread, compile_s=gpu_compile)])
    v = verdict(cfg, runs, Prices(cpu_price, gpu_price), epochs)
    steps = cfg.steps_per_epoch
    cpu_total = 0.2 + epochs * cpu_step * steps
    gpu_total = gpu_compile + epochs * cpu_step / ratio * steps
    assert v.cpu.run_s == pytest.approx(cpu_total) and v.gpu.run_s == pytest.approx(gpu_total)
    cpu_cost, gpu_cost = cpu_total / 3600 * cpu_price, gpu_total / 3600 * gpu_price
    low, high = v.end_to_end_interval
    if low <= 1 <= high:
        expected = "no_clear_difference"
    elif gpu_total >= cpu_total:
        expected = "no_gpu"
    elif gpu_cost > cpu_cost * 1.005:
        expected = "time_not_money"
    else:
        expected = "worth_it"
    assert v.answer == expected
    level, text = explain.headline(v, v.prices)
    assert text.startswith(f"**{WORDS[expected]}**")
    if expected == "no_gpu":
        assert gpu_total >= cpu_total
    if expected in ("worth_it", "time_not_money"):
        assert not low <= 1 <= high and gpu_total < cpu_total


def test_an_interval_around_one_says_no_clear_difference():
    cfg = _config()
    runs = records_to_frame([_record(cfg, "cpu", 0.01, "c", spread=0.3), _record(cfg, "gpu", 0.0098, "g", spread=0.3,
                                                                                 compile_s=0.2)])
    v = verdict(cfg, runs, Prices(0.1, 0.1), 10)
    assert v.answer == "no_clear_difference"
    assert explain.headline(v, v.prices)[1].startswith("**No clear difference**")


def _reference_like():
    """A GPU on host 'gpu-box' with its own 16-core CPU there, and a 2-core CPU elsewhere (more runs)."""
    records = []
    for w in (8, 32, 128, 512, 2048):
        cfg = _config(w)
        f = flops_per_step(cfg)
        records += [_record(cfg, "cpu", 1e-4 + f / 1e11, f"small-{w}", host="laptop", cpu_model="Small", cores=2),
                    _record(cfg, "cpu", 1e-4 + f / 5e11, f"host-{w}", host="gpu-box", cpu_model="Big", cores=16),
                    _record(cfg, "gpu", 2e-3 + f / 1e13, f"gpu-{w}", host="gpu-box", cpu_model="Big", cores=16,
                            kind="NVIDIA H200", memory=112 * 10**9)]
    records.append(_record(_config(4), "cpu", 1e-4, "small-extra", host="laptop", cpu_model="Small", cores=2))
    return records_to_frame(records)


def test_the_default_cpu_is_the_gpus_own_host_and_the_choice_changes_the_answer():
    runs = _reference_like()
    cpu, gpu = choose_pair(runs, "mlp")
    assert (cpu, gpu) == ("CPU: Big (16 cores)", "NVIDIA H200")
    cfg = _config(2048)
    own = verdict(cfg, runs, Prices(0.65, 4.54), 10, cpu_device=cpu, gpu_device=gpu)
    small = verdict(cfg, runs, Prices(0.08, 4.54), 10, cpu_device="CPU: Small (2 cores)", gpu_device=gpu)
    assert own.cpu.device == "CPU: Big (16 cores)" and small.cpu.device == "CPU: Small (2 cores)"
    assert small.speedup == pytest.approx(5 * own.speedup, rel=0.05)  # the big CPU is 5x the small one
    assert own.cpu.device in explain.headline(own, own.prices)[1]


def test_memory_is_the_cards_physical_memory_from_the_price_table():
    runs = _reference_like()
    facts = device_prices(runs.with_columns(pl.lit(None, pl.String).alias("device")).drop("device")
                          .pipe(lambda f: f.with_columns(
                              pl.when(pl.col("platform") == "cpu")
                              .then(pl.format("CPU: {} ({} cores)", "cpu_model", "cpu_cores"))
                              .otherwise(pl.col("device_kind")).alias("device"))), load_table())
    h200 = facts.filter(pl.col("device") == "NVIDIA H200").row(0, named=True)
    assert h200["physical_memory_bytes"] == 141 * 10**9  # the card, not the allocator's 112 GB share
    v = verdict(preset_10b_network(), runs, Prices(0.65, 4.54), 10, facts=facts)
    assert v.gpu.memory.device_memory_bytes == 141 * 10**9


def test_a_job_too_big_for_one_gpu_is_a_plan_and_a_cpu_that_cannot_hold_it_says_so():
    runs = _reference_like()
    w = preset_final_layer_200b()  # ~3.3 TB with Adam
    v = verdict(w, runs, Prices(0.65, 4.54), 10)
    need = math.ceil(v.memory.total_bytes / (112 * 10**9))
    assert v.gpu.devices == need and v.gpu.plan.efficiency == ASSUMED_SCALING_EFFICIENCY
    assert "assumed" in v.gpu.plan.efficiency_basis
    one = v.gpu.prediction.seconds_per_epoch
    assert v.gpu.epoch_s == pytest.approx(one / (need * ASSUMED_SCALING_EFFICIENCY))
    assert v.costs.gpu_run == pytest.approx(v.gpu.run_s / 3600 * 4.54 * need)  # N x the price
    assert not v.cpu.feasible and v.answer == "gpu_needed"
    text = explain.headline(v, v.prices)[1]
    assert text.startswith("**You need a GPU**") and f"{need} x NVIDIA H200" in text and "days" not in text


def test_price_table_prices_every_reference_device_and_rejects_bad_rows(tmp_path):
    from engine.analysis.pairing import device_label
    from engine.runlog.store import load_runs

    table = load_table()
    runs = load_runs(["data/reference"]).frame.collect().with_columns(device_label())
    facts = device_prices(runs, table)
    assert facts["usd_per_hour"].null_count() == 0 and facts.height == runs["device"].n_unique()
    assert price_for(table, "cpu", "cpu", 16).usd_per_hour == pytest.approx(16 * price_for(table, "cpu", "cpu",
                                                                                          1).usd_per_hour)
    bad = tmp_path / "prices.csv"
    header = "platform,device_kind,unit,usd_per_hour,memory_gb,offer,source,source_date\n"
    for row, field in (("gpu,X,device,-1,80,o,s,2026-01-01", "usd_per_hour"),
                       ("gpu,X,hour,1,80,o,s,2026-01-01", "unit"),
                       ("gpu,X,device,1,80,o,s,January", "source_date")):
        bad.write_text(header + row + "\n")
        with pytest.raises(ValueError, match=field):
            load_table(bad)


@pytest.mark.parametrize("value, low, high, shown", [
    (15.52, 5.5, 44.0, "20x"), (108.3, 104.0, 113.0, "108x"), (2.69, 2.3, 3.1, "2.7x"), (1.337, None, None, "1.34x"),
    (1224.4, None, None, "1,220x"), (2.6932, 2.68, 2.70, "2.69x"), (0.5, 0.1, 2.0, "0.5x"), (None, None, None, "n/a"),
])
def test_ratios_carry_only_the_digits_their_interval_supports(value, low, high, shown):
    from engine.base import fmt

    assert fmt.ratio(value, low, high) == shown


def _mine_and_reference(local_cpu_step: float, spread: float = 0.01, my_host: str | None = None):
    """One configuration measured on the same CPU by you (local, on this machine unless `my_host`) and in the
    shipped reference, and on a GPU."""
    cfg = _config()
    run = (0.98, 1.0, 1.02)  # whole runs a little faster or slower, as on a real machine
    records = [_record(cfg, "cpu", 0.010 * run[i], f"ref-cpu-{i}", spread=spread) for i in range(3)]
    records += [{**_record(cfg, "cpu", local_cpu_step * run[i], f"my-cpu-{i}", spread=spread,
                           host=my_host or host_name()), "source": "local"} for i in range(3)]
    records += [_record(cfg, "gpu", 0.001 * run[i], f"gpu-{i}", spread=spread) for i in range(3)]
    return cfg, records_to_frame(records)


def test_own_runs_that_disagree_with_the_reference_are_said_and_set_aside_unless_chosen():
    cfg, runs = _mine_and_reference(local_cpu_step=0.020)  # your CPU runs are twice as slow
    v = verdict(cfg, runs, Prices(0.1, 1.0), 10)
    assert v.cpu.sources == ("reference",) and v.speedup == pytest.approx(10, rel=0.05)
    assert any("disagree with the reference runs beyond their intervals" in n for n in v.notes)
    mine = verdict(cfg, runs, Prices(0.1, 1.0), 10, runs_choice="mine")
    assert mine.cpu.sources == ("local",) and mine.speedup == pytest.approx(20, rel=0.05)
    assert not any("disagree" in n for n in mine.notes)
    with pytest.raises(ValueError, match="runs_choice"):
        verdict(cfg, runs, Prices(0.1, 1.0), 10, runs_choice="theirs")


def test_own_runs_that_agree_are_used():
    cfg, runs = _mine_and_reference(local_cpu_step=0.0101, spread=0.05)  # within the epochs' spread
    v = verdict(cfg, runs, Prices(0.1, 1.0), 10)
    assert v.cpu.sources == ("local",) and not any("disagree" in n for n in v.notes)
    ref = verdict(cfg, runs, Prices(0.1, 1.0), 10, runs_choice="reference")
    assert ref.cpu.sources == ("reference",)


def test_own_runs_from_another_machine_are_a_device_of_their_own():
    """Local runs pool only with runs of the same host: runs of this CPU model made on another machine are
    not this machine's runs, nor the reference's; they are named by their host and never mixed in."""
    cfg, runs = _mine_and_reference(local_cpu_step=0.020, my_host="other-box")
    v = verdict(cfg, runs, Prices(0.1, 1.0), 10)
    assert v.cpu.sources == ("reference",) and v.speedup == pytest.approx(10, rel=0.05)
    assert not any("disagree" in n for n in v.notes)
    theirs = verdict(cfg, runs, Prices(0.1, 1.0), 10, cpu_device="CPU: Test CPU (4 cores) on other-box")
    assert theirs.cpu.sources == ("local",) and theirs.speedup == pytest.approx(20, rel=0.05)


def test_a_single_or_noisy_run_is_flagged():
    cfg = _config()
    noisy = {**_record(cfg, "gpu", 0.001, "g"), "epoch_s_iqr": 0.5 * 0.001 * cfg.steps_per_epoch}
    runs = records_to_frame([_record(cfg, "cpu", 0.01, "c"), noisy])
    v = verdict(cfg, runs, Prices(0.1, 1.0), 10)
    assert any("CPU side rests on a single run (c)" in n for n in v.notes)
    assert any("1 of the accelerator side's 1 runs were noisy" in n for n in v.notes)
    calm = records_to_frame([_record(cfg, "cpu", 0.01, f"c{i}") for i in range(2)]
                            + [{**_record(cfg, "gpu", 0.001, f"g{i}"), "epoch_s_iqr": 0.0} for i in range(2)])
    assert not verdict(cfg, calm, Prices(0.1, 1.0), 10).notes


def test_price_table_rows_at_their_edges(tmp_path):
    path = tmp_path / "prices.csv"
    header = "platform,device_kind,unit,usd_per_hour,memory_gb,offer,source,source_date\n"
    good = "gpu,G,device,1.5,0.5,o,s,2026-01-01\n"
    path.write_text(header + good)
    table = load_table(path)
    assert price_for(table, "gpu", "G", None).memory_bytes == 500_000_000  # half a GB is a size
    assert price_for(table, "gpu", "other", None) is None
    assert price_for(table, "cpu", "cpu", 4) is None  # no per-vCPU row
    for row, message in (("gpu,G,device,0,80,o,s,2026-01-01", "line 3: usd_per_hour=0.0"),
                         ("gpu,G,device,1,0,o,s,2026-01-01", "line 3: memory_gb=0.0"),
                         ("gpu,,device,1,80,o,s,2026-01-01", "line 3: platform, device_kind and source"),
                         (",G,device,1,80,o,s,2026-01-01", "line 3: platform, device_kind and source"),
                         ("gpu,G,device,1,80,o,,2026-01-01", "line 3: platform, device_kind and source")):
        path.write_text(header + good + row + "\n")
        with pytest.raises(ValueError, match=message):
            load_table(path)
    path.write_text(header + "cpu,cpu,vcpu,0.05,,o,s,2026-01-01\n")
    cpus = load_table(path)
    assert price_for(cpus, "cpu", "cpu", 0) is None and price_for(cpus, "cpu", "cpu", 2).usd_per_hour == 0.1


def test_a_device_without_table_memory_keeps_what_its_runs_recorded():
    runs = records_to_frame([_record(_config(), "gpu", 0.001, "g", kind="Unknown GPU", memory=7 * 10**9)])
    facts = device_prices(runs, load_table())
    row = facts.row(0, named=True)
    assert row["usd_per_hour"] is None and row["price_basis"] == "not in the price table"
    assert row["physical_memory_bytes"] == 7 * 10**9
