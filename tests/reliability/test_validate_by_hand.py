"""Import validation against a contract written out by hand (issue 21: planted bugs such as negative or
non-finite epoch times accepted, or caps loosened, survived the suite).

Every range and cap below is a literal: the contract a file must meet, not a copy of engine.runlog.store's
constants. Each limit is tried at its edge (accepted, the value unchanged) and one step past it (refused,
naming the column), so a loosened or tightened limit fails here.
"""

from __future__ import annotations

import io
import math

import polars as pl
import pytest
from reliability_helpers import valid_record

from engine.runlog import store

# column -> (lowest, highest) whole number an imported file may hold
INTEGER_RANGES = {
    "params": (1, 10_000_000_000_000), "batch_size": (1, 1_000_000_000), "dataset_size": (1, 1_000_000_000_000),
    "steps_per_epoch": (0, 1_000_000_000_000), "epochs": (1, 1_000_000_000), "width": (1, 1_000_000_000),
    "depth": (1, 1_000_000), "channels": (1, 1_000_000_000), "heads": (1, 1_000_000),
    "seq_len": (1, 1_000_000_000), "vocab": (1, 1_000_000_000_000), "n_classes": (1, 1_000_000_000_000),
    "seed": (0, 4_611_686_018_427_387_904), "warmup": (0, 1_000_000), "repeats": (0, 1_000_000),
    "cpu_cores": (1, 1_000_000), "device_count": (1, 1_000_000), "process_count": (1, 1_000_000),
    "device_memory_bytes": (0, 1_000_000_000_000_000_000), "peak_memory_bytes": (0, 1_000_000_000_000_000_000),
    "executable_memory_bytes": (0, 1_000_000_000_000_000_000), "dataset_bytes": (0, 1_000_000_000_000_000_000),
    "schema_version": (0, 1_000_000), "engine_version": (1, 1_000_000),
}
# column -> (lowest, highest) finite number
FLOAT_RANGES = {
    "compile_s": (0.0, 1_000_000_000.0), "transfer_s": (0.0, 1_000_000_000.0),
    "first_epoch_s": (0.0, 1_000_000_000.0), "epoch_s_median": (0.0, 1_000_000_000.0),
    "epoch_s_iqr": (0.0, 1_000_000_000.0), "end_to_end_s": (0.0, 1_000_000_000.0),
    "time_budget_s": (0.0, 1_000_000_000.0), "steps_per_s": (0.0, 1e15), "samples_per_s": (0.0, 1e18),
    "learning_rate": (0.0, 1_000_000.0), "flops_per_step_analytic": (0.0, 1e30), "flops_per_step_xla": (0.0, 1e30),
    "achieved_flops_per_s": (0.0, 1e30),
}


def one_run(**overrides) -> pl.DataFrame:
    # A failed run: epoch_s_median may then be 0 without breaking the "ok needs a time" rule tried below.
    return store.records_to_frame([valid_record(status="error", **overrides)])


def with_value(column: str, value, dtype) -> pl.DataFrame:
    return one_run().with_columns(pl.Series(column, [value], dtype=dtype))


def _edges_kept_and_past_refused(column: str, dtype, edges, past) -> None:
    for edge in edges:
        assert store.validate_frame(with_value(column, edge, dtype))[column][0] == edge
    for bad in past:
        with pytest.raises(store.ImportRejected, match=f"column {column} "):
            store.validate_frame(with_value(column, bad, dtype))


@pytest.mark.parametrize("column", sorted(INTEGER_RANGES))
def test_whole_number_columns_accept_their_edges_and_refuse_one_past(column):
    low, high = INTEGER_RANGES[column]
    _edges_kept_and_past_refused(column, pl.Int64, (low, high), (low - 1, high + 1))


@pytest.mark.parametrize("column", sorted(FLOAT_RANGES))
def test_number_columns_accept_their_edges_and_refuse_past_them_and_non_finite(column):
    low, high = FLOAT_RANGES[column]
    _edges_kept_and_past_refused(column, pl.Float64, (low, high),
                                 (-1e-9, high * 1.000001, math.nan, math.inf, -math.inf))


def test_a_whole_number_written_as_a_float_is_accepted_and_a_fraction_is_not():
    assert store.validate_frame(with_value("width", 64.0, pl.Float64))["width"][0] == 64
    for bad in (64.5, math.nan, math.inf):
        with pytest.raises(store.ImportRejected, match="column width has .* allowed: whole numbers"):
            store.validate_frame(with_value("width", bad, pl.Float64))


@pytest.mark.parametrize("times, ok", [
    ([0.0, 1.5], True), ([1_000_000_000.0], True), ([], True),
    ([0.1, -0.001], False), ([math.nan], False), ([0.2, math.inf], False), ([-math.inf], False),
    ([1_000_000_001.0], False), ([0.1, None], False),
])
def test_epoch_times_must_be_finite_seconds_from_zero_to_a_billion(times, ok):
    frame = one_run().with_columns(pl.Series("epoch_times_s", [times], dtype=pl.List(pl.Float64)))
    if ok:
        assert store.validate_frame(frame)["epoch_times_s"][0].to_list() == times
    else:
        with pytest.raises(store.ImportRejected, match=r"column epoch_times_s has .* allowed: finite seconds"):
            store.validate_frame(frame)


