"""engine.runlog.store: append / load round trips, atomic writes, unreadable files skipped by name,
old schemas, import / export, and concurrent writers. No jax needed here."""

import io
import multiprocessing
import os
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from engine.runlog import store


def full_record(i: int = 0, **overrides) -> dict:
    """A run record with a non-null value of the right type in EVERY column."""
    values = {
        pl.Int32: 3 + i,
        pl.Int64: 1000 + i,
        pl.Float64: 0.5 + i,
        pl.Boolean: i % 2 == 0,
        pl.String: f"text-{i}",
        store.UTC_TIME: datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC) + timedelta(seconds=i),
        pl.List(pl.Float64): [0.25 + i, 0.5, 1e-7],
    }
    record = {name: values[dtype] for name, dtype in store.RUN_SCHEMA.items()}
    record.update(
        run_id=f"run-{i:04d}",
        schema_version=store.SCHEMA_VERSION,
        source="local",
        status="ok",
        params=10_000 + i,
        batch_size=32,
        dataset_size=1024,
        platform="cpu",  # XLA's FLOP count is kept on the CPU only (store.known_wrong_as_null)
    )
    record.update(overrides)
    return record


def test_full_record_covers_every_column():
    assert set(full_record()) == set(store.RUN_SCHEMA)
    assert all(v is not None for v in full_record().values())


def test_append_and_load_round_trip_every_column(tmp_path):
    records = [full_record(0), full_record(1), full_record(2, error=None, channels=None, epoch_losses=[])]
    path = store.append(records, tmp_path)
    assert path.parent == tmp_path and path.name.endswith(".parquet") and not path.name.endswith(".micro.parquet")
    loaded = store.load_runs([tmp_path])
    assert loaded.files == [path] and loaded.skipped == [] and loaded.warnings == []
    frame = loaded.frame.collect()
    assert dict(frame.schema) == store.RUN_SCHEMA
    for record, row in zip(records, frame.sort("run_id").iter_rows(named=True)):
        for name, value in record.items():
            assert row[name] == value, name
    assert frame["created_at"][0] == datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    assert frame["created_at"].dtype == pl.Datetime("us", "UTC")


def test_append_nothing_writes_nothing(tmp_path):
    assert store.append([], tmp_path) is None
    assert list(tmp_path.iterdir()) == []


def test_source_override(tmp_path):
    store.append([full_record()], tmp_path)
    frame = store.load_runs([tmp_path], source="reference").frame.collect()
    assert frame["source"].to_list() == ["reference"]


def test_load_accepts_files_and_missing_folders(tmp_path):
    path = store.append([full_record()], tmp_path / "a")
    store.append([full_record(1)], tmp_path / "b")
    loaded = store.load_runs([path, tmp_path / "b", tmp_path / "does-not-exist"])
    assert loaded.frame.collect().height == 2 and not loaded.skipped
    assert store.load_runs([tmp_path / "nothing"]).frame.collect().height == 0


