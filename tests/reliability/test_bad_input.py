"""Point 1 — bad input: every config field, CLI flag and imported column either builds something
valid or is refused with a message naming the field and what is allowed; nothing else happens.

Property-based (hypothesis, derandomized so every run tries the same inputs)."""

from __future__ import annotations

import dataclasses
import math
import re

import polars as pl
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from reliability_helpers import run_cli, valid_record

from engine.base.config import (
    DEVICE_PLATFORMS,
    DTYPES,
    LEARNING_RATE_RANGE,
    LIMITS,
    MATMUL_PRECISIONS,
    MODEL_KINDS,
    MODES,
    OPTIMIZERS,
    TIME_BUDGET_RANGE,
    BenchConfig,
    ConfigError,
    DataConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
)
from engine.base.limits import Limits
from engine.cli import build_parser, config_from_args
from engine.jobs import guard
from engine.jobs.worker import run_argv
from engine.runlog import store

PROPERTY = settings(derandomize=True, database=None, deadline=None, max_examples=250)
FIELDS = {f.name for cls in (ModelConfig, DataConfig, TrainConfig, BenchConfig, RunConfig)
          for f in dataclasses.fields(cls)} | {"input_dim"}
CHOICES = MODEL_KINDS + OPTIMIZERS + DTYPES + MATMUL_PRECISIONS + MODES + DEVICE_PLATFORMS

# Values of every kind a widget, a URL query parameter or a caller could hand over.
garbage = st.one_of(
    st.integers(-1_000, 1_000),
    st.integers(-(10**30), 10**30),
    st.sampled_from([0, -1, 2**31, 2**63, 10**400, 10**5000, -(10**400)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 1e-300, 1e308, 3.0]),
    st.booleans(),
    st.none(),
    st.text(max_size=12),
    st.sampled_from(CHOICES + ("gpu:0", "cpu:1", "gpu:²", "cpu:٣", "gpu:99999", "gpu:", "", " mlp")),
    st.binary(max_size=4),
    st.lists(st.integers(1, 64), max_size=4),
    st.tuples(st.integers(-3, 100_000)),
)


def in_range(name: str):
    low, high = LIMITS[name]
    return st.integers(low, min(high, low + 300))


def field(valid):
    """Mostly plausible values, often garbage: both must be handled."""
    return st.one_of(valid, valid, garbage)


model_kwargs = st.fixed_dictionaries({
    "kind": field(st.sampled_from(MODEL_KINDS)), "width": field(in_range("width")), "depth": field(in_range("depth")),
    "channels": field(in_range("channels")), "heads": field(in_range("heads")), "seq_len": field(in_range("seq_len")),
    "vocab": field(in_range("vocab")),
})
data_kwargs = st.fixed_dictionaries({
    "samples": field(in_range("samples")),
    "input_shape": field(st.one_of(st.just(()), st.tuples(st.integers(1, 64)),
                                   st.tuples(st.integers(1, 64), st.integers(1, 64), st.integers(1, 4)),
                                   st.lists(st.integers(-5, 10**8), max_size=4).map(tuple))),
    "n_classes": field(in_range("n_classes")), "seed": field(in_range("seed")),
})
train_kwargs = st.fixed_dictionaries({
    "batch_size": field(in_range("batch_size")), "epochs": field(in_range("epochs")),
    "optimizer": field(st.sampled_from(OPTIMIZERS)),
    "learning_rate": field(st.floats(*LEARNING_RATE_RANGE)), "dtype": field(st.sampled_from(DTYPES)),
    "matmul_precision": field(st.sampled_from(MATMUL_PRECISIONS)), "mode": field(st.sampled_from(MODES)),
})
bench_kwargs = st.fixed_dictionaries({
    "warmup": field(in_range("warmup")), "repeats": field(in_range("repeats")),
    "devices": field(st.lists(st.sampled_from(("cpu", "cpu:0", "gpu", "gpu:1", "tpu:0")), min_size=1, max_size=3)
                     .map(tuple)),
    "time_budget_s": field(st.floats(*TIME_BUDGET_RANGE)),
})


