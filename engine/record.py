"""The run-record columns that describe WHAT was measured, computed from a config. No jax.

Shared by the harness (`engine.bench`, which adds the measurements) and the dashboard's
worker (`engine.worker`, which writes records for runs that never finished).
"""

from __future__ import annotations

from engine import counts
from engine.config import RunConfig


def config_columns(config: RunConfig) -> dict:
    """The run-record columns that describe what was measured (no jax needed)."""
    m, d, t, b = config.model, config.data, config.train, config.bench
    return {
        "model": m.kind,
        "width": m.width,
        "depth": m.depth,
        "channels": m.channels if m.kind == "cnn" else None,
        "heads": m.heads if m.kind == "transformer" else None,
        "seq_len": m.seq_len if m.kind == "transformer" else None,
        "vocab": m.vocab if m.kind == "transformer" else None,
        "input_shape": "x".join(str(n) for n in config.input_shape),
        "n_classes": d.n_classes,
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
        "flops_per_step_analytic": counts.flops_per_step(config),
    }
