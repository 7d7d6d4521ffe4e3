"""The networks Crossover trains, built from equinox layers: MLP, CNN and Transformer (encoder) here,
ResNet in `engine.measure.resnet`, GPT in `engine.measure.gpt`.

Every model maps ONE example to logits of shape (n_classes,) (a GPT: (seq_len, vocab), one row per
token); batches go through `jax.vmap`.
Exact parameter counts and analytic FLOPs live in `engine.base.counts` (no jax needed), and the
tests check them against the arrays built here.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import lax

from engine.base.config import RunConfig


class MLP(eqx.Module):
    """features -> [Linear(width) + ReLU] x depth -> Linear(n_classes).

    Input (features,) float; output (n_classes,) logits.
    """

    hidden: list[eqx.nn.Linear]
    head: eqx.nn.Linear

    def __init__(self, features: int, width: int, depth: int, n_classes: int, *, key):
        keys = jax.random.split(key, depth + 1)
        sizes = [features] + [width] * depth
        self.hidden = [eqx.nn.Linear(sizes[i], sizes[i + 1], key=keys[i]) for i in range(depth)]
        self.head = eqx.nn.Linear(width, n_classes, key=keys[-1])

    def __call__(self, x):
        for layer in self.hidden:
            x = jax.nn.relu(layer(x))
        return self.head(x)


def max_pool_2x2(x):
    """2x2 max-pool with stride 2 over a channels-last (H, W, C) map -> (H // 2, W // 2, C), odd edges
    dropped.

    Same result as `eqx.nn.MaxPool2d(2, stride=2)` on the (C, H, W) transpose, written as a reshape
    and a max on purpose: MaxPool2d lowers to reduce_window, whose gradient (select_and_scatter) is
    slow on XLA:CPU. Measured on the 2-core dev CPU, 3-block 32/64/128 CNN at batch 128:
    convolutions + pooling fwd+bwd 540-650 -> 820-930 images/s; a whole training step 596 -> 631-644
    (docs/PERFORMANCE.md).
    """
    h, w, c = x.shape
    x = x[: h - h % 2, : w - w % 2]
    return x.reshape(h // 2, 2, w // 2, 2, c).max(axis=(1, 3))


@jax.custom_vjp
def relu_max_pool_2x2(x):
    """`max_pool_2x2(relu(x))` over a channels-last (H, W, C) map -> (H // 2, W // 2, C), with its
    gradient written as one masked select.

    Autodiff of the two goes through jnp.max's rule (a tie count per window, a division) and then
    ReLU's mask: two passes over the full-size map. Here the incoming gradient goes to every input
    that equals its window's maximum and is positive, in one pass. Same gradient wherever a window's
    positive maximum is unique (always, for real-valued activations; ties at 0 get no gradient either
    way, as ReLU's gradient is 0 there); tied positive maxima would each get the whole gradient
    instead of a share. Measured on the 2-core dev CPU, 3-block CNN step at batch 128, alternating
    rounds: 61.4 -> 57.9 ms (docs/PERFORMANCE.md).
    """
    return max_pool_2x2(jax.nn.relu(x))


def _relu_max_pool_fwd(x):
    y = max_pool_2x2(jax.nn.relu(x))
    return y, (x, y)


def _relu_max_pool_bwd(saved, g):
    x, y = saved
    h, w, _ = x.shape
    kept = x[: h - h % 2, : w - w % 2]

    def spread(a):  # (H // 2, W // 2, C) -> each value over its 2x2 window
        return jnp.repeat(jnp.repeat(a, 2, axis=0), 2, axis=1)

    grad = jnp.where((kept == spread(y)) & (kept > 0), spread(g), jnp.zeros((), g.dtype))
    return (jnp.pad(grad, ((0, h % 2), (0, w % 2), (0, 0))).astype(x.dtype),)


relu_max_pool_2x2.defvjp(_relu_max_pool_fwd, _relu_max_pool_bwd)


def conv_channels_last(conv: eqx.nn.Conv2d, x):
    """equinox's `conv` applied to a channels-last map: x (H, W, C_in) -> (H_out, W_out, C_out).

    The same numbers as `conv(x.transpose(2, 0, 1))` transposed back, from the same parameters
    (weight (C_out, C_in, kh, kw), bias (C_out, 1, 1)); zero padding only. Why not call `conv`:
    equinox's Conv2d is channels-first, and XLA:CPU's convolution kernels are channels-last, so
    a channels-first network pays a transpose around every convolution and every gradient
    (about 30 of them in the 3-block CNN's step). Channels-last throughout: a training step
    176 -> 117 ms on the 2-core dev CPU (docs/PERFORMANCE.md). GPU compilers pick their own
    layouts either way.
    """
    if conv.padding_mode != "ZEROS":
        raise ValueError(f"conv_channels_last supports zero padding only, not {conv.padding_mode}")
    y = lax.conv_general_dilated(
        x[None], conv.weight, window_strides=conv.stride, padding=conv.padding, rhs_dilation=conv.dilation,
        feature_group_count=conv.groups, dimension_numbers=("NHWC", "OIHW", "NHWC"))[0]
    return y + conv.bias.reshape(-1) if conv.use_bias else y


class CNN(eqx.Module):
    """[Conv 3x3 'same' + ReLU + MaxPool 2x2] x depth, channels doubling, then a dense head.

    Input (H, W, C) float, kept channels-last through the convolutions (`conv_channels_last`);
    conv block i has channels * 2**i output channels; the final (H/2^depth, W/2^depth, C') map
    is flattened in (C', H', W') order, as equinox's channels-first layers would, into
    Linear(width) + ReLU + Linear(n_classes). The function is the one a channels-first stack of
    equinox's Conv2d and MaxPool2d computes (tests/test_train.py).
    """

    convs: list[eqx.nn.Conv2d]
    dense: eqx.nn.Linear
    head: eqx.nn.Linear

    def __init__(self, input_shape, channels: int, depth: int, width: int, n_classes: int, *, key):
        height, width_px, in_channels = input_shape
        keys = jax.random.split(key, depth + 2)
        chans = [in_channels] + [channels * 2**i for i in range(depth)]
        self.convs = [eqx.nn.Conv2d(chans[i], chans[i + 1], 3, padding=1, key=keys[i]) for i in range(depth)]
        flat = chans[-1] * (height >> depth) * (width_px >> depth)
        self.dense = eqx.nn.Linear(flat, width, key=keys[-2])
        self.head = eqx.nn.Linear(width, n_classes, key=keys[-1])

    def __call__(self, x):
        for conv in self.convs:
            x = relu_max_pool_2x2(conv_channels_last(conv, x))
        features = jnp.transpose(x, (2, 0, 1)).reshape(-1)  # a small map: (C', H', W') order
        return self.head(jax.nn.relu(self.dense(features)))


class EncoderLayer(eqx.Module):
    """Pre-norm Transformer encoder layer: x + MHA(LN(x)), then x + MLP(LN(x)), MLP 4x wide.

    Input and output (seq_len, width).
    """

    norm1: eqx.nn.LayerNorm
    attention: eqx.nn.MultiheadAttention
    norm2: eqx.nn.LayerNorm
    up: eqx.nn.Linear
    down: eqx.nn.Linear

    def __init__(self, width: int, heads: int, *, key):
        k_attn, k_up, k_down = jax.random.split(key, 3)
        self.norm1 = eqx.nn.LayerNorm(width)
        self.attention = eqx.nn.MultiheadAttention(
            heads,
            width,
            use_query_bias=True,
            use_key_bias=True,
            use_value_bias=True,
            use_output_bias=True,
            key=k_attn,
        )
        self.norm2 = eqx.nn.LayerNorm(width)
        self.up = eqx.nn.Linear(width, 4 * width, key=k_up)
        self.down = eqx.nn.Linear(4 * width, width, key=k_down)

    def __call__(self, x):
        y = jax.vmap(self.norm1)(x)
        x = x + self.attention(y, y, y)
        y = jax.vmap(self.norm2)(x)
        return x + jax.vmap(self.down)(jax.nn.gelu(jax.vmap(self.up)(y)))


class Transformer(eqx.Module):
    """Token embedding + learned positions -> encoder layers -> LayerNorm -> mean pool -> Linear.

    Input (seq_len,) int token ids; output (n_classes,) logits. At BERT-base's shape (width 768, 12
    layers, 12 heads, vocabulary 30,522) and 128 tokens it has 108,602,890 parameters at 10 classes,
    0.8 % under BERT-base's published 110 M (109,482,240 in the reference implementation, pooler
    included): it has no token-type (segment) embeddings (2 x 768), 128 learned positions instead of
    512 (384 x 768 fewer) and no pooler (768 x 768 + 768); its final LayerNorm has the size of BERT's
    embedding LayerNorm, and its head is 768 x n_classes + n_classes.
    """

    embedding: eqx.nn.Embedding
    positions: jax.Array
    layers: list[EncoderLayer]
    norm: eqx.nn.LayerNorm
    head: eqx.nn.Linear

    def __init__(self, vocab: int, seq_len: int, width: int, depth: int, heads: int, n_classes: int, *, key):
        keys = jax.random.split(key, depth + 3)
        self.embedding = eqx.nn.Embedding(vocab, width, key=keys[0])
        self.positions = 0.02 * jax.random.normal(keys[1], (seq_len, width))
        self.layers = [EncoderLayer(width, heads, key=k) for k in keys[2:-1]]
        self.norm = eqx.nn.LayerNorm(width)
        self.head = eqx.nn.Linear(width, n_classes, key=keys[-1])

    def __call__(self, tokens):
        x = jax.vmap(self.embedding)(tokens) + self.positions
        for layer in self.layers:
            x = layer(x)
        return self.head(jnp.mean(jax.vmap(self.norm)(x), axis=0))


def build_model(config: RunConfig, key) -> eqx.Module:
    """The network `config.model` describes, with float32 weights drawn from `key`."""
    m = config.model
    n_classes = config.data.n_classes
    if m.kind == "mlp":
        return MLP(config.input_shape[0], m.width, m.depth, n_classes, key=key)
    if m.kind == "cnn":
        return CNN(config.input_shape, m.channels, m.depth, m.width, n_classes, key=key)
    if m.kind == "resnet":
        from engine.measure.resnet import ResNet  # it builds on this module's conv_channels_last

        return ResNet(config.input_shape, m.channels, m.depth, n_classes, key=key)
    if m.kind == "gpt":
        from engine.measure.gpt import GPT  # it builds on this module's EncoderLayer

        return GPT(m.vocab, m.seq_len, m.width, m.depth, m.heads, key=key)
    return Transformer(m.vocab, m.seq_len, m.width, m.depth, m.heads, n_classes, key=key)


def count_parameters(model: eqx.Module) -> int:
    """Number of scalars in the model's arrays (the exact parameter count)."""
    return sum(leaf.size for leaf in jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_array)))
