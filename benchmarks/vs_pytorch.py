"""Crossover's JAX training against PyTorch eager on the same networks, on the CPU.

For each config, the same architecture, batch, dataset size, optimizer (Adam, lr 1e-3) and loss
(softmax cross-entropy) is trained by:
- JAX: `engine.measure.bench.measure` (the harness the app uses; `auto` mode: fused lax.scan epochs,
  per-step dispatch for the CNN), samples/s from the median of the timed epochs;
- PyTorch eager: a plain loop over pre-made batch tensors (`optimizer.zero_grad(); loss.backward();
  optimizer.step()`), one warm-up epoch, then the median of `repeats` timed epochs.
Reported: samples/s of each and the ratio JAX / PyTorch, and for each config the ceiling: the ratio
JAX would reach if its training ran at 100% of this machine's float32 matmul rate (`engine.measure.micro.matmul`,
the best of n = 1024, 1536 and 2048, with the engine's allocator setting, for JAX; `torch.mm` the same
way in the PyTorch process is printed beside it), i.e.
(matmul FLOP/s / analytic FLOPs per sample) / PyTorch samples/s. A goal above the ceiling cannot
be met by a faster training loop, only by a faster matmul. Goals (issue 6): MLP >= 1.6x at large
sizes and >= 4x at tiny sizes; CNN >= 0.8x. Requires `pip install -r benchmarks/requirements.txt`.
Each side runs as its users run it: JAX in this process, with the engine's allocator setting
(`engine.measure.allocator.tune()`, as `python -m engine` applies it), PyTorch in a child process with the
C library's defaults (`--torch-side`), one after the other, never at the same time.
Usage: JAX_PLATFORMS=cpu python benchmarks/vs_pytorch.py [--repeats N] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
TORCH_SIDE = "--torch-side" in sys.argv
if not TORCH_SIDE:  # before anything allocates: the setting the engine's command line applies
    from engine.measure import allocator  # noqa: E402

    allocator.tune()

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from engine.base.config import BenchConfig, DataConfig, ModelConfig, RunConfig, TrainConfig  # noqa: E402
from engine.base.hostinfo import cpu_cores, cpu_model  # noqa: E402
from engine.measure.bench import measure  # noqa: E402
from engine.measure.data import make_dataset, split_batches  # noqa: E402
from engine.measure.micro import matmul  # noqa: E402

MATMUL_SIZES = (1024, 1536, 2048)  # float32 square matmuls for the ceiling: the best rate of these (flat by here)

CASES = {  # name -> (config, goal ratio JAX / PyTorch)
    # 32,768 samples: JAX's epoch is ~0.15 s (8,192 gave ~36 ms epochs, short enough for one hiccup of a
    # shared machine to move a median of three).
    "MLP tiny 784-64-64-10, batch 32": (
        RunConfig(ModelConfig("mlp", width=64, depth=2), DataConfig(samples=32768), TrainConfig(batch_size=32)), 4.0),
    "MLP large 784-4096-4096-10, batch 512": (
        RunConfig(ModelConfig("mlp", width=4096, depth=2), DataConfig(samples=4096), TrainConfig(batch_size=512)), 1.6),
    # 2,048 samples: 16 steps, an epoch of ~1 s on each side (1,024 gave ~0.5 s and a wider spread).
    "CNN 32/64/128 ch, 32x32x3, batch 128": (
        RunConfig(ModelConfig("cnn", width=128, depth=3, channels=32), DataConfig(samples=2048),
                  TrainConfig(batch_size=128)), 0.8),
    "Transformer d128 x2, 64 tokens, batch 64": (
        RunConfig(ModelConfig("transformer", width=128, depth=2, heads=4, seq_len=64, vocab=512),
                  DataConfig(samples=1024), TrainConfig(batch_size=64)), None),
}


class TorchCNN(nn.Module):
    """engine.measure.models.CNN in PyTorch: [conv3x3 + ReLU + maxpool2] x depth, then dense head (NCHW)."""

    def __init__(self, config: RunConfig):
        super().__init__()
        m = config.model
        h, w, c = config.input_shape
        chans = [c] + [m.channels * 2**i for i in range(m.depth)]
        layers = []
        for i in range(m.depth):
            layers += [nn.Conv2d(chans[i], chans[i + 1], 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        flat = chans[-1] * (h >> m.depth) * (w >> m.depth)
        self.body = nn.Sequential(*layers, nn.Flatten(), nn.Linear(flat, m.width), nn.ReLU(),
                                  nn.Linear(m.width, config.data.n_classes))

    def forward(self, x):  # x: (batch, H, W, C) as the engine's data; convolutions want NCHW
        return self.body(x.permute(0, 3, 1, 2))


class TorchTransformer(nn.Module):
    """engine.measure.models.Transformer in PyTorch: embedding + positions, pre-norm encoder layers, mean pool."""

    def __init__(self, config: RunConfig):
        super().__init__()
        m = config.model
        self.embedding = nn.Embedding(m.vocab, m.width)
        self.positions = nn.Parameter(0.02 * torch.randn(m.seq_len, m.width))
        layer = nn.TransformerEncoderLayer(m.width, m.heads, 4 * m.width, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, m.depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(m.width)
        self.head = nn.Linear(m.width, config.data.n_classes)

    def forward(self, tokens):
        x = self.encoder(self.embedding(tokens) + self.positions)
        return self.head(self.norm(x).mean(dim=1))


def torch_model(config: RunConfig) -> nn.Module:
    m = config.model
    if m.kind == "mlp":
        sizes = [config.input_shape[0]] + [m.width] * m.depth
        layers = []
        for i in range(m.depth):
            layers += [nn.Linear(sizes[i], sizes[i + 1]), nn.ReLU()]
        return nn.Sequential(*layers, nn.Linear(m.width, config.data.n_classes))
    return TorchCNN(config) if m.kind == "cnn" else TorchTransformer(config)


def torch_samples_per_s(config: RunConfig, repeats: int) -> float:
    """Median samples/s of PyTorch eager epochs over the engine's own dataset."""
    batches = split_batches(make_dataset(config), config.train.batch_size)
    xs = [torch.from_numpy(np.ascontiguousarray(x)) for x in batches.x]
    ys = [torch.from_numpy(y.astype(np.int64)) for y in batches.y]
    if config.model.kind == "transformer":
        xs = [x.long() for x in xs]
    torch.manual_seed(config.data.seed)
    model = torch_model(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.train.learning_rate)
    loss_fn = nn.CrossEntropyLoss()

    def epoch():
        for x, y in zip(xs, ys, strict=True):
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
        return float(loss.detach())

    epoch()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        epoch()
        times.append(time.perf_counter() - t0)
    return len(xs) * config.train.batch_size / statistics.median(times)


