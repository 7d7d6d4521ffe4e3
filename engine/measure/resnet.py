"""A ResNet (He et al. 2016, torchvision's layout) from equinox layers, channels-last, GroupNorm for BatchNorm.

Layout for input (H, W, C_in) and stem width c (`ModelConfig.channels`, 64 in the standard nets):
- stem: Conv 7x7 stride 2 padding 3 (no bias) -> norm -> ReLU -> MaxPool 3x3 stride 2 padding 1;
- 4 stages of `RESNET_LAYOUTS[depth]` blocks, widths w = c x 1, 2, 4, 8; the first block of stages
  2-4 has stride 2 (on its 3x3 conv, torchvision's "v1.5"); a block's shortcut is the identity, or
  Conv 1x1 (stride, no bias) -> norm where the shape changes;
  - basic block (depths 10, 18, 34): Conv 3x3 -> norm -> ReLU -> Conv 3x3 -> norm, + shortcut, ReLU; out w;
  - bottleneck (50, 101): Conv 1x1 -> norm -> ReLU -> Conv 3x3 -> norm -> ReLU -> Conv 1x1 (4w) -> norm,
    + shortcut, ReLU; out 4w;
- global average pool -> Linear(n_classes) (with bias).
A conv k x k with stride s and padding p maps a side n to floor((n + 2p - k) / s) + 1.

Normalisation is `eqx.nn.GroupNorm(norm_groups(C), C)` (up to 32 groups of at least 4 channels): no running statistics (training state stays the
parameters alone), and its affine weight and bias count as BatchNorm's, so the parameter counts are
torchvision's: ResNet-18 at 1,000 classes 11,689,512, ResNet-50 25,557,032 (tests/test_counts_ladder.py).

Channels-last throughout, like the CNN (`engine.measure.models.conv_channels_last` says why): equinox's
layers are channels-first, so the convolutions, the norms and the max-pool are applied to (H, W, C) maps
by the functions below, from the layers' own parameters; each gives the numbers the equinox layer gives
on the transposed map (tests/test_models_ladder.py).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import lax

from engine.base.config import RESNET_LAYOUTS
from engine.measure.models import conv_channels_last

BOTTLENECK_EXPANSION = 4
MAX_NORM_GROUPS = 32
MIN_GROUP_CHANNELS = 4


def norm_groups(channels: int) -> int:
    """GroupNorm groups for a map of `channels`: the largest power of two up to 32 that divides `channels` and
    leaves at least MIN_GROUP_CHANNELS channels per group (1 if none does). Standard widths get 32 groups (16
    at 64 channels); a narrow toy net fewer, since a group of one channel on the 1 x 1 maps a small image
    reaches normalises every value to 0 and the network could learn nothing from its input."""
    groups = MAX_NORM_GROUPS
    while groups > 1 and (channels % groups or channels // groups < MIN_GROUP_CHANNELS):
        groups //= 2
    return groups


def group_norm_channels_last(norm: eqx.nn.GroupNorm, x):
    """`norm` (equinox's GroupNorm, channels-first) applied to a channels-last map x (H, W, C) -> (H, W, C).

    The same arithmetic as `norm(x.transpose(2, 0, 1))` transposed back: statistics per group over
    (H, W, C / groups) in float32 at least, eps inside the square root, then weight x + bias per channel.
    """
    orig_dtype = x.dtype
    x = x.astype(jnp.result_type(x.dtype, jnp.float32))
    h, w, c = x.shape
    y = x.reshape(h, w, norm.groups, c // norm.groups)
    mean = jnp.mean(y, axis=(0, 1, 3), keepdims=True)
    variance = jnp.maximum(0.0, jnp.var(y, axis=(0, 1, 3), keepdims=True))
    out = ((y - mean) * lax.rsqrt(variance + norm.eps)).reshape(h, w, c)
    if norm.channelwise_affine:
        out = norm.weight.astype(out.dtype) * out + norm.bias.astype(out.dtype)
    return out.astype(orig_dtype)


def max_pool_3x3_s2(x):
    """3x3 max-pool, stride 2, padding 1 (padded with -inf) over a channels-last map (H, W, C) ->
    (floor((H - 1) / 2) + 1, floor((W - 1) / 2) + 1, C): `eqx.nn.MaxPool2d(3, 2, padding=1)` on the
    (C, H, W) transpose. Once per network, so its reduce_window gradient costs little."""
    return lax.reduce_window(x, -jnp.inf, lax.max, (3, 3, 1), (2, 2, 1), ((1, 1), (1, 1), (0, 0)))


class ConvNorm(eqx.Module):
    """Conv k x k (stride, padding k // 2, no bias) then GroupNorm: (H, W, C_in) -> (H', W', C_out)."""

    conv: eqx.nn.Conv2d
    norm: eqx.nn.GroupNorm

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, *, key):
        self.conv = eqx.nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, use_bias=False, key=key)
        self.norm = eqx.nn.GroupNorm(norm_groups(c_out), c_out)

    def __call__(self, x):
        return group_norm_channels_last(self.norm, conv_channels_last(self.conv, x))


class Block(eqx.Module):
    """A basic block (two 3x3 ConvNorms) or a bottleneck (1x1, 3x3, 1x1 x4), plus the shortcut, then ReLU.

    (H, W, c_in) -> (H / stride, W / stride, width x expansion), sides rounded as the module doc says.
    """

    layers: list[ConvNorm]
    shortcut: ConvNorm | None

    def __init__(self, c_in: int, width: int, stride: int, bottleneck: bool, *, key):
        keys = jax.random.split(key, 4)
        if bottleneck:
            c_out = width * BOTTLENECK_EXPANSION
            shapes = [(c_in, width, 1, 1), (width, width, 3, stride), (width, c_out, 1, 1)]
        else:
            c_out = width
            shapes = [(c_in, width, 3, stride), (width, width, 3, 1)]
        self.layers = [ConvNorm(*shape, key=k) for shape, k in zip(shapes, keys)]
        changes = stride != 1 or c_in != c_out
        self.shortcut = ConvNorm(c_in, c_out, 1, stride, key=keys[-1]) if changes else None

    def __call__(self, x):
        y = x
        for i, layer in enumerate(self.layers):
            y = layer(y)
            if i < len(self.layers) - 1:
                y = jax.nn.relu(y)
        return jax.nn.relu(y + (x if self.shortcut is None else self.shortcut(x)))


class ResNet(eqx.Module):
    """Input (H, W, C_in) float images, channels-last; output (n_classes,) logits (module doc)."""

    stem: ConvNorm
    blocks: list[Block]
    head: eqx.nn.Linear

    def __init__(self, input_shape, channels: int, depth: int, n_classes: int, *, key):
        stages, kind = RESNET_LAYOUTS[depth]
        bottleneck = kind == "bottleneck"
        keys = jax.random.split(key, sum(stages) + 2)
        self.stem = ConvNorm(input_shape[2], channels, 7, 2, key=keys[0])
        self.blocks = []
        c_in, i = channels, 1
        for stage, count in enumerate(stages):
            width = channels * 2**stage
            for b in range(count):
                stride = 2 if stage > 0 and b == 0 else 1
                self.blocks.append(Block(c_in, width, stride, bottleneck, key=keys[i]))
                c_in, i = width * (BOTTLENECK_EXPANSION if bottleneck else 1), i + 1
        self.head = eqx.nn.Linear(c_in, n_classes, key=keys[-1])

    def __call__(self, x):
        x = max_pool_3x3_s2(jax.nn.relu(self.stem(x)))
        for block in self.blocks:
            x = block(x)
        return self.head(jnp.mean(x, axis=(0, 1)))
