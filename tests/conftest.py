"""Shared test setup: JAX on the CPU only, before anything imports jax.

The engine's tests run on any machine (CI has no GPU); forcing the CPU backend also makes
"gpu is missing" deterministic. Subprocesses inherit this environment.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ["JAX_PLATFORMS"] = "cpu"
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


# --- emulated devices ------------------------------------------------------------------------
# This process imported jax with ONE CPU device; several exist only in a process that asks before
# importing jax. JAX_NUM_CPU_DEVICES is jax's setting, --xla_force_host_platform_device_count the
# older XLA flag (both work on jax 0.10); both are set, so either spelling is honoured.
EMULATED_DEVICES = 4
# A tiny MLP whose batch of 16 splits over 1, 2 and 4 devices; fused epochs of 8 steps, 3 epochs per run.
TINY_SCALING_RUN = ["run", "--model", "mlp", "--width", "16", "--depth", "1", "--samples", "128", "--input-shape", "8",
                    "--classes", "4", "--batch-size", "16", "--epochs", "1", "--warmup", "1", "--repeats", "2",
                    "--mode", "fused", "--lr", "0.01"]


def _emulated_cpu_env(devices: int = EMULATED_DEVICES) -> dict:
    """The environment of a subprocess that sees `devices` CPU devices and can import this repository."""
    return {
        **os.environ,
        "JAX_PLATFORMS": "cpu",
        "JAX_NUM_CPU_DEVICES": str(devices),
        "XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={devices}".strip(),
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }


@pytest.fixture(scope="session")
def emulated_env() -> dict:
    """Environment for a subprocess with EMULATED_DEVICES (4) CPU devices."""
    return _emulated_cpu_env()


@pytest.fixture(scope="session")
def emulated_scaling_runs(tmp_path_factory) -> Path:
    """A Parquet file of real runs of one tiny MLP on 1, 2 and 4 emulated CPU devices, made once per
    session by `python -m engine run ... --device-counts 1,2,4` in a process with 4 CPU devices."""
    root = tmp_path_factory.mktemp("emulated")
    out = root / "scaling.parquet"
    done = subprocess.run([sys.executable, "-m", "engine", *TINY_SCALING_RUN, "--device-counts", "1,2,4",
                           "--out", str(out), "--no-compile-cache"],
                          cwd=root, env=_emulated_cpu_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return out
