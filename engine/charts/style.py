"""What every chart shares: one colour per device, and log axes whose ticks read as numbers. No jax.

- `device_color(label)`: the colour of a device (its `engine.analysis.pairing.device_label`) on every chart of
  the app, whatever else a chart shows: the shipped reference devices have fixed colours, any other device a
  colour picked from its name (a CRC of the text, so it is the same in every process and session).
- `readable_log_axes(fig)`: every log axis of `fig` gets ticks labelled in full ("0.01", "1", "1,000"): at
  each power of ten when the data spans 2.5 decades or more, else at 1, 2 and 5 times a power of ten, so
  that a "5" under a "1" can never mean 0.5. Plotly's own log ticks label the minor ones "2" and "5".
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable

import numpy as np
import plotly.graph_objects as go

# Plotly's qualitative palette without the three colours the reference devices keep to themselves.
FIXED = {
    "NVIDIA H200": "#00A36C",  # green
    "CPU: Intel(R) Xeon(R) Processor (16 cores)": "#1F5FBF",  # blue
    "CPU: AMD EPYC (2 cores)": "#E8710A",  # orange
}
PALETTE = ("#EF553B", "#AB63FA", "#19D3F3", "#FF6692", "#B6E880", "#FF97FF", "#FECB52", "#8C564B", "#7F7F7F",
           "#BCBD22")
DECADES_FROM = 2.5  # decades of data from which only powers of ten are labelled


def device_color(label: str) -> str:
    """The one colour of the device called `label` (module doc); a label "X on host" is coloured as X."""
    name = str(label).split(" on ")[0]
    return FIXED.get(name) or PALETTE[zlib.crc32(name.encode()) % len(PALETTE)]


def device_colors(labels: Iterable[str]) -> dict[str, str]:
    """{label: colour} for Plotly Express's color_discrete_map."""
    return {label: device_color(label) for label in labels}


def tick_text(value: float) -> str:
    """A tick value in full: 0.001 -> '0.001', 2000 -> '2,000', 1e-7 -> '1e-07' (no one reads 7 zeros)."""
    if value >= 1e-5:
        text = f"{value:,.6f}".rstrip("0").rstrip(".")
        return text if text != "0" else f"{value:g}"
    return f"{value:.0e}"


def log_ticks(low: float, high: float) -> list[float]:
    """Tick values for a log axis over [low, high] (both > 0): powers of ten, or 1-2-5 steps (module doc)."""
    if not (low > 0 and high > 0 and math.isfinite(low) and math.isfinite(high)):
        return []
    low, high = min(low, high), max(low, high)
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    if math.log10(high / low) >= DECADES_FROM:
        return [10.0**k for k in range(first, last + 1)]
    steps = (1, 2, 5) if math.log10(high / low) >= 0.5 else (1, 1.5, 2, 3, 5, 7)
    ticks = [m * 10.0**k for k in range(first - 1, last + 1) for m in steps]
    inside = [t for t in ticks if low / 1.6 <= t <= high * 1.6]
    return inside if len(inside) >= 2 else [t for t in ticks if low / 10 <= t <= high * 10][:4]


def _extent(values) -> tuple[float, float] | None:
    """(smallest, largest) positive finite value of a trace's x or y (a NumPy array or a list with gaps as None),
    without a Python loop over the points: the Overview's chart holds thousands."""
    if values is None:
        return None
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):  # text (a category axis): no numbers to place ticks by
        return None
    usable = array[np.isfinite(array) & (array > 0)]
    return (float(usable.min()), float(usable.max())) if usable.size else None


def readable_log_axes(fig: go.Figure) -> go.Figure:
    """Full-number ticks on every log axis of `fig`, from the values of the traces drawn on it (module doc)."""
    axes = {name: value for name, value in fig.layout.to_plotly_json().items()
            if name.startswith(("xaxis", "yaxis")) and isinstance(value, dict) and value.get("type") == "log"}
    for name in axes:
        letter, suffix = name[0], name[5:]  # "xaxis2" -> "x", "2"
        ref = letter + suffix
        extents = [e for trace in fig.data if (getattr(trace, f"{letter}axis", None) or letter) == ref
                   if (e := _extent(getattr(trace, letter, None))) is not None]
        if not extents:
            continue
        ticks = log_ticks(min(e[0] for e in extents), max(e[1] for e in extents))
        if ticks:
            fig.layout[name].update(tickmode="array", tickvals=ticks, ticktext=[tick_text(t) for t in ticks])
    return fig
