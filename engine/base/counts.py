"""Exact parameter counts and analytic FLOPs of the networks in `engine.measure.models`, without jax.

The dashboard sizes networks with these before any JAX process exists, and the analysis
module uses them to predict configs that were never run.

FLOP conventions (one multiply-add = 2 FLOPs), per training step over a batch of B examples:
- A dense layer in -> out over R rows: forward 2*R*in*out (+ R*out bias); the weight
  gradient costs the same again; the input gradient 2*R*in*out more, except for the first
  layer, whose input is data and needs no gradient (XLA removes that product).
- A 3x3 'same' convolution Cin -> Cout on an H x W map: 2*B*H*W*9*Cin*Cout forward, with the
  same backward rule as a dense layer.
- Attention over S tokens of width D: scores 2*S*S*D and the weighted sum 2*S*S*D forward;
  backward needs both operands' gradients, so twice the forward.
- Elementwise work (ReLU, GELU, LayerNorm, softmax, pooling, cross-entropy) is counted with
  the per-element constants below, forward once and backward twice.
- The optimizer update costs OPTIMIZER_FLOPS_PER_PARAM per parameter per step.
These agree with XLA's `cost_analysis()` of one compiled step within a few percent for
matmul-dominated configs (tests/test_counts.py checks 15 %).
"""

from __future__ import annotations

from engine.base.config import RunConfig

# Arithmetic per parameter of one optax update (moments, bias correction, sqrt, divide, apply).
OPTIMIZER_FLOPS_PER_PARAM = {"adam": 14, "adamw": 16, "sgd": 4}
# Arithmetic per element of the non-matmul operations, forward pass.
RELU_FLOPS = 1
GELU_FLOPS = 14  # tanh approximation: cube, multiply-adds and a tanh
LAYERNORM_FLOPS = 8  # mean, variance, normalise, scale and shift
SOFTMAX_FLOPS = 5  # max, subtract, exp, sum, divide
POOL_FLOPS = 1  # one comparison per input element of a 2x2 max-pool
BACKWARD_ELEMENTWISE_FACTOR = 2


def _dense_params(fan_in: int, fan_out: int) -> int:
    return fan_in * fan_out + fan_out


def parameter_count(config: RunConfig) -> int:
    """The exact number of scalars in the network's weights and biases."""
    m, classes = config.model, config.data.n_classes
    if m.kind == "mlp":
        features = config.input_shape[0]
        return _dense_params(features, m.width) + (m.depth - 1) * _dense_params(m.width, m.width) + _dense_params(
            m.width, classes
        )
    if m.kind == "cnn":
        height, width_px, channels_in = config.input_shape
        chans = [channels_in] + [m.channels * 2**i for i in range(m.depth)]
        convs = sum(9 * chans[i] * chans[i + 1] + chans[i + 1] for i in range(m.depth))
        flat = chans[-1] * (height >> m.depth) * (width_px >> m.depth)
        return convs + _dense_params(flat, m.width) + _dense_params(m.width, classes)
    d = m.width
    layer = 2 * d + 4 * _dense_params(d, d) + 2 * d + _dense_params(d, 4 * d) + _dense_params(4 * d, d)
    return m.vocab * d + m.seq_len * d + m.depth * layer + 2 * d + _dense_params(d, classes)


def _dense_step_flops(rows: int, fan_in: int, fan_out: int, input_needs_grad: bool) -> int:
    matmul = 2 * rows * fan_in * fan_out
    bias = rows * fan_out
    return (matmul + bias) * 2 + (matmul if input_needs_grad else 0)


def _elementwise_step_flops(elements: int, per_element: int) -> int:
    return elements * per_element * (1 + BACKWARD_ELEMENTWISE_FACTOR)


def flops_per_step(config: RunConfig) -> int:
    """Analytic FLOPs of one training step (forward + backward + optimizer) over one batch."""
    m, classes, batch = config.model, config.data.n_classes, config.train.batch_size
    total = 0
    if m.kind == "mlp":
        sizes = [config.input_shape[0]] + [m.width] * m.depth + [classes]
        for i in range(len(sizes) - 1):
            total += _dense_step_flops(batch, sizes[i], sizes[i + 1], input_needs_grad=i > 0)
        total += _elementwise_step_flops(batch * m.width * m.depth, RELU_FLOPS)
    elif m.kind == "cnn":
        height, width_px, channels_in = config.input_shape
        chans = [channels_in] + [m.channels * 2**i for i in range(m.depth)]
        for i in range(m.depth):
            h, w = height >> i, width_px >> i
            conv = 2 * batch * h * w * 9 * chans[i] * chans[i + 1]
            bias = batch * h * w * chans[i + 1]
            total += (conv + bias) * 2 + (conv if i > 0 else 0)
            total += _elementwise_step_flops(batch * h * w * chans[i + 1], RELU_FLOPS + POOL_FLOPS)
        flat = chans[-1] * (height >> m.depth) * (width_px >> m.depth)
        total += _dense_step_flops(batch, flat, m.width, input_needs_grad=True)
        total += _elementwise_step_flops(batch * m.width, RELU_FLOPS)
        total += _dense_step_flops(batch, m.width, classes, input_needs_grad=True)
    else:
        d, s = m.width, m.seq_len
        rows = batch * s
        per_layer = 4 * _dense_step_flops(rows, d, d, input_needs_grad=True)
        per_layer += 3 * (2 * 2 * batch * s * s * d)  # scores and weighted sum, fwd + 2x bwd
        per_layer += _elementwise_step_flops(batch * m.heads * s * s, SOFTMAX_FLOPS)
        per_layer += _dense_step_flops(rows, d, 4 * d, input_needs_grad=True)
        per_layer += _dense_step_flops(rows, 4 * d, d, input_needs_grad=True)
        per_layer += _elementwise_step_flops(rows * 4 * d, GELU_FLOPS)
        per_layer += _elementwise_step_flops(2 * rows * d, LAYERNORM_FLOPS)
        total += m.depth * per_layer
        total += _elementwise_step_flops(rows * d, LAYERNORM_FLOPS)
        total += _dense_step_flops(batch, d, classes, input_needs_grad=True)
    total += _elementwise_step_flops(batch * classes, SOFTMAX_FLOPS)
    total += OPTIMIZER_FLOPS_PER_PARAM[config.train.optimizer] * parameter_count(config)
    return int(total)


def flops_per_epoch(config: RunConfig) -> int:
    """Analytic FLOPs of one epoch: steps_per_epoch training steps."""
    return flops_per_step(config) * config.steps_per_epoch
