"""The run-record columns that describe WHAT was measured, computed from a config. No jax.

Shared by the harness (`engine.measure.bench`, which adds the measurements) and the dashboard's
worker (`engine.jobs.worker`, which writes records for runs that never finished).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from engine import ENGINE_VERSION
from engine.base import counts
from engine.base.config import RunConfig
from engine.base.hostinfo import host_facts
from engine.runlog.store import SCHEMA_VERSION

DATA_AXIS = "data"
TOKEN_KINDS = ("transformer", "gpt")  # model kinds with heads, seq_len and vocab  # the one mesh axis of data-parallel training: the batch is split along it


def mesh_shape_label(axes: dict[str, int]) -> str:
    """A mesh's axes as the run record stores them: {"data": 4} -> "data=4" (axes in mesh order)."""
    return ",".join(f"{name}={size}" for name, size in axes.items())


def devices_emulated(platform: str, device_count: int) -> bool:
    """Whether a run's devices were emulated: several CPU devices in one process.

    XLA's CPU backend gives a process one device; more exist only when asked for with
    JAX_NUM_CPU_DEVICES (or --xla_force_host_platform_device_count), and then they are slices of
    the same cores and memory, not extra hardware. Such a run tests the data-parallel program;
    its speed says nothing about real multi-device scaling. One CPU device, and accelerators
    (each a separate chip), are real.
    """
    return platform == "cpu" and device_count > 1


def run_identity(config: RunConfig, device_spec: str, batch_id: str | None, source: str) -> dict:
    """The columns every run record starts with: ids, time (UTC), host, device spec, the config and
    the epoch runner it resolves to on that platform. Measurements are added by whoever ran it."""
    platform = device_spec.partition(":")[0]
    return {
        "schema_version": SCHEMA_VERSION,
        "engine_version": ENGINE_VERSION,
        "run_id": uuid.uuid4().hex,
        "batch_id": batch_id or uuid.uuid4().hex,
        "created_at": datetime.now(UTC),
        "source": source,
        **host_facts(),
        "platform": platform,
        "device_spec": device_spec,
        "devices_emulated": devices_emulated(platform, config.bench.device_count),
        "process_count": 1,  # engine.measure.bench sets both from the processes the run spanned
        "hosts": None,
        **config_columns(config),
        "mode": config.resolved_mode(platform),
    }


def config_columns(config: RunConfig) -> dict:
    """The run-record columns that describe what was measured (no jax needed).

    Columns a model kind does not use are empty (None): channels outside the CNN and ResNet; heads,
    seq_len and vocab outside the Transformer and GPT; width for a ResNet (its widths are channels x
    1, 2, 4, 8); n_classes for a GPT (it predicts the next token, over vocab). The columns are the same for
    every kind, so files written before the ResNet and GPT kinds load unchanged."""
    m, d, t, b = config.model, config.data, config.train, config.bench
    return {
        "model": m.kind,
        "width": None if m.kind == "resnet" else m.width,  # a ResNet's widths follow from channels
        "depth": m.depth,
        "channels": m.channels if m.kind in ("cnn", "resnet") else None,
        "heads": m.heads if m.kind in TOKEN_KINDS else None,
        "seq_len": m.seq_len if m.kind in TOKEN_KINDS else None,
        "vocab": m.vocab if m.kind in TOKEN_KINDS else None,
        "input_shape": "x".join(str(n) for n in config.input_shape),
        "n_classes": None if m.kind == "gpt" else d.n_classes,  # a GPT predicts tokens: its classes are vocab
        "seed": d.seed,
        "params": counts.parameter_count(config),
        "batch_size": t.batch_size,
        "dataset_size": d.samples,
        "steps_per_epoch": config.steps_per_epoch,
        "epochs": t.epochs,
        "optimizer": t.optimizer,
        "learning_rate": t.learning_rate,
        "dtype": t.dtype,
        "matmul_precision": t.matmul_precision,
        "mode_requested": t.mode,
        "warmup": b.warmup,
        "repeats": b.repeats,
        "time_budget_s": b.time_budget_s,
        "device_count": b.device_count,
        "mesh_shape": mesh_shape_label({DATA_AXIS: b.device_count}),
        "flops_per_step_analytic": counts.flops_per_step(config),
    }
