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

MODEL_KINDS = ("mlp", "cnn", "transformer")
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

    kind: "mlp" | "cnn" | "transformer".
    width: MLP hidden units per layer; CNN dense-head units; Transformer model width (d_model).
    depth: MLP hidden layers; CNN conv blocks (conv 3x3 + ReLU + 2x2 max-pool each, channels
        doubling per block); Transformer encoder layers.
    channels: CNN output channels of the first conv block (unused by other kinds).
    heads: Transformer attention heads; must divide width (unused by other kinds).
    seq_len: Transformer tokens per example (unused by other kinds).
    vocab: Transformer vocabulary size (unused by other kinds).
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
            _check_int(name, getattr(self, name))
        if self.kind == "transformer" and self.width % self.heads:
            raise ConfigError("heads", self.heads, f"a divisor of width={self.width}")


@dataclass(frozen=True)
class DataConfig:
    """The synthetic dataset.

    samples: examples per epoch (an epoch is samples // batch_size steps).
    input_shape: per-example input shape; () means the default for the model kind:
        MLP (784,), CNN (32, 32, 3) as H x W x C, Transformer (seq_len,) token ids.
    n_classes: number of labels.
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
        elif self.model.kind == "transformer":
            if shape != (self.model.seq_len,):
                raise ConfigError("input_shape", shape, f"({self.model.seq_len},) token ids for a Transformer")
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

        `auto` picks fused (one dispatch per epoch) except for CNNs on the CPU, where a rolled
        `lax.scan` over convolutions runs ~25x slower than per-step dispatch (DESIGN.md).
        """
        if self.train.mode != "auto":
            return self.train.mode
        return auto_mode(self.model.kind, platform)


def auto_mode(kind: str, platform: str) -> str:
    """The epoch runner `auto` picks for a model kind on a platform (see `RunConfig.resolved_mode`)."""
    return "per_step" if kind == "cnn" and platform == "cpu" else "fused"


def default_input_shape(model: ModelConfig) -> tuple[int, ...]:
    if model.kind == "cnn":
        return (32, 32, 3)
    if model.kind == "transformer":
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
