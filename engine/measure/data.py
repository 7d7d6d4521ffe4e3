"""Synthetic datasets that a network can learn, the same for a seed on every device.

Generated with NumPy on the host (never timed), so every device trains on identical bytes.
- MLP, CNN and ResNet: separable clusters. Each class has a random prototype of the input shape;
  an example is its class prototype scaled by `signal` plus unit Gaussian noise.
  x (samples, *input_shape) float32, y (samples,) int32 class labels.
- Transformer: each class owns a slice of the vocabulary; every token is drawn from the
  class's slice with probability `marker_rate`, else uniformly, so the bag of tokens
  reveals the class and a mean-pooled encoder can learn it.
  x (samples, seq_len) int32 token ids, y (samples,) int32 class labels.
- GPT: token streams with a fixed random successor map (a permutation of the vocabulary, drawn
  from the seed): after token t comes successor[t] with probability `follow_rate`, else a uniform
  token; the first token is uniform. A sequence of seq_len + 1 tokens gives x = tokens[:-1] and
  y = tokens[1:], so a causal decoder can learn the map (the next token is predictable
  `follow_rate` of the time). x (samples, seq_len) int32, y (samples, seq_len) int32, all < vocab.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from engine.base.config import RunConfig


class Dataset(NamedTuple):
    """x: (samples, *input_shape) float32 (int32 token ids for a Transformer or GPT); y: (samples,) int32
    labels, or (samples, seq_len) int32 next tokens for a GPT (module doc)."""

    x: np.ndarray
    y: np.ndarray

    @property
    def nbytes(self) -> int:
        return int(self.x.nbytes + self.y.nbytes)


def next_token_streams(samples: int, seq_len: int, vocab: int, seed: int, follow_rate: float = 0.8) -> Dataset:
    """A GPT's dataset (module doc): x and y (samples, seq_len) int32, y[:, i] = the token after x[:, i]."""
    rng = np.random.default_rng(seed)
    successor = rng.permutation(vocab).astype(np.int32)
    tokens = np.empty((samples, seq_len + 1), dtype=np.int32)
    tokens[:, 0] = rng.integers(0, vocab, size=samples, dtype=np.int32)
    follow = rng.random((samples, seq_len)) < follow_rate
    uniform = rng.integers(0, vocab, size=(samples, seq_len), dtype=np.int32)
    for i in range(seq_len):
        tokens[:, i + 1] = np.where(follow[:, i], successor[tokens[:, i]], uniform[:, i])
    return Dataset(tokens[:, :-1].copy(), tokens[:, 1:].copy())


def make_dataset(config: RunConfig, signal: float = 0.5, marker_rate: float = 0.3) -> Dataset:
    """The dataset `config.data` describes, shaped for `config.model.kind` (module doc)."""
    if config.model.kind == "gpt":
        return next_token_streams(config.data.samples, config.model.seq_len, config.model.vocab, config.data.seed)
    rng = np.random.default_rng(config.data.seed)
    samples, n_classes = config.data.samples, config.data.n_classes
    y = rng.integers(0, n_classes, size=samples, dtype=np.int32)
    shape = config.input_shape
    if config.model.kind == "transformer":
        vocab = config.model.vocab
        slice_size = max(1, vocab // n_classes)
        starts = (np.arange(n_classes) * slice_size) % vocab
        uniform = rng.integers(0, vocab, size=(samples, *shape), dtype=np.int32)
        markers = (starts[y][:, None] + rng.integers(0, slice_size, size=(samples, *shape))) % vocab
        use_marker = rng.random((samples, *shape)) < marker_rate
        x = np.where(use_marker, markers, uniform).astype(np.int32)
        return Dataset(x, y)
    prototypes = rng.standard_normal((n_classes, math.prod(shape)), dtype=np.float32)
    x = rng.standard_normal((samples, math.prod(shape)), dtype=np.float32)
    x += np.float32(signal) * prototypes[y]
    return Dataset(x.reshape(samples, *shape), y)


def split_batches(data: Dataset, batch_size: int) -> Dataset:
    """Drop the remainder and stack into (steps, batch_size, ...) arrays, in dataset order:
    x (steps, batch_size, *input_shape), y (steps, batch_size) or (steps, batch_size, seq_len) for a GPT."""
    steps = len(data.y) // batch_size
    used = steps * batch_size
    return Dataset(
        data.x[:used].reshape(steps, batch_size, *data.x.shape[1:]),
        data.y[:used].reshape(steps, batch_size, *data.y.shape[1:]),
    )
