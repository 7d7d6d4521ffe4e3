"""Exact parameter counts and analytic FLOPs of the networks in `engine.measure` (models, resnet, gpt), without jax.

The dashboard sizes networks with these before any JAX process exists, and the analysis
module uses them to predict configs that were never run.

FLOP conventions (one multiply-add = 2 FLOPs), per training step over a batch of B examples:
- A dense layer in -> out over R rows: forward 2*R*in*out (+ R*out bias); the weight
  gradient costs the same again; the input gradient 2*R*in*out more, except for the first
  layer, whose input is data and needs no gradient (XLA removes that product).
- A 3x3 'same' convolution Cin -> Cout on an H x W map: 2*B*H*W*9*Cin*Cout forward, with the
  same backward rule as a dense layer.
- A k x k convolution with stride s, Cin -> Cout, onto an Ho x Wo map (ResNet): 2*B*Ho*Wo*k*k*Cin*Cout
  forward at most (the taps on padding are not counted, below), the same backward rule (the stem's
  input is data).
- Attention over S tokens of width D: scores 2*S*S*D and the weighted sum 2*S*S*D forward;
  backward needs both operands' gradients, so twice the forward. A GPT's causal attention is
  counted in full S x S: XLA computes every score and then masks them.
- Elementwise work (ReLU, GELU, LayerNorm, GroupNorm, softmax, pooling, residual sums,
  cross-entropy) is counted with the per-element constants below, forward once and backward twice;
  the ResNet stem's 3x3 max-pool with XLA's own count of its gradient.
- A ResNet's convolution counts only the kernel taps that fall on the input, not on its zero padding
  (`Conv.products`): what XLA counts, and on small maps far less than k*k per output (a 3x3 conv on a
  2x2 map uses 4 of its 9 taps per output).
- A GPT's tied output layer is a dense layer D -> vocab without bias over B*S rows (forward,
  weight and input gradients), and its softmax is over B*S*vocab logits.
- The optimizer update costs OPTIMIZER_FLOPS_PER_PARAM per parameter per step.
These agree with XLA's `cost_analysis()` of one compiled step within a few percent for
matmul-dominated configs (tests/test_counts.py and tests/test_counts_ladder.py check 15 %). At full size
(XLA:CPU, jax 0.10.2, 2026-12-05): ResNet-18 and ResNet-50 at 224 px 1.001 and 0.994 of XLA's count,
BERT-base at 128 tokens 0.991, GPT-2 small at 1,024 tokens 0.994. Deep, narrow ResNets on small images are
counted low (ResNet-101 with 8 stem channels at 64 px: 0.86), where elementwise work outweighs convolutions.
"""

from __future__ import annotations

from typing import NamedTuple

from engine.base.config import RESNET_LAYOUTS, RunConfig

# Arithmetic per parameter of one optax update (moments, bias correction, sqrt, divide, apply).
OPTIMIZER_FLOPS_PER_PARAM = {"adam": 14, "adamw": 16, "sgd": 4}
# Arithmetic per element of the non-matmul operations, forward pass.
RELU_FLOPS = 1
GELU_FLOPS = 14  # tanh approximation: cube, multiply-adds and a tanh
LAYERNORM_FLOPS = 8  # mean, variance, normalise, scale and shift
SOFTMAX_FLOPS = 5  # max, subtract, exp, sum, divide
POOL_FLOPS = 1  # one comparison per input element of a 2x2 max-pool
# GroupNorm in a ResNet training step, per element: XLA counts about twice LayerNorm's 8, as its fusions recompute
# the normalised values in the backward pass (a GroupNorm alone: 7 forward, 24 forward + backward; all the
# elementwise work of whole ResNet-10/18/34/50 steps at 32-96 px came to about 60 per conv output element).
GROUPNORM_FLOPS = 16
RESIDUAL_FLOPS = 1  # one add per element of a residual sum
MAXPOOL_3X3_FLOPS = 9  # comparisons per output element of the ResNet stem's 3x3 max-pool, forward
MAXPOOL_3X3_BACKWARD_FLOPS = 79  # its gradient (select-and-scatter) per output element, as XLA counts it
BACKWARD_ELEMENTWISE_FACTOR = 2
BOTTLENECK_EXPANSION = 4