def build_or_refuse(make, **kwargs):
    """The object, or None after checking the ConfigError names a field and what is allowed.
    Any other exception escapes and fails the test."""
    try:
        return make(**kwargs)
    except ConfigError as exc:
        assert exc.field in FIELDS, exc.field
        assert str(exc).startswith(f"{exc.field}=") and " is not allowed: expected " in str(exc), str(exc)
        assert exc.allowed and len(str(exc)) < 400, str(exc)
        return None


def assert_valid(config):
    """What a built config guarantees: exact types, every integer within LIMITS, finite floats."""
    hash(config)
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if f.name in LIMITS:
            assert type(value) is int and LIMITS[f.name][0] <= value <= LIMITS[f.name][1], (f.name, value)
    if isinstance(config, TrainConfig):
        assert type(config.learning_rate) is float and math.isfinite(config.learning_rate)
    if isinstance(config, BenchConfig):
        assert type(config.time_budget_s) is float and math.isfinite(config.time_budget_s)
        for spec in config.devices:
            platform, _, index = spec.partition(":")
            assert platform in DEVICE_PLATFORMS and (not index or 0 <= int(index) <= 9999), spec
    if isinstance(config, DataConfig):
        assert all(type(d) is int and d >= 1 for d in config.input_shape)


@PROPERTY
@given(model_kwargs)
@example({"kind": "transformer", "width": 10, "depth": 1, "channels": 1, "heads": 3, "seq_len": 4, "vocab": 2})
@example({"kind": "mlp", "width": 10**5000, "depth": 1, "channels": 1, "heads": 1, "seq_len": 1, "vocab": 2})
def test_model_config_builds_or_refuses(kwargs):
    config = build_or_refuse(ModelConfig, **kwargs)
    if config:
        assert_valid(config)


@PROPERTY
@given(data_kwargs)
def test_data_config_builds_or_refuses(kwargs):
    config = build_or_refuse(DataConfig, **kwargs)
    if config:
        assert_valid(config)


@PROPERTY
@given(train_kwargs)
@example({"batch_size": 1, "epochs": 1, "optimizer": "adam", "learning_rate": 10**400, "dtype": "float32",
          "matmul_precision": "default", "mode": "auto"})
def test_train_config_builds_or_refuses(kwargs):
    config = build_or_refuse(TrainConfig, **kwargs)
    if config:
        assert_valid(config)


@PROPERTY
@given(bench_kwargs)
@example({"warmup": 1, "repeats": 1, "devices": ("gpu:²",), "time_budget_s": 1.0})
@example({"warmup": 1, "repeats": 1, "devices": ("cpu",), "time_budget_s": 10**400})
@example({"warmup": 1, "repeats": 1, "devices": ("gpu:" + "9" * 5000,), "time_budget_s": 1.0})
def test_bench_config_builds_or_refuses(kwargs):
    config = build_or_refuse(BenchConfig, **kwargs)
    if config:
        assert_valid(config)


@PROPERTY
@given(model_kwargs, data_kwargs, train_kwargs, bench_kwargs, st.lists(garbage, min_size=4, max_size=4),
       st.lists(st.booleans(), min_size=4, max_size=4))
def test_run_config_builds_or_refuses_and_what_builds_can_be_guarded_and_sent_to_the_cli(m, d, t, b, junk, use_junk):
    parts = [build_or_refuse(cls, **kw) for cls, kw in ((ModelConfig, m), (DataConfig, d), (TrainConfig, t),
                                                         (BenchConfig, b))]
    parts = [j if use or p is None else p for p, j, use in zip(parts, junk, use_junk)]
    config = build_or_refuse(RunConfig, model=parts[0], data=parts[1], train=parts[2], bench=parts[3])
    if config is None:
        return
    for part in (config.model, config.data, config.train, config.bench):
        assert_valid(part)
    assert config.train.batch_size <= config.data.samples
    decision = guard.check(config, Limits(), free_memory_bytes=2**30)  # never raises on a valid config
    assert decision.memory_estimate_bytes > 0 and decision.seconds_estimate > 0
    # The worker hands configs to the CLI as flags: they come back identical.
    assert config_from_args(build_parser().parse_args(run_argv(config, "out")[3:])) == config


