"""The dashboard process never imports jax, and engine/ never imports streamlit (DESIGN.md)."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Modules the Streamlit pages import; each must leave jax unloaded.
JAX_FREE = ["engine", "engine.base.config", "engine.base.counts", "engine.base.presets", "engine.runlog.store", "engine.base.hostinfo"]
# Written by other parts of the project; checked when present.
JAX_FREE_IF_PRESENT = ["engine.analysis.tables", "engine.charts.figures", "engine.jobs.worker", "engine.answer.verdict", "engine.analysis.cost",
                       "engine.analysis.crossover", "engine.analysis.confidence", "engine.analysis.pairing", "engine.analysis.perfmodel",
                       "engine.analysis.workload", "engine.analysis.memory", "engine.answer.explain", "engine.base.fmt", "engine.analysis.scaling", "engine.runlog.record",
                       "dashboard.state"]


def _import_in_fresh_process(modules: list[str], forbidden: str) -> subprocess.CompletedProcess:
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"loaded = sorted(m for m in sys.modules if m == {forbidden!r} or m.startswith({forbidden!r} + '.'))\n"
        "print(' '.join(loaded))\n"
    )
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)


def test_dashboard_modules_do_not_import_jax():
    result = _import_in_fresh_process(JAX_FREE, "jax")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"jax modules loaded: {result.stdout.strip()}"


@pytest.mark.parametrize("module", JAX_FREE_IF_PRESENT)
def test_optional_dashboard_module_does_not_import_jax(module):
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} does not exist yet")
    result = _import_in_fresh_process([module], "jax")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"importing {module} loaded: {result.stdout.strip()}"


def test_the_check_would_see_jax():
    """The probe itself works: importing a JAX module is detected."""
    result = _import_in_fresh_process(["engine.measure.train"], "jax")
    assert result.returncode == 0, result.stderr
    assert "jax" in result.stdout.split()


def test_engine_never_imports_streamlit():
    modules = sorted(
        f"engine.{p.stem}" for p in (REPO / "engine").glob("*.py") if p.stem not in ("__init__", "__main__")
    )
    result = _import_in_fresh_process(modules, "streamlit")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"streamlit loaded by engine modules: {result.stdout.strip()}"
