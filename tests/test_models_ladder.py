"""Issue 17: the ResNet and GPT kinds: they train, their parts compute what equinox's layers compute, their
data is shaped and learnable as documented, they run data-parallel, and configs, records, presets, the guard
and the command line take them. Tiny settings only (JAX on the CPU, tests/conftest.py)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from engine.base.config import (
    BenchConfig,
    ConfigError,
    DataConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
    auto_mode,
)
from engine.measure.data import make_dataset, split_batches
from engine.measure.train import init_state, make_fused_epoch, make_train_step, run_per_step_epoch

REPO = Path(__file__).resolve().parents[1]

TINY = {
    "resnet basic": RunConfig(ModelConfig("resnet", depth=10, channels=4), DataConfig(64, (32, 32, 3), 4),
                              TrainConfig(batch_size=16, learning_rate=3e-2)),
    "resnet bottleneck": RunConfig(ModelConfig("resnet", depth=50, channels=2), DataConfig(32, (32, 32, 1), 3),
                                   TrainConfig(batch_size=8, learning_rate=3e-2)),
    "gpt": RunConfig(ModelConfig("gpt", width=32, depth=2, heads=4, seq_len=16, vocab=32), DataConfig(samples=256),
                     TrainConfig(batch_size=32, learning_rate=1e-2)),
}


@contextlib.contextmanager
def raises_for(field_name: str):
    with pytest.raises(ConfigError) as info:
        yield info
    assert info.value.field == field_name, f"error names {info.value.field!r}, expected {field_name!r}"
    assert str(info.value).startswith(f"{field_name}="), str(info.value)


# --- training ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(TINY))
def test_steps_on_one_batch_lower_the_loss(name):
    """A few steps on the same batch: the gradient points downhill (memorising one batch always can)."""
    config = TINY[name]
    batches = split_batches(make_dataset(config), config.train.batch_size)
    state, static = init_state(config, jax.random.key(0))
    step = jax.jit(make_train_step(config, static))
    batch = (batches.x[0], batches.y[0])
    losses = []
    for _ in range(10):
        state, metrics = step(state, batch)
        losses.append(float(metrics["loss"]))
    assert all(np.isfinite(losses))
    assert losses[-1] < 0.8 * losses[0], losses


def test_gpt_learns_its_next_token_data_over_epochs():
    """Fused epochs (what `auto` runs for a GPT on a CPU): the mean loss starts near ln(vocab) = 3.47 for a
    uniform guess and falls well below it as the successor map is learned."""
    config = TINY["gpt"]
    batches = split_batches(make_dataset(config), config.train.batch_size)
    state, static = init_state(config, jax.random.key(0))
    epoch = jax.jit(make_fused_epoch(make_train_step(config, static)))
    means = []
    for _ in range(6):
        state, losses = epoch(state, batches.x, batches.y)
        means.append(float(jnp.mean(losses)))
    assert abs(means[0] - np.log(32)) < 0.6, means
    assert means[-1] < 0.7 * means[0], means


@pytest.mark.parametrize("name", ["resnet basic", "gpt"])
def test_per_step_and_fused_epochs_agree(name):
    config = TINY[name]
    batches = split_batches(make_dataset(config), config.train.batch_size)
    state, static = init_state(config, jax.random.key(0))
    step = make_train_step(config, static)
    fused_state, fused_losses = jax.jit(make_fused_epoch(step))(state, batches.x, batches.y)
    state, _ = init_state(config, jax.random.key(0))
    step_state, step_losses = run_per_step_epoch(jax.jit(step), state, list(zip(batches.x, batches.y)))
    np.testing.assert_allclose(np.asarray(fused_losses), np.asarray(jax.device_get(step_losses)), rtol=2e-4)
    for a, b in zip(jax.tree_util.tree_leaves(fused_state.params), jax.tree_util.tree_leaves(step_state.params)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-3, atol=1e-4)  # Adam, lr 3e-2: float noise grows


def test_bfloat16_gpt_step_keeps_float32_parameters():
    config = RunConfig(ModelConfig("gpt", width=16, depth=1, heads=2, seq_len=8, vocab=16), DataConfig(samples=16),
                       TrainConfig(batch_size=8, dtype="bfloat16"))
    batches = split_batches(make_dataset(config), 8)
    state, static = init_state(config, jax.random.key(0))
    state, metrics = jax.jit(make_train_step(config, static))(state, (batches.x[0], batches.y[0]))
    assert np.isfinite(float(metrics["loss"]))
    assert {a.dtype for a in jax.tree_util.tree_leaves(state.params)} == {jnp.dtype("float32")}


# --- the parts against equinox's own layers -----------------------------------------------------


@pytest.mark.parametrize("channels", [4, 48, 64])
def test_channels_last_group_norm_is_equinox_group_norm(channels):
    from engine.measure.resnet import group_norm_channels_last, norm_groups

    # Powers of two up to 32 that divide C, at least 4 channels a group.
    assert {4: 1, 48: 8, 64: 16}[channels] == norm_groups(channels)
    assert [norm_groups(c) for c in (1, 6, 8, 9, 12, 16, 24, 32, 128, 256, 2048)] == [1, 1, 2, 1, 2, 4, 4, 8, 32, 32, 32]
    keys = jax.random.split(jax.random.key(1), 3)
    norm = eqx.nn.GroupNorm(norm_groups(channels), channels)
    norm = eqx.tree_at(lambda n: (n.weight, n.bias), norm,
                       (jax.random.normal(keys[0], (channels,)), jax.random.normal(keys[1], (channels,))))
    x = 3.0 + jax.random.normal(keys[2], (5, 7, channels))

    def ours(n, v):
        return jnp.sum(jnp.sin(group_norm_channels_last(n, v)))

    def theirs(n, v):
        return jnp.sum(jnp.sin(n(v.transpose(2, 0, 1)).transpose(1, 2, 0)))

    np.testing.assert_allclose(group_norm_channels_last(norm, x), norm(x.transpose(2, 0, 1)).transpose(1, 2, 0),
                               rtol=1e-5, atol=1e-5)
    g_ours, g_theirs = jax.grad(ours, argnums=(0, 1))(norm, x), jax.grad(theirs, argnums=(0, 1))(norm, x)
    for a, b in zip(jax.tree_util.tree_leaves(g_ours), jax.tree_util.tree_leaves(g_theirs)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("shape", [(8, 8, 3), (7, 9, 2)])
def test_stem_max_pool_is_equinox_max_pool(shape):
    from engine.measure.resnet import max_pool_3x3_s2

    x = jax.random.normal(jax.random.key(2), shape)
    theirs = eqx.nn.MaxPool2d(3, 2, padding=1)(x.transpose(2, 0, 1)).transpose(1, 2, 0)
    ours = max_pool_3x3_s2(x)
    assert ours.shape == ((shape[0] - 1) // 2 + 1, (shape[1] - 1) // 2 + 1, shape[2])
    np.testing.assert_array_equal(ours, theirs)


def test_resnet_maps_shrink_by_32_and_end_in_the_stage_widths():
    """Stem /2, max-pool /2, stages 2-4 /2 each: a 64 x 64 image reaches the head as a 2 x 2 map of
    8 x channels (basic) or 32 x channels (bottleneck) features."""
    from engine.measure.models import build_model
    from engine.measure.resnet import max_pool_3x3_s2

    for depth, features in ((18, 8 * 4), (50, 32 * 4)):
        config = RunConfig(ModelConfig("resnet", depth=depth, channels=4), DataConfig(8, (64, 64, 3), 5),
                           TrainConfig(batch_size=4))
        model = build_model(config, jax.random.key(0))
        x = max_pool_3x3_s2(jax.nn.relu(model.stem(jnp.ones((64, 64, 3)))))
        assert x.shape == (16, 16, 4)
        for block in model.blocks:
            x = block(x)
        assert x.shape == (2, 2, features) and model.head.in_features == features
        assert model(jnp.ones((64, 64, 3))).shape == (5,)
        assert len(model.blocks) == {18: 8, 50: 16}[depth]


def test_gpt_is_causal_and_its_output_layer_is_the_token_embedding():
    from engine.measure.models import build_model

    config = TINY["gpt"]
    model = build_model(config, jax.random.key(0))
    tokens = jnp.arange(16, dtype=jnp.int32) % 32
    logits = model(tokens)
    assert logits.shape == (16, 32)
    changed = model(tokens.at[10].set(5))
    np.testing.assert_allclose(logits[:10], changed[:10], rtol=1e-6, atol=1e-6)  # positions before 10 unaffected
    assert not np.allclose(logits[10:], changed[10:])
    assert not hasattr(model, "head")
    # Moving the embedding moves the output layer with it: the logits are LN(x) @ E^T.
    doubled = eqx.tree_at(lambda m: m.embedding.weight, model, model.embedding.weight * 2.0)
    hidden = jax.vmap(model.norm)(_hidden(model, tokens))
    np.testing.assert_allclose(logits, hidden @ model.embedding.weight.T, rtol=1e-5, atol=1e-5)
    assert not np.allclose(doubled(tokens), logits)


def _hidden(model, tokens):
    x = jax.vmap(model.embedding)(tokens) + model.positions.weight
    for block in model.blocks:
        x = block(x)
    return x


# --- data -------------------------------------------------------------------------------------


def test_gpt_data_shapes_dtypes_and_successor_rate():
    config = RunConfig(ModelConfig("gpt", width=16, depth=1, heads=2, seq_len=20, vocab=50), DataConfig(samples=400))
    data = make_dataset(config)
    assert data.x.shape == (400, 20) and data.y.shape == (400, 20)
    assert data.x.dtype == np.int32 and data.y.dtype == np.int32
    assert data.x.min() >= 0 and data.y.max() < 50
    np.testing.assert_array_equal(data.y[:, :-1], data.x[:, 1:])  # y is x shifted by one token
    # The successor map: the commonest next token after each token follows it ~80 % of the time.
    pairs = np.stack([data.x.ravel(), data.y.ravel()], axis=1)
    best = [np.bincount(pairs[pairs[:, 0] == t, 1], minlength=50).max() / max((pairs[:, 0] == t).sum(), 1)
            for t in range(50)]
    assert 0.7 < np.mean(best) < 0.9
    again = make_dataset(config)
    np.testing.assert_array_equal(data.x, again.x)  # the same seed gives the same bytes
    batches = split_batches(data, 64)
    assert batches.x.shape == (6, 64, 20) and batches.y.shape == (6, 64, 20)


def test_resnet_data_is_images_with_class_labels():
    data = make_dataset(TINY["resnet bottleneck"])
    assert data.x.shape == (32, 32, 32, 1) and data.x.dtype == np.float32
    assert data.y.shape == (32,) and data.y.dtype == np.int32 and data.y.max() < 3


# --- data-parallel ------------------------------------------------------------------------------

GPT_PARALLEL = r"""
import json
import jax, numpy as np
from engine.measure import parallel
from engine.base.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from engine.measure.data import make_dataset, split_batches
from engine.measure.train import init_state, make_fused_epoch, make_train_step, run_per_step_epoch

