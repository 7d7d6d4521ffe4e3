"""Named sweeps: grids over parameter count and dataset size for each model kind. No jax.

- quick: two or three small configs per kind; finishes in about a minute on a 2-core CPU.
- params: parameter count grows (width / channels) at a fixed dataset of 4,096 samples.
- dataset: dataset size grows (512 ... 32,768) at a fixed mid-sized network per kind.
- reference: params + dataset, plus float32 `highest`-precision and bfloat16 rows for the
  large MLP; this is what `data/reference/` ships for each measured machine.
- scaling: a small and a large MLP, a CNN and a Transformer at batch sizes that split evenly
  over 1, 2, 4 ... 256 devices, for data-parallel scaling (the CLI runs each config once per
  device count: `--device-counts`, or 1, 2, 4 ... up to the devices present).
Every run has a time budget, so one slow config cannot stall a sweep: past it the run is
recorded with status "timeout" and the epochs it did measure.
"""

from __future__ import annotations

from dataclasses import replace

from engine.base.config import BenchConfig, DataConfig, ModelConfig, RunConfig, TrainConfig

PRESETS = ("quick", "params", "dataset", "reference", "scaling")


def _run(model: ModelConfig, samples: int, batch: int, bench: BenchConfig, **train) -> RunConfig:
    return RunConfig(model=model, data=DataConfig(samples=samples), train=TrainConfig(batch_size=batch, **train),
                     bench=bench)


def _quick(bench: BenchConfig) -> list[RunConfig]:
    out = [_run(ModelConfig("mlp", width=w, depth=2), 2048, 128, bench) for w in (64, 256, 1024)]
    out += [_run(ModelConfig("cnn", width=64, depth=2, channels=c), 1024, 64, bench) for c in (8, 16)]
    out += [_run(ModelConfig("transformer", width=w, depth=2, heads=4, seq_len=32, vocab=256), 1024, 64, bench)
            for w in (64, 128)]
    return out


def _params(bench: BenchConfig) -> list[RunConfig]:
    out = [_run(ModelConfig("mlp", width=w, depth=3), 4096, 128, bench) for w in (32, 128, 512, 1024, 2048, 4096)]
    out += [_run(ModelConfig("cnn", width=128, depth=3, channels=c), 2048, 64, bench) for c in (4, 8, 16, 32)]
    out += [_run(ModelConfig("transformer", width=w, depth=2, heads=4, seq_len=64, vocab=512), 2048, 64, bench)
            for w in (32, 64, 128, 256)]
    return out


def _dataset(bench: BenchConfig) -> list[RunConfig]:
    sizes = (512, 2048, 8192, 32768)
    out = [_run(ModelConfig("mlp", width=1024, depth=3), n, 128, bench) for n in sizes]
    out += [_run(ModelConfig("cnn", width=128, depth=3, channels=8), n, 64, bench) for n in sizes[:3]]
    out += [_run(ModelConfig("transformer", width=64, depth=2, heads=4, seq_len=64, vocab=512), n, 64, bench)
            for n in sizes[:3]]
    return out


def _large_mlp_precision(bench: BenchConfig) -> list[RunConfig]:
    """784-4096-4096-10 at batch 512: float32 default (TF32 on NVIDIA), float32 highest, bfloat16;
    and at batch 8192, where matrix products outweigh the optimizer's memory traffic on a GPU."""
    model = ModelConfig("mlp", width=4096, depth=2)
    return [
        _run(model, 16384, 512, bench),
        _run(model, 16384, 512, bench, matmul_precision="highest"),
        _run(model, 16384, 512, bench, dtype="bfloat16"),
        _run(model, 32768, 8192, bench),
        _run(model, 32768, 8192, bench, dtype="bfloat16"),
    ]


def _scaling(bench: BenchConfig) -> list[RunConfig]:
    """Batch 256 / 512: a power of two, so every power-of-two device count splits it evenly. A large
    MLP (compute-bound steps, where more devices can help) beside a small one (the gradient
    all-reduce and dispatch dominate, where they cannot)."""
    return [
        _run(ModelConfig("mlp", width=256, depth=2), 8192, 512, bench),
        _run(ModelConfig("mlp", width=2048, depth=3), 8192, 512, bench),
        _run(ModelConfig("cnn", width=128, depth=3, channels=16), 2048, 256, bench),
        _run(ModelConfig("transformer", width=128, depth=2, heads=4, seq_len=64, vocab=512), 2048, 256, bench),
    ]


def preset_configs(name: str, devices: tuple[str, ...] = ("cpu",), repeats: int | None = None,
                   time_budget_s: float | None = None) -> list[RunConfig]:
    """The configs of preset `name`, to be measured on each of `devices`."""
    if name not in PRESETS:
        raise ValueError(f"preset={name!r} is not allowed: expected one of {', '.join(PRESETS)}")
    bench = BenchConfig(warmup=1, repeats=5, devices=devices, time_budget_s=60.0 if name == "quick" else 120.0)
    if repeats is not None:
        bench = replace(bench, repeats=repeats)
    if time_budget_s is not None:
        bench = replace(bench, time_budget_s=time_budget_s)
    if name == "quick":
        return _quick(bench)
    if name == "params":
        return _params(bench)
    if name == "dataset":
        return _dataset(bench)
    if name == "scaling":
        return _scaling(bench)
    seen, out = set(), []
    for config in _params(bench) + _dataset(bench) + _large_mlp_precision(bench):
        if config not in seen:  # frozen configs are hashable: drop the grids' shared points
            seen.add(config)
            out.append(config)
    return out
