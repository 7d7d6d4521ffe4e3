"""Jax-free foundations every layer may import: the frozen run description (`config`), named
sweeps (`presets`), analytic parameter and FLOP counts (`counts`), host facts (`hostinfo`),
resource limits for a shared host (`limits`) and number formats (`fmt`)."""
