"""engine.measure.xla_options: which programs get compiler options, what the options change, and the
fallback for a jaxlib that does not know them."""

import re

import jax
import jax.numpy as jnp

from engine.base.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from engine.measure import xla_options
from engine.measure.train import init_state, make_train_step


def _compiled_step_hlo(config: RunConfig, options) -> str:
    state, static = init_state(config, jax.random.key(0))
    x = jnp.zeros((config.train.batch_size, *config.input_shape), jnp.float32)
    y = jnp.zeros((config.train.batch_size,), jnp.int32)
    return jax.jit(make_train_step(config, static)).lower(state, (x, y)).compile(options).as_text()


def _library_fusion_bodies(hlo: str) -> list[str]:
    """The bodies of the computations XLA:CPU hands to a library (YNNPACK) as one fusion."""
    called = re.findall(r"kind=kCustom, calls=(%[\w.\-]+)", hlo)
    return [re.search(re.escape(name) + r" .*?\{(.*?)\n\}", hlo, re.S).group(1) for name in called]


def test_only_a_cnn_on_the_cpu_gets_options():
    assert xla_options.compiler_options("cpu", "cnn") == xla_options.CPU_CONV_OPTIONS
    assert xla_options.compiler_options("cpu", "mlp") is None
    assert xla_options.compiler_options("cpu", "transformer") is None
    assert xla_options.compiler_options("gpu", "cnn") is None
    assert xla_options.compiler_options("tpu", "cnn") is None


def test_cpu_options_keep_convolutions_out_of_the_library_and_dots_in_it():
    # 16 and 32 channels: YNNPACK leaves narrower convolutions to XLA by itself.
    config = RunConfig(ModelConfig("cnn", width=16, depth=2, channels=16),
                       DataConfig(samples=16, input_shape=(16, 16, 3)), TrainConfig(batch_size=16))
    defaults = _library_fusion_bodies(_compiled_step_hlo(config, None))
    ours = _library_fusion_bodies(_compiled_step_hlo(config, xla_options.compiler_options("cpu", "cnn")))
    assert any(" convolution(" in body for body in defaults)  # the default this option changes
    assert not any(" convolution(" in body for body in ours)
    assert any(" dot(" in body for body in ours)  # the dense layers still go to the library


def test_a_jaxlib_without_the_option_compiles_without_it(monkeypatch):
    monkeypatch.setattr(xla_options, "CPU_CONV_OPTIONS", {xla_options.YNN_FUSION_TYPE: "NOT_A_FUSION_TYPE"})
    xla_options._cpu_accepts_options.cache_clear()
    try:
        assert xla_options.compiler_options("cpu", "cnn") is None
    finally:
        xla_options._cpu_accepts_options.cache_clear()


def test_describe_is_what_the_run_record_stores():
    assert xla_options.describe(None) == ""
    assert xla_options.describe({"b": "2", "a": "1"}) == "a=1;b=2"
