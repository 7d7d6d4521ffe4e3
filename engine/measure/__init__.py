"""Measuring with JAX: the only package that imports jax. Models, synthetic data, training steps,
data-parallel sharding, timed benchmarks, micro benchmarks, device discovery, and the XLA and
allocator settings of the measuring process. Runs in `python -m engine` worker processes, never
in the Streamlit server."""
