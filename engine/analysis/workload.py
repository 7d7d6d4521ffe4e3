"""A training job described by its sizes alone: parameters, FLOPs per step, activations, data. No jax.

The memory estimate and the performance model need only these numbers, so they also answer
for networks far too big to build or to express as a `RunConfig` (whose limits keep a config
inside one machine), such as the seed article's 10-billion-parameter network or a final
layer of 100 million outputs x 2,000 inputs (200 billion parameters).

- `from_config(config)`: exact parameters and analytic FLOPs (`engine.base.counts`), activation
  sizes per the formulas below.
- `dense_chain(sizes, ...)`: a stack of dense layers sizes[0] -> sizes[1] -> ... -> sizes[-1]
  with ReLU between, counted with the same conventions as `engine.base.counts` (an MLP config gives
  the same parameters and FLOPs either way).
- `mlp_for_params(target, depth)`: a dense chain whose hidden width is solved so that its
  parameter count is the closest to `target` (within one width step).
- Presets: `preset_10b_network()`, `preset_final_layer_200b()`.

Activation elements per example ("layer outputs", the tensors a backward pass needs):
- MLP / dense chain: every dense layer's output: sum(sizes[1:]) (= depth x width + n_classes).
- CNN: per block i, the conv output H_i x W_i x C_i and its pooled map (H_i/2 x W_i/2 x C_i);
  then the dense layer's width and the n_classes logits.
- Transformer: the embedding S x D; per layer 16 x S x D (LayerNorm 1, q/k/v 3, attention
  output 1, output projection 1, LayerNorm 1, MLP up 4 and its GELU 4, MLP down 1) plus the
  attention scores heads x S x S; the final LayerNorm S x D, the pooled D and the logits.
- GPT: as the Transformer per layer, the embedding and the final LayerNorm; then the logits of
  every token, S x vocab, instead of a pooled vector and n_classes logits.
- ResNet: per convolution (`engine.base.counts.resnet_convs`) its output and its norm's output,
  2 x H_out x W_out x C_out; per residual block its output (the sum after ReLU); the stem's
  max-pooled map; the pooled features and the logits.
ReLU/GELU outputs, residual sums and softmax probabilities are not counted separately: the
memory estimate doubles the total for what the backward pass keeps (see `engine.analysis.memory`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from engine.base.config import DTYPES, MODEL_KINDS, OPTIMIZERS, RunConfig
from engine.base.counts import (
    BACKWARD_ELEMENTWISE_FACTOR,
    OPTIMIZER_FLOPS_PER_PARAM,
    RELU_FLOPS,
    SOFTMAX_FLOPS,
    flops_per_step,
    parameter_count,
    resnet_convs,
)

DTYPE_BYTES = {"float32": 4, "bfloat16": 2}
INDEX_BYTES = 4  # int32 labels and token ids
MNIST_FEATURES = 784
PRESET_BATCH = 128
PRESET_SAMPLES = 60_000


@dataclass(frozen=True)
class Workload:
    """A training job by its sizes.

    kind: one of MODEL_KINDS, "mlp" | "cnn" | "transformer" | "resnet" | "gpt" (the model kind whose
    measurements predict it).
    params: parameter count. flops_per_step: FLOPs of one training step (forward, backward,
    optimizer) over a batch. activation_elements: layer-output elements per example (module
    doc). dataset_bytes: the dataset as put on the device (inputs + int32 labels, whole batches).
    exact: True when counted from a buildable config, False for an approximation (`note` says how).
    """

    name: str
    kind: str
    params: int
    flops_per_step: float
    batch_size: int
    samples: int
    activation_elements: int
    dataset_bytes: int
    optimizer: str = "adam"
    dtype: str = "float32"
    matmul_precision: str = "default"
    exact: bool = True
    note: str = ""

    def __post_init__(self):
        if self.kind not in MODEL_KINDS:
            raise ValueError(f"kind={self.kind!r}: expected one of {', '.join(MODEL_KINDS)}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer={self.optimizer!r}: expected one of {', '.join(OPTIMIZERS)}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype={self.dtype!r}: expected one of {', '.join(DTYPES)}")
        for name in ("params", "batch_size", "samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)!r}: expected a positive integer")
        if self.batch_size > self.samples:
            raise ValueError(f"batch_size={self.batch_size} is more than samples={self.samples}")

    @property
    def steps_per_epoch(self) -> int:
        return self.samples // self.batch_size

    @property
    def flops_per_epoch(self) -> float:
        return self.flops_per_step * self.steps_per_epoch


def activation_elements(config: RunConfig) -> int:
    """Layer-output elements per example of `config`'s network (module doc)."""
    m, classes = config.model, config.data.n_classes
    if m.kind == "mlp":
        return m.depth * m.width + classes
    if m.kind == "cnn":
        height, width_px, channels_in = config.input_shape
        total = 0
        for i in range(m.depth):
            h, w, c = height >> i, width_px >> i, m.channels * 2**i
            total += h * w * c + (h >> 1) * (w >> 1) * c
        return total + m.width + classes
    if m.kind == "resnet":
        return _resnet_activation_elements(config)
    s, d = m.seq_len, m.width
    layers = s * d + m.depth * (16 * s * d + m.heads * s * s) + s * d
    return layers + (s * m.vocab if m.kind == "gpt" else d + classes)


