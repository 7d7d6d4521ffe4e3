"""Per-session upload folders (issue 21): where uploads go, and old sessions' folders pruned."""

import os

from dashboard import state


def _folder_with_file(root, name, age_s, now):
    folder = root / name
    folder.mkdir(parents=True)
    file = folder / "imported-1.parquet"
    file.write_bytes(b"x")
    for path in (file, folder):
        os.utime(path, (now - age_s, now - age_s))
    return folder


def test_only_folders_untouched_for_a_day_are_pruned(tmp_path, monkeypatch):
    monkeypatch.setenv("CROSSOVER_SESSIONS_DIR", str(tmp_path))
    now = 1_800_000_000.0
    old = _folder_with_file(tmp_path, "a" * 32, 25 * 3600, now)
    fresh = _folder_with_file(tmp_path, "b" * 32, 23 * 3600, now)
    assert state.prune_session_folders(now=now) == [old]
    assert not old.exists() and fresh.exists()


def test_a_recent_file_keeps_an_old_folder(tmp_path, monkeypatch):
    """A session that uploads again today keeps yesterday's uploads: the newest file decides."""
    monkeypatch.setenv("CROSSOVER_SESSIONS_DIR", str(tmp_path))
    now = 1_800_000_000.0
    folder = _folder_with_file(tmp_path, "c" * 32, 30 * 3600, now)
    recent = folder / "imported-2.parquet"
    recent.write_bytes(b"y")
    os.utime(recent, (now - 60, now - 60))
    os.utime(folder, (now - 30 * 3600, now - 30 * 3600))
    assert state.prune_session_folders(now=now) == []
    assert recent.exists()


def test_no_sessions_folder_is_nothing_to_prune(tmp_path, monkeypatch):
    monkeypatch.setenv("CROSSOVER_SESSIONS_DIR", str(tmp_path / "absent"))
    assert state.prune_session_folders() == []


def test_shared_imports_is_an_explicit_one(monkeypatch):
    for value, shared in (("1", True), ("", False), ("0", False), ("yes", False)):
        monkeypatch.setenv("CROSSOVER_SHARED_IMPORTS", value)
        assert state.shared_imports() is shared
    monkeypatch.delenv("CROSSOVER_SHARED_IMPORTS")
    assert state.shared_imports() is False
