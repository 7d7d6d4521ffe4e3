"""engine.base.config: validation names the field; configs are frozen and hashable; mode resolution."""

import contextlib
import dataclasses
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.base.config import (
    LIMITS,
    BenchConfig,
    ConfigError,
    DataConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
    default_input_shape,
    with_devices,
)


@contextlib.contextmanager
def raises_for(field_name: str):
    """pytest.raises(ConfigError) that also checks the error names `field_name`."""
    with pytest.raises(ConfigError) as info:
        yield info
    assert info.value.field == field_name, f"error names {info.value.field!r}, expected {field_name!r}"
    assert str(info.value).startswith(f"{field_name}="), str(info.value)


@pytest.mark.parametrize(
    "make, field_name",
    [
        # out of range
        (lambda: ModelConfig(width=0), "width"),
        (lambda: ModelConfig(width=LIMITS["width"][1] + 1), "width"),
        (lambda: ModelConfig(depth=65), "depth"),
        (lambda: ModelConfig(vocab=1), "vocab"),
        (lambda: DataConfig(n_classes=1), "n_classes"),
        (lambda: BenchConfig(repeats=1001), "repeats"),
        (lambda: TrainConfig(learning_rate=11.0), "learning_rate"),
        (lambda: BenchConfig(time_budget_s=0.01), "time_budget_s"),
        # zero
        (lambda: TrainConfig(batch_size=0), "batch_size"),
        (lambda: BenchConfig(warmup=0), "warmup"),
        (lambda: TrainConfig(learning_rate=0.0), "learning_rate"),
        (lambda: DataConfig(samples=0), "samples"),
        # negative
        (lambda: ModelConfig(depth=-1), "depth"),
        (lambda: TrainConfig(epochs=-3), "epochs"),
        (lambda: DataConfig(seed=-1), "seed"),
        (lambda: TrainConfig(learning_rate=-1e-3), "learning_rate"),
        (lambda: DataConfig(input_shape=(28, -28)), "input_dim"),
        # wrong type
        (lambda: ModelConfig(width="64"), "width"),
        (lambda: ModelConfig(width=64.0), "width"),
        (lambda: ModelConfig(kind=3), "kind"),
        (lambda: TrainConfig(learning_rate="0.1"), "learning_rate"),
        (lambda: DataConfig(input_shape=[784]), "input_shape"),
        (lambda: BenchConfig(devices="cpu"), "devices"),
        (lambda: RunConfig(model=TrainConfig()), "model"),
        # bool is an int subclass and must still be refused
        (lambda: ModelConfig(width=True), "width"),
        (lambda: BenchConfig(repeats=False), "repeats"),
        (lambda: TrainConfig(learning_rate=True), "learning_rate"),
        # NaN and infinities
        (lambda: TrainConfig(learning_rate=float("nan")), "learning_rate"),
        (lambda: TrainConfig(learning_rate=float("inf")), "learning_rate"),
        (lambda: BenchConfig(time_budget_s=float("nan")), "time_budget_s"),
        # unknown choices
        (lambda: ModelConfig(kind="rnn"), "kind"),
        (lambda: TrainConfig(optimizer="lbfgs"), "optimizer"),
        (lambda: TrainConfig(dtype="float16"), "dtype"),
        (lambda: TrainConfig(matmul_precision="low"), "matmul_precision"),
        (lambda: TrainConfig(mode="eager"), "mode"),
        (lambda: BenchConfig(devices=("cuda",)), "devices"),
        (lambda: BenchConfig(devices=("gpu:x",)), "devices"),
        (lambda: BenchConfig(devices=()), "devices"),
        # fields that depend on each other
        (lambda: ModelConfig(kind="transformer", width=30, heads=4), "heads"),
        (lambda: RunConfig(data=DataConfig(samples=64), train=TrainConfig(batch_size=65)), "batch_size"),
        (lambda: RunConfig(model=ModelConfig("cnn", depth=6)), "depth"),  # 32x32 pools at most 5 times
        (lambda: RunConfig(model=ModelConfig("cnn", channels=512, depth=3)), "channels"),
        (lambda: RunConfig(model=ModelConfig("cnn"), data=DataConfig(input_shape=(784,))), "input_shape"),
        (lambda: RunConfig(model=ModelConfig("mlp"), data=DataConfig(input_shape=(28, 28))), "input_shape"),
        (
            lambda: RunConfig(model=ModelConfig("transformer", seq_len=16), data=DataConfig(input_shape=(32,))),
            "input_shape",
        ),
    ],
)
def test_config_error_names_the_field(make, field_name):
    with raises_for(field_name):
        make()


