"""engine.analysis.confidence against the module doc written out by hand (issue 19: a mutation pass left a third of
planted bugs alive): the documented random streams drawn again here with plain NumPy loops (no production code),
the percentile interval by np.quantile, the option checks at their edges, the defaults, the samples a frame
gives, and the documented threading (one thread when asked, chunks of at most 250,000 elements)."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from engine.analysis import confidence
from engine.analysis.confidence import (
    bootstrap_intervals,
    bootstrap_speedup,
    median_ranks,
    sorted_samples,
    with_speedup_ci,
)


def _ranks_by_hand(side: int, n: int, resamples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The module doc, step by step: k = ceil(n / 2); X from default_rng((seed, side, 2)); up to 4,096 values, A_k and
    B_(n-k) are running sums of streams 0 and 1 drawn in blocks of 64 columns from default_rng((seed, side, stream,
    block)); above, Gamma(k) and Gamma(n - k) from default_rng((seed, side, 3 or 4, n)); ranks floor(n U)."""
    k = (n + 1) // 2
    x = np.random.default_rng((seed, side, 2)).standard_exponential(resamples)
    if n > 4096:
        a = np.random.default_rng((seed, side, 3, n)).standard_gamma(k, resamples)
        b = np.random.default_rng((seed, side, 4, n)).standard_gamma(n - k, resamples)
    else:
        def running_sum(stream: int, column: int) -> np.ndarray:  # the column-th (1-based) cumulative sum
            total = np.zeros(resamples)
            for block in range((column + 63) // 64):
                draws = np.random.default_rng((seed, side, stream, block)).standard_exponential((resamples, 64))
                total = total + np.cumsum(draws, axis=1)[:, min(64, column - 64 * block) - 1]
            return total

        a, b = running_sum(0, k), running_sum(1, n - k)
    t = a + x + b
    lo = np.array([min(math.floor(n * (ai / ti)), n - 1) for ai, ti in zip(a, t)])
    hi = lo if n % 2 else np.array([min(math.floor(n * ((ai + xi) / ti)), n - 1) for ai, xi, ti in zip(a, x, t)])
    return lo, hi


def _interval_by_hand(cpu, other, resamples, seed, confidence=0.95, cpu_fixed=0.0, other_fixed=0.0, epochs=1.0):
    """(point, low, high): medians of the resamples at the hand-drawn ranks, their speedups, np.quantile (linear)."""
    cpu, other = np.sort(np.asarray(cpu, float)), np.sort(np.asarray(other, float))
    lo, hi = _ranks_by_hand(0, cpu.size, resamples, seed)
    c = (cpu[lo] + cpu[hi]) / 2
    lo, hi = _ranks_by_hand(1, other.size, resamples, seed)
    o = (other[lo] + other[hi]) / 2
    ratios = (cpu_fixed + epochs * c) / (other_fixed + epochs * o)
    point = (cpu_fixed + epochs * np.median(cpu)) / (other_fixed + epochs * np.median(other))
    low, high = np.quantile(ratios, [(1 - confidence) / 2, (1 + confidence) / 2])
    return point, low, high


@pytest.fixture(autouse=True)
def _fresh_memory(monkeypatch):
    monkeypatch.setattr(confidence, "_memo", {})  # every test draws its ranks itself


@pytest.mark.parametrize("side", [0, 1])
def test_ranks_are_the_documented_draws(side):
    """Sizes on both sides of a 64-column block edge and of 4,096, asked for together (the blocks drawn must
    reach the largest middle rank) and of both parities."""
    sizes = [1, 2, 3, 63, 64, 65, 127, 128, 129, 130, 4095, 4096, 4097, 4098, 5001]
    got = median_ranks(side, sizes, resamples=30, seed=11)
    assert sorted(got) == sizes
    for n in sizes:
        lo, hi = _ranks_by_hand(side, n, 30, 11)
        assert np.array_equal(got[n][0], lo) and np.array_equal(got[n][1], hi), n


def test_a_small_and_a_large_size_in_one_call():
    got = median_ranks(0, [1, 129], resamples=20, seed=5)  # columns 1 and 65 of A: two blocks
    for n in (1, 129):
        lo, hi = _ranks_by_hand(0, n, 20, 5)
        assert np.array_equal(got[n][0], lo) and np.array_equal(got[n][1], hi), n


@pytest.mark.parametrize("resamples", [1, 2, 3, 7, 41])
@pytest.mark.parametrize("threads", [1, 2])
def test_intervals_are_the_quantiles_of_the_hand_drawn_resamples(resamples, threads):
    cpu = [1.3, 0.9, 1.1, 1.6, 1.0, 1.2]  # even: the median of a resample averages two ranks
    gpu = [0.30, 0.41, 0.25, 0.33, 0.52]
    ends = (np.array([2.5]), np.array([4.0]), np.array([3.0]))
    plain = (np.zeros(1), np.zeros(1), np.ones(1))
    (p, low, high), (p2, low2, high2) = bootstrap_intervals(
        (np.sort(cpu), np.array([0]), np.array([6])), (np.sort(gpu), np.array([0]), np.array([5])), [plain, ends],
        resamples=resamples, seed=3, threads=threads)
    want = _interval_by_hand(cpu, gpu, resamples, 3)
    assert (p[0], low[0], high[0]) == pytest.approx(want, rel=1e-12)
    want = _interval_by_hand(cpu, gpu, resamples, 3, cpu_fixed=2.5, other_fixed=4.0, epochs=3.0)
    assert (p2[0], low2[0], high2[0]) == pytest.approx(want, rel=1e-12)


def test_the_scalar_interval_at_other_confidences_and_a_large_sample():
    rng = np.random.default_rng(8)
    cpu, gpu = rng.lognormal(0, 0.3, 4100), rng.lognormal(-1, 0.3, 9)
    got = bootstrap_speedup(cpu, gpu, resamples=25, confidence=0.5, seed=2)
    assert (got.speedup, got.low, got.high) == pytest.approx(_interval_by_hand(cpu, gpu, 25, 2, 0.5), rel=1e-12)
    assert (got.n_cpu, got.n_other, got.resamples, got.confidence) == (4100, 9, 25, 0.5)


def test_fixed_seconds_count_once_and_epochs_default_to_one():
    # CPU: 3 + 1 x 2 = 5 s; other: 0 + 1 x 0.5 = 0.5 s -> 10x, every resample the same (one time a side).
    one = bootstrap_speedup([2.0], [0.5], cpu_fixed_s=3.0)
    assert (one.speedup, one.low, one.high) == (10.0, 10.0, 10.0)
    frame = with_speedup_ci(pl.DataFrame({"c": [[2.0]], "g": [[0.5]], "fc": [3.0], "fg": [None]}), "c", "g",
                            cpu_fixed_col="fc", other_fixed_col="fg")
    assert frame.select("speedup", "ci_low", "ci_high").row(0) == (10.0, 10.0, 10.0)


def test_rows_without_a_positive_run_length_get_nulls():
    frame = pl.DataFrame({"c": [[2.0], [2.0], [2.0]], "g": [[0.5], [0.5], [0.5]], "fc": [3.0, 3.0, 3.0],
                          "fg": [1.0, 1.0, 1.0], "n": [0.0, -1.0, 2.0]})
    got = with_speedup_ci(frame, "c", "g", cpu_fixed_col="fc", other_fixed_col="fg", epochs="n")
    assert got["speedup"].to_list() == [None, None, (3.0 + 2 * 2.0) / (1.0 + 2 * 0.5)]


@pytest.mark.parametrize("options", [
    {"resamples": 0}, {"resamples": -3}, {"resamples": True}, {"resamples": 2.0}, {"resamples": "9"},
    {"confidence": 0.0}, {"confidence": 1.0}, {"confidence": 1.5}, {"confidence": -0.5}, {"confidence": math.nan},
    {"cpu_fixed_s": -1.0}, {"cpu_fixed_s": math.inf}, {"cpu_fixed_s": math.nan}, {"other_fixed_s": -0.5},
    {"other_fixed_s": math.inf}, {"epochs": 0.0}, {"epochs": -2.0}, {"epochs": math.inf}, {"epochs": math.nan},
])
def test_options_out_of_range_are_refused(options):
    with pytest.raises(ValueError):
        bootstrap_speedup([1.0, 1.1], [0.5, 0.6], **options)


@pytest.mark.parametrize("options", [{"resamples": 0}, {"resamples": True}, {"confidence": 1.0},
                                     {"confidence": 0.0}])
def test_frame_and_many_pair_options_out_of_range_are_refused(options):
    with pytest.raises(ValueError):
        with_speedup_ci(pl.DataFrame({"a": [[1.0]], "b": [[0.5]]}), "a", "b", **options)
    one = (np.array([1.0]), np.array([0]), np.array([1]))
    with pytest.raises(ValueError):
        bootstrap_intervals(one, one, [(np.zeros(1), np.zeros(1), np.ones(1))], **options)


def test_options_at_their_edges_are_accepted():
    got = bootstrap_speedup([1.0, 3.0], [0.5], resamples=1, confidence=0.01, cpu_fixed_s=0.0, other_fixed_s=0.0,
                            epochs=1e-9)
    assert got.resamples == 1 and got.speedup == pytest.approx(4.0, rel=1e-12)
    assert got.low == got.high  # one resample: the interval is that resample's speedup


def test_samples_of_a_list_column_by_hand():
    lists = pl.Series([[3.0, 1.0, 2.0], None, [], [0.5, 0.0], [4.0, math.nan], [2.0, math.inf], [-1.0, 1.0],
                       [None, 1.0], [7.0]], dtype=pl.List(pl.Float64))
    values, offsets, sizes, usable = sorted_samples(lists)
    assert usable.tolist() == [True, False, False, False, False, False, False, False, True]
    assert sizes.tolist() == [3, 0, 0, 0, 0, 0, 0, 0, 1]
    assert values.tolist() == [1.0, 2.0, 3.0, 7.0]
    assert offsets.tolist() == [0, 3, 3, 3, 3, 3, 3, 3, 3]


class _Pools:
    """A stand-in for ThreadPoolExecutor that records its workers and what was mapped, and runs it in order."""

    def __init__(self):
        self.made: list[int] = []
        self.mapped: list[list] = []

    def __call__(self, workers):
        self.made.append(workers)
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def map(self, fn, items):
        items = list(items)
        self.mapped.append(items)
        return [fn(i) for i in items]


def _rows(n: int):
    values = np.linspace(1.0, 2.0, n)
    return (values, np.arange(n), np.ones(n, dtype=np.int64))


def test_threads_as_documented(monkeypatch):
    """Default: the two sides' ranks on two threads, then chunks of at most 250,000 elements (rows x resamples)
    on two threads; threads=1: no thread at all; one chunk: no pool for it."""
    pools = _Pools()
    monkeypatch.setattr(confidence, "ThreadPoolExecutor", pools)
    plain = [(np.zeros(600), np.zeros(600), np.ones(600))]
    bootstrap_intervals(_rows(600), _rows(600), plain, resamples=1000)
    assert pools.made == [2, 2]
    assert pools.mapped[0] == [0, 1]
    assert pools.mapped[1] == [(0, 250), (250, 500), (500, 600)]
    pools.made.clear()
    pools.mapped.clear()
    bootstrap_intervals(_rows(600), _rows(600), plain, resamples=1000, threads=3)
    assert pools.made == [2, 3] and pools.mapped[1] == [(0, 250), (250, 500), (500, 600)]
    pools.made.clear()
    pools.mapped.clear()
    bootstrap_intervals(_rows(500), _rows(500), [(np.zeros(500), np.zeros(500), np.ones(500))], resamples=1000)
    assert pools.made == [2, 2] and pools.mapped[1] == [(0, 250), (250, 500)]  # two chunks: two threads
    pools.made.clear()
    pools.mapped.clear()
    bootstrap_intervals(_rows(250), _rows(250), [(np.zeros(250), np.zeros(250), np.ones(250))], resamples=1000)
    assert pools.made == [2]  # one chunk: run where it is
    pools.made.clear()
    pools.mapped.clear()
    bootstrap_intervals(_rows(600), _rows(600), plain, resamples=1000, threads=1)
    assert pools.made == [] and pools.mapped == []


def test_one_thread_gives_the_same_numbers_as_the_hand_drawn_ones():
    cpu, gpu = [1.0, 1.4, 1.2], [0.2, 0.3]
    ((p, low, high),) = bootstrap_intervals(
        (np.sort(cpu), np.array([0]), np.array([3])), (np.sort(gpu), np.array([0]), np.array([2])),
        [(np.zeros(1), np.zeros(1), np.ones(1))], resamples=33, seed=4, threads=1)
    assert (p[0], low[0], high[0]) == pytest.approx(_interval_by_hand(cpu, gpu, 33, 4), rel=1e-12)