def torch_matmul_flops_per_s(sizes=MATMUL_SIZES, repeats: int = 10) -> float:
    """float32 `torch.mm` of two n x n matrices: 2 n^3 FLOPs over the median of `repeats` calls, the best
    of `sizes`."""
    best = 0.0
    for n in sizes:
        a, b = torch.randn(n, n), torch.randn(n, n)
        torch.mm(a, b)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            torch.mm(a, b)
            times.append(time.perf_counter() - t0)
        best = max(best, 2 * n**3 / statistics.median(times))
    return best


def torch_side(repeats: int) -> dict:
    """The PyTorch half, run in a child process with default malloc: {case: samples/s, "matmul": FLOP/s}."""
    torch.set_num_threads(cpu_cores())
    out = {"matmul": torch_matmul_flops_per_s()}
    for name, (config, _) in CASES.items():
        out[name] = torch_samples_per_s(config, repeats)
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=None)
    parser.add_argument("--torch-side", action="store_true", help="internal: print the PyTorch half as JSON")
    args = parser.parse_args()
    if args.torch_side:
        print(json.dumps(torch_side(args.repeats)))
        return 0
    child = subprocess.run([sys.executable, __file__, "--torch-side", "--repeats", str(args.repeats)],
                           capture_output=True, text=True, check=True)
    torch_results = json.loads(child.stdout.strip().splitlines()[-1])
    jax_matmul = max(r["flops_per_s"] or 0.0 for r in matmul("cpu", MATMUL_SIZES, dtypes=("float32",),
                                                                  precisions=("default",)))
    torch_matmul = torch_results["matmul"]
    rows = []
    for name, (config, goal) in CASES.items():
        config = RunConfig(config.model, config.data, config.train,
                           BenchConfig(warmup=1, repeats=args.repeats, time_budget_s=3600))
        record = measure(config, "cpu")
        assert record["status"] == "ok", record["error"]
        jax_sps = record["samples_per_s"]
        torch_sps = torch_results[name]
        flops_per_sample = record["flops_per_step_analytic"] / config.train.batch_size
        ceiling = jax_matmul / flops_per_sample / torch_sps
        rows.append({"case": name, "mode": record["mode"], "jax_samples_per_s": jax_sps,
                     "torch_samples_per_s": torch_sps, "ratio": jax_sps / torch_sps, "goal": goal,
                     "flops_per_sample": flops_per_sample, "jax_flops_per_s": jax_sps * flops_per_sample,
                     "torch_flops_per_s": torch_sps * flops_per_sample, "ceiling_ratio": ceiling,
                     "jax_matmul_flops_per_s": jax_matmul, "torch_matmul_flops_per_s": torch_matmul,
                     "jax_allocator": record["allocator"]})
    print(f"vs_pytorch  {datetime.now(UTC).isoformat(timespec='seconds')}  {cpu_model()}, {cpu_cores()} cores  "
          f"torch {torch.__version__}  JAX allocator: {rows[0]['jax_allocator']}; PyTorch: libc default")
    print(f"  float32 matmul, best of n = {', '.join(map(str, MATMUL_SIZES))}: JAX {jax_matmul / 1e9:.1f} GFLOP/s, "
          f"torch.mm {torch_matmul / 1e9:.1f} GFLOP/s")
    for r in rows:
        verdict = "" if r["goal"] is None else ("pass" if r["ratio"] >= r["goal"] else "FAIL")
        goal = "-" if r["goal"] is None else f">= {r['goal']}"
        print(f"  {r['case']:<44} JAX [{r['mode']}] {r['jax_samples_per_s']:>10,.0f}/s  PyTorch "
              f"{r['torch_samples_per_s']:>10,.0f}/s  ratio {r['ratio']:5.2f}  goal {goal:<6} {verdict:<4}  "
              f"({r['jax_flops_per_s'] / 1e9:.0f} vs {r['torch_flops_per_s'] / 1e9:.0f} GFLOP/s; ceiling "
              f"{r['ceiling_ratio']:.2f})")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