config = RunConfig(ModelConfig("gpt", width=16, depth=1, heads=2, seq_len=8, vocab=16), DataConfig(samples=64),
                   TrainConfig(batch_size=16, optimizer="sgd", learning_rate=0.1))
batches = split_batches(make_dataset(config), 16)
out = {}
for n in (1, 2):
    for mode in ("fused", "per_step"):
        dp = parallel.data_parallel(jax.devices("cpu")[:n])
        state, static = init_state(config, jax.random.key(0))
        step = make_train_step(config, static)
        state = parallel.put_state(state, dp)
        data = parallel.put_batches(batches.x, batches.y, dp, mode)
        if mode == "fused":
            y0 = data[1]
            state, losses = parallel.jit_epoch(make_fused_epoch(step), dp)(state, *data)
        else:
            y0 = data[0][1]
            compiled = parallel.jit_step(step, dp).lower(state, parallel.batch_shapes(batches.x, batches.y, dp))
            state, losses = run_per_step_epoch(compiled.compile(), state, data)
        out[f"{n}-{mode}"] = {"params": [np.asarray(a).ravel().tolist() for a in jax.tree_util.tree_leaves(state.params)],
                              "y_shard": list(y0.addressable_shards[0].data.shape)}
# The control: one device's half of every batch, which a step without the cross-device reduction would learn from.
state, static = init_state(config, jax.random.key(0))
state, _ = jax.jit(make_fused_epoch(make_train_step(config, static)))(state, batches.x[:, :8], batches.y[:, :8])
out["half"] = {"params": [np.asarray(a).ravel().tolist() for a in jax.tree_util.tree_leaves(state.params)]}
print(json.dumps(out))
"""


def test_gpt_trains_data_parallel_with_per_token_labels(emulated_env):
    """(batch, seq_len) labels split over 2 devices on the batch axis; the parameters after an epoch are the
    one-device ones, fused and per step."""
    done = subprocess.run([sys.executable, "-c", GPT_PARALLEL], cwd=REPO, env=emulated_env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["2-fused"]["y_shard"] == [4, 8, 8] and out["2-per_step"]["y_shard"] == [8, 8]
    def gap(a, b):
        return max(abs(x - y) for la, lb in zip(a, b) for x, y in zip(la, lb))

    for mode in ("fused", "per_step"):
        assert gap(out[f"1-{mode}"]["params"], out[f"2-{mode}"]["params"]) < 1e-5
    assert gap(out["1-fused"]["params"], out["half"]["params"]) > 1e-3


# --- configs ------------------------------------------------------------------------------------


@pytest.mark.parametrize("make, field_name", [
    (lambda: ModelConfig("resnet", depth=20), "depth"),
    (lambda: ModelConfig("resnet", depth=18.0), "depth"),
    (lambda: ModelConfig("resnet", depth=True), "depth"),
    (lambda: ModelConfig("resnet", depth=18, channels=129), "channels"),
    (lambda: ModelConfig("resnet", depth=18, channels=0), "channels"),
    (lambda: ModelConfig("gpt", width=30, heads=4), "heads"),
    (lambda: ModelConfig("gpt", vocab=1), "vocab"),
    (lambda: RunConfig(ModelConfig("resnet", depth=18), DataConfig(input_shape=(31, 64, 3))), "input_shape"),
    (lambda: RunConfig(ModelConfig("resnet", depth=18), DataConfig(input_shape=(64, 513, 3))), "input_shape"),
    (lambda: RunConfig(ModelConfig("resnet", depth=18), DataConfig(input_shape=(64, 64, 5))), "input_shape"),
    (lambda: RunConfig(ModelConfig("resnet", depth=18), DataConfig(input_shape=(4096,))), "input_shape"),
    (lambda: RunConfig(ModelConfig("gpt", seq_len=32), DataConfig(input_shape=(16,))), "input_shape"),
    (lambda: RunConfig(ModelConfig("gpt", seq_len=32), DataConfig(input_shape=(32, 32, 3))), "input_shape"),
])
def test_bad_resnet_and_gpt_configs_name_the_field(make, field_name):
    with raises_for(field_name) as info:
        make()
    if field_name == "depth":
        assert "10, 18, 34, 50, 101" in str(info.value)


def test_good_resnet_and_gpt_configs_and_their_defaults():
    resnet = RunConfig(ModelConfig("resnet", depth=101, channels=128))
    assert resnet.input_shape == (64, 64, 3)
    assert RunConfig(ModelConfig("resnet", depth=34), DataConfig(input_shape=(32, 512, 1))).input_shape == (32, 512, 1)
    gpt = RunConfig(ModelConfig("gpt", width=64, heads=8, seq_len=100, vocab=1000))
    assert gpt.input_shape == (100,)
    assert auto_mode("resnet", "cpu") == "per_step" and auto_mode("resnet", "gpu") == "fused"
    assert auto_mode("gpt", "cpu") == "fused" and resnet.resolved_mode("cpu") == "per_step"
    assert ModelConfig("mlp", depth=64).depth == 64  # the other kinds keep their depth range


def test_record_columns_for_the_new_kinds():
    from engine.runlog.record import config_columns

    resnet = config_columns(RunConfig(ModelConfig("resnet", depth=18, channels=8), DataConfig(64, (96, 80, 3), 7),
                                      TrainConfig(batch_size=8)))
    assert (resnet["model"], resnet["depth"], resnet["channels"], resnet["input_shape"], resnet["n_classes"]) == (
        "resnet", 18, 8, "96x80x3", 7)
    assert resnet["width"] is None and resnet["heads"] is None and resnet["seq_len"] is None
    gpt = config_columns(RunConfig(ModelConfig("gpt", width=32, depth=3, heads=4, seq_len=24, vocab=99)))
    assert (gpt["width"], gpt["depth"], gpt["heads"], gpt["seq_len"], gpt["vocab"], gpt["input_shape"]) == (
        32, 3, 4, 24, 99, "24")
    assert gpt["channels"] is None and gpt["n_classes"] is None


def test_conv_kinds_get_the_cpu_convolution_options():
    from engine.measure import xla_options

    assert xla_options.compiler_options("cpu", "resnet") == xla_options.compiler_options("cpu", "cnn")
    assert xla_options.compiler_options("cpu", "gpt") is None
    assert xla_options.compiler_options("gpu", "resnet") is None


# --- presets, guard and command line ------------------------------------------------------------


def test_ladder_preset_validates_and_climbs_to_the_named_networks():
    from engine.base.presets import preset_configs

    ladder = preset_configs("ladder", ("cpu",))
    kinds = [c.model.kind for c in ladder]
    assert set(kinds) == {"resnet", "transformer", "gpt"} and len(ladder) >= 9
    top = {(c.model.kind, c.model.depth, c.input_shape, c.data.n_classes) for c in ladder}
    assert ("resnet", 18, (224, 224, 3), 1000) in top and ("resnet", 50, (224, 224, 3), 1000) in top
    assert any(c.model == ModelConfig("transformer", width=768, depth=12, heads=12, seq_len=128, vocab=30522)
               for c in ladder)
    assert any(c.model == ModelConfig("gpt", width=768, depth=12, heads=12, seq_len=1024, vocab=50257)
               for c in ladder)
    for c in ladder:
        RunConfig(c.model, c.data, c.train, c.bench)  # validates again
        assert c.steps_per_epoch >= 1
    large = [c for c in ladder if c.input_shape == (224, 224, 3) or c.model.width == 768]
    assert len(large) == 4 and all(c.bench.repeats <= 3 and c.data.samples <= 16 for c in large)
    # Within each kind the rungs grow.
    from engine.base.counts import flops_per_step

    for kind in ("resnet", "transformer", "gpt"):
        flops = [flops_per_step(c) for c in ladder if c.model.kind == kind]
        assert flops == sorted(flops) and flops[-1] > 40 * flops[0]
    repeated = preset_configs("ladder", ("cpu",), repeats=1, time_budget_s=30.0)
    assert {(c.bench.repeats, c.bench.time_budget_s) for c in repeated} == {(1, 30.0)}


def test_the_guard_estimates_new_kinds():
    from engine.base.limits import Limits
    from engine.base.presets import preset_configs
    from engine.jobs import guard

    ladder = preset_configs("ladder", ("cpu",))
    decision = guard.check_sweep(ladder, Limits(max_job_seconds=7 * 24 * 3600.0, max_params=10**9,
                                                max_job_memory_bytes=10**12), free_memory_bytes=10**12)
    assert decision.allowed, decision.reasons
    assert decision.seconds_estimate > 60 and decision.memory_estimate_bytes > 2 * 10**9
    gpu = guard.check(RunConfig(ModelConfig("gpt", width=32, heads=4), bench=BenchConfig(devices=("gpu",))),
                      Limits(), free_memory_bytes=10**10)
    assert gpu.devices[0].seconds > 0


def test_cli_network_flag_builds_the_named_network_and_refuses_network_flags(capsys):
    from engine.cli import build_parser, config_from_args, main

    argv = ["run", "--network", "resnet50", "--samples", "4", "--batch-size", "2"]
    args = build_parser().parse_args(argv)
    args.argv = argv
    config = config_from_args(args)
    assert config.model == ModelConfig("resnet", depth=50, channels=64)
    assert config.input_shape == (224, 224, 3) and config.data.n_classes == 1000 and config.train.batch_size == 2
    assert main(["run", "--network", "gpt2-small", "--seq-len", "128"]) == 2
    assert "--network=gpt2-small sets the network: drop --seq-len" in capsys.readouterr().err
    assert main(["run", "--network", "vgg16"]) == 2
    assert "--network='vgg16' is not allowed: expected one of resnet18, resnet50, bert-base, gpt2-small" in (
        capsys.readouterr().err)
    assert main(["run", "--model", "resnet", "--depth", "19"]) == 2
    assert "depth=19 is not allowed" in capsys.readouterr().err


def test_cli_prints_an_estimate_line():
    from engine.base.presets import preset_configs
    from engine.cli import sweep_estimate

    line = sweep_estimate(preset_configs("ladder", ("cpu",)))
    assert line.startswith("estimated: at most about ") and "for 10 runs" in line and "GB of memory" in line
