"""engine.base.counts: exact parameter counts and analytic FLOPs, checked against the built models
and against XLA's cost analysis of one compiled training step."""

import jax
import numpy as np
import pytest

from engine.base import counts
from engine.base.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from engine.measure.models import build_model, count_parameters
from engine.measure.train import init_state, make_train_step


def _config(model: ModelConfig, input_shape=(), n_classes=10, batch=16, samples=64, optimizer="adam") -> RunConfig:
    return RunConfig(
        model=model,
        data=DataConfig(samples=samples, input_shape=input_shape, n_classes=n_classes),
        train=TrainConfig(batch_size=batch, optimizer=optimizer),
    )


# (config, parameter count written out by hand). Dense in->out: in*out + out.
# CNN conv 3x3 cin->cout: 9*cin*cout + cout; each block halves H and W (floor).
# Transformer layer: 2 LayerNorms (2*d each), q/k/v/out projections 4*(d*d + d),
# MLP d->4d->d; plus embedding vocab*d, positions seq*d, final LayerNorm 2*d and head.
HAND_COUNTED = {
    "mlp 8-16-3": (
        _config(ModelConfig("mlp", width=16, depth=1), input_shape=(8,), n_classes=3),
        (8 * 16 + 16) + (16 * 3 + 3),  # = 195
    ),
    "mlp 784-64-64-10": (
        _config(ModelConfig("mlp", width=64, depth=2)),
        (784 * 64 + 64) + (64 * 64 + 64) + (64 * 10 + 10),  # = 55_050
    ),
    "mlp 128-256x3-10": (
        _config(ModelConfig("mlp", width=256, depth=3), input_shape=(128,)),
        (128 * 256 + 256) + 2 * (256 * 256 + 256) + (256 * 10 + 10),  # = 167_178
    ),
    "cnn 8x8x1 c4 d1": (
        _config(ModelConfig("cnn", width=8, depth=1, channels=4), input_shape=(8, 8, 1), n_classes=2),
        (9 * 1 * 4 + 4) + (4 * 4 * 4 * 8 + 8) + (8 * 2 + 2),  # conv, 4ch x 4x4 -> 8, head = 578
    ),
    "cnn 7x9x2 c3 d1 (odd sides)": (
        _config(ModelConfig("cnn", width=8, depth=1, channels=3), input_shape=(7, 9, 2), n_classes=2),
        (9 * 2 * 3 + 3) + (3 * 3 * 4 * 8 + 8) + (8 * 2 + 2),  # pooled 7x9 -> 3x4: = 371
    ),
    "cnn 16x16x3 c8 d2": (
        _config(ModelConfig("cnn", width=32, depth=2, channels=8), input_shape=(16, 16, 3)),
        (9 * 3 * 8 + 8) + (9 * 8 * 16 + 16) + (16 * 4 * 4 * 32 + 32) + (32 * 10 + 10),  # = 9_946
    ),
    "transformer d32 L1 h2 s8 v32": (
        _config(ModelConfig("transformer", width=32, depth=1, heads=2, seq_len=8, vocab=32)),
        32 * 32
        + 8 * 32
        + 1 * (2 * 32 + 4 * (32 * 32 + 32) + 2 * 32 + (32 * 128 + 128) + (128 * 32 + 32))
        + 2 * 32
        + (32 * 10 + 10),  # = 14_378
    ),
    "transformer d64 L2 h4 s16 v64": (
        _config(ModelConfig("transformer", width=64, depth=2, heads=4, seq_len=16, vocab=64)),
        64 * 64
        + 16 * 64
        + 2 * (2 * 64 + 4 * (64 * 64 + 64) + 2 * 64 + (64 * 256 + 256) + (256 * 64 + 64))
        + 2 * 64
        + (64 * 10 + 10),  # = 105_866
    ),
    "transformer d16 L3 h4 s5 v100 c4": (
        _config(ModelConfig("transformer", width=16, depth=3, heads=4, seq_len=5, vocab=100), n_classes=4),
        100 * 16
        + 5 * 16
        + 3 * (2 * 16 + 4 * (16 * 16 + 16) + 2 * 16 + (16 * 64 + 64) + (64 * 16 + 16))
        + 2 * 16
        + (16 * 4 + 4),  # = 11_620
    ),
}


