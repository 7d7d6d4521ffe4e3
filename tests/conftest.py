"""Shared test setup: JAX on the CPU only, before anything imports jax.

The engine's tests run on any machine (CI has no GPU); forcing the CPU backend also makes
"gpu is missing" deterministic. Subprocesses inherit this environment.
"""

import os
import sys
from pathlib import Path

os.environ["JAX_PLATFORMS"] = "cpu"
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
