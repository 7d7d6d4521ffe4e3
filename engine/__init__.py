"""Crossover's measurement engine, one sub-package per layer (README, "Where things live"):
base, runlog, measure (the only one that imports jax), analysis, charts, answer, jobs; cli on top.

The JAX work runs in `python -m engine` subprocesses; the dashboard imports every layer but measure.
"""

# Which version of the measuring code made a record (the `engine_version` column). Raised whenever a
# change can move a measured time, so runs of one configuration from different engines can be told
# apart (null: a record from before the column existed).
#   1  2026-11-26  first reference data (data/reference)
#   2  2026-11-26  CNN 2x2 max-pool as reshape + max (its gradient is faster on XLA:CPU)
#   3  2026-11-26  CNN first convolution as a matrix multiplication on the CPU; data-parallel mesh path
#   4  2026-11-26  CNN channels-last (no transposes around its convolutions), its CPU programs compiled
#                  with convolutions left to XLA's kernels instead of YNNPACK (engine.measure.xla_options); the
#                  first convolution is a convolution again
#   5  2026-11-26  `python -m engine` keeps freed memory in the process (engine.measure.allocator: no page faults
#                  on each step's buffers); the record's `allocator` column
#   6  2026-11-26  CNN ReLU + max-pool gradient as one masked select (engine.measure.models.relu_max_pool_2x2)
ENGINE_VERSION = 6