class Conv(NamedTuple):
    """One convolution of a ResNet: k x k, stride, padding k // 2, c_in -> c_out, from an in_h x in_w map
    onto an out_h x out_w one; `block` is the index of its residual block (-1: the stem), `shortcut`
    whether it is a block's projection."""

    c_in: int
    c_out: int
    k: int
    stride: int
    in_h: int
    in_w: int
    block: int
    shortcut: bool

    @property
    def out_h(self) -> int:
        return _side(self.in_h, self.k, self.stride)

    @property
    def out_w(self) -> int:
        return _side(self.in_w, self.k, self.stride)

    def products(self) -> int:
        """Multiply-adds of its forward pass for one example: kernel taps on the input (`_taps`), not the padding."""
        return _taps(self.in_h, self.k, self.stride) * _taps(self.in_w, self.k, self.stride) * self.c_in * self.c_out


def _side(n: int, k: int, stride: int) -> int:
    """Output side of a k x k window, padding k // 2, over a side of n."""
    return (n + 2 * (k // 2) - k) // stride + 1


def _taps(n: int, k: int, stride: int) -> int:
    """Kernel taps, summed over the output positions of one side, that fall on the input (0 <= i < n), not on
    its zero padding of k // 2: a k x k convolution multiplies taps(H) x taps(W) pixels per channel pair."""
    pad = k // 2
    return sum(min(n, o * stride - pad + k) - max(0, o * stride - pad) for o in range(_side(n, k, stride)))


def resnet_convs(config: RunConfig) -> list[Conv]:
    """Every convolution of `config`'s ResNet in order (`engine.measure.resnet` layout), stem first."""
    m = config.model
    stages, kind = RESNET_LAYOUTS[m.depth]
    h, w, c_in = config.input_shape
    convs = [Conv(c_in, m.channels, 7, 2, h, w, -1, False)]
    h, w = _side(convs[0].out_h, 3, 2), _side(convs[0].out_w, 3, 2)  # the max-pool
    c_in, block = m.channels, 0
    for stage, count in enumerate(stages):
        width = m.channels * 2**stage
        for b in range(count):
            stride = 2 if stage > 0 and b == 0 else 1
            oh, ow = _side(h, 3, stride), _side(w, 3, stride)
            if kind == "bottleneck":
                c_out = width * BOTTLENECK_EXPANSION
                convs += [Conv(c_in, width, 1, 1, h, w, block, False), Conv(width, width, 3, stride, h, w, block, False),
                          Conv(width, c_out, 1, 1, oh, ow, block, False)]
            else:
                c_out = width
                convs += [Conv(c_in, width, 3, stride, h, w, block, False),
                          Conv(width, width, 3, 1, oh, ow, block, False)]
            if stride != 1 or c_in != c_out:
                convs.append(Conv(c_in, c_out, 1, stride, h, w, block, True))
            c_in, h, w, block = c_out, oh, ow, block + 1
    return convs


def _dense_params(fan_in: int, fan_out: int) -> int:
    return fan_in * fan_out + fan_out


def _decoder_layer_params(d: int) -> int:
    """One encoder / decoder layer of width d: 2 LayerNorms, q/k/v/out projections, MLP d -> 4d -> d."""
    return 2 * d + 4 * _dense_params(d, d) + 2 * d + _dense_params(d, 4 * d) + _dense_params(4 * d, d)


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
    if m.kind == "resnet":  # convolutions without bias, each followed by a norm with weight and bias
        convs = resnet_convs(config)
        return sum(c.k * c.k * c.c_in * c.c_out + 2 * c.c_out for c in convs) + _dense_params(convs[-1].c_out, classes)
    d = m.width
    if m.kind == "gpt":  # the output layer is the token embedding: no head of its own
        return m.vocab * d + m.seq_len * d + m.depth * _decoder_layer_params(d) + 2 * d
    return m.vocab * d + m.seq_len * d + m.depth * _decoder_layer_params(d) + 2 * d + _dense_params(d, classes)


def _dense_step_flops(rows: int, fan_in: int, fan_out: int, input_needs_grad: bool) -> int:
    matmul = 2 * rows * fan_in * fan_out
    bias = rows * fan_out
    return (matmul + bias) * 2 + (matmul if input_needs_grad else 0)


def _elementwise_step_flops(elements: int, per_element: int) -> int:
    return elements * per_element * (1 + BACKWARD_ELEMENTWISE_FACTOR)


def flops_per_step(config: RunConfig) -> int:
    """Analytic FLOPs of one training step (forward + backward + optimizer) over one batch."""
    m, classes, batch = config.model, config.data.n_classes, config.train.batch_size
    predictions = batch  # rows of logits: one per example, or one per token for a GPT
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
    elif m.kind == "resnet":
        total += _resnet_step_flops(config)
    else:
        total += _attention_stack_step_flops(config)
        d, rows = m.width, batch * m.seq_len
        total += _elementwise_step_flops(rows * d, LAYERNORM_FLOPS)
        if m.kind == "gpt":  # the tied output layer over every token; the softmax over the vocabulary
            predictions, classes = rows, m.vocab
            total += 3 * (2 * rows * d * m.vocab)  # forward, weight and input gradients, no bias
        else:
            total += _dense_step_flops(batch, d, classes, input_needs_grad=True)
    total += _elementwise_step_flops(predictions * classes, SOFTMAX_FLOPS)
    total += OPTIMIZER_FLOPS_PER_PARAM[config.train.optimizer] * parameter_count(config)
    return int(total)


def _attention_stack_step_flops(config: RunConfig) -> int:
    """The encoder's or decoder's layers over B*S rows (module doc), without the output layer."""
    m, batch = config.model, config.train.batch_size
    d, s = m.width, m.seq_len
    rows = batch * s
    per_layer = 4 * _dense_step_flops(rows, d, d, input_needs_grad=True)
    per_layer += 3 * (2 * 2 * batch * s * s * d)  # scores and weighted sum, fwd + 2x bwd
    per_layer += _elementwise_step_flops(batch * m.heads * s * s, SOFTMAX_FLOPS)
    per_layer += _dense_step_flops(rows, d, 4 * d, input_needs_grad=True)
    per_layer += _dense_step_flops(rows, 4 * d, d, input_needs_grad=True)
    per_layer += _elementwise_step_flops(rows * 4 * d, GELU_FLOPS)
    per_layer += _elementwise_step_flops(2 * rows * d, LAYERNORM_FLOPS)
    return m.depth * per_layer


def _resnet_step_flops(config: RunConfig) -> int:
    """A ResNet's convolutions, norms, ReLUs, residual sums, max-pool, average pool and head (module doc)."""
    batch, classes = config.train.batch_size, config.data.n_classes
    convs = resnet_convs(config)
    total = 0
    for i, c in enumerate(convs):
        out = batch * c.out_h * c.out_w * c.c_out
        conv = 2 * batch * c.products()
        total += 2 * conv + (conv if i > 0 else 0)  # the stem's input is data
        total += _elementwise_step_flops(out, GROUPNORM_FLOPS)
        last_of_block = i + 1 == len(convs) or convs[i + 1].block != c.block or convs[i + 1].shortcut
        if not c.shortcut:  # ReLU after every norm but a block's last, whose ReLU follows the residual sum
            total += _elementwise_step_flops(out, RELU_FLOPS if not last_of_block else RELU_FLOPS + RESIDUAL_FLOPS)
    stem = convs[0]
    pooled = batch * _side(stem.out_h, 3, 2) * _side(stem.out_w, 3, 2) * stem.c_out
    total += pooled * (MAXPOOL_3X3_FLOPS + MAXPOOL_3X3_BACKWARD_FLOPS)
    last = convs[-1]
    total += _elementwise_step_flops(batch * last.out_h * last.out_w * last.c_out, 1)  # the average pool's sums
    total += _dense_step_flops(batch, last.c_out, classes, input_needs_grad=True)
    return total


def flops_per_epoch(config: RunConfig) -> int:
    """Analytic FLOPs of one epoch: steps_per_epoch training steps."""
    return flops_per_step(config) * config.steps_per_epoch
