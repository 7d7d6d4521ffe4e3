"""Speedup with a bootstrap confidence interval, from the raw timed epochs of two runs. NumPy + Polars.

speedup = median(CPU epoch seconds) / median(other device's epoch seconds): how many times faster
the other device ran one steady-state epoch. Optionally end-to-end: each side's fixed seconds
(compile + transfer) plus `epochs` x its median epoch, so

    speedup = (cpu_fixed_s + epochs * median(cpu)) / (other_fixed_s + epochs * median(other)).

The fixed seconds are single measurements and are held constant; only the epoch times vary.

Interval: a percentile bootstrap. Both samples are resampled with replacement, independently
(the two runs' epochs are not paired), `resamples` times; the speedup of each resample is
computed and the interval is the (1 - confidence) / 2 and (1 + confidence) / 2 quantiles
(numpy's default, linear interpolation). With one epoch on a side that side contributes no
spread, and with a single epoch on both the interval is the point (a single sample says nothing
about noise); `n_cpu` / `n_other` say how many epochs an interval rests on.

How a resample's median is drawn (exact, and cheap for thousands of pairs): resampling n values
with replacement draws n positions uniformly from the SORTED sample, and the resample's median
is the value at the middle order statistic(s) of those positions. The k-th smallest of n uniform
positions is floor(n * U_(k)), U_(k) the k-th smallest of n uniforms on (0, 1), and (U_(k),
U_(k+1)) is drawn exactly from exponential spacings: U_(k) = A_k / T, U_(k+1) = (A_k + X) / T,
T = A_k + X + B_(n-k), where A_j, B_j are cumulative sums of two streams of standard
exponentials and X is one more. So a resample costs O(1) per pair instead of O(n), and the
draws are the same in distribution as resampling the raw times (tests/test_speedup_at_scale.py
checks them against enumerating every resample, and the intervals against the textbook
bootstrap). The streams come from `numpy.random.default_rng((seed, side, stream, block))` in
fixed blocks of BLOCK columns (above SPACINGS_UP_TO values, A and B are Gamma draws from
`default_rng((seed, side, 3 or 4, n))`), so a row's interval depends only on its own times, its
sample sizes, the seed and the resample count: the same numbers in a frame of one row or of a
thousand, on every run. Many pairs at once: `bootstrap_intervals` (~0.02 ms per pair and interval
at 2,000 resamples on the 2-core development machine; docs/PERFORMANCE.md): a sample shared by
several rows is resampled once, the work goes in cache-sized chunks on two threads, and the
quantiles are selected on the ratios' bits (non-negative doubles order as int64s do).
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import polars as pl

RESAMPLES = 2000
CONFIDENCE = 0.95
SEED = 0
# Columns of exponential spacings drawn per generator call (fixed: the draws depend on it).
BLOCK = 64
# Larger samples draw their middle order statistics from Gamma variables instead (`median_ranks`).
SPACINGS_UP_TO = 4096
# Elements (rows x resamples) handled at once: ~12 MB of working memory per thread, small enough to stay in
# the CPU's caches (2,000 pairs on the 2-core dev machine: 0.06-0.07 s at 250,000, 0.08-0.10 s at 1,000,000).
CHUNK_ELEMENTS = 250_000


@dataclass(frozen=True)
class SpeedupInterval:
    """A speedup (dimensionless, CPU seconds / other seconds) with its bootstrap interval.

    low, high: the percentile interval at `confidence`; n_cpu, n_other: timed epochs used.
    """

    speedup: float
    low: float
    high: float
    confidence: float
    n_cpu: int
    n_other: int
    resamples: int
    basis: str = "epochs"  # what was resampled; engine.analysis.run_interval replaces it with the runs

    def describe(self) -> str:
        pct = f"{self.confidence:.0%}"
        return f"{self.speedup:.3g}x ({pct} CI {self.low:.3g}–{self.high:.3g}, {self.n_cpu} vs {self.n_other} epochs)"


def _clean(times, name: str) -> np.ndarray:
    arr = np.asarray(times, dtype=float).ravel()
    if arr.size == 0:
        raise ValueError(f"{name}: no epoch times")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"{name}: epoch times must be positive finite seconds, got {arr.tolist()}")
    return arr


def median_ranks(side: int, sizes, resamples: int = RESAMPLES, seed: int = SEED) -> dict[int, tuple]:
    """For each sample size n in `sizes`: (lo, hi), two int64 arrays of `resamples` 0-based ranks.

    A bootstrap resample of n sorted values has median (x[lo] + x[hi]) / 2 (lo == hi for odd n).
    Exact draws by exponential spacings (module doc); `side` (0 CPU, 1 other) picks independent
    streams. Cost O(resamples x max(sizes)) for all sizes up to SPACINGS_UP_TO together; above
    it, A_k and B_(n-k) are drawn directly as Gamma(k) and Gamma(n - k) variables (the same
    distribution: a sum of j standard exponentials is Gamma(j)), O(resamples) per size.
    The draws depend on nothing else (not on the other sizes asked for), so the process keeps the
    last RANK_MEMO sizes' ranks (read-only arrays) and draws only sizes it has not seen.
    """
    ns = sorted({int(n) for n in sizes})
    if not ns:
        return {}
    if ns[0] < 1:
        raise ValueError(f"sample sizes must be positive, got {ns[0]}")
    with _memo_lock:
        out = {n: _memo[key] for n in ns if (key := (seed, side, resamples, n)) in _memo}
    missing = [n for n in ns if n not in out]
    if missing:
        drawn = _draw_ranks(side, missing, resamples, seed)
        for pair in drawn.values():
            for ranks in pair:
                ranks.setflags(write=False)
        with _memo_lock:
            for n, pair in drawn.items():
                _memo[(seed, side, resamples, n)] = pair
            while len(_memo) > RANK_MEMO:
                del _memo[next(iter(_memo))]  # the oldest
        out.update(drawn)
    return out


# Ranks of recently used (seed, side, resamples, size): ~16-32 KB each at 2,000 resamples.
RANK_MEMO = 512
_memo: dict[tuple, tuple] = {}
_memo_lock = threading.Lock()


def _draw_ranks(side: int, ns: list[int], resamples: int, seed: int) -> dict[int, tuple]:
    """`median_ranks` of these sizes (sorted, distinct, positive), drawn."""
    x = np.random.default_rng((seed, side, 2)).standard_exponential(resamples)
    out: dict[int, tuple] = {}
    for n in (n for n in ns if n > SPACINGS_UP_TO):
        k = (n + 1) // 2
        a = np.random.default_rng((seed, side, 3, n)).standard_gamma(k, resamples)
        b = np.random.default_rng((seed, side, 4, n)).standard_gamma(n - k, resamples)
        out[n] = _ranks(n, a, b, x)
    ns = [n for n in ns if n <= SPACINGS_UP_TO]
    if not ns:
        return out
    ks = {n: (n + 1) // 2 for n in ns}  # the (lower) middle order statistic, 1-based
    want_a: dict[int, list[int]] = {}  # column of A (1-based k) -> sizes needing it
    want_b: dict[int, list[int]] = {}  # column of B (n - k) -> sizes needing it
    for n in ns:
        want_a.setdefault(ks[n], []).append(n)
        want_b.setdefault(n - ks[n], []).append(n)
    got_a: dict[int, np.ndarray] = {}
    got_b: dict[int, np.ndarray] = {n: np.zeros(resamples) for n in want_b.get(0, [])}
    carry = {0: np.zeros(resamples), 1: np.zeros(resamples)}
    last = max(max(want_a), max(want_b))
    for block in range((last + BLOCK - 1) // BLOCK):
        first = block * BLOCK + 1  # 1-based column of this block's first cumulative sum
        for stream, want, got in ((0, want_a, got_a), (1, want_b, got_b)):
            cols = [c for c in range(first, first + BLOCK) if c in want]
            draws = np.random.default_rng((seed, side, stream, block)).standard_exponential((resamples, BLOCK))
            sums = np.cumsum(draws, axis=1)
            sums += carry[stream][:, None]
            for c in cols:
                for n in want[c]:
                    got[n] = sums[:, c - first]
            carry[stream] = sums[:, -1].copy()
        for n in [n for n in got_a if n in got_b]:
            out[n] = _ranks(n, got_a.pop(n), got_b.pop(n), x)
    return out


def _ranks(n: int, a: np.ndarray, b: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Middle ranks floor(n U_(k)), floor(n U_(k+1)) from A_k, B_(n-k) and X (module doc)."""
    total = a + x + b
    lo = np.minimum(np.floor(n * (a / total)).astype(np.int64), n - 1)
    hi = lo if n % 2 else np.minimum(np.floor(n * ((a + x) / total)).astype(np.int64), n - 1)
    return lo, hi