def test_an_ok_run_needs_a_positive_median_epoch_time():
    ok = store.records_to_frame([valid_record(status="ok", epoch_s_median=1e-9)])
    assert store.validate_frame(ok)["epoch_s_median"][0] == 1e-9
    for bad in (0.0, None):
        frame = ok.with_columns(pl.Series("epoch_s_median", [bad], dtype=pl.Float64))
        with pytest.raises(store.ImportRejected, match="column epoch_s_median .* status ok"):
            store.validate_frame(frame)
    # The same times are fine for a run that did not finish.
    failed = ok.with_columns(pl.lit("timeout").alias("status"), pl.lit(None, dtype=pl.Float64).alias("epoch_s_median"))
    assert store.validate_frame(failed)["epoch_s_median"][0] is None


@pytest.mark.parametrize("status", ["ok", "oom", "error", "timeout", "skipped"])
def test_the_five_statuses_are_accepted(status):
    assert store.validate_frame(store.records_to_frame([valid_record(status=status)]))["status"][0] == status


@pytest.mark.parametrize("status", ["OK", "done", "", "ok "])
def test_other_statuses_are_refused(status):
    with pytest.raises(store.ImportRejected, match="column status"):
        store.validate_frame(one_run().with_columns(pl.lit(status).alias("status")))


@pytest.mark.parametrize("column", ["params", "batch_size", "dataset_size"])
def test_size_columns_may_not_be_missing(column):
    with pytest.raises(store.ImportRejected, match=f"column {column} must be a positive integer"):
        store.validate_frame(with_value(column, None, pl.Int64))


@pytest.mark.parametrize("run_id, ok", [("a" * 128, True), ("A-z_0.9", True), ("a" * 129, False), ("", False),
                                         ("a b", False), ("a/b", False), ("[x](http://e)", False)])
def test_run_ids(run_id, ok):
    frame = one_run().with_columns(pl.lit(run_id).alias("run_id"))
    if ok:
        assert store.validate_frame(frame)["run_id"][0] == run_id
    else:
        with pytest.raises(store.ImportRejected, match="column run_id"):
            store.validate_frame(frame)


def test_one_text_cell_may_hold_two_thousand_characters():
    assert store.validate_frame(one_run(host="h" * 2_000))["host"][0] == "h" * 2_000
    with pytest.raises(store.ImportRejected, match="column host has a text of 2,001 characters; at most 2,000"):
        store.validate_frame(one_run(host="h" * 2_001))


@pytest.mark.parametrize("rows, text, items", [
    (1, 2_500, 100_050), (4, 4_000, 100_200), (2_000, 1_002_000, 200_000), (5_000, 2_502_000, 350_000),
])
def test_what_a_file_of_n_rows_may_hold_in_total(rows, text, items):
    """500 characters and 50 list items per row, plus one cell at its own cap (2,000; 100,000)."""
    assert store.decompressed_caps(rows) == (text, items)


