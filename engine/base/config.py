"""Frozen, validated descriptions of what to measure.

Every config is a frozen dataclass: hashable (usable as a jit static argument or a cache
key) and `dataclasses.asdict` gives the run-record columns. Construction validates every
field and raises `ConfigError` naming the field, the value and what is allowed.

This module imports no jax: the dashboard builds configs without loading JAX.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field, fields, replace

MODEL_KINDS = ("mlp", "cnn", "transformer", "resnet", "gpt")
# ResNet layouts by depth (conv and linear layers): blocks per stage and the block ("basic": two 3x3 convs,
# "bottleneck": 1x1, 3x3, 1x1 with 4x expansion), as in He et al. 2016 and torchvision.
RESNET_LAYOUTS = {
    10: ((1, 1, 1, 1), "basic"),
    18: ((2, 2, 2, 2), "basic"),
    34: ((3, 4, 6, 3), "basic"),
    50: ((3, 4, 6, 3), "bottleneck"),
    101: ((3, 4, 23, 3), "bottleneck"),
}
RESNET_MAX_CHANNELS = 128  # stem width; stage widths are channels x 1, 2, 4, 8 (x 4 out of a bottleneck)
RESNET_SIDE = (32, 512)  # pixels per image side: 5 stride-2 steps need 32; 224 is the ImageNet size
RESNET_IN_CHANNELS = (1, 4)  # grey, RGB or RGBA images
# Model kinds whose convolutions make a rolled lax.scan pathological on XLA:CPU (`auto_mode`).
CONV_KINDS = ("cnn", "resnet")
OPTIMIZERS = ("adam", "adamw", "sgd")
DTYPES = ("float32", "bfloat16")
MATMUL_PRECISIONS = ("default", "high", "highest")
MODES = ("auto", "per_step", "fused")
DEVICE_PLATFORMS = ("cpu", "gpu", "tpu")

# Upper bounds that keep one config inside what a single machine can hold; the dashboard
# tightens them further for public hosting.
LIMITS = {
    "width": (1, 65_536),
    "depth": (1, 64),
    "channels": (1, 1_024),
    "heads": (1, 64),
    "seq_len": (1, 4_096),
    "vocab": (2, 1_000_000),
    "samples": (1, 100_000_000),
    "n_classes": (2, 100_000),
    "seed": (0, 2**31 - 1),
    "batch_size": (1, 1_000_000),
    "epochs": (1, 1_000_000),
    "warmup": (1, 100),
    "repeats": (1, 1_000),
    "input_dim": (1, 10_000_000),
    # Devices in one data-parallel mesh: up to the largest single machines (8-16 GPUs, TPU slices).
    "device_count": (1, 1_024),
}
LEARNING_RATE_RANGE = (1e-8, 10.0)
TIME_BUDGET_RANGE = (0.1, 7 * 24 * 3600.0)


class ConfigError(ValueError):
    """A config field holds a value outside what is allowed. The message names the field."""

    def __init__(self, field_name: str, value: object, allowed: str):
        self.field = field_name
        self.value = value
        self.allowed = allowed
        super().__init__(f"{field_name}={_shown(value)} is not allowed: expected {allowed}")


def _shown(value: object, limit: int = 80) -> str:
    """repr of a refused value, cut short: a 10**5000 int cannot even be repr'd, a 1 MB string should not be."""
    try:
        text = repr(value)
    except ValueError:  # int too large to convert to str
        return f"<an integer of more than {sys.get_int_max_str_digits()} digits>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_int(name: str, value: object) -> int:
    low, high = LIMITS[name]
    # bool is an int subclass, and a float 3.0 is not an int: both are refused on purpose.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(name, value, f"an integer in [{low}, {high}]")
    if not low <= value <= high:
        raise ConfigError(name, value, f"an integer in [{low}, {high}]")
    return value