def _median_sorted(flat: np.ndarray, offsets: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    return (flat[offsets + (sizes - 1) // 2] + flat[offsets + sizes // 2]) / 2


def _rank_table(side: int, sizes: np.ndarray, resamples: int, seed: int):
    """(index of each row's size, lo table, hi table): tables of shape (distinct sizes, resamples)."""
    distinct, where = np.unique(sizes, return_inverse=True)
    ranks = median_ranks(side, distinct.tolist(), resamples, seed)
    lo = np.stack([ranks[int(n)][0] for n in distinct])
    hi = np.stack([ranks[int(n)][1] for n in distinct])
    return where, lo, hi


def bootstrap_intervals(
    cpu: tuple[np.ndarray, np.ndarray, np.ndarray],
    other: tuple[np.ndarray, np.ndarray, np.ndarray],
    variants: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    *,
    resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = SEED,
    threads: int = 2,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Point speedups and percentile intervals for many pairs at once, from sorted samples.

    cpu, other: (values, offsets, sizes): row i's sample is values[offsets[i]:offsets[i] + sizes[i]],
    sorted ascending, positive and finite, sizes >= 1. variants: (cpu_fixed, other_fixed, epochs)
    arrays per row, e.g. zeros/zeros/ones for the steady-state epoch speedup and compile +
    transfer / run length for end-to-end; every variant uses the same resamples. Returns one
    (point, low, high) triple of arrays per variant. Rows are processed in chunks on `threads`
    threads (NumPy's partition releases the GIL); the result does not depend on either.
    """
    _check_options(resamples, confidence)
    c_flat, c_off, c_n = (np.asarray(a) for a in cpu)
    o_flat, o_off, o_n = (np.asarray(a) for a in other)
    rows = c_n.size
    q = [(1 - confidence) / 2, (1 + confidence) / 2]
    c_med, o_med = _median_sorted(c_flat, c_off, c_n), _median_sorted(o_flat, o_off, o_n)
    out = [(_ratio(c_med, o_med, fc, fo, ep), np.empty(rows), np.empty(rows)) for fc, fo, ep in variants]
    if not rows:
        return out
    if threads > 1:  # the two sides' draws are independent streams (NumPy's generators release the GIL)
        with ThreadPoolExecutor(2) as pool:
            (c_where, c_lo, c_hi), (o_where, o_lo, o_hi) = pool.map(
                lambda side: _rank_table(side, (c_n, o_n)[side], resamples, seed), (0, 1))
    else:
        c_where, c_lo, c_hi = _rank_table(0, c_n, resamples, seed)
        o_where, o_lo, o_hi = _rank_table(1, o_n, resamples, seed)

    k = np.array([(resamples - 1) * p for p in q])
    below = np.floor(k).astype(int)
    kth = sorted({int(i) for b in below for i in (b, min(b + 1, resamples - 1))})

    def bootstrap_medians(flat, off, where, lo, hi, sl) -> tuple[np.ndarray, np.ndarray]:
        """(medians, row): (distinct samples, resamples) medians of the resamples of the chunk's distinct
        samples (the same offset and size: e.g. one CPU side paired with two GPUs), and each row's one."""
        distinct, row = np.unique(off[sl] * lo.shape[0] + where[sl], return_inverse=True)
        start, table_row = distinct // lo.shape[0], distinct % lo.shape[0]
        index = lo[table_row]
        index += start[:, None]
        meds = flat[index]
        index = hi[table_row]
        index += start[:, None]
        meds += flat[index]
        meds *= 0.5
        return meds, row

    def run(start: int, stop: int):
        sl = slice(start, stop)
        cpu_meds, cpu_row = bootstrap_medians(c_flat, c_off, c_where, c_lo, c_hi, sl)
        other_meds, other_row = bootstrap_medians(o_flat, o_off, o_where, o_lo, o_hi, sl)
        for (fc, fo, ep), (_, low, high) in zip(variants, out):
            ratios = cpu_meds[cpu_row]  # (cpu_fixed + epochs x cpu) / (other_fixed + epochs x other), in place
            other = other_meds[other_row]
            if fc[sl].any() or fo[sl].any() or (ep[sl] != 1).any():  # else the same numbers without the no-ops
                ratios *= ep[sl, None]
                ratios += fc[sl, None]
                other *= ep[sl, None]
                other += fo[sl, None]
            ratios /= other
            # In place: only the order statistics the quantiles need. Non-negative doubles order as their bits
            # do, and NumPy selects int64 ~1.5x faster than float64 (NaN or a negative: as floats).
            (ratios.view(np.int64) if ratios.min() >= 0 else ratios).partition(kth, axis=1)
            for b, frac, dest in zip(below, k - below, (low, high)):
                a = ratios[:, b]
                dest[sl] = a + frac * (ratios[:, b + 1] - a) if frac else a  # frac > 0: b + 1 < resamples

    step = max(1, CHUNK_ELEMENTS // resamples)
    bounds = [(s, min(s + step, rows)) for s in range(0, rows, step)]
    if threads > 1 and len(bounds) > 1:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda b: run(*b), bounds))
    else:
        for b in bounds:
            run(*b)
    return out


def _ratio(cpu_med, other_med, cpu_fixed, other_fixed, epochs):
    return (cpu_fixed + epochs * cpu_med) / (other_fixed + epochs * other_med)


def bootstrap_speedup(
    cpu_times,
    other_times,
    *,
    cpu_fixed_s: float = 0.0,
    other_fixed_s: float = 0.0,
    epochs: float = 1.0,
    resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = SEED,
) -> SpeedupInterval:
    """Speedup of the other device over the CPU with a percentile bootstrap interval.

    cpu_times, other_times: raw timed epoch seconds (positive) of one run each (or pooled
    repeats of one configuration). The defaults give the steady-state epoch speedup; pass
    compile + transfer seconds as the fixed parts and a run length in `epochs` for end-to-end.
    """
    cpu, other = np.sort(_clean(cpu_times, "cpu_times")), np.sort(_clean(other_times, "other_times"))
    _check_options(resamples, confidence)
    _check_run(cpu_fixed_s, other_fixed_s, epochs)
    zero = np.zeros(1, dtype=np.int64)
    ((point, low, high),) = bootstrap_intervals(
        (cpu, zero, np.array([cpu.size])), (other, zero, np.array([other.size])),
        [(np.array([cpu_fixed_s]), np.array([other_fixed_s]), np.array([float(epochs)]))],
        resamples=resamples, confidence=confidence, seed=seed)
    return SpeedupInterval(float(point[0]), float(low[0]), float(high[0]), confidence, cpu.size, other.size, resamples)


def _check_options(resamples, confidence) -> None:
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 1:
        raise ValueError(f"resamples={resamples!r}: expected a positive integer")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence!r}: expected a number in (0, 1)")


def _check_run(cpu_fixed_s, other_fixed_s, epochs) -> None:
    for name, value in (("cpu_fixed_s", cpu_fixed_s), ("other_fixed_s", other_fixed_s)):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{name}={value!r}: expected non-negative finite seconds")
    if not math.isfinite(epochs) or epochs <= 0:
        raise ValueError(f"epochs={epochs!r}: expected a positive number")


def sorted_samples(lists: pl.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(values, offsets, sizes, usable) of a list[f64] column, each list sorted ascending.

    usable: the list is non-empty and every value is a positive finite number (others get size 0).
    Vectorised: one explode and one sort by (row, value) in Polars, no per-row Python.
    """
    frame = pl.DataFrame({"t": lists.cast(pl.List(pl.Float64))}).with_row_index("row")
    long = frame.explode("t", keep_nulls=False, empty_as_null=False)
    good = long.group_by("row").agg(
        (pl.col("t").is_not_null() & pl.col("t").is_finite() & (pl.col("t") > 0)).all().alias("ok"),
        pl.len().alias("n"))
    good = frame.select("row").join(good, on="row", how="left").sort("row")
    usable = good["ok"].fill_null(False).to_numpy()
    keep = long.join(good.filter(pl.col("ok")).select("row"), on="row", how="semi").sort("row", "t")
    sizes = np.where(usable, good["n"].fill_null(0).to_numpy(), 0).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64) if sizes.size else sizes
    return keep["t"].to_numpy(), offsets, sizes, usable


def with_speedup_ci(
    pairs: pl.DataFrame,
    cpu_col: str = "epoch_times_s_cpu",
    other_col: str = "epoch_times_s_gpu",
    *,
    cpu_fixed_col: str | None = None,
    other_fixed_col: str | None = None,
    epochs: int | float | str | None = None,
    prefix: str = "",
    resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = SEED,
) -> pl.DataFrame:
    """`pairs` plus columns {prefix}speedup, {prefix}ci_low, {prefix}ci_high (Float64).

    cpu_col / other_col: list[f64] columns of raw epoch seconds. For end-to-end speedups name
    the fixed-seconds columns (compile + transfer; null counts 0) and `epochs` (a number or the
    name of a column); use e.g. prefix="e2e_" to keep both in one frame. Rows with a missing,
    empty or non-positive list (or a negative fixed part, non-positive epochs) get nulls. Each
    row's numbers equal `bootstrap_speedup` on its own times. Vectorised (`bootstrap_intervals`).
    """
    _check_options(resamples, confidence)
    n = pairs.height
    c_flat, c_off, c_n, c_ok = sorted_samples(pairs.get_column(cpu_col))
    o_flat, o_off, o_n, o_ok = sorted_samples(pairs.get_column(other_col))
    cpu_fixed = _column_or(pairs, cpu_fixed_col, 0.0)
    other_fixed = _column_or(pairs, other_fixed_col, 0.0)
    if isinstance(epochs, str):
        run_epochs = _column_or(pairs, epochs, math.nan)
    else:
        run_epochs = np.full(n, 1.0 if epochs is None else float(epochs))
    ok = c_ok & o_ok & (run_epochs > 0) & (cpu_fixed >= 0) & (other_fixed >= 0)
    rows = np.flatnonzero(ok)
    point, low, high = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    ((p, lo, hi),) = bootstrap_intervals(
        (c_flat, c_off[rows], c_n[rows]), (o_flat, o_off[rows], o_n[rows]),
        [(cpu_fixed[rows], other_fixed[rows], run_epochs[rows])], resamples=resamples, confidence=confidence,
        seed=seed)
    point[rows], low[rows], high[rows] = p, lo, hi
    return pairs.with_columns(
        pl.Series(f"{prefix}speedup", point, dtype=pl.Float64, nan_to_null=True),
        pl.Series(f"{prefix}ci_low", low, dtype=pl.Float64, nan_to_null=True),
        pl.Series(f"{prefix}ci_high", high, dtype=pl.Float64, nan_to_null=True),
    )


def _column_or(frame: pl.DataFrame, column: str | None, default: float) -> np.ndarray:
    if column is None:
        return np.full(frame.height, float(default))
    return frame.get_column(column).cast(pl.Float64).fill_null(default).to_numpy()