def test_atomic_write_leaves_no_temp_files(tmp_path):
    for i in range(3):
        store.append([full_record(i)], tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 3 and all(n.startswith("runs-") and n.endswith(".parquet") for n in names)
    assert not any(n.startswith(".") for n in names)


def test_failed_write_leaves_nothing_behind(tmp_path, monkeypatch):
    def broken(self, file, *args, **kwargs):
        file.write(b"PAR1 partial")
        raise OSError("disk full")

    monkeypatch.setattr(pl.DataFrame, "write_parquet", broken)
    with pytest.raises(OSError, match="disk full"):
        store.append([full_record()], tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_writer_temp_file_is_not_read(tmp_path):
    store.append([full_record()], tmp_path)
    (tmp_path / ".tmp-abc.parquet").write_bytes(b"PAR1 half written")
    loaded = store.load_runs([tmp_path])
    assert loaded.frame.collect().height == 1 and loaded.skipped == []


def test_unreadable_and_foreign_files_are_skipped_by_name(tmp_path):
    good = store.append([full_record(0), full_record(1)], tmp_path)
    (tmp_path / "random.parquet").write_bytes(random.Random(0).randbytes(4096))
    (tmp_path / "empty.parquet").write_bytes(b"")
    (tmp_path / "truncated.parquet").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    pl.DataFrame({"a": [1, 2], "b": ["x", "y"]}).write_parquet(tmp_path / "foreign.parquet")
    store.records_to_frame([full_record()]).with_columns(pl.lit("many").alias("params")).write_parquet(
        tmp_path / "wrongtype.parquet"
    )
    loaded = store.load_runs([tmp_path])
    assert loaded.files == [good]
    assert loaded.frame.collect().height == 2
    skipped = {path.name: why for path, why in loaded.skipped}
    assert set(skipped) == {"random.parquet", "empty.parquet", "truncated.parquet", "foreign.parquet",
                            "wrongtype.parquet"}
    assert "not a readable Parquet file" in skipped["random.parquet"]
    assert "not a readable Parquet file" in skipped["empty.parquet"]
    assert "not a readable Parquet file" in skipped["truncated.parquet"]
    assert "missing columns" in skipped["foreign.parquet"] and "run_id" in skipped["foreign.parquet"]
    assert "params" in skipped["wrongtype.parquet"]
    assert len(loaded.warnings) == 5
    for name in skipped:
        assert any(name in warning for warning in loaded.warnings)


def test_old_schema_loads_with_nulls(tmp_path):
    """A file from an older schema version: only the required columns, narrower int types."""
    old = {name: full_record()[name] for name in store.REQUIRED_RUN_COLUMNS}
    frame = pl.DataFrame([old]).with_columns(pl.col("params").cast(pl.Int32), pl.col("epoch_s_median").cast(pl.Float32))
    frame = frame.with_columns(pl.lit("from an old version").alias("retired_column"))
    frame.write_parquet(tmp_path / "old.parquet")
    store.append([full_record(1)], tmp_path)
    loaded = store.load_runs([tmp_path])
    assert loaded.skipped == []
    out = loaded.frame.collect().sort("run_id")
    assert dict(out.schema) == store.RUN_SCHEMA and "retired_column" not in out.columns
    row = out.row(0, named=True)
    assert row["params"] == old["params"] and row["run_id"] == old["run_id"]
    for name in set(store.RUN_SCHEMA) - set(store.REQUIRED_RUN_COLUMNS):
        assert row[name] is None, name
    assert out.row(1, named=True)["epoch_times_s"] == full_record(1)["epoch_times_s"]


# --- import / export ------------------------------------------------------------------------


def _realistic(i: int) -> dict:
    """Values a CSV round trip could mangle: versions that look like dates or numbers, NaN losses."""
    return full_record(
        i,
        jax_version="0.10.2",
        jaxlib_version="0.4.30",
        cuda_version="12.10",
        driver_version="550.54.15",
        input_shape="784",
        run_id=f"0{i}123",
        epoch_losses=[float("nan"), 2.5, float("inf")] if i == 1 else [2.3, 1.1],
        error=None,
        channels=None,
    )


def _same(a, b) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and a != a:
        return b != b  # NaN
    return a == b


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_then_import_round_trip(tmp_path, fmt):
    records = [_realistic(0), _realistic(1)]
    frame = store.records_to_frame(records)
    exported = tmp_path / f"export.{fmt}"
    (store.export_csv if fmt == "csv" else store.export_parquet)(frame, exported)
    stored = store.import_file(exported, tmp_path / "runs").path
    assert stored.parent == tmp_path / "runs"
    out = store.load_runs([tmp_path / "runs"]).frame.collect().sort("run_id")
    assert out["source"].to_list() == ["imported", "imported"]
    for record, row in zip(records, out.iter_rows(named=True)):
        for name, value in record.items():
            if name == "source":
                continue
            assert _same(row[name], value), (name, value, row[name])


def _write_bad(tmp_path: Path, fmt: str, frame: pl.DataFrame) -> Path:
    path = tmp_path / f"bad.{fmt}"
    (store.export_csv if fmt == "csv" else store.export_parquet)(frame, path)
    return path


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize(
    "change, column",
    [
        (lambda f: f.drop("params"), "params"),
        (lambda f: f.drop("run_id", "status"), "run_id"),
        (lambda f: f.with_columns(pl.lit("exploded").alias("status")), "status"),
        (lambda f: f.with_columns(pl.lit(0).alias("batch_size")), "batch_size"),
        (lambda f: f.with_columns(pl.lit(-5).alias("dataset_size")), "dataset_size"),
        (lambda f: f.with_columns(pl.lit("big").alias("params")), "params"),
    ],
)
def test_import_rejects_a_bad_file_naming_the_column(tmp_path, fmt, change, column):
    bad = _write_bad(tmp_path, fmt, change(store.records_to_frame([full_record()])))
    with pytest.raises(store.ImportRejected, match=column):
        store.import_file(bad, tmp_path / "runs")
    assert not (tmp_path / "runs").exists() or list((tmp_path / "runs").iterdir()) == []


@pytest.mark.parametrize(
    "name, content",
    [("notes.txt", b"run_id,params\n1,2\n"), ("garbage.parquet", b"\x00\x01 not parquet"), ("empty.csv", b"")],
)
def test_import_rejects_unreadable_files(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(store.ImportRejected):
        store.import_file(path, tmp_path / "runs")


def test_validate_frame_parses_csv_lists_and_times():
    frame = store.records_to_frame([full_record()]).with_columns(
        pl.lit("[0.1,0.2, 3e-05]").alias("epoch_times_s"),
        pl.lit("2024-01-02T03:04:05+00:00").alias("created_at"),
    )
    out = store.validate_frame(frame)
    assert out["epoch_times_s"][0].to_list() == [0.1, 0.2, 3e-05]
    assert out["created_at"][0] == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


# --- microbenchmark files live beside run files without mixing -------------------------------


def test_run_and_micro_files_do_not_mix(tmp_path):
    micro = {name: None for name in store.MICRO_SCHEMA}
    micro.update(run_id="m1", benchmark="matmul", device_kind="cpu", seconds_median=0.5, times_s=[0.5, 0.5])
    store.append_micro([micro], tmp_path)
    store.append([full_record()], tmp_path)
    runs, micros = store.load_runs([tmp_path]), store.load_micro([tmp_path])
    assert runs.frame.collect()["run_id"].to_list() == ["run-0000"] and not runs.skipped
    assert micros.frame.collect()["run_id"].to_list() == ["m1"] and not micros.skipped


# --- concurrent writers ---------------------------------------------------------------------


def _writer(folder: str, writer: int, files: int, rows: int, start) -> None:
    start.wait()
    for f in range(files):
        store.append([full_record(0, run_id=f"w{writer}-f{f}-r{r}") for r in range(rows)], folder)


def test_two_processes_appending_at_once_lose_no_rows(tmp_path):
    ctx = multiprocessing.get_context("spawn")  # never fork a process that has JAX threads
    start = ctx.Event()
    files, rows = 25, 4
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), w, files, rows, start)) for w in range(2)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    loaded = store.load_runs([tmp_path])
    ids = loaded.frame.collect()["run_id"].to_list()
    assert not loaded.skipped
    assert len(ids) == 2 * files * rows and len(set(ids)) == len(ids)
    assert len(list(tmp_path.glob("*.parquet"))) == 2 * files
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]


