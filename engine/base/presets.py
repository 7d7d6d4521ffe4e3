"""Named sweeps: grids over parameter count and dataset size for each model kind. No jax.

- quick: two or three small configs per kind; finishes in about a minute on a 2-core CPU.
- params: parameter count grows (width / channels) at a fixed dataset of 4,096 samples.
- dataset: dataset size grows (512 ... 32,768) at a fixed mid-sized network per kind.
- reference: params + dataset, plus float32 `highest`-precision and bfloat16 rows for the
  large MLP; this is what `data/reference/` ships for each measured machine.
- scaling: a small and a large MLP, a CNN and a Transformer at batch sizes that split evenly
  over 1, 2, 4 ... 256 devices, for data-parallel scaling (the CLI runs each config once per
  device count: `--device-counts`, or 1, 2, 4 ... up to the devices present).
- ladder: networks people train, from toy sizes to the NAMED_NETWORKS (ResNet-18 and -50 at
  224 px, BERT-base at 128 tokens, GPT-2 small at 1,024 tokens), three or four rungs per kind
  (resnet, transformer, gpt). The large rungs take few samples (2 steps an epoch) and 3 timed
  epochs, so the whole ladder runs on a 2-core CPU in minutes, not hours; each record states its
  samples, batch and repeats.

NAMED_NETWORKS: well-known architectures by name (`named_network`), their shapes as published, for
`python -m engine run --network NAME` and the ladder's top rungs.
Every run has a time budget, so one slow config cannot stall a sweep: past it the run is
recorded with status "timeout" and the epochs it did measure.
"""

from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

from engine.base.config import BenchConfig, DataConfig, ModelConfig, RunConfig, TrainConfig

PRESETS = ("quick", "params", "dataset", "reference", "scaling", "ladder")


class Network(NamedTuple):
    """A well-known network: the model, its per-example input shape and classes, and its published
    parameter count (`published_params`, from `source`) for comparison with the exact count here."""

    model: ModelConfig
    input_shape: tuple[int, ...]
    n_classes: int
    published_params: int
    source: str


NAMED_NETWORKS = {
    "resnet18": Network(ModelConfig("resnet", depth=18, channels=64), (224, 224, 3), 1000, 11_689_512,
                        "torchvision resnet18 (He et al. 2016), ImageNet 1,000 classes"),
    "resnet50": Network(ModelConfig("resnet", depth=50, channels=64), (224, 224, 3), 1000, 25_557_032,
                        "torchvision resnet50, ImageNet 1,000 classes"),
    # The encoder at BERT-base's shape, 128 tokens, 2 classes (a fine-tuning head): 0.8 % under BERT-base
    # (engine.measure.models.Transformer says why).
    "bert-base": Network(ModelConfig("transformer", width=768, depth=12, heads=12, seq_len=128, vocab=30_522),
                         (128,), 2, 109_482_240, "BERT-base uncased (Devlin et al. 2019), '110M'; "
                                                 "109,482,240 with the pooler in the reference code"),
    "gpt2-small": Network(ModelConfig("gpt", width=768, depth=12, heads=12, seq_len=1024, vocab=50_257),
                          (1024,), 2, 124_439_808, "GPT-2 small (Radford et al. 2019), '124M' (Hugging Face gpt2)"),
}


def named_network(name: str) -> Network:
    """NAMED_NETWORKS[name], or ValueError naming what is allowed."""
    if name not in NAMED_NETWORKS:
        raise ValueError(f"network={name!r} is not allowed: expected one of {', '.join(NAMED_NETWORKS)}")
    return NAMED_NETWORKS[name]


def network_config(name: str, samples: int, batch: int, bench: BenchConfig | None = None, **train) -> RunConfig:
    """A RunConfig training the named network on `samples` synthetic examples in batches of `batch`."""
    net = named_network(name)
    return RunConfig(model=net.model, data=DataConfig(samples=samples, input_shape=net.input_shape,
                                                      n_classes=net.n_classes),
                     train=TrainConfig(batch_size=batch, **train), bench=bench or BenchConfig())


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


LADDER_LARGE_REPEATS = 3  # timed epochs of the ladder's named-size rungs (2 steps each)
LADDER_LARGE_BUDGET_S = 1200.0  # their time budget: compiling GPT-2 small on a 2-core CPU alone takes a while


def _ladder(bench: BenchConfig) -> list[RunConfig]:
    """Toy to published sizes per kind; each kind's rungs in growing order (module doc)."""
    def run(model, shape, classes, samples, batch, b=bench):
        return RunConfig(model=model, data=DataConfig(samples=samples, input_shape=shape, n_classes=classes),
                         train=TrainConfig(batch_size=batch), bench=b)

    large = replace(bench, repeats=min(bench.repeats, LADDER_LARGE_REPEATS),
                    time_budget_s=max(bench.time_budget_s, LADDER_LARGE_BUDGET_S))
    out = [
        run(ModelConfig("resnet", depth=10, channels=16), (64, 64, 3), 10, 256, 32),
        run(ModelConfig("resnet", depth=18, channels=32), (112, 112, 3), 100, 64, 16),
        network_config("resnet18", 16, 8, large),
        network_config("resnet50", 16, 8, large),
        run(ModelConfig("transformer", width=128, depth=2, heads=4, seq_len=128, vocab=1024), (), 2, 256, 32),
        run(ModelConfig("transformer", width=256, depth=4, heads=4, seq_len=128, vocab=8192), (), 2, 64, 16),
        network_config("bert-base", 16, 8, large),
        run(ModelConfig("gpt", width=128, depth=2, heads=4, seq_len=128, vocab=1024), (), 2, 256, 16),
        run(ModelConfig("gpt", width=256, depth=4, heads=4, seq_len=256, vocab=8192), (), 2, 64, 8),
        network_config("gpt2-small", 4, 2, large),
    ]
    return out


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
    if name == "ladder":  # an explicit --repeats or --time-budget applies to every rung
        configs = _ladder(bench)
        if repeats is not None or time_budget_s is not None:
            configs = [replace(c, bench=replace(c.bench, repeats=repeats or c.bench.repeats,
                                                time_budget_s=time_budget_s or c.bench.time_budget_s))
                       for c in configs]
        return configs
    seen, out = set(), []
    for config in _params(bench) + _dataset(bench) + _large_mlp_precision(bench):
        if config not in seen:  # frozen configs are hashable: drop the grids' shared points
            seen.add(config)
            out.append(config)
    return out
