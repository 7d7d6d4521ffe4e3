"""Pure training steps with optax, and the two epoch runners.

State is a pytree of arrays (`TrainState`); the model's non-array parts (activation
functions, layer shapes) are closed over, so steps are pure functions of arrays that
`jax.jit` can compile and donate.

Epoch runners:
- per_step: one jitted `train_step` dispatched from Python per batch (what most training
  loops do); dispatch overhead is paid once per step.
- fused: `lax.scan` over the epoch's batches inside one jitted call; one dispatch per epoch.
  On XLA:CPU a rolled scan over convolutions is pathological (DESIGN.md), so `auto` never
  picks fused for a CNN on the CPU (see `RunConfig.resolved_mode`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

from engine.base.config import RunConfig, TrainConfig
from engine.measure.models import build_model


class TrainState(NamedTuple):
    params: Any  # the model's arrays (float32)
    opt_state: Any


Batch = tuple[jax.Array, jax.Array]  # x: (batch, *input_shape), y: (batch,) int32 or (batch, seq_len) for a GPT
StepFn = Callable[[TrainState, Batch], tuple[TrainState, dict]]


def make_optimizer(train: TrainConfig) -> optax.GradientTransformation:
    if train.optimizer == "sgd":
        return optax.sgd(train.learning_rate, momentum=0.9)
    if train.optimizer == "adamw":
        return optax.adamw(train.learning_rate)
    return optax.adam(train.learning_rate)


def init_state(config: RunConfig, key) -> tuple[TrainState, Any]:
    """Initial state and the static (non-array) half of the model, from a PRNG key."""
    model = build_model(config, key)
    params, static = eqx.partition(model, eqx.is_array)
    opt_state = make_optimizer(config.train).init(params)
    return TrainState(params, opt_state), static


def _cast_floats(tree, dtype):
    return jax.tree_util.tree_map(lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a, tree)


def make_train_step(config: RunConfig, static) -> StepFn:
    """A pure `train_step(state, (x, y)) -> (state, {"loss": scalar})`.

    Computes in `config.train.dtype` (weights cast on the fly; parameters, gradients and the
    optimizer state stay float32) with the configured matmul precision, and a float32
    softmax cross-entropy averaged over every prediction: the batch's examples, or for a GPT
    every token of every sequence (logits (batch, seq_len, vocab) against y (batch, seq_len)).
    """
    optimizer = make_optimizer(config.train)
    dtype = jnp.dtype(config.train.dtype)
    precision = None if config.train.matmul_precision == "default" else config.train.matmul_precision

    def loss_fn(params, x, y):
        model = eqx.combine(_cast_floats(params, dtype) if dtype != jnp.float32 else params, static)
        if jnp.issubdtype(x.dtype, jnp.floating):
            x = x.astype(dtype)
        logits = jax.vmap(model)(x).astype(jnp.float32)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    def train_step(state: TrainState, batch: Batch):
        x, y = batch
        with jax.default_matmul_precision(precision):
            loss, grads = jax.value_and_grad(loss_fn)(state.params, x, y)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        return TrainState(params, opt_state), {"loss": loss}

    return train_step


def make_fused_epoch(train_step: StepFn):
    """`epoch(state, xs, ys) -> (state, losses)` scanning over (steps, batch, ...) arrays."""

    def epoch(state: TrainState, xs, ys):
        def body(carry, batch):
            carry, metrics = train_step(carry, batch)
            return carry, metrics["loss"]

        return jax.lax.scan(body, state, (xs, ys))

    return epoch


def run_per_step_epoch(step, state: TrainState, batches) -> tuple[TrainState, list]:
    """Dispatch the compiled `step` once per (x, y) in `batches`; returns losses unsynchronised."""
    losses = []
    for batch in batches:
        state, metrics = step(state, batch)
        losses.append(metrics["loss"])
    return state, losses
