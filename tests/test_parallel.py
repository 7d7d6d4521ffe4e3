"""Data-parallel training (engine.measure.parallel) on 4 emulated CPU devices, and the records it leaves.

Several CPU devices exist only in a process that asks for them before importing jax, so the
multi-device work runs in subprocesses (fixtures `emulated_env`, `emulated_scaling_runs` in
tests/conftest.py); this process has one CPU device, which the refusals below rely on.
"""

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

import engine.measure.bench as bench
from engine.base.config import (
    BenchConfig,
    ConfigError,
    DataConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
    with_device_count,
)
from engine.cli import main
from engine.runlog import store

REPO = Path(__file__).resolve().parents[1]

# One epoch of a tiny MLP on a mesh of 1 and of 4 devices, fused and per-step, from the same
# initial weights and data; prints the parameters, the shardings seen, and a control: training on
# ONE device's quarter of each batch (what a step without the cross-device gradient reduction
# would learn from), which must land measurably elsewhere, or the comparison could not tell.
EQUIVALENCE = r"""
import json
import jax, numpy as np
from engine.measure import parallel
from engine.base.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from engine.measure.data import make_dataset, split_batches
from engine.measure.train import init_state, make_fused_epoch, make_train_step, run_per_step_epoch

config = RunConfig(ModelConfig("mlp", width=32, depth=2), DataConfig(samples=256, input_shape=(12,), n_classes=4),
                   TrainConfig(batch_size=32, learning_rate=1e-2))
batches = split_batches(make_dataset(config), config.train.batch_size)

def one_epoch(n, mode, xs=batches.x, ys=batches.y):
    dp = parallel.data_parallel(jax.devices("cpu")[:n])
    state, static = init_state(config, jax.random.key(0))
    step = make_train_step(config, static)
    state = parallel.put_state(state, dp)
    data = parallel.put_batches(xs, ys, dp, mode)
    seen = {"devices": dp.device_count, "mesh_shape": parallel.describe(dp)}
    x0 = data[0] if mode == "fused" else data[0][0]
    seen["x_shard_rows"] = sorted({s.data.shape[1 if mode == "fused" else 0] for s in x0.addressable_shards})
    seen["x_devices"] = len({s.device for s in x0.addressable_shards})
    if mode == "fused":
        epoch = parallel.jit_epoch(make_fused_epoch(step), dp).lower(state, *data).compile()
        state, losses = epoch(state, *data)
    else:
        compiled = parallel.jit_step(step, dp).lower(state, parallel.batch_shapes(xs, ys, dp)).compile()
        state, losses = run_per_step_epoch(compiled, state, data)
    leaves = jax.tree_util.tree_leaves(state.params)
    seen["params_replicated"] = all(a.sharding.is_fully_replicated and len(a.sharding.device_set) == n
                                    for a in leaves)
    seen["params"] = [np.asarray(a).ravel().tolist() for a in leaves]
    seen["loss_mean"] = float(np.mean(np.asarray(losses)))
    return seen

out = {f"{n}-{mode}": one_epoch(n, mode) for n in (1, 4) for mode in ("fused", "per_step")}
quarter = config.train.batch_size // 4
out["local-quarter"] = one_epoch(1, "fused", batches.x[:, :quarter], batches.y[:, :quarter])
out["jax_devices"] = len(jax.devices("cpu"))
print(json.dumps(out))
"""


def _max_abs_diff(a: list, b: list) -> float:
    return max(abs(x - y) for leaf_a, leaf_b in zip(a, b) for x, y in zip(leaf_a, leaf_b))


