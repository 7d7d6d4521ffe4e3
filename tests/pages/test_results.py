"""Results page: table, filters, downloads, import (accepted and rejected)."""

import io

import polars as pl
from page_helpers import by_key, open_page, texts

from engine.runlog import store

PAGE = "pages/results.py"


def test_table_filters_and_downloads(data_dirs):
    at = open_page(PAGE)
    assert not at.exception
    assert len(at.dataframe[0].value) == 21  # 7 own + 7 reference CPU + 7 synthetic GPU
    assert [b.label for b in at.download_button] == ["Download CSV", "Download Parquet"]
    by_key(at.pills, "rs_platforms").set_value(["gpu"]).run()
    assert len(at.dataframe[0].value) == 7


def _uploads(runs_dir):
    """Files the uploads of any session wrote (tests point CROSSOVER_SESSIONS_DIR beside the runs folder)."""
    return list((runs_dir.parent / "sessions").glob("*/imported-*.parquet"))


def test_import_accepts_a_run_file(data_dirs):
    runs_dir, _ = data_dirs
    at = open_page(PAGE)
    frame = pl.read_parquet(runs_dir / "runs-fixture-cpu.parquet").head(2)
    frame = frame.with_columns(pl.col("run_id") + "-from-elsewhere")  # runs the log does not hold yet
    buffer = io.BytesIO()
    store.export_csv(frame, buffer)
    at.file_uploader[0].set_value(("mine.csv", buffer.getvalue(), "text/csv")).run()
    assert not at.exception
    assert "mine.csv: imported 2 runs" in texts(at.success)
    assert len(_uploads(runs_dir)) == 1
    assert not list(runs_dir.glob("imported-*.parquet"))  # not in the shared run log
    assert len(at.dataframe[0].value) == 21  # the page's table as it was before the upload landed
    at.run()
    assert len(at.dataframe[0].value) == 23
    assert len(_uploads(runs_dir)) == 1  # a rerun does not import again


def test_an_upload_is_seen_by_its_own_session_only(data_dirs):
    """Issue 21: an anonymous upload changed every visitor's answer. Another session (a second AppTest, with
    its own session state) opening the same server's data sees the table as it was."""
    runs_dir, _ = data_dirs
    frame = pl.read_parquet(runs_dir / "runs-fixture-cpu.parquet").head(3).with_columns(pl.col("run_id") + "-x")
    buffer = io.BytesIO()
    store.export_csv(frame, buffer)
    uploader = open_page(PAGE)
    uploader.file_uploader[0].set_value(("mine.csv", buffer.getvalue(), "text/csv")).run()
    uploader.run()
    assert len(uploader.dataframe[0].value) == 24
    other = open_page(PAGE)
    assert not other.exception
    assert len(other.dataframe[0].value) == 21


def test_shared_imports_go_to_the_run_log_when_the_operator_says_so(data_dirs, monkeypatch):
    runs_dir, _ = data_dirs
    monkeypatch.setenv("CROSSOVER_SHARED_IMPORTS", "1")
    frame = pl.read_parquet(runs_dir / "runs-fixture-cpu.parquet").head(1).with_columns(pl.col("run_id") + "-y")
    buffer = io.BytesIO()
    store.export_csv(frame, buffer)
    at = open_page(PAGE)
    at.file_uploader[0].set_value(("mine.csv", buffer.getvalue(), "text/csv")).run()
    assert len(list(runs_dir.glob("imported-*.parquet"))) == 1 and not _uploads(runs_dir)
    assert len(open_page(PAGE).dataframe[0].value) == 22  # every session sees it


def test_import_rejects_a_foreign_file(data_dirs):
    runs_dir, _ = data_dirs
    at = open_page(PAGE)
    at.file_uploader[0].set_value(("other.csv", b"a,b\n1,2\n", "text/csv")).run()
    assert not at.exception
    error = texts(at.error)
    assert "file='other.csv' was rejected: missing columns" in error and "epoch_s_median" in error
    assert not list(runs_dir.glob("imported-*.parquet")) and not _uploads(runs_dir)


def test_no_gpu_said_plainly(cpu_only_dirs):
    at = open_page(PAGE)
    assert "No GPU measurements exist" in texts(at.warning)


def test_an_import_of_runs_already_in_the_log_is_refused_with_the_reason(data_dirs):
    runs_dir, _ = data_dirs
    at = open_page(PAGE)
    buffer = io.BytesIO()
    store.export_csv(pl.read_parquet(runs_dir / "runs-fixture-cpu.parquet").head(2), buffer)
    at.file_uploader[0].set_value(("again.csv", buffer.getvalue(), "text/csv")).run()
    assert not at.exception
    assert "all 2 runs are already in the run log" in texts(at.error)
    assert not list(runs_dir.glob("imported-*.parquet")) and not _uploads(runs_dir)


def test_an_import_the_disk_cannot_take_names_the_cause(data_dirs, monkeypatch):
    """Issue 21: a full or read-only disk gave a raw traceback on import."""
    import errno

    runs_dir, _ = data_dirs

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store, "_write_atomically", full)
    at = open_page(PAGE)
    buffer = io.BytesIO()
    frame = pl.read_parquet(runs_dir / "runs-fixture-cpu.parquet").head(1).with_columns(pl.col("run_id") + "-new")
    store.export_csv(frame, buffer)
    at.file_uploader[0].set_value(("new.csv", buffer.getvalue(), "text/csv")).run()
    assert not at.exception
    assert "could not be stored" in texts(at.error) and "No space left on device" in texts(at.error)


