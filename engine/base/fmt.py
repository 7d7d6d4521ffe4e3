"""Numbers for people: durations, money, counts, bytes. No jax, no streamlit: pages and engine text use it."""

from __future__ import annotations

import math


def seconds(s: float | None) -> str:
    """0.0042 -> '4.2 ms', 75 -> '75 s', 150 -> '2.5 min', 9000 -> '2.5 h', 5000 days -> '5,000 days'."""
    if s is None:
        return "n/a"
    if s < 1e-3:
        return f"{number(s * 1e6)} µs"
    if s < 1:
        return f"{s * 1e3:.3g} ms"
    if s < 120:
        return f"{s:.3g} s"
    if s < 2 * 3600:
        return f"{s / 60:.3g} min"
    if s < 3 * 86400:
        return f"{s / 3600:.3g} h"
    return f"{number(s / 86400)} days"  # 5,000 days, not 5e+03


def money(dollars: float | None) -> str:
    """Dollars with two significant digits below $1, never in exponent form: '$0.00042', '$0.50', '$12.30'."""
    if dollars is None:
        return "n/a"
    if dollars >= 1 or dollars <= 0:
        return f"${dollars:,.2f}"
    decimals = min(12, max(2, 1 - math.floor(math.log10(dollars))))
    return f"${dollars:.{decimals}f}"


def number(x: float | None) -> str:
    """3 significant figures, never in exponent form, thousands separated: 1220.4 -> '1,220', 4.71 -> '4.71',
    0.001234 -> '0.00123', 2595.3 -> '2,600'."""
    if x is None or not math.isfinite(x):
        return "n/a"
    if x == 0:
        return "0"
    decimals = 2 - math.floor(math.log10(abs(x)))
    rounded = round(x, decimals)
    if decimals <= 0:
        return f"{rounded:,.0f}"
    return f"{rounded:,.{decimals}f}".rstrip("0").rstrip(".")


def plural(n: int, word: str, words: str | None = None) -> str:
    """1, 'epoch' -> '1 epoch'; 6870, 'run' -> '6,870 runs'."""
    return f"{n:,} {word if n == 1 else words or word + 's'}"


def count(n: float | None) -> str:
    """1_863_690 -> '1.86 M'."""
    if n is None:
        return "n/a"
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.3g}"


def nbytes(n: float | None) -> str:
    if n is None:
        return "unknown"
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} B"


def gigabytes(n: float) -> str:
    """Decimal sizes as memory is sold: 3.3e12 -> '3.30 TB', 1.6e11 -> '160.42 GB', 5e7 -> '50.0 MB'."""
    return f"{n / 1e12:,.2f} TB" if n >= 1e12 else f"{n / 1e9:,.2f} GB" if n >= 1e8 else f"{n / 1e6:,.1f} MB"


def si(value: float | None, unit: str) -> str:
    """1.59e9, 'FLOP/s' -> '1.59 GFLOP/s'."""
    if value is None:
        return "n/a"
    for prefix, size in (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def ratio(value: float | None, low: float | None = None, high: float | None = None) -> str:
    """A speed ratio with no more digits than its interval [low, high] supports: rounded at the leading
    digit of the interval's half-width, at most 3 significant digits, at least 1. 15.52 in 5.5-44 ->
    '20x'; 108.3 in 104-113 -> '108x'; 2.69 in 2.3-3.1 -> '2.7x'; 1.337 without an interval -> '1.34x'."""
    if value is None or not math.isfinite(value) or value <= 0:
        return "n/a"
    magnitude = math.floor(math.log10(value))
    decimals = 2 - magnitude
    if low is not None and high is not None and math.isfinite(low) and math.isfinite(high) and high > low:
        decimals = max(min(decimals, -math.floor(math.log10((high - low) / 2))), -magnitude)
    rounded = round(value, decimals)
    return f"{rounded:,.{max(decimals, 0)}f}x"