@pytest.mark.parametrize("name", list(HAND_COUNTED))
def test_parameter_count_matches_hand_count_and_built_model(name):
    config, by_hand = HAND_COUNTED[name]
    assert counts.parameter_count(config) == by_hand
    assert count_parameters(build_model(config, jax.random.key(0))) == by_hand


def test_hand_counts_are_the_documented_numbers():
    """Guards the literals above against a typo that would make both sides agree by accident."""
    expected = [195, 55_050, 167_178, 578, 371, 9_946, 14_378, 105_866, 11_620]
    assert [count for _, count in HAND_COUNTED.values()] == expected


def xla_flops_of_one_step(config: RunConfig) -> float:
    """XLA's FLOPs of ONE compiled train step, compiled the way engine.measure.bench compiles it."""
    state, static = init_state(config, jax.random.key(config.data.seed))
    x_dtype = np.int32 if config.model.kind == "transformer" else np.float32
    batch = (
        jax.ShapeDtypeStruct((config.train.batch_size, *config.input_shape), x_dtype),
        jax.ShapeDtypeStruct((config.train.batch_size,), np.int32),
    )
    compiled = jax.jit(make_train_step(config, static), donate_argnums=0).lower(state, batch).compile()
    analysis = compiled.cost_analysis()
    if isinstance(analysis, (list, tuple)):  # older jax: one dict per executable
        analysis = analysis[0]
    return float(analysis["flops"])


FLOPS_CONFIGS = {
    "mlp 784-64-64-10 adam": _config(ModelConfig("mlp", width=64, depth=2), batch=32),
    "mlp 128-256x3-10 sgd": _config(ModelConfig("mlp", width=256, depth=3), input_shape=(128,), optimizer="sgd"),
    "cnn 16x16x3 c8 d2": _config(ModelConfig("cnn", width=32, depth=2, channels=8), input_shape=(16, 16, 3)),
    "cnn 32x32x3 c16 d2 adamw": _config(ModelConfig("cnn", width=64, depth=2, channels=16), optimizer="adamw"),
    "transformer d64 L2": _config(ModelConfig("transformer", width=64, depth=2, heads=4, seq_len=16, vocab=64)),
    # Long sequences, narrow model: attention is a third of the work, so its terms must be right.
    "transformer d32 s64": _config(ModelConfig("transformer", width=32, depth=1, heads=4, seq_len=64, vocab=64)),
}


@pytest.mark.parametrize("name", list(FLOPS_CONFIGS))
def test_analytic_flops_agree_with_xla_cost_analysis(name):
    config = FLOPS_CONFIGS[name]
    analytic = counts.flops_per_step(config)
    xla = xla_flops_of_one_step(config)
    print(f"{name}: analytic {analytic:,} xla {xla:,.0f} ratio {analytic / xla:.3f}")
    assert analytic == pytest.approx(xla, rel=0.15)


def test_flops_scale_with_batch_and_epoch():
    small = _config(ModelConfig("mlp", width=256, depth=2), batch=16, samples=256)
    large = _config(ModelConfig("mlp", width=256, depth=2), batch=64, samples=256)
    optimizer = counts.OPTIMIZER_FLOPS_PER_PARAM["adam"] * counts.parameter_count(small)
    # Everything but the optimizer update is linear in the batch size.
    assert counts.flops_per_step(large) - optimizer == 4 * (counts.flops_per_step(small) - optimizer)
    assert counts.flops_per_epoch(small) == counts.flops_per_step(small) * (256 // 16)


def test_mlp_flops_formula_by_hand():
    """One hidden layer, batch 2, SGD: every term written out (see engine/base/counts.py docstring)."""
    config = _config(ModelConfig("mlp", width=4, depth=1), input_shape=(3,), n_classes=2, batch=2, optimizer="sgd")
    first = (2 * 2 * 3 * 4 + 2 * 4) * 2  # forward + weight gradient; the data needs no gradient
    head = (2 * 2 * 4 * 2 + 2 * 2) * 2 + 2 * 2 * 4 * 2  # forward, weight and input gradients
    relu = 2 * 4 * 1 * 3
    softmax = 2 * 2 * 5 * 3
    sgd = 4 * ((3 * 4 + 4) + (4 * 2 + 2))
    assert counts.flops_per_step(config) == first + head + relu + softmax + sgd
