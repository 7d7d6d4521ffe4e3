"""A GPT-2-style causal decoder from equinox layers.

tokens (S,) int -> token embedding (vocab, D) + learned positions (S, D) -> depth x DecoderBlock
-> LayerNorm -> logits (S, vocab) = x @ token_embedding.T: the output layer is TIED to the token
embedding (no separate head matrix, no output bias, as in GPT-2). Position i predicts token i + 1
(labels from `engine.measure.data`), and attention is causal: position i sees positions <= i.

DecoderBlock (pre-norm): x + MHA(LN(x), causal mask), then x + MLP(LN(x)) with MLP D -> 4D -> GELU
-> D; attention with query, key, value and output biases (GPT-2's c_attn and c_proj). GPT-2 small
(vocab 50,257, S 1,024, D 768, 12 blocks, 12 heads) has 124,439,808 parameters here as in the
published model (tests/test_counts_ladder.py). Dropout is left out (as in the encoder).

Attention is `eqx.nn.MultiheadAttention` with a (S, S) boolean mask: XLA computes the full S x S
scores and then masks them (no causal skipping), which is what `engine.base.counts` counts.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from engine.measure.models import EncoderLayer

INIT_STD = 0.02


class DecoderBlock(EncoderLayer):
    """`EncoderLayer` (pre-norm, 4x GELU MLP, attention biases) with a causal mask: (S, D) -> (S, D)."""

    def __call__(self, x):
        seq_len = x.shape[0]
        causal = jnp.tril(jnp.ones((seq_len, seq_len), dtype=bool))  # row i attends to columns <= i
        y = jax.vmap(self.norm1)(x)
        x = x + self.attention(y, y, y, mask=causal)
        y = jax.vmap(self.norm2)(x)
        return x + jax.vmap(self.down)(jax.nn.gelu(jax.vmap(self.up)(y)))


class GPT(eqx.Module):
    """Input (seq_len,) int32 token ids; output (seq_len, vocab) logits of the next token (module doc)."""

    embedding: eqx.nn.Embedding
    positions: eqx.nn.Embedding
    blocks: list[DecoderBlock]
    norm: eqx.nn.LayerNorm

    def __init__(self, vocab: int, seq_len: int, width: int, depth: int, heads: int, *, key):
        keys = jax.random.split(key, depth + 2)
        # GPT-2's initialisation, N(0, 0.02^2): with equinox's N(0, 1) the tied output layer's logits would
        # start with a standard deviation of about sqrt(width).
        self.embedding = eqx.nn.Embedding(weight=INIT_STD * jax.random.normal(keys[0], (vocab, width)))
        self.positions = eqx.nn.Embedding(weight=INIT_STD * jax.random.normal(keys[1], (seq_len, width)))
        self.blocks = [DecoderBlock(width, heads, key=k) for k in keys[2:]]
        self.norm = eqx.nn.LayerNorm(width)

    def __call__(self, tokens):
        x = jax.vmap(self.embedding)(tokens) + self.positions.weight
        for block in self.blocks:
            x = block(x)
        return jax.vmap(self.norm)(x) @ self.embedding.weight.T