def test_error_message_states_the_allowed_range():
    with pytest.raises(ConfigError) as info:
        ModelConfig(width=0)
    assert info.value.value == 0
    assert "[1, 65536]" in str(info.value)


def test_valid_defaults_and_boundaries():
    config = RunConfig()
    assert config.input_shape == (784,)
    assert config.steps_per_epoch == 4096 // 128
    ModelConfig(width=LIMITS["width"][0], depth=LIMITS["depth"][1])  # both ends are allowed
    TrainConfig(learning_rate=1)  # an int learning rate is a number: accepted and stored as float
    assert isinstance(TrainConfig(learning_rate=1).learning_rate, float)
    BenchConfig(devices=("cpu", "gpu:1", "tpu"))


def test_configs_are_frozen_and_hashable():
    a, b = RunConfig(), RunConfig()
    assert a == b and hash(a) == hash(b)
    assert len({a, b, with_devices(a, ("gpu",))}) == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.model.width = 3  # type: ignore[misc]
    row = dataclasses.asdict(a)
    assert row["model"]["kind"] == "mlp" and row["bench"]["devices"] == ("cpu",)


def test_default_input_shapes():
    assert default_input_shape(ModelConfig("mlp")) == (784,)
    assert default_input_shape(ModelConfig("cnn")) == (32, 32, 3)
    assert default_input_shape(ModelConfig("transformer", seq_len=24, width=64, heads=4)) == (24,)


def test_with_devices_keeps_everything_else():
    config = RunConfig(bench=BenchConfig(warmup=2, repeats=7, time_budget_s=5.0))
    moved = with_devices(config, ("gpu",))
    assert moved.bench.devices == ("gpu",)
    assert dataclasses.replace(moved.bench, devices=("cpu",)) == config.bench
    assert (moved.model, moved.data, moved.train) == (config.model, config.data, config.train)


@pytest.mark.parametrize("platform", ["cpu", "gpu", "tpu"])
@pytest.mark.parametrize("kind", ["mlp", "cnn", "transformer"])
def test_resolved_mode(kind, platform):
    model = ModelConfig(kind, width=64, heads=4)
    auto = RunConfig(model=model).resolved_mode(platform)
    if kind == "cnn" and platform == "cpu":
        assert auto == "per_step"  # a rolled scan over convolutions is pathological on XLA:CPU
    else:
        assert auto == "fused"
    for mode in ("per_step", "fused"):  # an explicit choice is always honoured
        assert RunConfig(model=model, train=TrainConfig(mode=mode)).resolved_mode(platform) == mode


@given(st.integers())
def test_width_accepted_exactly_in_range(width):
    low, high = LIMITS["width"]
    if low <= width <= high:
        assert ModelConfig(width=width).width == width
    else:
        with raises_for("width"):
            ModelConfig(width=width)


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_learning_rate_accepted_exactly_in_range(lr):
    if not math.isnan(lr) and 1e-8 <= lr <= 10.0:
        assert TrainConfig(learning_rate=lr).learning_rate == lr
    else:
        with raises_for("learning_rate"):
            TrainConfig(learning_rate=lr)


def test_devices_present_check_names_the_field_and_what_this_machine_allows():
    from engine.base.config import BenchConfig, ConfigError, RunConfig, TrainConfig, check_devices_present

    def config(devices, n):
        return RunConfig(train=TrainConfig(batch_size=8), bench=BenchConfig(devices=devices, device_count=n))

    check_devices_present(config(("cpu:0", "gpu:0"), 1), ["cpu:0", "gpu:0", "gpu:1"])
    check_devices_present(config(("gpu:0",), 2), ["cpu:0", "gpu:0", "gpu:1"])
    with pytest.raises(ConfigError, match=r"device_count=2 is not allowed.*\[1, 1\] for gpu:1"):
        check_devices_present(config(("gpu:1",), 2), ["cpu:0", "gpu:0", "gpu:1"])
    with pytest.raises(ConfigError, match=r"device_count=2 is not allowed.*\[1, 1\] for cpu:0.*1 cpu device"):
        check_devices_present(config(("cpu:0",), 2), ["cpu:0"])
    with pytest.raises(ConfigError, match=r"devices='gpu:0' is not allowed: expected one of cpu:0"):
        check_devices_present(config(("gpu:0",), 1), ["cpu:0"])