def test_an_import_of_runs_already_in_the_log_adds_nothing_and_says_so(tmp_path):
    """Issue 19: the same file imported twice counted twice (run ids stored and pooled twice)."""
    records = [_realistic(0), _realistic(1)]
    exported = tmp_path / "export.parquet"
    store.export_parquet(store.records_to_frame(records), exported)
    first = store.import_file(exported, tmp_path / "runs")
    assert (first.added, first.skipped) == (2, 0)
    with pytest.raises(store.ImportRejected, match="all 2 runs are already in the run log"):
        store.import_file(exported, tmp_path / "runs")
    # One new run beside the two known ones, and a run repeated inside the file: only the new one is added.
    both = tmp_path / "more.parquet"
    store.export_parquet(store.records_to_frame([*records, _realistic(2), _realistic(2)]), both)
    more = store.import_file(both, tmp_path / "runs")
    assert (more.added, more.skipped) == (1, 3) and "3 already in the run log" in more.describe()
    ids = store.load_runs([tmp_path / "runs"]).frame.collect()["run_id"].to_list()
    assert sorted(ids) == sorted({r["run_id"] for r in [*records, _realistic(2)]}) and len(ids) == 3


def test_runs_of_the_shipped_reference_are_not_imported_again(tmp_path):
    reference = tmp_path / "reference"
    reference.mkdir()
    store.records_to_frame([_realistic(0)]).write_parquet(reference / "ref.parquet")
    exported = tmp_path / "export.parquet"
    store.export_parquet(store.records_to_frame([_realistic(0), _realistic(1)]), exported)
    imported = store.import_file(exported, tmp_path / "runs", also_known=[reference])
    assert (imported.added, imported.skipped) == (1, 1)


