"""A preset split into N disjoint parts, so N machines measure it at once (a SLURM job array, a Kubernetes
Indexed Job). No jax.

`parse_shard("2/3")` -> (2, 3); `shard(items, 2, 3)` keeps every third item starting at the second
(round-robin over the preset's fixed order: deterministic, disjoint, and every part gets small and large
configs alike, so the parts take similar time). Parts are numbered from 1, as in "part 2 of 3".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

MAX_SHARDS = 10_000
T = TypeVar("T")


def parse_shard(text: str) -> tuple[int, int]:
    """"K/N" -> (K, N), 1 <= K <= N <= MAX_SHARDS; ValueError naming the flag and what is allowed."""
    head, slash, tail = str(text).strip().partition("/")
    try:
        k, n = int(head), int(tail)
    except ValueError:
        k = n = 0
    if not slash or not (1 <= n <= MAX_SHARDS and 1 <= k <= n):
        raise ValueError(f"--shard={str(text)[:40]!r} is not allowed: expected K/N with 1 <= K <= N <= {MAX_SHARDS:,}, "
                         "e.g. 2/3 for the second of three parts")
    return k, n


def shard(items: Sequence[T], k: int, n: int) -> list[T]:
    """Part `k` of `n` (from 1) of `items`: items[k-1], items[k-1+n], items[k-1+2n], ..."""
    if not (1 <= k <= n):
        raise ValueError(f"part {k} of {n} does not exist: expected 1 <= k <= n")
    return list(items[k - 1::n])
