"""Crossover's measurement engine: configs, models, training, timing, storage and analysis.

Modules the dashboard imports (config, counts, presets, store, analysis, figures, worker)
never import jax at module level; the JAX work runs in `python -m engine` subprocesses.
"""
