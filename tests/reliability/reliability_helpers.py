"""Shared pieces of the reliability tests: a valid run record, tiny configs, the CLI in-process."""

from __future__ import annotations

import contextlib
import io
from datetime import UTC, datetime

from engine.base.config import BenchConfig, DataConfig, ModelConfig, RunConfig, TrainConfig
from engine.runlog import store

# A run small enough to finish in ~4 s as a subprocess (most of it python + jax start-up).
TINY_FLAGS = ["--model", "mlp", "--width", "16", "--depth", "1", "--samples", "64", "--input-shape", "8",
              "--batch-size", "16", "--epochs", "1", "--repeats", "1", "--classes", "3"]


def tiny_config(width: int = 16, repeats: int = 1, samples: int = 64, devices=("cpu:0",)) -> RunConfig:
    return RunConfig(ModelConfig("mlp", width=width, depth=1), DataConfig(samples=samples, input_shape=(8,), n_classes=3),
                     TrainConfig(batch_size=16, epochs=1), BenchConfig(repeats=repeats, devices=devices))


def valid_record(i: int = 0, **overrides) -> dict:
    """A plausible ok run record with a value in every column."""
    record = {name: None for name in store.RUN_SCHEMA}
    record.update(
        schema_version=store.SCHEMA_VERSION, run_id=f"run-{i:05d}", batch_id="batch", source="local",
        created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), host="host", os="Linux", cpu_model="cpu", cpu_cores=2,
        driver_version=None, cuda_version=None, platform="cpu", device_spec="cpu:0", device_kind="cpu",
        device_count=1, device_memory_bytes=2**30, jax_version="0.10.2", jaxlib_version="0.10.2", model="mlp",
        width=16, depth=1, input_shape="8", n_classes=3, seed=0, params=195, batch_size=16, dataset_size=64,
        steps_per_epoch=4, epochs=1, optimizer="adam", learning_rate=1e-3, dtype="float32",
        matmul_precision="default", mode_requested="auto", mode="fused", warmup=1, repeats=2, time_budget_s=600.0,
        compile_s=0.1, compile_cache_hit=False, transfer_s=0.001, first_epoch_s=0.01, epoch_times_s=[0.002, 0.003],
        epoch_losses=[1.1, 1.0, 0.9], epoch_s_median=0.0025, epoch_s_iqr=0.0005, noisy=True, end_to_end_s=0.2,
        steps_per_s=1600.0, samples_per_s=25600.0, flops_per_step_analytic=1e4, flops_per_step_xla=1.1e4,
        achieved_flops_per_s=1.6e7, peak_memory_bytes=None, executable_memory_bytes=4096, dataset_bytes=2304,
        loss_first=1.2, loss_last=0.9, status="ok", error=None,
    )
    record.update(overrides)
    return record


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """engine.cli.main in this process: (exit code, stdout, stderr)."""
    from engine.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()
