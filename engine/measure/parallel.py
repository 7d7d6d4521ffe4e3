"""Data-parallel training on one machine: every batch split over a mesh of N devices of one platform.

The recipe is JAX's own (`jax.sharding`), with nothing written by hand:
- a `Mesh` of N devices with one axis, `DATA_AXIS` ("data");
- the batch sharded along that axis with `NamedSharding`: a per-step batch x of shape
  (batch, *input_shape) and y of shape (batch,) are split on axis 0, so each device holds
  (batch / N, ...); a fused epoch's xs (steps, batch, *input_shape) and ys (steps, batch) are
  split on axis 1, each device holding (steps, batch / N, ...);
- parameters and optimizer state replicated (every device holds all of them);
- `jax.jit` with those in/out shardings. The loss is a mean over the whole (global) batch, so
  its gradient needs every device's share: the compiler partitions the program (SPMD) and
  inserts the all-reduce itself. There is no `pmap` and no hand-written `psum` / `pmean`, and
  the updated state comes out replicated, identical on every device.

N = 1 is the same program on a one-device mesh: ordinary single-device training.
The batch must split evenly (`RunConfig` refuses a batch_size that is not a multiple of N).

Several processes (`engine.measure.distributed`): the mesh spans every process's devices, ordered by
process, and each process holds the whole dataset (generated from the seed) but puts only its own part on
its devices (`jax.make_array_from_process_local_data`); the program is the same.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from engine.runlog.record import DATA_AXIS, mesh_shape_label


class DataParallel(NamedTuple):
    """A mesh and the three shardings data-parallel training uses on it."""

    mesh: Mesh  # N devices along DATA_AXIS
    replicated: NamedSharding  # PartitionSpec(): the whole array on every device (state, loss)
    batch: NamedSharding  # PartitionSpec("data"): (batch, ...) split on axis 0
    stacked: NamedSharding  # PartitionSpec(None, "data"): (steps, batch, ...) split on axis 1

    @property
    def device_count(self) -> int:
        return self.mesh.size


def data_parallel(devices: list) -> DataParallel:
    """The mesh over `devices` (a list of N jax Devices of one platform) and its shardings."""
    if not devices or len({d.platform for d in devices}) != 1:
        raise ValueError("a data-parallel mesh needs one or more devices of one platform")
    mesh = Mesh(np.array(devices), (DATA_AXIS,))
    return DataParallel(
        mesh=mesh,
        replicated=NamedSharding(mesh, PartitionSpec()),
        batch=NamedSharding(mesh, PartitionSpec(DATA_AXIS)),
        stacked=NamedSharding(mesh, PartitionSpec(None, DATA_AXIS)),
    )


def describe(dp: DataParallel) -> str:
    """The mesh as the run record's `mesh_shape` column stores it, e.g. "data=4"."""
    return mesh_shape_label(dict(dp.mesh.shape))


def _local_part(array: np.ndarray, sharding: NamedSharding) -> np.ndarray:
    """The part of `array` (which every process holds whole) that this process's devices hold under `sharding`:
    the union of their shards, one contiguous block since the mesh orders devices by process."""
    blocks = list(sharding.addressable_devices_indices_map(array.shape).values())
    part = []
    for axis, size in enumerate(array.shape):
        starts = [b[axis].start or 0 for b in blocks]
        stops = [size if b[axis].stop is None else b[axis].stop for b in blocks]
        part.append(slice(min(starts), max(stops)))
    return array[tuple(part)]


def _put(tree, sharding: NamedSharding):
    """`jax.device_put(tree, sharding)`, or with several processes each one's part of every array."""
    if jax.process_count() == 1:
        return jax.device_put(tree, sharding)
    return jax.tree_util.tree_map(
        lambda a: jax.make_array_from_process_local_data(sharding, _local_part(np.asarray(a), sharding),
                                                         np.shape(a)), tree)


def put_state(state, dp: DataParallel):
    """Copy a training state (any pytree of arrays) to every device of the mesh, replicated."""
    return _put(state, dp.replicated)


def put_batches(xs: np.ndarray, ys: np.ndarray, dp: DataParallel, mode: str):
    """Copy an epoch's batches to the mesh, each batch split over the devices.

    xs: (steps, batch, *input_shape), ys: (steps, batch), on the host.
    mode "fused": returns (xs, ys) as two arrays sharded on axis 1 (the batch axis), for the
        `lax.scan` epoch; mode "per_step": a list of `steps` (x, y) pairs, each (batch, ...)
        sharded on axis 0, one per dispatch.
    """
    if mode == "fused":
        return _put((xs, ys), dp.stacked)
    return _put(list(zip(xs, ys)), dp.batch)


def batch_shapes(xs: np.ndarray, ys: np.ndarray, dp: DataParallel) -> tuple:
    """Abstract (x, y) of ONE batch, (batch, *input_shape) and (batch,), sharded as a step sees it:
    enough to compile a step without slicing device data (which would dispatch)."""
    return (
        jax.ShapeDtypeStruct(xs.shape[1:], xs.dtype, sharding=dp.batch),
        jax.ShapeDtypeStruct(ys.shape[1:], ys.dtype, sharding=dp.batch),
    )


def jit_step(train_step, dp: DataParallel):
    """`train_step(state, (x, y)) -> (state, metrics)` jitted for the mesh: state in and out
    replicated, the batch split on axis 0, metrics (the global-batch loss) replicated; the state
    argument is donated."""
    return jax.jit(train_step, in_shardings=(dp.replicated, dp.batch), out_shardings=(dp.replicated, dp.replicated),
                   donate_argnums=0)


def jit_epoch(epoch, dp: DataParallel):
    """A fused `epoch(state, xs, ys) -> (state, losses)` jitted for the mesh: xs and ys split on
    axis 1 (the batch), state and the (steps,) losses replicated; the state argument is donated."""
    return jax.jit(epoch, in_shardings=(dp.replicated, dp.stacked, dp.stacked),
                   out_shardings=(dp.replicated, dp.replicated), donate_argnums=0)
