"""dashboard.gc_tuning: one freeze per server process, never again on a rerun."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import gc
import plotly.express, polars, streamlit  # what the server has loaded when app.py first runs
from dashboard import gc_tuning
assert gc.get_freeze_count() == 0
first = gc_tuning.freeze_imported_objects()
frozen = gc.get_freeze_count()
garbage = [object() for _ in range(1000)]  # objects a later script run would create
second = gc_tuning.freeze_imported_objects()
print(first, second, frozen > 50_000, gc.get_freeze_count() == frozen)
"""


def test_freezes_the_imported_objects_once_per_process():
    # A subprocess: freezing pytest's own objects would change this process for every later test.
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "False", "True", "True"]
