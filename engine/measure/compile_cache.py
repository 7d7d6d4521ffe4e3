"""JAX's persistent compilation cache, kept in the user's cache folder.

A record says whether the cache served its compile (`compile_cached`), so cached and cold compile
times are never mixed. The folder is $CROSSOVER_COMPILE_CACHE, else $XDG_CACHE_HOME/crossover/jax
(~/.cache/crossover/jax).
"""

from __future__ import annotations

import os
from pathlib import Path


def enable():
    """Point JAX's persistent compilation cache at the folder above and cache every program. Imports jax."""
    import jax

    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    folder = Path(os.environ.get("CROSSOVER_COMPILE_CACHE", base / "crossover" / "jax"))
    folder.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
