"""Helpers for AppTest page tests: open a page of crossover.py (the app; app.py only wraps it in st.App), read texts, find widgets by key."""

from __future__ import annotations

from pathlib import Path

APP = str(Path(__file__).resolve().parents[2] / "crossover.py")
TIMEOUT_S = 60  # the first run starts a `python -m engine devices` subprocess (about 1 s)


def open_page(page: str, query: dict | None = None):
    """An AppTest of crossover.py switched to `page` (e.g. "pages/overview.py"), already run."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
    at.query_params.update(query or {})
    at.run()
    if page != "pages/overview.py":
        at.switch_page(page).run()
    return at


def texts(elements) -> str:
    """All values of a list of text elements (markdown, error, ...) joined, for `in` checks."""
    return "\n".join(str(e.value) for e in elements)


def by_key(widgets, key: str):
    """The widget with this key from one of AppTest's widget lists."""
    for widget in widgets:
        if widget.key == key:
            return widget
    raise KeyError(key)


def button(at, label: str):
    """The (form submit) button with this label."""
    for widget in at.button:
        if widget.label == label:
            return widget
    raise KeyError(label)


def in_page_order(block) -> list:
    """Every node under an AppTest block (at.main, at.sidebar), depth first: the order the browser draws them."""
    nodes = []
    for child in getattr(block, "children", {}).values():
        nodes.append(child)
        nodes.extend(in_page_order(child))
    return nodes
