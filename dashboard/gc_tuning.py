"""Keep the garbage collector off the objects every script run shares.

The server process holds ~135,000 long-lived objects from streamlit, polars, plotly and the engine
modules. Each full (generation-2) collection walks all of them: 60 ms on the 2-core dev machine,
and it fell inside a page's script run. `gc.freeze()` once, after those imports, moves them to the
permanent generation, so later collections walk only what page runs create. Nothing is leaked:
objects created later are still collected as before.
"""

from __future__ import annotations

import gc
import threading

_lock = threading.Lock()
_frozen = False


def freeze_imported_objects() -> bool:
    """Collect once, then freeze every object alive now; only the first call in a process does
    anything (later calls return False), so a rerun never freezes the previous run's objects."""
    global _frozen
    with _lock:
        if _frozen:
            return False
        gc.collect()
        gc.freeze()
        _frozen = True
        return True