def _resnet_activation_elements(config: RunConfig) -> int:
    convs = resnet_convs(config)
    total = sum(2 * c.out_h * c.out_w * c.c_out for c in convs)  # each convolution and its norm
    for i, c in enumerate(convs[1:], start=1):  # a block's output: after its last conv (shortcut or not)
        if i + 1 == len(convs) or convs[i + 1].block != c.block:
            total += c.out_h * c.out_w * c.c_out
    stem = convs[0]
    total += ((stem.out_h - 1) // 2 + 1) * ((stem.out_w - 1) // 2 + 1) * stem.c_out  # the max-pooled map
    return total + convs[-1].c_out + config.data.n_classes


def _dataset_bytes(samples: int, batch_size: int, example_bytes: int, label_bytes: int = INDEX_BYTES) -> int:
    used = (samples // batch_size) * batch_size  # the runner drops the last partial batch
    return used * (example_bytes + label_bytes)


def from_config(config: RunConfig, name: str = "") -> Workload:
    """The exact workload of a buildable config (parameters and FLOPs from `engine.base.counts`)."""
    m = config.model
    tokens = m.kind in ("transformer", "gpt")
    example = math.prod(config.input_shape) * (INDEX_BYTES if tokens else 4)
    labels = INDEX_BYTES * (m.seq_len if m.kind == "gpt" else 1)  # a GPT's labels are its next tokens
    return Workload(
        name=name or _config_name(config),
        kind=m.kind,
        params=parameter_count(config),
        flops_per_step=float(flops_per_step(config)),
        batch_size=config.train.batch_size,
        samples=config.data.samples,
        activation_elements=activation_elements(config),
        dataset_bytes=_dataset_bytes(config.data.samples, config.train.batch_size, example, labels),
        optimizer=config.train.optimizer,
        dtype=config.train.dtype,
        matmul_precision=config.train.matmul_precision,
        exact=True,
    )


def _config_name(config: RunConfig) -> str:
    m = config.model
    if m.kind == "mlp":
        return f"MLP {config.input_shape[0]}-{m.width}x{m.depth}-{config.data.n_classes}"
    if m.kind == "cnn":
        return f"CNN {m.depth} blocks from {m.channels} channels, dense {m.width}"
    if m.kind == "resnet":
        h, w, _ = config.input_shape
        return f"ResNet-{m.depth} from {m.channels} channels, {h}x{w} images"
    if m.kind == "gpt":
        return f"GPT width {m.width}, {m.depth} blocks, {m.heads} heads, {m.seq_len} tokens, vocabulary {m.vocab:,}"
    return f"Transformer width {m.width}, {m.depth} layers, {m.heads} heads, {m.seq_len} tokens"


def chain_params(sizes: tuple[int, ...]) -> int:
    """Weights and biases of dense layers sizes[0] -> sizes[1] -> ... ."""
    return sum(a * b + b for a, b in zip(sizes, sizes[1:]))


def chain_flops_per_step(sizes: tuple[int, ...], batch_size: int, optimizer: str = "adam") -> int:
    """FLOPs of one training step of a dense chain, `engine.base.counts` conventions (ReLU after hidden layers)."""
    total = 0
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        matmul = 2 * batch_size * a * b
        total += (matmul + batch_size * b) * 2 + (matmul if i > 0 else 0)
    elementwise = 1 + BACKWARD_ELEMENTWISE_FACTOR
    total += batch_size * sum(sizes[1:-1]) * RELU_FLOPS * elementwise
    total += batch_size * sizes[-1] * SOFTMAX_FLOPS * elementwise
    return total + OPTIMIZER_FLOPS_PER_PARAM[optimizer] * chain_params(sizes)


def dense_chain(sizes: tuple[int, ...], batch_size: int = PRESET_BATCH, samples: int = PRESET_SAMPLES,
                optimizer: str = "adam", dtype: str = "float32", name: str = "", note: str = "",
                exact: bool = False) -> Workload:
    """A stack of dense layers as a workload (kind "mlp"); inputs float32, labels int32."""
    sizes = tuple(int(s) for s in sizes)
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"sizes={sizes!r}: expected at least two positive layer sizes")
    params = chain_params(sizes)
    return Workload(
        name=name or "dense " + "-".join(f"{s:,}" for s in sizes),
        kind="mlp",
        params=params,
        flops_per_step=float(chain_flops_per_step(sizes, batch_size, optimizer)),
        batch_size=batch_size,
        samples=samples,
        activation_elements=sum(sizes[1:]),
        dataset_bytes=_dataset_bytes(samples, batch_size, sizes[0] * 4),
        optimizer=optimizer,
        dtype=dtype,
        exact=exact,
        note=note,
    )


def mlp_for_params(target: float, depth: int = 4, features: int = MNIST_FEATURES, n_classes: int = 10,
                   **kwargs) -> Workload:
    """A dense chain features -> width x depth -> n_classes whose parameter count is closest to `target`.

    Parameters = (depth - 1) w^2 + (features + depth + n_classes) w + n_classes; w is the
    positive root for `target`, then the better of its floor and ceiling.
    """
    if depth < 1 or target < 1:
        raise ValueError(f"target={target!r}, depth={depth!r}: expected positive numbers")
    a, b, c = depth - 1, features + depth + n_classes, n_classes - target
    root = -c / b if a == 0 else (-b + math.sqrt(b * b - 4 * a * c)) / (2 * a)
    sizes_for = lambda w: (features, *([w] * depth), n_classes)
    width = min((max(1, math.floor(root)), max(1, math.ceil(root))),
                key=lambda w: abs(chain_params(sizes_for(w)) - target))
    note = (f"a {depth}-hidden-layer MLP of width {width:,} chosen so its parameter count "
            f"({chain_params(sizes_for(width)):,}) is the nearest to {target:,.0f}; FLOPs by the engine's "
            f"analytic counts (about 6 x parameters x batch)")
    return dense_chain(sizes_for(width), note=note, **kwargs)


def preset_10b_network(batch_size: int = PRESET_BATCH, samples: int = PRESET_SAMPLES, depth: int = 4,
                       **kwargs) -> Workload:
    """The seed article's 10-billion-parameter network, as an MLP on 784 features (see `mlp_for_params`)."""
    w = mlp_for_params(10e9, depth=depth, batch_size=batch_size, samples=samples, **kwargs)
    return replace(w, name="10-billion-parameter network")


def preset_final_layer_200b(batch_size: int = PRESET_BATCH, samples: int = PRESET_SAMPLES,
                            hidden: int = 2_000, outputs: int = 100_000_000, features: int = MNIST_FEATURES,
                            **kwargs) -> Workload:
    """The seed article's final layer of 100 million outputs x 2,000 = 200 billion parameters.

    Built as features -> 2,000 (ReLU) -> 100,000,000 logits; the final layer alone has
    2,000 x 1e8 weights + 1e8 biases, the whole chain ~200.1 billion parameters.
    """
    note = (f"a dense chain {features:,} -> {hidden:,} -> {outputs:,}; the final layer holds "
            f"{hidden * outputs + outputs:,} parameters")
    w = dense_chain((features, hidden, outputs), batch_size=batch_size, samples=samples, note=note, **kwargs)
    return replace(w, name="final layer of 100 million outputs x 2,000 (200 billion parameters)")


PRESET_WORKLOADS = {
    "10b_network": preset_10b_network,
    "final_layer_200b": preset_final_layer_200b,
}
