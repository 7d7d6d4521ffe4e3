"""Column formats for the dashboard's tables (st.column_config), so every table reads numbers the same way.

sprintf-style formats (Streamlit's NumberColumn): three significant figures with the unit after the number
("21.3x", "0.00236 s"), counts with thousands separators ("1,863,690"). Each helper returns one column's config;
`table_config` builds a whole table's from a {column: kind} mapping.
"""

from __future__ import annotations

import streamlit as st

# sprintf-js format per kind of number: what a hardware engineer reads without counting digits.
FORMATS = {
    "speedup": "%.3gx",
    "seconds": "%.3g s",
    "dollars": "$%.3g",
    "count": "localized",
    "ratio": "%.3g",
    "per_s": "%.3g /s",
}


def number(label: str, kind: str, help: str | None = None):
    """One numeric column shown as `kind` (a FORMATS key) under the header `label`."""
    return st.column_config.NumberColumn(label, format=FORMATS[kind], help=help)


def table_config(columns: dict[str, tuple[str, str]]) -> dict:
    """{column name: (header, kind)} -> st.dataframe's column_config."""
    return {name: number(label, kind) for name, (label, kind) in columns.items()}