@pytest.fixture(scope="module")
def equivalence(emulated_env):
    done = subprocess.run([sys.executable, "-c", EQUIVALENCE], cwd=REPO, env=emulated_env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_subprocess_has_four_devices(equivalence):
    assert equivalence["jax_devices"] == 4


@pytest.mark.parametrize("mode", ["fused", "per_step"])
def test_one_epoch_on_four_devices_gives_the_one_device_parameters(equivalence, mode):
    one, four = equivalence[f"1-{mode}"], equivalence[f"4-{mode}"]
    assert four["devices"] == 4 and four["mesh_shape"] == "data=4"
    assert four["x_devices"] == 4 and four["x_shard_rows"] == [32 // 4]  # the batch really is split
    assert one["x_devices"] == 1 and one["x_shard_rows"] == [32]
    assert four["params_replicated"] and one["params_replicated"]
    assert _max_abs_diff(one["params"], four["params"]) < 1e-5
    assert four["loss_mean"] == pytest.approx(one["loss_mean"], rel=1e-5)


def test_without_the_gradient_reduction_parameters_would_differ(equivalence):
    """The control: one device's quarter of each batch trains elsewhere, far beyond the tolerance above."""
    assert _max_abs_diff(equivalence["1-fused"]["params"], equivalence["local-quarter"]["params"]) > 1e-3


# --- the records of `python -m engine run --device-counts 1,2,4` -------------------------------


@pytest.fixture(scope="module")
def scaling_records(emulated_scaling_runs):
    loaded = store.load_runs([emulated_scaling_runs])
    assert not loaded.skipped
    return loaded.frame.collect().sort("device_count")


def test_records_say_device_count_and_mesh(scaling_records):
    r = scaling_records
    assert r["status"].to_list() == ["ok"] * 3, r["error"].to_list()
    assert r["device_count"].to_list() == [1, 2, 4]
    assert r["mesh_shape"].to_list() == ["data=1", "data=2", "data=4"]
    assert r["devices_emulated"].to_list() == [False, True, True]  # several CPU devices share its cores
    assert r["platform"].to_list() == ["cpu"] * 3 and r["batch_size"].to_list() == [16] * 3
    assert (r["samples_per_s"] > 0).all() and (r["flops_per_step_xla"] > 0).all()
    assert (r["transfer_s"] >= 0).all() and (r["compile_s"] > 0).all()


def test_records_trained_the_same_network(scaling_records):
    """Same seed, same data, gradients reduced over the devices: every N walks the same losses."""
    first, last = scaling_records["loss_first"].to_list(), scaling_records["loss_last"].to_list()
    assert first == pytest.approx([first[0]] * 3, rel=1e-5)
    assert last == pytest.approx([last[0]] * 3, rel=1e-4)
    per_epoch = scaling_records["epoch_losses"].to_list()  # mean loss of each of the 3 epochs
    for losses in per_epoch[1:]:
        assert losses == pytest.approx(per_epoch[0], rel=1e-4)
    assert per_epoch[0][-1] < per_epoch[0][0]  # and it learned


# --- refusals --------------------------------------------------------------------------------


def tiny(n=1, batch=16) -> RunConfig:
    return RunConfig(ModelConfig("mlp", width=16, depth=1), DataConfig(samples=64, input_shape=(8,), n_classes=3),
                     TrainConfig(batch_size=batch, epochs=1), BenchConfig(repeats=1, device_count=n))


def test_batch_must_split_evenly():
    with pytest.raises(ConfigError) as info:
        tiny(n=4, batch=30)
    assert info.value.field == "batch_size" and "multiple of device_count=4" in str(info.value)
    with pytest.raises(ConfigError) as info:
        with_device_count(tiny(), 3)  # 16 does not split over 3
    assert info.value.field == "batch_size"
    assert with_device_count(tiny(), 4).bench.device_count == 4


@pytest.mark.parametrize("n", [0, -1, 1025, True, 2.0])
def test_device_count_range(n):
    with pytest.raises(ConfigError) as info:
        BenchConfig(device_count=n)
    assert info.value.field == "device_count"


def test_more_devices_than_present_is_a_skipped_record():
    r = bench.measure(tiny(n=2), "cpu")  # this process has one CPU device
    assert r["status"] == "skipped" and "device_count=2" in r["error"] and "JAX_NUM_CPU_DEVICES" in r["error"]
    assert r["device_count"] == 2 and r["mesh_shape"] == "data=2" and r["devices_emulated"] is True
    store.records_to_frame([r])


def test_one_device_run_records_a_one_device_mesh():
    r = bench.measure(tiny(), "cpu")
    assert r["status"] == "ok", r["error"]
    assert (r["device_count"], r["mesh_shape"], r["devices_emulated"]) == (1, "data=1", False)


@pytest.mark.parametrize(
    "args, named",
    [
        (["run", "--device-count", "4"], "device_count=4"),  # one CPU device here
        (["run", "--batch-size", "30", "--device-count", "4"], "batch_size=30"),
        (["run", "--device-count", "0"], "device_count=0"),
        (["run", "--device-count", "two"], "device_count='two'"),
        (["run", "--device-counts", "1,x"], "device_count='x'"),
        (["run", "--device-counts", "1,3"], "batch_size=128"),  # the default batch does not split over 3
        (["run", "--device-count", "2", "--device-counts", "1,2"], "--device-count and --device-counts"),
        (["sweep", "--preset", "quick", "--device-counts", "1,2"], "device_count=2"),
        (["sweep", "--preset", "scaling"], "JAX_NUM_CPU_DEVICES"),  # needs at least 2 devices
    ],
)
def test_cli_refuses_with_exit_2_naming_the_field(tmp_path, capsys, args, named):
    assert main([*args, "--out", str(tmp_path / "runs"), "--no-compile-cache"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and named in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "runs").exists()


def test_cli_run_with_device_count_on_emulated_devices(tmp_path, emulated_env):
    """`python -m engine run --device-count 4 --jsonl`: one record, on 4 devices, saved."""
    tiny_run = ["run", "--model", "mlp", "--width", "16", "--depth", "1", "--samples", "64", "--input-shape", "8",
                "--classes", "3", "--batch-size", "16", "--epochs", "1", "--repeats", "1"]
    done = subprocess.run([sys.executable, "-m", "engine", *tiny_run, "--device-count", "4",
                           "--out", str(tmp_path / "runs"), "--jsonl", "--no-compile-cache"],
                          cwd=tmp_path, env=emulated_env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    (record,) = [e["record"] for e in events if e["event"] == "record"]
    assert record["status"] == "ok", record["error"]
    assert (record["device_count"], record["mesh_shape"], record["devices_emulated"]) == (4, "data=4", True)
    saved = store.load_runs([tmp_path / "runs"]).frame.collect()
    assert saved.select("device_count", "mesh_shape").rows() == [(4, "data=4")]


def test_old_files_load_with_null_mesh(tmp_path):
    old = store.records_to_frame([{"run_id": "x", "status": "ok", "epoch_s_median": 1.0}]).drop(
        "mesh_shape", "devices_emulated")
    old.write_parquet(tmp_path / "old.parquet")
    row = store.load_runs([tmp_path]).frame.collect().row(0, named=True)
    assert row["mesh_shape"] is None and row["devices_emulated"] is None
    assert pl.DataFrame([row]).height == 1
