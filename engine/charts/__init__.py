"""Plotly figures: pure functions (frame, options) -> Figure, and the downsampling that keeps a
chart's point count bounded."""
