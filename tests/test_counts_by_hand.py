"""engine.base.counts against counts worked out by hand, term by term (no jax: quick).

Conventions as in the module: a multiply-add is 2 FLOPs; a dense or convolution layer costs its
forward (matmul + bias) twice (forward and weight gradient) plus the matmul once more for the input
gradient, except the first layer; elementwise work costs its per-element constant x 3 (forward,
backward twice); the optimizer costs 14 (Adam), 16 (AdamW) or 4 (SGD) FLOPs per parameter.
"""

import pytest

from engine.base.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from engine.base.counts import flops_per_epoch, flops_per_step, parameter_count


def _config(kind, optimizer="adam", **model):
    batch = {"mlp": 4, "cnn": 2, "transformer": 2}[kind]
    return RunConfig(model=ModelConfig(kind, **model), data=DataConfig(samples=64),
                     train=TrainConfig(batch_size=batch, optimizer=optimizer))


MLP = dict(width=16, depth=2)  # 784 -> 16 -> 16 -> 10, batch 4
CNN = dict(width=8, depth=2, channels=4)  # 32x32x3, convs 3 -> 4 -> 8, dense 512 -> 8 -> 10, batch 2
TRANSFORMER = dict(width=8, depth=1, heads=2, seq_len=4)  # vocab 256, 4 tokens, d 8, batch 2


def test_mlp_by_hand():
    params = (784 * 16 + 16) + (16 * 16 + 16) + (16 * 10 + 10)
    assert params == 13_002 and parameter_count(_config("mlp", **MLP)) == params
    first = (2 * 4 * 784 * 16 + 4 * 16) * 2  # no input gradient for the data
    second = (2 * 4 * 16 * 16 + 4 * 16) * 2 + 2 * 4 * 16 * 16
    third = (2 * 4 * 16 * 10 + 4 * 10) * 2 + 2 * 4 * 16 * 10
    relu = 4 * 16 * 2 * 1 * 3
    softmax = 4 * 10 * 5 * 3
    body = first + second + third + relu + softmax
    assert flops_per_step(_config("mlp", **MLP)) == body + 14 * params == 394_036
    assert flops_per_step(_config("mlp", "adamw", **MLP)) == body + 16 * params
    assert flops_per_step(_config("mlp", "sgd", **MLP)) == body + 4 * params
    assert flops_per_epoch(_config("mlp", **MLP)) == 394_036 * 16  # 64 samples / batch 4


def test_cnn_by_hand():
    params = (9 * 3 * 4 + 4) + (9 * 4 * 8 + 8) + (8 * 8 * 8 * 8 + 8) + (8 * 10 + 10)
    assert params == 4_602 and parameter_count(_config("cnn", **CNN)) == params
    conv1 = (2 * 2 * 32 * 32 * 9 * 3 * 4 + 2 * 32 * 32 * 4) * 2  # first: no input gradient
    act1 = 2 * 32 * 32 * 4 * (1 + 1) * 3  # ReLU + 2x2 max-pool
    conv2 = (2 * 2 * 16 * 16 * 9 * 4 * 8 + 2 * 16 * 16 * 8) * 2 + 2 * 2 * 16 * 16 * 9 * 4 * 8
    act2 = 2 * 16 * 16 * 8 * (1 + 1) * 3
    dense = (2 * 2 * 512 * 8 + 2 * 8) * 2 + 2 * 2 * 512 * 8
    relu = 2 * 8 * 1 * 3
    head = (2 * 2 * 8 * 10 + 2 * 10) * 2 + 2 * 2 * 8 * 10
    softmax = 2 * 10 * 5 * 3
    total = conv1 + act1 + conv2 + act2 + dense + relu + head + softmax + 14 * params
    assert flops_per_step(_config("cnn", **CNN)) == total == 1_982_736


def test_transformer_by_hand():
    layer = 2 * 8 + 4 * (8 * 8 + 8) + 2 * 8 + (8 * 32 + 32) + (32 * 8 + 8)
    params = 256 * 8 + 4 * 8 + layer + 2 * 8 + (8 * 10 + 10)
    assert params == 3_058 and parameter_count(_config("transformer", **TRANSFORMER)) == params
    rows = 2 * 4
    qkvo = 4 * ((2 * rows * 8 * 8 + rows * 8) * 2 + 2 * rows * 8 * 8)
    attention = 3 * (2 * 2 * 2 * 4 * 4 * 8)
    scores_softmax = 2 * 2 * 4 * 4 * 5 * 3
    up = (2 * rows * 8 * 32 + rows * 32) * 2 + 2 * rows * 8 * 32
    down = (2 * rows * 32 * 8 + rows * 8) * 2 + 2 * rows * 32 * 8
    gelu = rows * 32 * 14 * 3
    norms = 2 * rows * 8 * 8 * 3
    final_norm = rows * 8 * 8 * 3
    head = (2 * 2 * 8 * 10 + 2 * 10) * 2 + 2 * 2 * 8 * 10
    softmax = 2 * 10 * 5 * 3
    total = qkvo + attention + scores_softmax + up + down + gelu + norms + final_norm + head + softmax + 14 * params
    assert flops_per_step(_config("transformer", **TRANSFORMER)) == total == 101_520


@pytest.mark.parametrize("depth", [1, 3])
def test_depth_adds_whole_layers(depth):
    one, more = _config("mlp", width=16, depth=1), _config("mlp", width=16, depth=depth)
    assert parameter_count(more) - parameter_count(one) == (depth - 1) * (16 * 16 + 16)
    layer = (2 * 4 * 16 * 16 + 4 * 16) * 2 + 2 * 4 * 16 * 16 + 4 * 16 * 3 + 14 * (16 * 16 + 16)
    assert flops_per_step(more) - flops_per_step(one) == (depth - 1) * layer
