"""The architecture as rules (DESIGN.md): which package may import which, and where jax may be.

engine/ is split into layer packages. Imports run one way:

    base  <-  runlog  <-  measure              (measuring with JAX; the only package importing jax)
                     <-  analysis  <-  charts  <-  answer
                                   <-  jobs
    cli (and __main__) at the top may import any of them.

Outside engine: pages -> dashboard -> engine; nothing imports upward, engine never imports
streamlit, and the dashboard and pages import no measuring code. The rules are checked on the
source (every import statement, inside functions too) and, for jax, also by importing every
module outside engine.measure in a fresh process and looking at what got loaded.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Engine package -> the engine packages it may import ("engine" alone is the root: ENGINE_VERSION).
ALLOWED = {
    "engine.base": {"engine", "engine.base"},
    "engine.runlog": {"engine", "engine.base", "engine.runlog"},
    "engine.measure": {"engine", "engine.base", "engine.runlog", "engine.measure"},
    "engine.analysis": {"engine", "engine.base", "engine.runlog", "engine.analysis"},
    "engine.charts": {"engine", "engine.base", "engine.runlog", "engine.analysis", "engine.charts"},
    "engine.answer": {"engine", "engine.base", "engine.runlog", "engine.analysis", "engine.charts", "engine.answer"},
    "engine.jobs": {"engine", "engine.base", "engine.runlog", "engine.analysis", "engine.jobs"},
}
# may import every layer; engine.processes is the command line's multi-process flags and launcher
TOP_LEVEL_ENGINE = {"engine", "engine.cli", "engine.__main__", "engine.processes"}
JAX_ROOTS = {"jax", "jaxlib"}


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, module: str) -> list[tuple[int, str]]:
    """(line, absolute dotted name) for every import in `path`, at any depth; relative imports resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from engine import store` imports the module engine.runlog.store: name it so.
            found += [(node.lineno, f"{base}.{alias.name}" if base in ("engine", *ALLOWED) else base)
                      for alias in node.names]
    return found


def _layer(name: str) -> str | None:
    """The engine layer a dotted name belongs to ('engine' for the root package itself)."""
    if name != "engine" and not name.startswith("engine."):
        return None
    parts = name.split(".")
    if len(parts) >= 2 and f"engine.{parts[1]}" in ALLOWED:
        return f"engine.{parts[1]}"
    if len(parts) >= 2 and f"engine.{parts[1]}" in TOP_LEVEL_ENGINE:
        return f"engine.{parts[1]}"
    return "engine"


def violations(root: Path) -> list[str]:
    """Every import under `root` (a checkout's top folder) that breaks the layering rules."""
    found = []
    files = [p for p in root.rglob("*.py") if p.relative_to(root).parts[0] in ("engine", "dashboard", "pages")]
    files += [root / name for name in ("app.py", "crossover.py") if (root / name).exists()]
    for path in sorted(files):
        module = _module_name(path, root)
        where = str(path.relative_to(root))
        own = _layer(module)
        for line, name in _imports(path, module):
            top = name.split(".")[0]
            target = _layer(name)
            if top in JAX_ROOTS and own != "engine.measure":
                found.append(f"{where}:{line} imports {name}: only engine.measure may import jax")
            if top == "streamlit" and module.split(".")[0] == "engine":
                found.append(f"{where}:{line} imports {name}: engine/ never imports streamlit")
            if top in ("dashboard", "pages", "app", "crossover") and module.split(".")[0] == "engine":
                found.append(f"{where}:{line} imports {name}: engine/ never imports the dashboard or pages")
            if top == "pages" and module.split(".")[0] == "dashboard":
                found.append(f"{where}:{line} imports {name}: dashboard/ never imports pages/")
            if target == "engine.measure" and module.split(".")[0] in ("dashboard", "pages", "app", "crossover"):
                found.append(f"{where}:{line} imports {name}: the Streamlit server imports no measuring code")
            if own in ALLOWED and target is not None and target not in ALLOWED[own]:
                found.append(f"{where}:{line} imports {name}: {own} may import only {sorted(ALLOWED[own])}")
    return found


def test_the_repository_keeps_the_layering():
    assert violations(REPO) == []


def test_every_engine_module_sits_in_a_known_layer():
    """A new top-level module or package in engine/ must be placed in the rules, not slip past them."""
    loose = [p.name for p in (REPO / "engine").iterdir()
             if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists()))
             and _layer(_module_name(p if p.suffix == ".py" else p / "__init__.py", REPO)) == "engine"
             and p.name != "__init__.py"]
    assert loose == []


PLANTED = {
    "engine/analysis/cost.py": ("from engine.measure import devices\n",
                                "engine.analysis may import only"),
    "engine/base/config.py": ("from engine.runlog import store\n", "engine.base may import only"),
    "engine/charts/figures.py": ("def f():\n    import jax\n", "only engine.measure may import jax"),
    "engine/runlog/store.py": ("from ..analysis import pairing\n", "engine.runlog may import only"),
    "engine/jobs/worker.py": ("from engine.answer import verdict\n", "engine.jobs may import only"),
    "dashboard/data.py": ("from engine.measure.bench import measure\n", "imports no measuring code"),
    "pages/overview.py": ("import jax.numpy as jnp\n", "only engine.measure may import jax"),
    "engine/analysis/tables.py": ("import streamlit as st\n", "never imports streamlit"),
    "dashboard/state.py": ("from pages import overview\n", "dashboard/ never imports pages/"),
}


@pytest.mark.parametrize("path", sorted(PLANTED))
def test_a_planted_violation_is_caught(tmp_path, path):
    """The checker fails on each kind of broken rule, planted in a copy of the real tree."""
    for folder in ("engine", "dashboard", "pages"):
        for source in (REPO / folder).rglob("*.py"):
            target = tmp_path / source.relative_to(REPO)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(source.read_text())
    assert violations(tmp_path) == []
    line, message = PLANTED[path]
    planted = tmp_path / path
    planted.write_text(planted.read_text() + "\n" + line)
    found = violations(tmp_path)
    assert len(found) == 1 and message in found[0], found


def _loaded_after_import(modules: list[str], prefix: str) -> str:
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(' '.join(sorted(m for m in sys.modules if m == {prefix!r} or m.startswith({prefix!r} + '.'))))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _engine_modules(exclude: str | None = None) -> list[str]:
    names = [_module_name(p, REPO) for p in (REPO / "engine").rglob("*.py") if p.name != "__main__.py"]
    return sorted(n for n in names if exclude is None or not (n == exclude or n.startswith(exclude + ".")))


def test_no_module_outside_measure_loads_jax():
    """Imported for real (not only read): every engine module but engine.measure's, and the dashboard."""
    modules = _engine_modules(exclude="engine.measure") + ["dashboard.state", "dashboard.data", "dashboard.jobs"]
    assert _loaded_after_import(modules, "jax") == ""


def test_the_jax_probe_sees_jax():
    """The probe itself works: importing a measuring module is detected."""
    assert "jax" in _loaded_after_import(["engine.measure.train"], "jax").split()


def test_no_engine_module_loads_streamlit():
    assert _loaded_after_import(_engine_modules(), "streamlit") == ""
