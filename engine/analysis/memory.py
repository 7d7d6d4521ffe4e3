"""How much device memory a training job needs, and whether it fits. Pure Python; sizes in bytes.

total = parameters + gradients + optimizer state + activations (+ the dataset if resident):
- parameters: params x 4 bytes (parameters stay float32 whatever the compute dtype).
- gradients: params x 4 bytes (gradients of float32 parameters are float32).
- optimizer state: params x 4 bytes x OPTIMIZER_STATE_COPIES: Adam/AdamW keep two moments,
  SGD with momentum (what `engine.measure.train` uses) one buffer.
- activations of one batch: 2 x batch x bytes(dtype) x activation elements per example
  (`engine.analysis.workload` lists the layer outputs counted per model kind, attention scores
  heads x S x S included). The factor 2 stands for what the backward pass keeps besides the
  layer outputs themselves (activation-function outputs, softmax probabilities, residuals).
- dataset: the whole dataset as put on the device (the measurement harness does this before
  timing); `dataset_on_device=False` leaves it out.
Not counted: XLA's temporary buffers and workspace, the compiled program, framework overhead,
and memory fragmentation; so the estimate is a lower bound, and "fits" is judged against the
whole device memory. `devices_needed` = ceil(total / device memory) assumes every part splits
evenly across devices (data, tensor and optimizer-state sharding together): the fewest devices
that could hold it, not a plan for how.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from engine.analysis.workload import DTYPE_BYTES, Workload, from_config
from engine.base import fmt
from engine.base.config import RunConfig

PARAM_BYTES = 4
OPTIMIZER_STATE_COPIES = {"adam": 2, "adamw": 2, "sgd": 1}
SAVED_ACTIVATION_FACTOR = 2


_gb = fmt.gigabytes  # decimal GB and TB, as memory is sold


@dataclass(frozen=True)
class MemoryVerdict:
    """Whether `total_bytes` fits one device of `device_memory_bytes`, else how many are needed."""

    total_bytes: int
    device_memory_bytes: int
    fits: bool
    devices_needed: int

    def describe(self, device: str = "the device") -> str:
        if self.fits:
            share = self.total_bytes / self.device_memory_bytes
            pct = "<0.1%" if share < 0.001 else f"{share:.1%}"
            return f"fits: {_gb(self.total_bytes)} of {_gb(self.device_memory_bytes)} on {device} ({pct})"
        return (f"does not fit: {_gb(self.total_bytes)} needs at least {self.devices_needed} devices of "
                f"{_gb(self.device_memory_bytes)} ({device}), if everything splits evenly")


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes per part (module doc). total_bytes is their sum."""

    params_bytes: int
    grads_bytes: int
    optimizer_bytes: int
    activations_bytes: int
    dataset_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.params_bytes + self.grads_bytes + self.optimizer_bytes + self.activations_bytes + self.dataset_bytes

    def parts(self) -> dict[str, int]:
        return {"parameters": self.params_bytes, "gradients": self.grads_bytes, "optimizer state": self.optimizer_bytes,
                "activations": self.activations_bytes, "dataset": self.dataset_bytes}

    def verdict(self, device_memory_bytes: int) -> MemoryVerdict:
        if isinstance(device_memory_bytes, bool) or not isinstance(device_memory_bytes, int) or device_memory_bytes < 1:
            raise ValueError(f"device_memory_bytes={device_memory_bytes!r}: expected a positive integer")
        total = self.total_bytes
        return MemoryVerdict(total, device_memory_bytes, total <= device_memory_bytes,
                             max(1, math.ceil(total / device_memory_bytes)))

    def describe(self) -> str:
        return ", ".join(f"{name} {_gb(n)}" for name, n in self.parts().items() if n) + f"; total {_gb(self.total_bytes)}"


def estimate(job: Workload | RunConfig, dataset_on_device: bool = True) -> MemoryEstimate:
    """Memory a training step of `job` needs on one device, in bytes (module doc)."""
    w = from_config(job) if isinstance(job, RunConfig) else job
    params = w.params * PARAM_BYTES
    return MemoryEstimate(
        params_bytes=params,
        grads_bytes=params,
        optimizer_bytes=params * OPTIMIZER_STATE_COPIES[w.optimizer],
        activations_bytes=SAVED_ACTIVATION_FACTOR * w.batch_size * DTYPE_BYTES[w.dtype] * w.activation_elements,
        dataset_bytes=w.dataset_bytes if dataset_on_device else 0,
    )
