"""Facts about the host that a run record carries for provenance. No jax here.

CPU model and core count, OS, and (where nvidia-smi exists) the NVIDIA driver and CUDA
versions. Everything is read once per process and cached.
"""

from __future__ import annotations

import functools
import os
import platform
import shutil
import subprocess


@functools.cache
def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo, else platform.processor()."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def cpu_cores() -> int:
    """Logical cores this process may run on (the affinity mask, where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity call
        return os.cpu_count() or 1


def total_memory_bytes() -> int | None:
    try:
        import psutil

        return int(psutil.virtual_memory().total)
    except Exception:  # psutil missing or unreadable /proc: memory stays unknown
        return None


@functools.cache
def nvidia_versions() -> tuple[str | None, str | None]:
    """(driver version, CUDA version) as nvidia-smi reports them, or (None, None)."""
    if shutil.which("nvidia-smi") is None:
        return None, None
    try:
        out = subprocess.run(["nvidia-smi"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return None, None
    driver = cuda = None
    for token_line in out.splitlines():
        if "Driver Version:" in token_line:
            parts = token_line.replace("|", " ").split()
            for i, word in enumerate(parts):
                if word == "Version:" and i > 0 and parts[i - 1] == "Driver":
                    driver = parts[i + 1]
                if word == "Version:" and i > 0 and parts[i - 1] == "CUDA":
                    cuda = parts[i + 1]
            break
    return driver, cuda


def host_name() -> str:
    """This machine's network name, as run records store it (column `host`)."""
    return platform.node() or "unknown"


def host_facts() -> dict:
    """Columns shared by every record made on this host."""
    driver, cuda = nvidia_versions()
    return {
        "host": host_name(),
        "os": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_cores": cpu_cores(),
        "driver_version": driver,
        "cuda_version": cuda,
    }
