"""engine.analysis.confidence.bootstrap_intervals on many pairs (issue 6, goal 4): samples shared by several rows are
resampled once, the quantiles are picked on the ratios' bits, and ranks are remembered per size; none of
it may change a number. Checked against the definition written out with median_ranks and np.quantile."""

from __future__ import annotations

import numpy as np
import pytest

from engine.analysis import confidence
from engine.analysis.confidence import bootstrap_intervals, bootstrap_speedup, median_ranks


def _csr(samples):
    sizes = np.array([s.size for s in samples])
    return np.concatenate(samples), np.concatenate([[0], np.cumsum(sizes)[:-1]]), sizes


def _definition(cpu, other, fixed_cpu, fixed_other, epochs, resamples=2000, seed=0):
    """(low, high) of one row: the resampled medians from median_ranks, their ratio, np.quantile."""
    lo, hi = median_ranks(0, [cpu.size], resamples, seed)[cpu.size]
    c = (cpu[lo] + cpu[hi]) / 2
    lo, hi = median_ranks(1, [other.size], resamples, seed)[other.size]
    o = (other[lo] + other[hi]) / 2
    return np.quantile((fixed_cpu + epochs * c) / (fixed_other + epochs * o), [0.025, 0.975])


def test_rows_sharing_a_sample_equal_the_definition():
    rng = np.random.default_rng(3)
    cpu = [np.sort(rng.lognormal(0, 0.2, n)) for n in (5, 12, 40)]
    gpu = [np.sort(rng.lognormal(-2, 0.2, n)) for n in (7, 7, 30)]
    flat_c, off_c, n_c = _csr(cpu)
    flat_g, off_g, n_g = _csr(gpu)
    pick_c, pick_g = np.array([0, 0, 1, 1, 2, 2, 0]), np.array([0, 1, 0, 1, 2, 0, 0])  # every CPU with two GPUs
    rows = pick_c.size
    fixed = (rng.random(rows), rng.random(rows), rng.integers(1, 30, rows).astype(float))
    plain = (np.zeros(rows), np.zeros(rows), np.ones(rows))
    (p, low, high), (p2, low2, high2) = bootstrap_intervals(
        (flat_c, off_c[pick_c], n_c[pick_c]), (flat_g, off_g[pick_g], n_g[pick_g]), [plain, fixed])
    for i, (a, b) in enumerate(zip(pick_c, pick_g)):
        assert (low[i], high[i]) == pytest.approx(tuple(_definition(cpu[a], gpu[b], 0.0, 0.0, 1.0)), rel=1e-12)
        want = _definition(cpu[a], gpu[b], fixed[0][i], fixed[1][i], fixed[2][i])
        assert (low2[i], high2[i]) == pytest.approx(tuple(want), rel=1e-12)
        one = bootstrap_speedup(cpu[a], gpu[b], cpu_fixed_s=fixed[0][i], other_fixed_s=fixed[1][i],
                                epochs=fixed[2][i])
        assert (p2[i], low2[i], high2[i]) == (one.speedup, one.low, one.high)  # bit for bit, alone or together
    assert (p[0], low[0], high[0]) == (p[6], low[6], high[6])  # the same pair twice


def test_negative_ratios_are_ordered_as_numbers():
    """Ratios below zero (a negative fixed part: not a time, but not checked here) take the float path."""
    rng = np.random.default_rng(4)
    cpu, gpu = np.sort(rng.lognormal(0, 0.2, 9)), np.sort(rng.lognormal(0, 0.2, 6))
    flat_c, off_c, n_c = _csr([cpu])
    flat_g, off_g, n_g = _csr([gpu])
    variant = (np.array([-5.0]), np.array([0.0]), np.array([1.0]))
    ((_, low, high),) = bootstrap_intervals((flat_c, off_c, n_c), (flat_g, off_g, n_g), [variant])
    assert (low[0], high[0]) == pytest.approx(tuple(_definition(cpu, gpu, -5.0, 0.0, 1.0)), rel=1e-12)
    assert low[0] < 0


def test_remembered_ranks_are_the_drawn_ones(monkeypatch):
    monkeypatch.setattr(confidence, "_memo", {})
    alone = median_ranks(1, [7], 500, seed=3)[7]
    confidence._memo.clear()
    together = median_ranks(1, [3, 7, 200, 1000], 500, seed=3)[7]  # drawn again, with other sizes
    assert np.array_equal(alone[0], together[0]) and np.array_equal(alone[1], together[1])
    again = median_ranks(1, [7], 500, seed=3)[7]  # remembered
    assert again[0] is together[0] and not again[0].flags.writeable
    assert not np.array_equal(median_ranks(0, [7], 500, seed=3)[7][0], alone[0])  # the other side's stream


def test_the_memory_of_ranks_is_bounded(monkeypatch):
    monkeypatch.setattr(confidence, "_memo", {})
    monkeypatch.setattr(confidence, "RANK_MEMO", 5)
    first = median_ranks(0, [2], 100)[2][0].copy()
    for n in range(3, 12):
        median_ranks(0, [n], 100)
    assert len(confidence._memo) == 5 and (0, 0, 100, 2) not in confidence._memo
    assert np.array_equal(median_ranks(0, [2], 100)[2][0], first)  # drawn again: the same