def parquet(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


def test_one_list_may_hold_a_hundred_thousand_items_in_a_parquet_file(tmp_path):
    def frame(n: int) -> pl.DataFrame:
        return one_run().with_columns(pl.Series("epoch_times_s", [[0.5] * n], dtype=pl.List(pl.Float64)),
                                      pl.Series("epoch_losses", [[]], dtype=pl.List(pl.Float64)))

    assert store.import_bytes("a.parquet", parquet(frame(100_000)), tmp_path / "a").added == 1
    with pytest.raises(store.ImportRejected, match="column epoch_times_s has a list of 100,001 items; at most 100,000"):
        store.import_bytes("b.parquet", parquet(frame(100_001)), tmp_path / "b")


def test_one_text_cell_of_a_parquet_file_is_measured_before_it_is_read(tmp_path):
    assert store.import_bytes("a.parquet", parquet(one_run(os="o" * 2_000)), tmp_path / "a").added == 1
    with pytest.raises(store.ImportRejected, match="'b.parquet': column os has a text of 2,001 characters"):
        store.import_bytes("b.parquet", parquet(one_run(os="o" * 2_001)), tmp_path / "b")


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_the_row_cap_is_exact(tmp_path, suffix):
    frame = store.records_to_frame([valid_record(i) for i in range(7)])
    data = parquet(frame)
    if suffix == ".csv":
        store.export_csv(frame, tmp_path / "f.csv")
        data = (tmp_path / "f.csv").read_bytes()
    assert store.import_bytes("f" + suffix, data, tmp_path / "a", max_rows=7).added == 7
    with pytest.raises(store.ImportRejected, match="at most 6 are allowed here"):
        store.import_bytes("f" + suffix, data, tmp_path / "b", max_rows=6)


def test_the_byte_cap_is_exact(tmp_path):
    data = parquet(one_run())
    assert store.import_bytes("f.parquet", data, tmp_path / "a", max_bytes=len(data)).added == 1
    with pytest.raises(store.ImportRejected, match=f"is {len(data):,} bytes; at most {len(data) - 1:,}"):
        store.import_bytes("f.parquet", data, tmp_path / "b", max_bytes=len(data) - 1)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_a_file_may_have_a_thousand_columns(tmp_path, suffix):
    run = one_run()

    def widened(n_extra: int) -> bytes:
        frame = run.with_columns(pl.lit(1).alias(f"extra_{i}") for i in range(n_extra))
        if suffix == ".parquet":
            return parquet(frame)
        buffer = io.BytesIO()
        store.export_csv(frame, buffer)
        return buffer.getvalue()

    allowed = 1_000 - run.width
    assert store.import_bytes("f" + suffix, widened(allowed), tmp_path / "a").added == 1
    with pytest.raises(store.ImportRejected, match="has 1,001 columns; at most 1,000"):
        store.import_bytes("f" + suffix, widened(allowed + 1), tmp_path / "b")


# --- what the mutation run (benchmarks/mutation.py --modules validate) found untested -------------------------

def _over_text_frame(rows: int, lists: bool = True) -> pl.DataFrame:
    """`rows` runs whose text totals 1 character over 2,000 + 500 per row, no cell over 2,000."""
    frame = store.records_to_frame([valid_record(i) for i in range(rows)])
    if not lists:
        frame = frame.drop("epoch_times_s", "epoch_losses")
    strings = [c for c, t in frame.schema.items() if t == pl.String]
    used = sum(frame[c].str.len_chars().sum() or 0 for c in strings if c != "error")
    room = 2_000 + 500 * rows - used + 1  # characters the error column must hold to be one over
    per, extra = divmod(room, rows)
    return frame.with_columns(pl.Series("error", ["e" * (per + (i < extra)) for i in range(rows)]))


@pytest.mark.parametrize("lists", [True, False])
def test_a_parquet_file_over_the_text_total_is_refused_by_name_before_it_is_read(tmp_path, monkeypatch, lists):
    data = parquet(_over_text_frame(3, lists=lists))
    monkeypatch.setattr(pl, "read_parquet", lambda *a, **k: pytest.fail("the whole file was read"))
    with pytest.raises(store.ImportRejected, match=r"^'over.parquet': its 3 rows hold 3,501 characters of text in all"):
        store.import_bytes("over.parquet", data, tmp_path / "runs")


def test_a_parquet_file_over_the_list_total_is_refused_by_name_before_it_is_read(tmp_path, monkeypatch):
    frame = store.records_to_frame([valid_record(i) for i in range(2)]).with_columns(
        pl.lit([0.5] * 50_051, dtype=pl.List(pl.Float64)).alias("epoch_times_s"),
        pl.lit([], dtype=pl.List(pl.Float64)).alias("epoch_losses"))  # 100,102 items; at most 100,000 + 2 x 50
    data = parquet(frame)
    monkeypatch.setattr(pl, "read_parquet", lambda *a, **k: pytest.fail("the whole file was read"))
    with pytest.raises(store.ImportRejected, match=r"^'over.parquet': its 2 rows hold 100,102 list items"):
        store.import_bytes("over.parquet", data, tmp_path / "runs")


def test_a_csv_file_over_the_list_total_is_refused(tmp_path):
    frame = store.records_to_frame([valid_record(i) for i in range(2)]).with_columns(
        pl.lit([0.5] * 50_051, dtype=pl.List(pl.Float64)).alias("epoch_times_s"),
        pl.lit([], dtype=pl.List(pl.Float64)).alias("epoch_losses"))
    buffer = io.BytesIO()
    store.export_csv(frame, buffer)
    with pytest.raises(store.ImportRejected, match=r"the file: its 2 rows hold 100,102 list items .* at most 100,100"):
        store.import_bytes("over.csv", buffer.getvalue(), tmp_path / "runs")


@pytest.mark.parametrize("data, message", [
    (b"PAR1xxxPAR1", "is not a Parquet file"),  # 11 bytes: too short for a header and a footer
    (b"PAR1xxxxPAR1", "cannot read 'f.parquet'"),  # 12 bytes: the marks are there; the reader says why not
    (b"PAR0xxxxxxxxPAR1", "is not a Parquet file"), (b"PAR1xxxxxxxxPAR0", "is not a Parquet file"),
])
def test_parquet_marks(tmp_path, data, message):
    with pytest.raises(store.ImportRejected, match=message):
        store.import_bytes("f.parquet", data, tmp_path / "runs")


@pytest.mark.parametrize("column", ["params", "batch_size", "dataset_size"])
def test_a_size_of_zero_is_refused_as_not_positive(column):
    with pytest.raises(store.ImportRejected, match=f"column {column} must be a positive integer in every row"):
        store.validate_frame(with_value(column, 0, pl.Int64))
