"""engine.measure.data + engine.measure.train: learnable data, falling loss, and per-step == fused epochs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from engine.base.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from engine.measure.data import make_dataset, split_batches
from engine.measure.train import TrainState, init_state, make_fused_epoch, make_train_step, run_per_step_epoch

TINY = {
    "mlp": RunConfig(
        model=ModelConfig("mlp", width=32, depth=2),
        data=DataConfig(samples=256, input_shape=(16,), n_classes=4),
        train=TrainConfig(batch_size=32, learning_rate=1e-2),
    ),
    "cnn": RunConfig(
        model=ModelConfig("cnn", width=16, depth=1, channels=4),
        data=DataConfig(samples=128, input_shape=(8, 8, 1), n_classes=4),
        train=TrainConfig(batch_size=16, learning_rate=1e-2),
    ),
    "transformer": RunConfig(
        model=ModelConfig("transformer", width=32, depth=1, heads=2, seq_len=16, vocab=32),
        data=DataConfig(samples=256, n_classes=4),
        train=TrainConfig(batch_size=32, learning_rate=3e-3),
    ),
}


def _setup(config: RunConfig):
    batches = split_batches(make_dataset(config), config.train.batch_size)
    state, static = init_state(config, jax.random.key(config.data.seed))
    return batches, state, make_train_step(config, static)


def _fused_epochs(config: RunConfig, epochs: int):
    batches, state, step = _setup(config)
    epoch = jax.jit(make_fused_epoch(step))
    losses = []
    for _ in range(epochs):
        state, epoch_losses = epoch(state, batches.x, batches.y)
        losses.append(float(jnp.mean(epoch_losses)))
    return state, losses


def _per_step_epochs(config: RunConfig, epochs: int):
    batches, state, step = _setup(config)
    step = jax.jit(step)
    losses = []
    for _ in range(epochs):
        state, epoch_losses = run_per_step_epoch(step, state, list(zip(batches.x, batches.y)))
        losses.append(float(np.mean(jax.device_get(epoch_losses))))
    return state, losses


@pytest.mark.parametrize("kind", ["mlp", "cnn", "transformer"])
def test_loss_falls(kind):
    config = TINY[kind]
    runner = _per_step_epochs if kind == "cnn" else _fused_epochs  # as `auto` picks on the CPU
    _, losses = runner(config, epochs=4)
    chance = np.log(config.data.n_classes)
    assert abs(losses[0] - chance) < 0.5 * chance, f"first epoch should start near chance: {losses}"
    assert all(np.isfinite(losses))
    assert losses[-1] < 0.8 * losses[0], f"loss did not fall: {losses}"


@pytest.mark.parametrize("kind", ["mlp", "cnn", "transformer"])
def test_per_step_and_fused_agree_after_one_epoch(kind):
    config = TINY[kind]
    fused, fused_losses = _fused_epochs(config, epochs=1)
    per_step, per_step_losses = _per_step_epochs(config, epochs=1)
    np.testing.assert_allclose(fused_losses, per_step_losses, rtol=1e-4)
    fused_leaves = jax.tree_util.tree_leaves(fused)
    per_step_leaves = jax.tree_util.tree_leaves(per_step)
    assert len(fused_leaves) == len(per_step_leaves)
    for a, b in zip(fused_leaves, per_step_leaves):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)
    # ... and training moved the parameters at all (so the comparison above means something).
    _, initial, _ = _setup(config)
    moved = [not np.allclose(a, b) for a, b in zip(jax.tree_util.tree_leaves(initial.params),
                                                     jax.tree_util.tree_leaves(fused.params))]
    assert all(moved)


def test_train_step_is_pure_and_keeps_float32_params_in_bfloat16():
    base = TINY["mlp"]
    config = RunConfig(model=base.model, data=base.data,
                       train=TrainConfig(batch_size=32, dtype="bfloat16", matmul_precision="highest"))
    batches, state, step = _setup(config)
    step = jax.jit(step)
    batch = (batches.x[0], batches.y[0])
    s1, m1 = step(state, batch)
    s2, m2 = step(state, batch)  # the same input state again: a pure step gives the same output
    assert float(m1["loss"]) == float(m2["loss"])
    for a, b in zip(jax.tree_util.tree_leaves(s1), jax.tree_util.tree_leaves(s2)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert {leaf.dtype for leaf in jax.tree_util.tree_leaves(s1.params)} == {jnp.dtype("float32")}
    assert isinstance(s1, TrainState)


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_every_optimizer_trains(optimizer):
    base = TINY["mlp"]
    config = RunConfig(model=base.model, data=base.data,
                       train=TrainConfig(batch_size=32, optimizer=optimizer, learning_rate=1e-2))
    _, losses = _fused_epochs(config, epochs=3)
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("kind", ["mlp", "cnn", "transformer"])
def test_dataset_shapes_and_determinism(kind):
    config = TINY[kind]
    data = make_dataset(config)
    assert data.x.shape == (config.data.samples, *config.input_shape)
    assert data.y.shape == (config.data.samples,) and data.y.dtype == np.int32
    assert data.x.dtype == (np.int32 if kind == "transformer" else np.float32)
    assert set(np.unique(data.y)) == set(range(config.data.n_classes))
    if kind == "transformer":
        assert data.x.min() >= 0 and data.x.max() < config.model.vocab
    again = make_dataset(config)
    np.testing.assert_array_equal(data.x, again.x)
    np.testing.assert_array_equal(data.y, again.y)
    other_seed = RunConfig(model=config.model, data=DataConfig(config.data.samples, config.data.input_shape,
                                                               config.data.n_classes, seed=1), train=config.train)
    assert not np.array_equal(make_dataset(other_seed).x, data.x)
    assert data.nbytes == data.x.nbytes + data.y.nbytes


def test_split_batches_drops_the_remainder_in_order():
    config = RunConfig(model=ModelConfig("mlp", width=8, depth=1), data=DataConfig(samples=70, input_shape=(3,)),
                       train=TrainConfig(batch_size=16))
    data = make_dataset(config)
    batches = split_batches(data, 16)
    assert batches.x.shape == (4, 16, 3) and batches.y.shape == (4, 16)
    np.testing.assert_array_equal(batches.x.reshape(64, 3), data.x[:64])
    np.testing.assert_array_equal(batches.y.reshape(64), data.y[:64])


def test_same_seed_same_initial_weights():
    config = TINY["mlp"]
    a, _ = init_state(config, jax.random.key(0))
    b, _ = init_state(config, jax.random.key(0))
    c, _ = init_state(config, jax.random.key(1))
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert not np.array_equal(np.asarray(a.params.head.weight), np.asarray(c.params.head.weight))


def test_max_pool_2x2_matches_equinox_maxpool_values_and_gradients():
    import equinox as eqx
    import jax
    import numpy as np

    from engine.measure.models import max_pool_2x2

    x = jax.random.normal(jax.random.key(3), (9, 8, 5))  # (H, W, C); odd height: both drop the last row
    reference = eqx.nn.MaxPool2d(2, stride=2)  # channels-first

    def ref(v):
        return reference(v.transpose(2, 0, 1)).transpose(1, 2, 0)

    np.testing.assert_array_equal(max_pool_2x2(x), ref(x))
    grad = jax.grad(lambda v: (max_pool_2x2(v) ** 2).sum())(x)
    grad_ref = jax.grad(lambda v: (ref(v) ** 2).sum())(x)
    np.testing.assert_allclose(grad, grad_ref, rtol=1e-6, atol=1e-6)


def test_relu_max_pool_has_autodiffs_values_and_gradients():
    from engine.measure.models import max_pool_2x2, relu_max_pool_2x2

    x = jax.random.normal(jax.random.key(6), (9, 10, 4))  # odd height: the last row is dropped
    x = x.at[:2, :2, 0].set(-1.0)  # a window with no positive value: no gradient at all
    np.testing.assert_array_equal(relu_max_pool_2x2(x), max_pool_2x2(jax.nn.relu(x)))
    g = jax.random.normal(jax.random.key(7), (4, 5, 4))
    got = jax.vjp(relu_max_pool_2x2, x)[1](g)[0]
    want = jax.vjp(lambda v: max_pool_2x2(jax.nn.relu(v)), x)[1](g)[0]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    assert not np.asarray(got[:2, :2, 0]).any() and np.asarray(got[8]).sum() == 0
    assert (np.asarray(got) != 0).sum() == (np.asarray(want) != 0).sum() > 0


@pytest.mark.parametrize("in_channels", [3, 8])
def test_channels_last_conv_matches_equinox_values_and_gradients(in_channels):
    import equinox as eqx

    from engine.measure.models import conv_channels_last

    x = jax.random.normal(jax.random.key(4), (10, 12, in_channels))  # (H, W, C)
    conv = eqx.nn.Conv2d(in_channels, 6, 3, padding=1, key=jax.random.key(5))

    def reference(c, v):
        return c(v.transpose(2, 0, 1)).transpose(1, 2, 0)

    np.testing.assert_allclose(conv_channels_last(conv, x), reference(conv, x), rtol=1e-5, atol=1e-5)
    got = eqx.filter_grad(lambda c, v: (conv_channels_last(c, v) ** 2).sum())(conv, x)
    want = eqx.filter_grad(lambda c, v: (reference(c, v) ** 2).sum())(conv, x)
    for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_cnn_computes_what_a_channels_first_equinox_stack_computes():
    """The channels-last CNN is the same function of the same parameters as equinox's own
    channels-first Conv2d + ReLU + MaxPool2d blocks, flattened in (C, H, W) order."""
    import equinox as eqx

    from engine.measure.models import build_model

    config = RunConfig(ModelConfig("cnn", width=16, depth=3, channels=4), DataConfig(samples=8, n_classes=5),
                       TrainConfig(batch_size=4))  # 32x32x3 -> 4, 8, 16 channels -> 4x4 map
    model = build_model(config, jax.random.key(0))
    pool = eqx.nn.MaxPool2d(2, stride=2)

    def reference(m, x):
        x = x.transpose(2, 0, 1)
        for conv in m.convs:
            x = pool(jax.nn.relu(conv(x)))
        return m.head(jax.nn.relu(m.dense(x.reshape(-1))))

    x = jax.random.normal(jax.random.key(1), (4, 32, 32, 3))
    np.testing.assert_allclose(jax.vmap(model)(x), jax.vmap(lambda v: reference(model, v))(x), rtol=1e-5, atol=1e-5)
    got = eqx.filter_grad(lambda m: jax.vmap(m)(x).sum())(model)
    want = eqx.filter_grad(lambda m: jax.vmap(lambda v: reference(m, v))(x).sum())(model)
    for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_cpu_cnn_convolutions_are_channels_last_with_no_transposes_around_them():
    from engine.measure.models import build_model

    config = RunConfig(ModelConfig("cnn", width=16, depth=3, channels=8), DataConfig(samples=8),
                       TrainConfig(batch_size=4))
    model = build_model(config, jax.random.key(0))
    hlo = jax.jit(jax.vmap(model)).lower(jnp.zeros((4, 32, 32, 3))).compile().as_text()
    assert hlo.count(" convolution(") == 3
    assert hlo.count("dim_labels=b01f_") == 3  # batch, spatial, features: channels-last
    # Only the final 4x4 map is transposed (to the (C, H, W) flattening order); no activation is.
    transposed = [line for line in hlo.splitlines() if " transpose(" in line]
    assert all("[4,32,4,4]" in line or "[4,4,4,32]" in line for line in transposed), transposed
