"""The CNN's CPU training step under the engine's two CPU settings, each against its default.

1. Compile options (`engine.measure.xla_options`): one jitted training step of the engine's CNN (3 blocks,
   32/64/128 channels, 32x32x3, batch 128, Adam) compiled with XLA's defaults and with the
   engine's CNN options; alternating rounds of 4 steps, median ms per step.
2. Allocator (`engine.measure.allocator`): the same step (engine options, state donated as the engine
   does) in two fresh processes, one with `allocator.tune()` and one without: median ms per step
   and minor page faults per step (getrusage).
Every number printed is measured in this run. Usage: JAX_PLATFORMS=cpu python benchmarks/cnn_step.py
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ROUNDS, STEPS = 7, 4


def _step(options_name: str, donate: bool):
    import jax
    import jax.numpy as jnp

    from engine.base.config import DataConfig, ModelConfig, RunConfig, TrainConfig
    from engine.measure.train import init_state, make_train_step
    from engine.measure.xla_options import compiler_options

    config = RunConfig(ModelConfig("cnn", width=128, depth=3, channels=32), DataConfig(samples=1024),
                       TrainConfig(batch_size=128))
    x = jax.random.normal(jax.random.key(1), (128, 32, 32, 3))
    y = jnp.zeros((128,), jnp.int32)
    state, static = init_state(config, jax.random.key(0))
    options = compiler_options("cpu", "cnn") if options_name == "engine" else None
    jitted = jax.jit(make_train_step(config, static), donate_argnums=0 if donate else ())
    return jitted.lower(state, (x, y)).compile(options), state, (x, y)


def compile_options_ab() -> dict:
    import jax

    steps = {name: _step(name, donate=False) for name in ("defaults", "engine")}
    times = {name: [] for name in steps}
    for _ in range(ROUNDS):
        for name, (step, state, batch) in steps.items():
            jax.block_until_ready(step(state, batch))
            t0 = time.perf_counter()
            for _ in range(STEPS):
                out = step(state, batch)
            jax.block_until_ready(out)
            times[name].append((time.perf_counter() - t0) / STEPS * 1e3)
    return {name: statistics.median(t) for name, t in times.items()}


def allocator_child(tuned: bool) -> dict:
    """Run in a fresh process: ms per step and minor faults per step of the donated step."""
    from engine.measure import allocator

    if tuned:
        allocator.tune()
    import jax

    step, state, batch = _step("engine", donate=True)
    for _ in range(3):
        state, _ = step(state, batch)
    jax.block_until_ready(state)
    times, faults = [], []
    for _ in range(ROUNDS):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        t0 = time.perf_counter()
        for _ in range(STEPS):
            state, _ = step(state, batch)
        jax.block_until_ready(state)
        times.append((time.perf_counter() - t0) / STEPS * 1e3)
        faults.append((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / STEPS)
    return {"ms": statistics.median(times), "faults": statistics.median(faults), "allocator": allocator.describe()}


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(allocator_child(sys.argv[2] == "tuned")))
        return 0
    options = compile_options_ab()
    children = {}
    for mode in ("default", "tuned", "default", "tuned"):  # two processes each, alternating
        done = subprocess.run([sys.executable, __file__, "--child", mode], capture_output=True, text=True, check=True)
        children.setdefault(mode, []).append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"cnn_step  {datetime.now(UTC).isoformat(timespec='seconds')}  {platform.node()}  "
          f"{os.cpu_count()} cores  rounds={ROUNDS} x {STEPS} steps")
    print(f"  compile options, ms per step (median): XLA defaults {options['defaults']:.1f}, "
          f"engine's CNN options {options['engine']:.1f}")
    for mode, runs in children.items():
        ms = ", ".join(f"{r['ms']:.1f}" for r in runs)
        faults = ", ".join(f"{r['faults']:,.0f}" for r in runs)
        print(f"  allocator {mode:<8} ms per step {ms}; minor page faults per step {faults}  ({runs[0]['allocator']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
