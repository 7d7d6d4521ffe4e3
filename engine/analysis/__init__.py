"""Jax-free statistics over the run log (Polars): pairing CPU and accelerator runs, bootstrap
intervals, crossovers, cost and prices, the performance model, memory estimates, workloads,
scaling, and the frames the charts draw (`tables`)."""