def test_figures_known_to_be_wrong_load_empty(tmp_path):
    """Issue 19: a peak that did not rise above an earlier run's of the same batch and device is the earlier
    run's (unknown for this one); XLA's FLOP count off the CPU misses library calls."""
    from datetime import UTC, datetime, timedelta

    t0 = datetime(2026, 11, 26, tzinfo=UTC)
    rows = [  # (run, batch, device, platform, minutes after t0, peak, xla flops)
        ("a", "b1", "gpu:0", "gpu", 0, 200, 5.0), ("b", "b1", "gpu:0", "gpu", 1, 700, 5.0),
        ("c", "b1", "gpu:0", "gpu", 2, 700, 5.0), ("d", "b1", "gpu:0", "gpu", 3, 300, 5.0),
        ("e", "b1", "gpu:0", "gpu", 4, 900, 5.0),
        ("f", "b2", "gpu:0", "gpu", 5, 300, 5.0),  # another batch (process): its own mark
        ("g", "b1", "cpu", "cpu", 6, None, 7.0),
    ]
    records = [{"run_id": r, "batch_id": b, "device_spec": d, "platform": p, "created_at": t0 + timedelta(minutes=m),
                "peak_memory_bytes": peak, "flops_per_step_xla": xla, "status": "ok", "model": "mlp"}
               for r, b, d, p, m, peak, xla in rows]
    store.records_to_frame(records[::-1]).write_parquet(tmp_path / "runs.parquet")  # stored out of order
    got = store.load_runs([tmp_path]).frame.collect().sort("run_id")
    assert got["peak_memory_bytes"].to_list() == [200, 700, None, None, 900, 300, None]
    assert got["flops_per_step_xla"].to_list() == [None] * 6 + [7.0]


def test_csv_cells_a_spreadsheet_would_run_are_written_as_text_and_read_back_whole(tmp_path):
    """Issue 21: cells beginning with =, +, -, @, a tab or a carriage return were written as they are."""
    hostile = ["=HYPERLINK(\"http://evil\",\"x\")", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\r=1", "--xla_flag=true",
               "'=already quoted", "plain", "'quoted already"]
    records = [full_record(i, device_kind=text, error=text) for i, text in enumerate(hostile)]
    path = tmp_path / "export.csv"
    store.export_csv(store.records_to_frame(records), path)
    cells = pl.read_csv(path, infer_schema_length=0)["device_kind"].to_list()
    assert all(not c.startswith(("=", "+", "-", "@", "\t", "\r")) for c in cells)
    assert cells[:8] == ["'" + t for t in hostile[:8]] and cells[8:] == hostile[8:]
    imported = store.import_file(path, tmp_path / "runs").path
    back = pl.read_parquet(imported).sort("run_id")
    assert back["device_kind"].to_list() == hostile and back["error"].to_list() == hostile


