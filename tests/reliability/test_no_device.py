"""Point 7 — no device: with JAX_PLATFORMS=cpu (tests/conftest.py) `devices` lists the CPU, and
asking for a device that is not there exits 2 naming the devices found, before anything is
measured or written."""

from __future__ import annotations

import json
import os

import pytest
from reliability_helpers import TINY_FLAGS, run_cli


def test_devices_lists_the_cpu():
    assert os.environ["JAX_PLATFORMS"] == "cpu"
    code, out, err = run_cli(["devices"])
    assert code == 0, err
    assert "cpu:0" in out and "cores" in out
    code, out, _ = run_cli(["devices", "--json"])
    info = json.loads(out)
    assert [d["spec"] for d in info["devices"]] == ["cpu:0"]


@pytest.mark.parametrize("command", ["run", "micro"])
@pytest.mark.parametrize("devices", ["gpu", "tpu", "cpu:5", "cpu,gpu:1"])
def test_a_missing_device_exits_2_naming_the_devices_found(tmp_path, command, devices):
    flags = TINY_FLAGS if command == "run" else []
    out = tmp_path / "runs"
    code, stdout, err = run_cli([command, *flags, "--devices", devices, "--out", str(out), "--no-compile-cache"]
                                if command == "run" else [command, "--devices", devices, "--out", str(out)])
    assert code == 2, err
    (line,) = err.strip().splitlines()
    missing = devices.split(",")[-1]
    assert line == f"error: devices={missing!r} is not available on this machine: found cpu:0", line
    assert stdout == "" and not out.exists()  # nothing measured, nothing written