def _check_choice(name: str, value: object, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ConfigError(name, value, "one of " + ", ".join(allowed))
    return value


def _check_float(name: str, value: object, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(name, value, f"a number in [{low:g}, {high:g}]")
    try:
        number = float(value)  # an int beyond float's range (10**400) overflows: out of range too
    except OverflowError:
        raise ConfigError(name, value, f"a number in [{low:g}, {high:g}]") from None
    if math.isnan(number) or not low <= number <= high:
        raise ConfigError(name, value, f"a number in [{low:g}, {high:g}]")
    return number


@dataclass(frozen=True)
class ModelConfig:
    """The network to train.

    kind: "mlp" | "cnn" | "transformer" | "resnet" | "gpt".
    width: MLP hidden units per layer; CNN dense-head units; Transformer / GPT model width (d_model);
        unused by a ResNet.
    depth: MLP hidden layers; CNN conv blocks (conv 3x3 + ReLU + 2x2 max-pool each, channels
        doubling per block); Transformer encoder layers; GPT decoder blocks; ResNet depth, one of
        RESNET_LAYOUTS (10, 18, 34: basic blocks; 50, 101: bottlenecks).
    channels: CNN output channels of the first conv block; ResNet stem width (64 is the standard
        ResNet; stage widths channels x 1, 2, 4, 8); unused by other kinds.
    heads: Transformer / GPT attention heads; must divide width (unused by other kinds).
    seq_len: Transformer / GPT tokens per example (unused by other kinds).
    vocab: Transformer / GPT vocabulary size (unused by other kinds); a GPT's output layer has
        vocab classes (its labels are the next tokens).
    """

    kind: str = "mlp"
    width: int = 256
    depth: int = 2
    channels: int = 16
    heads: int = 4
    seq_len: int = 32
    vocab: int = 256

    def __post_init__(self):
        _check_choice("kind", self.kind, MODEL_KINDS)
        for name in ("width", "depth", "channels", "heads", "seq_len", "vocab"):
            if not (name == "depth" and self.kind == "resnet"):  # a ResNet's depth names a layout (below)
                _check_int(name, getattr(self, name))
        if self.kind in ("transformer", "gpt") and self.width % self.heads:
            raise ConfigError("heads", self.heads, f"a divisor of width={self.width}")
        if self.kind == "resnet":
            depth_ok = isinstance(self.depth, int) and not isinstance(self.depth, bool) and self.depth in RESNET_LAYOUTS
            if not depth_ok:
                raise ConfigError("depth", self.depth, "one of " + ", ".join(map(str, RESNET_LAYOUTS)) + " for a ResNet")
            if self.channels > RESNET_MAX_CHANNELS:
                raise ConfigError("channels", self.channels,
                                  f"an integer in [1, {RESNET_MAX_CHANNELS}] for a ResNet (its stem width)")


@dataclass(frozen=True)
class DataConfig:
    """The synthetic dataset.

    samples: examples per epoch (an epoch is samples // batch_size steps).
    input_shape: per-example input shape; () means the default for the model kind:
        MLP (784,), CNN (32, 32, 3) as H x W x C, ResNet (64, 64, 3), Transformer and GPT
        (seq_len,) token ids.
    n_classes: number of labels (unused by a GPT, whose labels are next tokens, < vocab).
    seed: PRNG seed; the same seed gives the same data and initial weights on every device.
    """

    samples: int = 4096
    input_shape: tuple[int, ...] = ()
    n_classes: int = 10
    seed: int = 0

    def __post_init__(self):
        _check_int("samples", self.samples)
        _check_int("n_classes", self.n_classes)
        _check_int("seed", self.seed)
        if not isinstance(self.input_shape, tuple) or len(self.input_shape) > 3:
            raise ConfigError("input_shape", self.input_shape, "a tuple of at most 3 positive integers")
        for dim in self.input_shape:
            _check_int("input_dim", dim)
        if math.prod(self.input_shape) > LIMITS["input_dim"][1]:
            raise ConfigError("input_shape", self.input_shape, f"at most {LIMITS['input_dim'][1]} values")


@dataclass(frozen=True)
class TrainConfig:
    """How to train.

    batch_size: examples per step. epochs: the length of the training run being priced
        (end_to_end_s = compile + transfer + epochs x measured epoch time).
    optimizer: "adam" | "adamw" | "sgd" (optax). dtype: compute dtype; parameters stay float32.
    matmul_precision: "default" (TF32 on recent NVIDIA GPUs), "high" or "highest" (true float32).
    mode: "per_step" (one jit dispatch per batch), "fused" (lax.scan over the epoch) or "auto".
    """

    batch_size: int = 128
    epochs: int = 10
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    dtype: str = "float32"
    matmul_precision: str = "default"
    mode: str = "auto"

    def __post_init__(self):
        _check_int("batch_size", self.batch_size)
        _check_int("epochs", self.epochs)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        object.__setattr__(
            self, "learning_rate", _check_float("learning_rate", self.learning_rate, *LEARNING_RATE_RANGE)
        )
        _check_choice("dtype", self.dtype, DTYPES)
        _check_choice("matmul_precision", self.matmul_precision, MATMUL_PRECISIONS)
        _check_choice("mode", self.mode, MODES)


def _check_device_spec(spec: object) -> str:
    """A device spec is a platform ("cpu", "gpu", "tpu") optionally with an index ("gpu:1")."""
    allowed = "cpu, gpu or tpu, optionally with :index 0-9999 (e.g. gpu:0)"
    if not isinstance(spec, str):
        raise ConfigError("devices", spec, allowed)
    platform, _, index = spec.partition(":")
    # ASCII digits only: str.isdigit() also accepts '²' or '٣', which int() then refuses or reads.
    bad_index = index and not (index.isascii() and index.isdigit() and len(index) <= 4)
    if platform not in DEVICE_PLATFORMS or bad_index or (not index and spec != platform):
        raise ConfigError("devices", spec, allowed)
    return spec


@dataclass(frozen=True)
class BenchConfig:
    """How to measure.

    warmup: epochs run and discarded before timing (at least 1).
    repeats: timed epochs; the record keeps each one's seconds, the median and the IQR.
    devices: device specs to measure on, e.g. ("cpu", "gpu").
    time_budget_s: seconds one run may take, compile included; past it the run stops
        with status "timeout" and keeps what it measured.
    device_count: N, the devices of each spec's platform one run trains on, data-parallel: the
        batch is split over a mesh of N devices (`engine.measure.parallel`), starting at the spec's index
        ("gpu:2" with N=2 uses gpu:2 and gpu:3). 1 is ordinary single-device training.
    """

    warmup: int = 1
    repeats: int = 5
    devices: tuple[str, ...] = ("cpu",)
    time_budget_s: float = 600.0
    device_count: int = 1

    def __post_init__(self):
        _check_int("warmup", self.warmup)
        _check_int("repeats", self.repeats)
        if not isinstance(self.devices, tuple) or not self.devices:
            raise ConfigError("devices", self.devices, "a non-empty tuple of device specs")
        for spec in self.devices:
            _check_device_spec(spec)
        object.__setattr__(
            self, "time_budget_s", _check_float("time_budget_s", self.time_budget_s, *TIME_BUDGET_RANGE)
        )
        _check_int("device_count", self.device_count)


@dataclass(frozen=True)
class RunConfig:
    """One measurement: a model trained on a dataset with a training setup, measured as told."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    bench: BenchConfig = field(default_factory=BenchConfig)

    def __post_init__(self):
        for f in fields(self):
            expected = {"model": ModelConfig, "data": DataConfig, "train": TrainConfig, "bench": BenchConfig}[f.name]
            if not isinstance(getattr(self, f.name), expected):
                raise ConfigError(f.name, getattr(self, f.name), f"a {expected.__name__}")
        if self.train.batch_size > self.data.samples:
            raise ConfigError(
                "batch_size", self.train.batch_size, f"at most samples={self.data.samples} (one full batch per step)"
            )
        if self.train.batch_size % self.bench.device_count:
            # Each device takes an equal slice of every batch; an uneven split is not data parallelism.
            raise ConfigError(
                "batch_size", self.train.batch_size, f"a multiple of device_count={self.bench.device_count}"
            )
        shape = self.input_shape
        if self.model.kind == "cnn":
            if len(shape) != 3:
                raise ConfigError("input_shape", shape, "H x W x C for a CNN")
            smallest = min(shape[0], shape[1])
            if smallest < 2**self.model.depth:
                raise ConfigError(
                    "depth", self.model.depth, f"at most log2(min(H, W))={int(math.log2(smallest))} pooling blocks"
                )
            if self.model.channels * 2 ** (self.model.depth - 1) > LIMITS["channels"][1]:
                raise ConfigError(
                    "channels", self.model.channels, f"channels x 2^(depth-1) <= {LIMITS['channels'][1]}"
                )
        elif self.model.kind == "resnet":
            _check_resnet_shape(shape)
        elif self.model.kind in ("transformer", "gpt"):
            if shape != (self.model.seq_len,):
                name = "a Transformer" if self.model.kind == "transformer" else "a GPT"
                raise ConfigError("input_shape", shape, f"({self.model.seq_len},) token ids for {name}")
        elif len(shape) != 1:
            raise ConfigError("input_shape", shape, "(features,) for an MLP")

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Per-example input shape, with the model kind's default filled in."""
        if self.data.input_shape:
            return self.data.input_shape
        return default_input_shape(self.model)

    @property
    def steps_per_epoch(self) -> int:
        return self.data.samples // self.train.batch_size

    def resolved_mode(self, platform: str) -> str:
        """The epoch runner this config uses on `platform`.

        `auto` picks fused (one dispatch per epoch) except for CNNs and ResNets on the CPU, where a
        rolled `lax.scan` over convolutions runs ~25x slower than per-step dispatch (DESIGN.md).
        """
        if self.train.mode != "auto":
            return self.train.mode
        return auto_mode(self.model.kind, platform)


def auto_mode(kind: str, platform: str) -> str:
    """The epoch runner `auto` picks for a model kind on a platform (see `RunConfig.resolved_mode`).

    A ResNet is per_step on the CPU like the CNN by assumption (both are convolutions under a rolled
    scan; the ResNet's fused epoch was not timed here)."""
    return "per_step" if kind in CONV_KINDS and platform == "cpu" else "fused"


def _check_resnet_shape(shape: tuple[int, ...]) -> None:
    """A ResNet's input: (H, W, C) with H and W in RESNET_SIDE pixels and C in RESNET_IN_CHANNELS."""
    (low, high), (c_low, c_high) = RESNET_SIDE, RESNET_IN_CHANNELS
    allowed = f"H x W x C for a ResNet, H and W in [{low}, {high}] pixels, C in [{c_low}, {c_high}]"
    if len(shape) != 3 or not (low <= shape[0] <= high and low <= shape[1] <= high and c_low <= shape[2] <= c_high):
        raise ConfigError("input_shape", shape, allowed)


def default_input_shape(model: ModelConfig) -> tuple[int, ...]:
    if model.kind == "cnn":
        return (32, 32, 3)
    if model.kind == "resnet":
        return (64, 64, 3)
    if model.kind in ("transformer", "gpt"):
        return (model.seq_len,)
    return (784,)


def with_devices(config: RunConfig, devices: tuple[str, ...]) -> RunConfig:
    """A copy of `config` measured on other devices (the same number of them per run)."""
    return replace(config, bench=replace(config.bench, devices=devices))


def with_device_count(config: RunConfig, device_count: int) -> RunConfig:
    """A copy of `config` trained data-parallel on `device_count` devices per run (validated again:
    the batch must split evenly)."""
    return replace(config, bench=replace(config.bench, device_count=device_count))


def check_devices_present(config: RunConfig, present: list[str]) -> None:
    """Refuse, before any process starts, a run whose devices are not all here.

    present: the specs of this machine's devices, e.g. ["cpu:0", "gpu:0", "gpu:1"] (`python -m
    engine devices`). Each spec of `config.bench.devices` must be present, and with N =
    `device_count` its platform needs N devices from the spec's index on. Raises ConfigError
    naming `devices` or `device_count` and what this machine allows.
    """
    n = config.bench.device_count
    for spec in config.bench.devices:
        platform, _, index = spec.partition(":")
        same_platform = sorted(int(p.partition(":")[2] or 0) for p in present if p.partition(":")[0] == platform)
        start = int(index or 0)
        if start not in same_platform:
            raise ConfigError("devices", spec, "one of " + ", ".join(present))
        available = sum(1 for i in same_platform if i >= start)
        if n > available:
            raise ConfigError("device_count", n, f"an integer in [1, {available}] for {spec} on this machine "
                                                 f"({len(same_platform)} {platform} device(s))")
