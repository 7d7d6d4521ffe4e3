"""Point 6 — imports from strangers: only Parquet or CSV is parsed (never pickle or code), files
are capped in bytes and rows and schema-checked, stored with source=imported under a generated
name inside the runs folder, and a rejected file gets a message saying why."""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import polars as pl
import pytest
from reliability_helpers import valid_record

from engine.runlog import store


def parquet_bytes(rows: int = 2) -> bytes:
    buffer = io.BytesIO()
    store.export_parquet(store.records_to_frame([valid_record(i) for i in range(rows)]), buffer)
    return buffer.getvalue()


def csv_bytes(rows: int = 2) -> bytes:
    buffer = io.BytesIO()
    store.export_csv(store.records_to_frame([valid_record(i) for i in range(rows)]), buffer)
    return buffer.getvalue()


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_a_good_upload_is_stored_as_imported_under_a_generated_name(tmp_path, fmt):
    data = parquet_bytes() if fmt == "parquet" else csv_bytes()
    stored = store.import_bytes(f"my runs.{fmt}", data, tmp_path / "runs").path
    assert stored.parent == tmp_path / "runs" and stored.name.startswith("imported-") and stored.suffix == ".parquet"
    frame = store.load_runs([tmp_path / "runs"]).frame.collect()
    assert frame["source"].to_list() == ["imported", "imported"]
    assert frame["run_id"].to_list() == ["run-00000", "run-00001"]


@pytest.mark.parametrize("name", ["../../etc/passwd.parquet", "../../../../tmp/evil.csv", "a/b.csv", "/etc/x.parquet",
                                  "..\\..\\windows.csv", "runs/../../up.parquet", ".hidden.parquet", "UPPER.CSV"])
def test_no_uploaded_name_becomes_a_path(tmp_path, name):
    root = tmp_path / "app"
    runs = root / "data" / "runs"
    runs.mkdir(parents=True)
    before = tree(tmp_path)
    data = csv_bytes() if name.lower().endswith(".csv") else parquet_bytes()
    stored = store.import_bytes(name, data, runs).path
    assert stored.parent == runs and stored.name.startswith("imported-")  # generated, never the uploaded name
    assert tree(tmp_path) - before == {str(stored.relative_to(tmp_path))}  # the one new file, inside data/runs
    assert store.load_runs([runs]).frame.collect().height == 2


class Payload:
    """Unpickling this creates a file: proof that code ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("name", ["runs.pkl", "runs.pickle", "runs.parquet", "runs.csv", "runs.parquet.pkl",
                                  "runs.py", "runs", "runs.json"])
def test_pickle_or_code_is_never_run(tmp_path, name):
    marker = tmp_path / "code-ran"
    data = pickle.dumps(Payload(marker))
    with pytest.raises(store.ImportRejected) as info:
        store.import_bytes(name, data, tmp_path / "runs")
    assert not marker.exists()
    assert repr(name) in str(info.value) or name in str(info.value)
    assert not (tmp_path / "runs").exists()
    if not name.endswith((".parquet", ".csv")):
        assert "only those are read" in str(info.value)


def test_size_and_row_caps(tmp_path):
    data = parquet_bytes(rows=11)
    with pytest.raises(store.ImportRejected, match=f"is {len(data):,} bytes; at most 1,000 are allowed"):
        store.import_bytes("big.parquet", data, tmp_path / "runs", max_bytes=1_000)
    with pytest.raises(store.ImportRejected, match="has 11 rows; at most 10 are allowed"):
        store.import_bytes("long.parquet", data, tmp_path / "runs", max_rows=10)
    with pytest.raises(store.ImportRejected, match="more than 10 rows"):
        store.import_bytes("long.csv", csv_bytes(rows=11), tmp_path / "runs", max_rows=10)
    assert store.import_bytes("fits.parquet", data, tmp_path / "runs", max_rows=11).path.exists()
    path = tmp_path / "on-disk.parquet"
    path.write_bytes(data)
    with pytest.raises(store.ImportRejected, match="at most 1,000"):  # import_file applies the byte cap before reading
        store.import_file(path, tmp_path / "runs", max_bytes=1_000)


def test_the_default_caps_apply():
    assert store.import_bytes.__defaults__ == (store.DEFAULT_MAX_UPLOAD_BYTES, store.DEFAULT_MAX_IMPORT_ROWS, ())
    assert store.import_file.__defaults__ == (store.DEFAULT_MAX_UPLOAD_BYTES, store.DEFAULT_MAX_IMPORT_ROWS, ())


@pytest.mark.parametrize("name, data, why", [
    ("empty.csv", b"", "is empty"),
    ("blank.parquet", b"   \n", "is empty"),
    ("fake.parquet", b"PAR1 but not really", "not a Parquet file"),
    ("binary.csv", b"a,b\n\x00\x01\n", "binary"),
    ("latin1.csv", "run_id,caf\xe9\n1,2\n".encode("latin-1"), "UTF-8"),
    ("other.csv", b"a,b\n1,2\n", "missing columns"),
    ("nothing.parquet", parquet_bytes(rows=0), "holds no runs"),
])
def test_a_rejected_file_says_why(tmp_path, name, data, why):
    with pytest.raises(store.ImportRejected, match=why):
        store.import_bytes(name, data, tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


def test_many_columns_are_refused(tmp_path):
    wide = pl.DataFrame({f"c{i}": [1] for i in range(store.MAX_IMPORT_COLUMNS + 1)})
    buffer = io.BytesIO()
    wide.write_parquet(buffer)
    with pytest.raises(store.ImportRejected, match="columns"):
        store.import_bytes("wide.parquet", buffer.getvalue(), tmp_path / "runs")


def test_the_cli_import_never_keeps_the_uploaded_name(tmp_path):
    from reliability_helpers import run_cli

    source = tmp_path / "elsewhere" / "passwd.csv"
    source.parent.mkdir()
    source.write_bytes(csv_bytes())
    code, out, err = run_cli(["import", str(source), "--to", str(tmp_path / "runs")])
    assert code == 0, err
    (stored,) = (tmp_path / "runs").iterdir()
    assert stored.name.startswith("imported-") and os.path.samefile(stored.parent, tmp_path / "runs")
