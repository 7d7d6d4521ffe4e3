"""Fixtures for the AppTest page tests: data folders from tests/fixtures, pointed to by env vars."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "fixtures"))

import fixture_data  # noqa: E402


def _point_at(monkeypatch, runs: Path, reference: Path):
    monkeypatch.setenv("CROSSOVER_RUNS_DIR", str(runs))
    monkeypatch.setenv("CROSSOVER_REFERENCE_DIR", str(reference))
    monkeypatch.setenv("CROSSOVER_SESSIONS_DIR", str(runs.parent / "sessions"))  # uploads: never the repo's data/
    monkeypatch.delenv("CROSSOVER_SHARED_IMPORTS", raising=False)
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")


@pytest.fixture
def data_dirs(tmp_path, monkeypatch):
    """(runs_dir, reference_dir): real CPU runs and micro records plus synthetic GPU twins."""
    runs, reference = fixture_data.make_folders(tmp_path)
    _point_at(monkeypatch, runs, reference)
    return runs, reference


@pytest.fixture
def cpu_only_dirs(tmp_path, monkeypatch):
    """Like data_dirs, with no GPU rows at all."""
    runs, reference = fixture_data.make_folders(tmp_path, with_gpu=False)
    _point_at(monkeypatch, runs, reference)
    return runs, reference


@pytest.fixture
def shipped_reference_dirs(tmp_path, monkeypatch):
    """Own runs: the fixture's real CPU runs; reference: a copy of the shipped data/reference (real
    NVIDIA H200 and host-CPU measurements), as a visitor of the app has them."""
    runs, _ = fixture_data.make_folders(tmp_path / "fixture", with_gpu=False)
    reference = tmp_path / "reference"
    shutil.copytree(ROOT / "data" / "reference", reference)
    _point_at(monkeypatch, runs, reference)
    return runs, reference


@pytest.fixture
def empty_dirs(tmp_path, monkeypatch):
    runs, reference = tmp_path / "runs", tmp_path / "reference"
    runs.mkdir()
    reference.mkdir()
    _point_at(monkeypatch, runs, reference)
    return runs, reference


@pytest.fixture(autouse=True)
def navigation_mode(monkeypatch, request):
    """Run pages the way a warm server does: through crossover.py's st.navigation.

    A pages/ folder beside crossover.py turns on Streamlit's old multipage mode until st.navigation
    is first called in the process; AppTest turns it back on before every run, so each run of
    a non-default page would go through `dashboard.state.through_app`'s rerun, which drops
    button clicks. A real server switches it off for good after its first script run.
    Tests marked `old_pages_mode` keep AppTest's behaviour to test that guard itself.
    """
    if request.node.get_closest_marker("old_pages_mode"):
        return
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


def pytest_configure(config):
    config.addinivalue_line("markers", "old_pages_mode: keep Streamlit's pages/-folder mode on (see navigation_mode)")