def test_a_long_log_lists_the_newest_thousand_rows(data_dirs):
    """Memory on a public host: the table holds the newest 1,000 rows, and says how many there are."""
    runs_dir, _ = data_dirs
    one = pl.read_parquet(runs_dir / "runs-fixture-cpu.parquet").head(1)
    many = pl.concat([one] * 1_200).with_columns(pl.format("many-{}", pl.int_range(pl.len())).alias("run_id"))
    many.write_parquet(runs_dir / "runs-many.parquet")
    at = open_page(PAGE)
    assert not at.exception
    assert len(at.dataframe[0].value) == 1_000
    assert "The table lists the newest 1,000 of these 1,221 runs" in texts(at.caption)


def _csv_of(frame) -> bytes:
    buffer = io.BytesIO()
    store.export_csv(frame, buffer)
    return buffer.getvalue()


def test_a_session_holds_at_most_its_row_cap_of_uploads(data_dirs, monkeypatch):
    """Issue 21: memory is bounded by rows. With CROSSOVER_MAX_SESSION_ROWS=3, a 2-run upload fits, a second
    2-run upload is refused naming the cap (room for 1), and once full any upload is refused."""
    runs_dir, _ = data_dirs
    monkeypatch.setenv("CROSSOVER_MAX_SESSION_ROWS", "3")
    base = pl.read_parquet(runs_dir / "runs-fixture-cpu.parquet")
    at = open_page(PAGE)
    at.file_uploader[0].set_value(("a.csv", _csv_of(base.head(2).with_columns(pl.col("run_id") + "-a")),
                                   "text/csv")).run()
    assert "a.csv: imported 2 runs" in texts(at.success)
    at.file_uploader[0].set_value(("b.csv", _csv_of(base.head(2).with_columns(pl.col("run_id") + "-b")),
                                   "text/csv")).run()
    error = texts(at.error)
    assert "file='b.csv' was rejected" in error and "room for 1 more of CROSSOVER_MAX_SESSION_ROWS=3" in error
    at.file_uploader[0].set_value(("c.csv", _csv_of(base.head(1).with_columns(pl.col("run_id") + "-c")),
                                   "text/csv")).run()
    assert "c.csv: imported 1 run as" in texts(at.success)
    at.file_uploader[0].set_value(("d.csv", _csv_of(base.head(1).with_columns(pl.col("run_id") + "-d")),
                                   "text/csv")).run()
    assert "already hold 3 runs, the most CROSSOVER_MAX_SESSION_ROWS=3 allows" in texts(at.error)
    assert len(_uploads(runs_dir)) == 2


def test_a_folder_is_read_newest_files_first_up_to_the_log_row_cap(data_dirs, monkeypatch):
    """CROSSOVER_MAX_LOG_ROWS=9: the fixture's 7 own runs (older) do not fit beside a newer 5-run file, so only
    the newer file is read from data/runs, and a warning names what was left out and the cap."""
    import os

    runs_dir, _ = data_dirs
    monkeypatch.setenv("CROSSOVER_MAX_LOG_ROWS", "9")
    old = runs_dir / "runs-fixture-cpu.parquet"
    os.utime(old, (1_700_000_000, 1_700_000_000))
    newer = pl.read_parquet(old).head(5).with_columns(pl.col("run_id") + "-newer")
    newer.write_parquet(runs_dir / "runs-newer.parquet")
    at = open_page(PAGE)
    assert not at.exception
    shown = at.dataframe[0].value
    local = shown[shown["source"] == "local"]
    assert sorted(local["epoch_s_median"]) == sorted(newer["epoch_s_median"].to_list())
    warnings = texts(at.warning)
    assert "runs-fixture-cpu.parquet" in warnings and "CROSSOVER_MAX_LOG_ROWS=9" in warnings


def test_a_rejection_before_a_successful_import_is_not_left_as_a_live_error(data_dirs):
    """Issue 18: after a bad file, the fixed one imports; the first one's red error no longer stands on the page,
    it waits in a closed expander. A rejection after the last success stays an error."""
    runs_dir, _ = data_dirs
    base = pl.read_parquet(runs_dir / "runs-fixture-cpu.parquet")
    at = open_page(PAGE)
    at.file_uploader[0].set_value(("bad.csv", b"a,b\n1,2\n", "text/csv")).run()
    assert "file='bad.csv' was rejected" in texts(at.error)
    at.file_uploader[0].set_value([("bad.csv", b"a,b\n1,2\n", "text/csv"),
                                   ("good.csv", _csv_of(base.head(1).with_columns(pl.col("run_id") + "-g")),
                                    "text/csv")]).run()
    assert not at.exception
    assert "good.csv: imported 1 run as" in texts(at.success)
    assert "bad.csv" not in texts(at.error)
    (history,) = [e for e in at.expander if "rejected before a later import succeeded" in e.label]
    assert history.label.startswith("1 earlier file rejected")
    assert "file='bad.csv' was rejected" in texts(history.caption)
