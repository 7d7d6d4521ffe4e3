"""Every JAX device this process can use, described for people and for run records.

CPU and GPU (and TPU) devices are used from one process: `jax.devices(platform)` lists each
backend's devices, and arrays are placed with `jax.device_put(x, device)`.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass

import jax
import jaxlib

from engine.base.hostinfo import host_facts, total_memory_bytes

PLATFORMS = ("cpu", "gpu", "tpu")


@dataclass(frozen=True)
class DeviceInfo:
    """One JAX device. memory_bytes: the device's memory (host RAM for the CPU), None if unknown."""

    spec: str  # "cpu:0", "gpu:0"
    platform: str  # cpu | gpu | tpu
    device_kind: str  # e.g. "cpu", "NVIDIA H200"
    index: int
    count: int  # devices of this platform in the process
    memory_bytes: int | None

    def as_dict(self) -> dict:
        return asdict(self)


def _platform_devices(platform: str) -> list:
    try:
        return jax.devices(platform)
    except RuntimeError:  # backend not present or failed to initialise
        return []


def device_memory_bytes(device) -> int | None:
    """Memory of `device` in bytes: the allocator's limit on accelerators, host RAM on the CPU."""
    if device.platform == "cpu":
        return total_memory_bytes()
    try:
        stats = device.memory_stats() or {}
    except Exception:  # some backends raise instead of returning None
        stats = {}
    return stats.get("bytes_limit")


@functools.cache
def inventory() -> tuple[DeviceInfo, ...]:
    """All devices of every platform present, CPU first."""
    found = []
    for platform in PLATFORMS:
        devices = _platform_devices(platform)
        for i, device in enumerate(devices):
            found.append(
                DeviceInfo(
                    spec=f"{platform}:{i}",
                    platform=platform,
                    device_kind=str(device.device_kind),
                    index=i,
                    count=len(devices),
                    memory_bytes=device_memory_bytes(device),
                )
            )
    return tuple(found)


class DeviceNotFound(LookupError):
    """A device spec names a platform or index this process does not have."""


def resolve(spec: str):
    """The jax Device for a spec like "cpu", "gpu" or "gpu:1" (index 0 when omitted)."""
    platform, _, index = spec.partition(":")
    devices = _platform_devices(platform)
    i = int(index) if index else 0
    if i >= len(devices):
        have = ", ".join(d.spec for d in inventory()) or "none"
        raise DeviceNotFound(f"devices={spec!r} is not available on this machine: found {have}")
    return devices[i]


def platform_device_count(spec: str) -> int:
    """How many devices of the spec's platform this process has from the spec's index on (0 if none)."""
    platform, _, index = spec.partition(":")
    return max(0, len(_platform_devices(platform)) - (int(index) if index else 0))


def resolve_many(spec: str, count: int) -> list:
    """`count` jax Devices of the spec's platform, from the spec's index on ("gpu:2", 2 -> gpu:2, gpu:3).

    Raises DeviceNotFound naming `device_count` when the platform has fewer from that index.
    """
    first = resolve(spec)  # names the spec itself when even its first device is missing
    platform, _, index = spec.partition(":")
    devices = _platform_devices(platform)
    start = int(index) if index else 0
    if start + count > len(devices):
        hint = ""
        if platform == "cpu":
            hint = (f"; JAX_NUM_CPU_DEVICES={start + count} set before the run emulates that many CPU devices "
                    "(they share this machine's cores, and the runs say so)")
        where = f"{len(devices)} {platform} devices on this machine" + (f", {spec} is index {start}" if start else "")
        raise DeviceNotFound(
            f"device_count={count} is not allowed: expected an integer in [1, {len(devices) - start}] ({where}){hint}"
        )
    return [first, *devices[start + 1 : start + count]]


def resolve_per_process(spec: str, count: int) -> list:
    """With several processes (engine.measure.distributed): `count` devices of the spec's platform from every
    process, each from the spec's index among that process's own devices, ordered by process (the order the
    data-parallel mesh needs). Raises DeviceNotFound when a process has fewer."""
    platform, _, index = spec.partition(":")
    start = int(index) if index else 0
    by_process: dict[int, list] = {}
    for device in _platform_devices(platform):
        by_process.setdefault(device.process_index, []).append(device)
    chosen = []
    for process in sorted(by_process):
        mine = sorted(by_process[process], key=lambda d: d.id)[start:start + count]
        if len(mine) < count:
            raise DeviceNotFound(f"device_count={count} is not allowed: process {process} has "
                                 f"{len(by_process[process]) - start} {platform} devices from index {start}")
        chosen += mine
    return chosen


def describe() -> dict:
    """Host facts plus the device inventory, for `python -m engine devices --json`."""
    return {
        **host_facts(),
        "jax_version": jax.__version__,
        "jaxlib_version": jaxlib.__version__,
        "devices": [d.as_dict() for d in inventory()],
    }
