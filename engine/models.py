"""The three networks Crossover trains, built from equinox layers.

Every model maps ONE example to logits of shape (n_classes,); batches go through `jax.vmap`.
Exact parameter counts and analytic FLOPs live in `engine.counts` (no jax needed), and the
tests check them against the arrays built here.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import lax

from engine.config import RunConfig


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
    """2x2 max-pool with stride 2 over a (C, H, W) map -> (C, H // 2, W // 2), odd edges dropped.

    Same result as `eqx.nn.MaxPool2d(2, stride=2)`, written as a reshape and a max on purpose:
    MaxPool2d lowers to reduce_window, whose gradient (select_and_scatter) is slow on XLA:CPU.
    Measured on the 2-core dev CPU, 3-block 32/64/128 CNN at batch 128: convolutions + pooling
    fwd+bwd 540-650 -> 820-930 images/s; a whole training step 596 -> 631-644 (docs/PERFORMANCE.md).
    """
    c, h, w = x.shape
    x = x[:, : h - h % 2, : w - w % 2]
    return x.reshape(c, h // 2, 2, w // 2, 2).max(axis=(2, 4))


# Input channels up to which a 3x3 convolution runs as one matrix multiplication on the CPU (below).
FEW_CHANNELS = 4


def _conv3x3_as_matmul(conv: eqx.nn.Conv2d, x):
    """`conv(x)` for a 3x3, stride-1, padding-1 `conv`, as im2col + one matrix multiplication.

    x (C, H, W) -> (C_out, H, W). The nine shifted copies of the zero-padded map are stacked into
    a (C * 9, H * W) matrix whose row order (c, kh, kw) matches the weight (C_out, C, 3, 3) reshaped
    to (C_out, C * 9). Its gradient is slices, pads and two matrix multiplications.
    """
    c, h, w = x.shape
    padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1)))
    columns = jnp.stack([padded[:, i:i + h, j:j + w] for i in range(3) for j in range(3)], axis=1)
    out = conv.weight.reshape(conv.weight.shape[0], c * 9) @ columns.reshape(c * 9, h * w)
    return out.reshape(-1, h, w) + conv.bias


def conv3x3(conv: eqx.nn.Conv2d, x):
    """`conv(x)` (equinox's Conv2d, 3x3, padding 1), x (C, H, W) -> (C_out, H, W), same values.

    On the CPU, a convolution of an input with at most FEW_CHANNELS channels (an RGB image) runs as
    one matrix multiplication instead: XLA:CPU's convolution is slow when the input has few
    channels. Measured on the 2-core dev CPU, 32x32x3 -> 32 channels at batch 128, forward and
    weight gradient: 78 ms as a convolution, 18 ms as a matrix multiplication (docs/PERFORMANCE.md).
    Every other device and layer keeps equinox's convolution: `lax.platform_dependent` picks the
    branch when the step is compiled for its device, so GPU runs are unchanged.
    """
    if x.shape[0] > FEW_CHANNELS:
        return conv(x)
    # Lambdas, not `conv` itself: platform_dependent hashes its branches, and a Module holding
    # traced arrays cannot be hashed.
    return lax.platform_dependent(x, cpu=lambda v: _conv3x3_as_matmul(conv, v), default=lambda v: conv(v))


class CNN(eqx.Module):
    """[Conv 3x3 'same' + ReLU + MaxPool 2x2] x depth, channels doubling, then a dense head.

    Input (H, W, C) float, transposed to equinox's (C, H, W); conv block i has
    channels * 2**i output channels; after the blocks the (C', H/2^depth, W/2^depth) map is
    flattened into Linear(width) + ReLU + Linear(n_classes).
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
        x = jnp.transpose(x, (2, 0, 1))
        for conv in self.convs:
            x = max_pool_2x2(jax.nn.relu(conv3x3(conv, x)))
        return self.head(jax.nn.relu(self.dense(x.reshape(-1))))


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

    Input (seq_len,) int token ids; output (n_classes,) logits.
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
    return Transformer(m.vocab, m.seq_len, m.width, m.depth, m.heads, n_classes, key=key)


def count_parameters(model: eqx.Module) -> int:
    """Number of scalars in the model's arrays (the exact parameter count)."""
    return sum(leaf.size for leaf in jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_array)))
