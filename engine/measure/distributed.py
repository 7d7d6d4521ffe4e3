"""Several processes, one training run: JAX's multi-controller runtime (`jax.distributed`).

The same `python -m engine run` is started once per process by a launcher (SLURM, Open MPI, a Kubernetes
job, or `--processes N` on one machine). Each process calls `initialize` before anything else touches
jax: with a coordinator address, a process count and an id when given, else JAX's own detection of the
cluster it runs in (SLURM, Open MPI, Cloud TPU). Afterwards `jax.devices()` lists every process's devices
and one jitted program spans them; `engine.measure.parallel` builds the mesh over them and feeds each
process its slice of the data (`jax.make_array_from_process_local_data`). On CPUs the collectives go
through gloo, JAX's default for the CPU platform.

`initialize` waits at most `timeout_s` for the other processes and raises DistributedError (one line)
when they do not come: an unreachable coordinator or a process that never started.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import numpy as np
from jax.experimental import multihost_utils

HOST_NAME_BYTES = 64


class DistributedError(RuntimeError):
    """The processes could not be joined; the message says which and why, on one line."""


@dataclass(frozen=True)
class Cluster:
    """Where this process stands: its id, how many there are, and every process's host name (by id)."""

    process_id: int
    process_count: int
    hosts: tuple[str, ...]

    @property
    def is_leader(self) -> bool:
        """Process 0 prints and writes the records; the others only compute."""
        return self.process_id == 0


def initialize(coordinator: str | None, process_count: int | None, process_id: int | None,
               timeout_s: float) -> None:
    """`jax.distributed.initialize` with these (None: JAX detects them), waiting at most `timeout_s`."""
    try:
        jax.distributed.initialize(coordinator_address=coordinator, num_processes=process_count,
                                   process_id=process_id, initialization_timeout=max(1, int(timeout_s)))
    except Exception as exc:  # jax raises RuntimeError, ValueError or XlaRuntimeError here
        text = " ".join(str(exc).split())[:300]
        raise DistributedError(f"could not join the other processes through coordinator {coordinator or '(auto)'} "
                               f"within {timeout_s:g} s: {type(exc).__name__}: {text}") from None


def cluster() -> Cluster:
    """This process's place among the processes (one process: id 0 of 1). Collective when several."""
    import socket

    name = socket.gethostname()
    if jax.process_count() == 1:
        return Cluster(0, 1, (name,))
    raw = np.frombuffer(name.encode()[:HOST_NAME_BYTES].ljust(HOST_NAME_BYTES, b"\0"), dtype=np.uint8)
    names = np.asarray(multihost_utils.process_allgather(raw))  # (processes, HOST_NAME_BYTES), by process id
    hosts = tuple(bytes(row).rstrip(b"\0").decode(errors="replace") for row in names)
    return Cluster(jax.process_index(), jax.process_count(), hosts)


def is_leader() -> bool:
    """Whether this is process 0 (the only one, without jax.distributed)."""
    return jax.process_index() == 0


def barrier(name: str) -> None:
    """Wait until every process reaches the barrier called `name` (nothing to wait for with one process)."""
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices(name)


def shutdown() -> None:
    """Leave the other processes (nothing to do alone)."""
    if jax.process_count() > 1:
        jax.distributed.shutdown()