def test_hostile_text_is_refused_before_it_is_read_whole(tmp_path):
    """Issue 21: an 84 KB Parquet file of 100,000 rows of 10 kB text took the server to 1.3 GB on import. The
    longest text and list are measured batch by batch first (a 100,000-row file of it: 115 MB, 0.05 s)."""
    one = store.records_to_frame([full_record(0)])
    long_text = pl.concat([one.with_columns(pl.lit("x" * 2_001).alias("error"))] * 1_000).with_columns(
        pl.format("r{}", pl.int_range(pl.len())).alias("run_id"))
    buffer = io.BytesIO()
    long_text.write_parquet(buffer)
    with pytest.raises(store.ImportRejected, match="column error has a text of 2,001 characters; at most 2,000"):
        store.import_bytes("long.parquet", buffer.getvalue(), tmp_path / "runs")
    long_list = one.with_columns(pl.lit([0.5] * 100_001, dtype=pl.List(pl.Float64)).alias("epoch_times_s"))
    buffer = io.BytesIO()
    long_list.write_parquet(buffer)
    with pytest.raises(store.ImportRejected, match="epoch_times_s has a list of 100,001 items"):
        store.import_bytes("list.parquet", buffer.getvalue(), tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("run_id", ["[x](http://evil)", "a b", "", "x" * 129, "r1<img>"])
def test_run_ids_are_names_not_text(tmp_path, run_id):
    path = tmp_path / "runs.csv"
    store.export_csv(store.records_to_frame([full_record(0, run_id=run_id)]), path)
    with pytest.raises(store.ImportRejected, match="column run_id"):
        store.import_file(path, tmp_path / "runs")


def test_a_damaged_file_or_an_unconvertible_column_is_skipped_with_its_reason(tmp_path):
    """Issue 21: one corrupt run file took down six of seven pages (a ComputeError when the log was collected)."""
    good = store.records_to_frame([full_record(i) for i in range(200)])
    good.write_parquet(tmp_path / "good.parquet", compression="zstd")
    data = bytearray((tmp_path / "good.parquet").read_bytes())
    data[100:len(data) // 2] = b"\xab" * (len(data) // 2 - 100)  # the pages damaged, the footer intact
    (tmp_path / "damaged.parquet").write_bytes(bytes(data))
    odd = good.head(1).with_columns(pl.lit(None).alias("run_id")).drop("flops_per_step_xla").with_columns(
        pl.struct(a=pl.lit(1)).alias("flops_per_step_xla"), pl.lit("odd").alias("run_id"))
    odd.write_parquet(tmp_path / "struct.parquet")
    loaded = store.load_runs([tmp_path])
    frame = loaded.frame.collect()  # no exception: the damaged files are out
    assert frame.height == 200
    reasons = {path.name: why for path, why in loaded.skipped}
    assert set(reasons) == {"damaged.parquet", "struct.parquet"} and all("unreadable" in r for r in reasons.values())


def _parquet_bytes(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


def test_many_cells_just_under_the_per_cell_cap_are_refused_by_their_total(tmp_path):
    """Issue 21: per-cell caps alone let 5,000 rows x 20 columns of 2,000-character text (200 MB) through. A file
    may hold 500 characters of text and 50 list items per row on average, plus one cell at its own cap."""
    rows = 100
    base = store.records_to_frame([full_record(i) for i in range(rows)])
    strings = [c for c, t in base.schema.items() if t == pl.String]
    others = sum(base[c].str.len_chars().sum() or 0 for c in strings if c not in ("host", "cpu_model"))
    room = 2_000 + 500 * rows - others  # characters host and cpu_model may hold before the cap of 52,000
    per_cell, extra = divmod(room, 2 * rows)
    assert per_cell + 1 <= 2_000  # every cell is under the per-cell cap
    at_cap = base.with_columns(pl.Series("host", ["h" * (per_cell + (i < extra)) for i in range(rows)]),
                               pl.Series("cpu_model", ["c" * (per_cell + (rows + i < extra)) for i in range(rows)]))
    assert sum(at_cap[c].str.len_chars().sum() or 0 for c in strings) == 52_000
    for fmt in ("parquet", "csv"):
        folder = tmp_path / f"ok-{fmt}"
        data = _parquet_bytes(at_cap)
        if fmt == "csv":
            path = tmp_path / "at_cap.csv"
            store.export_csv(at_cap, path)
            data = path.read_bytes()
        assert store.import_bytes(f"at_cap.{fmt}", data, folder).added == rows
    # ... and one character more is refused, naming the totals.
    over = at_cap.with_columns(pl.when(pl.int_range(pl.len()) == rows - 1).then(pl.col("host") + "x")
                               .otherwise(pl.col("host")).alias("host"))
    with pytest.raises(store.ImportRejected, match=r"100 rows hold 52,001 characters of text in all; at most "
                                                    r"52,000 are allowed \(500 per row on average, plus 2,000"):
        store.import_bytes("over.parquet", _parquet_bytes(over), tmp_path / "runs")
    path = tmp_path / "over.csv"
    store.export_csv(over, path)
    with pytest.raises(store.ImportRejected, match="52,001 characters of text in all"):
        store.import_file(path, tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


def test_list_items_are_capped_in_total_per_file(tmp_path):
    """50 list items per row plus one run's 100,000: 100 rows may hold 105,000, 4,000 rows 300,000."""
    def frame(rows: int, epochs: int, losses: int) -> pl.DataFrame:
        return store.records_to_frame([full_record(i) for i in range(rows)]).with_columns(
            pl.lit([0.5] * epochs, dtype=pl.List(pl.Float64)).alias("epoch_times_s"),
            pl.lit([1.0] * losses, dtype=pl.List(pl.Float64)).alias("epoch_losses"))

    assert store.import_bytes("a.parquet", _parquet_bytes(frame(100, 600, 450)), tmp_path / "a").added == 100
    with pytest.raises(store.ImportRejected, match=r"100 rows hold 105,100 list items .* at most 105,000"):
        store.import_bytes("b.parquet", _parquet_bytes(frame(100, 600, 451)), tmp_path / "b")
    assert store.import_bytes("c.parquet", _parquet_bytes(frame(4_000, 45, 30)), tmp_path / "c").added == 4_000
    with pytest.raises(store.ImportRejected, match=r"4,000 rows hold 304,000 list items .* at most 300,000"):
        store.import_bytes("d.parquet", _parquet_bytes(frame(4_000, 45, 31)), tmp_path / "d")


def test_columns_outside_the_run_record_are_never_decompressed(tmp_path):
    """An extra column of long text costs nothing: only the run record's columns are read."""
    rows = store.records_to_frame([full_record(i) for i in range(10)]).with_columns(
        pl.lit("z" * 100_000).alias("not_a_run_column"))
    imported = store.import_bytes("extra.parquet", _parquet_bytes(rows), tmp_path / "runs")
    assert imported.added == 10
    assert "not_a_run_column" not in pl.read_parquet(imported.path).columns