# --- CLI flags, in-process --------------------------------------------------------------------

INT_FLAGS = ("--width", "--depth", "--channels", "--heads", "--seq-len", "--vocab", "--samples", "--classes", "--seed",
             "--batch-size", "--epochs", "--warmup", "--repeats")
FLOAT_FLAGS = ("--lr", "--time-budget")
TEXT_FLAGS = ("--model", "--optimizer", "--dtype", "--precision", "--mode", "--input-shape", "--devices")
flag_values = st.one_of(
    st.integers(-10, 5_000).map(str),
    st.sampled_from(["0", "-1", "1e3", "1" + "0" * 400, "9" * 30, "nan", "inf", "-inf", "abc", "", " 7", "0x10",
                     "3.5", "1e-9", "1e400", "٣", "²", "32x32x3", "3xq", "784", "cpu,gpu", "cpu:0", "gpu:7",
                     "tpu", ",", "mlp", "cnn", "transformer", "sgd", "bfloat16", "highest", "fused"]),
    st.text(alphabet="0123456789x.e,:abcgpu", max_size=8),
)


@pytest.fixture
def no_measuring(monkeypatch, tmp_path):
    """main() as far as measuring: validation, limits and device checks run; JAX never does."""
    import engine.cli as cli

    seen = []
    monkeypatch.setattr(cli, "_measure_configs", lambda configs, args: seen.append(configs) or 0)
    monkeypatch.setattr(cli, "_check_devices_present", lambda devices, device_count=1: None)
    monkeypatch.setattr(cli, "enable_compilation_cache", lambda: None)
    monkeypatch.delenv("CROSSOVER_ENFORCE_LIMITS", raising=False)
    return seen


def test_cli_flags_build_or_exit_2_naming_the_field(no_measuring, tmp_path):
    """Run inside the test (not @given on it) so the monkeypatch fixture is set once for all examples."""

    @PROPERTY
    @given(st.lists(st.tuples(st.sampled_from(INT_FLAGS + FLOAT_FLAGS + TEXT_FLAGS), flag_values), max_size=5))
    @example([("--width", "1" + "0" * 400)])
    @example([("--lr", "1e400")])
    @example([("--width", "abc")])
    def prop(flags):
        argv = ["run", *[part for flag, value in flags for part in (flag, value)], "--out", str(tmp_path / "o")]
        before = len(no_measuring)
        code, out, err = run_cli(argv)
        assert code in (0, 2), (argv, code, err)
        if code == 2:
            lines = err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: "), err
            named = re.search(r"(\w+)=.* is not allowed: expected ", lines[0])
            assert named and named.group(1) in FIELDS, lines[0]
            assert len(no_measuring) == before  # refused before anything ran
        else:
            (config,) = no_measuring[-1]
            assert isinstance(config, RunConfig)

    prop()


@pytest.mark.parametrize("flag, value, field_name", [
    ("--width", "abc", "width"), ("--width", "1e3", "width"), ("--samples", "9" * 40, "samples"),
    ("--lr", "ten", "learning_rate"), ("--lr", "nan", "learning_rate"), ("--epochs", "0", "epochs"),
    ("--batch-size", "-8", "batch_size"), ("--time-budget", "1e400", "time_budget_s"),
])
def test_cli_flag_message_names_the_field_and_the_range(no_measuring, flag, value, field_name):
    code, _, err = run_cli(["run", flag, value])
    assert code == 2
    low, high = LIMITS.get(field_name, (None, None))
    assert f"{field_name}=" in err and "expected" in err
    if low is not None:
        assert f"[{low}, {high}]" in err, err


