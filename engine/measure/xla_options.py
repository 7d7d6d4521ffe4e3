"""The XLA compiler options a training program is compiled with, per platform and model kind.

On the CPU, XLA hands dots, reductions and convolutions to the YNNPACK library by default. For
convolutions that is the slower choice here: XLA's own convolution kernels ran the CNN's
training step 1.8x faster. So a CNN's CPU program keeps YNNPACK for single dots only: not for
convolutions, and not for reductions either, because YNNPACK's reduction fusions take in the
convolution that feeds them (the input gradient of a convolution before a max-pool's). MLPs and
Transformers keep the defaults, which are faster for them (their reductions do gain from
YNNPACK: Transformer step 164 ms with the defaults, 179 ms with dots only).

Measured on the 2-core development CPU, jax 0.10.2, 2026-11-26, alternating rounds of one jitted
training step, median ms (docs/PERFORMANCE.md, "What was tried for the CNN gap"):
  CNN 32/64/128 channels, batch 128: defaults 143, YNNPACK off 82, single dots only 79,
  single dots + reductions 91.
Other platforms get no options. A jaxlib that does not know the option compiles without it; the
run record's `xla_options` column says which options each run was compiled with.
"""

from __future__ import annotations

import functools

YNN_FUSION_TYPE = "xla_cpu_experimental_ynn_fusion_type"
# For a CPU program with convolutions: YNNPACK for single dots only; convolutions and reductions
# go to XLA's own kernels.
CPU_CONV_OPTIONS: dict[str, str] = {YNN_FUSION_TYPE: "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"}
# The ResNet by assumption (not timed here): its convolutions feed GroupNorm reductions, as the CNN's feed its
# pooling's, so YNNPACK's reduction fusions would take them in the same way.
CONV_MODELS = frozenset({"cnn", "resnet"})


@functools.cache
def _cpu_accepts_options() -> bool:
    """Whether this jaxlib's CPU compiler knows CPU_CONV_OPTIONS (compiles a one-op program once)."""
    import jax
    import jax.numpy as jnp

    try:
        with jax.default_device(jax.local_devices(backend="cpu")[0]):
            jax.jit(lambda v: v + 1.0).lower(jnp.zeros((2,), jnp.float32)).compile(compiler_options=CPU_CONV_OPTIONS)
    except Exception:  # XlaRuntimeError "not a valid enum value" / "no such option" in another jaxlib
        return False
    return True


def compiler_options(platform: str, model_kind: str) -> dict[str, str] | None:
    """The options for a `model_kind` ("mlp", "cnn", "transformer", "resnet", "gpt") program compiled for `platform`
    ("cpu", "gpu", ...), or None for XLA's defaults."""
    if platform == "cpu" and model_kind in CONV_MODELS and _cpu_accepts_options():
        return dict(CPU_CONV_OPTIONS)
    return None


def describe(options: dict[str, str] | None) -> str:
    """Options as the run record's `xla_options` column stores them: "name=value;...", "" for none."""
    return ";".join(f"{name}={value}" for name, value in sorted((options or {}).items()))
