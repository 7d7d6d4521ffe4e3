#!/usr/bin/env bash
# Measure Crossover's reference data on a machine with an NVIDIA GPU, in one call:
#   GPU and host-CPU microbenchmarks, then `sweep --preset reference` on the GPU and on the
#   same machine's CPU, each written as Parquet under $OUT (rewritten after every run, so a
#   stage stopped by its time limit keeps what finished).
# Usage (repo root):  OUT=/some/folder bash benchmarks/gpu_reference.sh
# Dry run on a CPU-only machine:  OUT=/tmp/ref PRESET=quick ACCEL=cpu bash benchmarks/gpu_reference.sh
# Wheels for packages the machine lacks (polars) are installed from .whl/ when present.
set -uo pipefail
OUT=${OUT:?set OUT to the output folder}
PRESET=${PRESET:-reference}
ACCEL=${ACCEL:-gpu}              # the accelerator's device spec
GPU_SWEEP_S=${GPU_SWEEP_S:-200}  # wall-clock limits per stage, seconds
CPU_SWEEP_S=${CPU_SWEEP_S:-200}
MICRO_S=${MICRO_S:-90}
PY=${PY:-python3}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
export CROSSOVER_COMPILE_CACHE=${CROSSOVER_COMPILE_CACHE:-/tmp/crossover-jax-cache}
if compgen -G ".whl/*.whl" >/dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
log() { echo "== $(date -u +%H:%M:%S) $*"; }
{
  log "nvidia-smi"; nvidia-smi || echo "no nvidia-smi"
  log "versions"; $PY -c "import jax, jaxlib, polars, equinox, optax; print('jax', jax.__version__, 'jaxlib', jaxlib.__version__, 'polars', polars.__version__, 'equinox', equinox.__version__, 'optax', optax.__version__)"
  log "devices"; $PY -m engine devices
  log "micro $ACCEL"; timeout "$MICRO_S" $PY -m engine micro --full --devices "$ACCEL" --source reference --out "$OUT/accel.micro.parquet"
  log "micro cpu"; timeout "$MICRO_S" $PY -m engine micro --devices cpu --source reference --out "$OUT/cpu.micro.parquet"
  log "sweep $PRESET on $ACCEL"; timeout "$GPU_SWEEP_S" $PY -m engine sweep --preset "$PRESET" --devices "$ACCEL" --source reference --out "$OUT/accel.parquet"
  log "sweep $PRESET on cpu"; timeout "$CPU_SWEEP_S" $PY -m engine sweep --preset "$PRESET" --devices cpu --source reference --out "$OUT/cpu.parquet"
  log "show"; $PY -m engine show "$OUT"
  log "end"
} 2>&1 | tee "$OUT/log.txt"