# --- imported file columns --------------------------------------------------------------------

typed_values = st.one_of(
    st.integers(-(2**63), 2**63 - 1).map(lambda v: (pl.Int64, v)),
    st.sampled_from([0, -1, -5, 1, 10**13, 10**13 + 1, 2**62]).map(lambda v: (pl.Int64, v)),
    st.floats(allow_nan=True, allow_infinity=True).map(lambda v: (pl.Float64, v)),
    st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.5, 1.5, 1e30, 1e9 + 1, 0.003]).map(lambda v: (pl.Float64, v)),
    st.text(max_size=8).map(lambda v: (pl.String, v)),
    st.sampled_from(["12", "1e3", "abc", "", "NaN", "-3"]).map(lambda v: (pl.String, v)),
    st.booleans().map(lambda v: (pl.Boolean, v)),
    st.just((pl.Null, None)),
    st.integers(2**63, 2**64 - 1).map(lambda v: (pl.UInt64, v)),
)
COLUMNS = ("params", "batch_size", "dataset_size", "epoch_s_median", "epoch_s_iqr", "compile_s", "end_to_end_s",
           "width", "cpu_cores", "learning_rate", "achieved_flops_per_s", "seed")


def frame_with(column: str, dtype, value, status: str) -> pl.DataFrame:
    frame = store.records_to_frame([valid_record(status=status)])
    return frame.with_columns(pl.Series(column, [value], dtype=dtype))


@PROPERTY
@given(st.sampled_from(COLUMNS), typed_values, st.sampled_from(["ok", "error", "oom"]))
@example("epoch_s_median", (pl.Float64, math.nan), "ok")
@example("params", (pl.Float64, 1.5), "ok")
@example("params", (pl.Int64, 2**62), "ok")
@example("compile_s", (pl.Float64, math.inf), "ok")
@example("width", (pl.String, "abc"), "ok")
def test_imported_columns_validate_or_are_rejected_by_name(column, typed, status):
    dtype, value = typed
    frame = frame_with(column, dtype, value, status)
    try:
        out = store.validate_frame(frame)
    except store.ImportRejected as exc:
        assert f"column {column}" in str(exc), str(exc)
        return
    # Accepted: the value arrived unchanged (nothing silently nulled, truncated or clamped) and is sane.
    got = out[column][0]
    if value is None:
        assert got is None
    else:
        assert got is not None and float(got) == float(value), (value, got)
        assert math.isfinite(float(got)) and float(got) >= 0
    if column in store.INT_RANGES:
        low, high = store.INT_RANGES[column]
        assert got is None or low <= got <= high
    if column in store.FLOAT_RANGES:
        low, high = store.FLOAT_RANGES[column]
        assert got is None or low <= got <= high
    if status == "ok":
        assert out["epoch_s_median"][0] > 0


@pytest.mark.parametrize("column, value, fmt", [
    ("params", -5, "csv"), ("params", -5, "parquet"), ("params", 10**15, "parquet"),
    ("epoch_s_median", math.nan, "parquet"), ("epoch_s_median", math.nan, "csv"), ("epoch_s_median", 1e300, "csv"),
    ("params", "lots", "csv"), ("batch_size", 2.5, "parquet"), ("width", "wide", "csv"), ("compile_s", -1.0, "csv"),
])
def test_imported_file_with_a_bad_column_is_rejected_naming_it(tmp_path, column, value, fmt):
    frame = store.records_to_frame([valid_record()]).with_columns(pl.Series(column, [value]))
    path = tmp_path / f"upload.{fmt}"
    (store.export_csv if fmt == "csv" else store.export_parquet)(frame, path)
    with pytest.raises(store.ImportRejected, match=f"column {column}"):
        store.import_bytes(path.name, path.read_bytes(), tmp_path / "runs")
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())
