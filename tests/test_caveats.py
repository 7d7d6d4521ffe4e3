"""engine.answer.caveats: the known problems of shipped reference files (data/reference/caveats.csv), read as
text and matched to the devices shown."""

from pathlib import Path

import polars as pl
import pytest

from engine.answer import caveats

REPO = Path(__file__).resolve().parents[1]
HEADER = "file,device_kind,cpu_model,subject,what,why\n"


def _write(tmp_path, body, header=HEADER):
    path = tmp_path / "caveats.csv"
    path.write_text(header + body)
    return path


def test_rows_are_read_as_text_and_stripped(tmp_path):
    path = _write(tmp_path, 'a.micro.parquet, GPU X ,,matmul,"12 TFLOP/s, =1+2",0012\n'
                            'b.parquet,cpu,Some CPU,mlp bfloat16,[x](http://e.example) **y**,true\n')
    frame = caveats.load_caveats(path)
    assert frame.schema == dict.fromkeys(caveats.COLUMNS, pl.String)
    assert frame.rows() == [
        ("a.micro.parquet", "GPU X", None, "matmul", "12 TFLOP/s, =1+2", "0012"),  # not a number, not a formula
        ("b.parquet", "cpu", "Some CPU", "mlp bfloat16", "[x](http://e.example) **y**", "true"),
    ]


def test_no_file_is_no_caveats(tmp_path):
    frame = caveats.load_caveats(tmp_path / "caveats.csv")
    assert frame.height == 0 and frame.columns == list(caveats.COLUMNS)


@pytest.mark.parametrize("header, body, message", [
    ("file,device_kind,subject,what,why\n", "a,b,c,d,e\n", "missing columns cpu_model"),
    (HEADER, "a.parquet,GPU X,,matmul,,because\n", "line 2: what is empty"),
    (HEADER, "a.parquet,GPU X,,matmul,w,y\nb.parquet,,,matmul,w,y\n", "line 3: device_kind is empty"),
    (HEADER, "a.parquet,GPU X,,matmul,w," + "y" * 2001 + "\n", "line 2: why is over 2000 characters"),
])
def test_unusable_files_say_why(tmp_path, header, body, message):
    with pytest.raises(caveats.CaveatsError, match=message):
        caveats.load_caveats(_write(tmp_path, body, header))


def test_too_many_rows(tmp_path):
    with pytest.raises(caveats.CaveatsError, match="more than 200 rows"):
        caveats.load_caveats(_write(tmp_path, "a,GPU X,,s,w,y\n" * 201))


def test_not_a_csv(tmp_path):
    path = tmp_path / "caveats.csv"
    path.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(caveats.CaveatsError):
        caveats.load_caveats(path)


def _rows(*devices):
    return pl.DataFrame([{"source": s, "device_kind": k, "cpu_model": m} for s, k, m in devices])


def test_only_caveats_of_reference_devices_shown():
    table = pl.DataFrame([
        {"file": "g.micro.parquet", "device_kind": "GPU X", "cpu_model": None, "subject": "matmul", "what": "1", "why": "a"},
        {"file": "c.parquet", "device_kind": "cpu", "cpu_model": "Xeon", "subject": "mlp", "what": "2", "why": "b"},
        {"file": "d.parquet", "device_kind": "cpu", "cpu_model": "EPYC", "subject": "mlp", "what": "3", "why": "c"},
        {"file": "h.micro.parquet", "device_kind": "GPU Y", "cpu_model": None, "subject": "matmul", "what": "4", "why": "d"},
    ], schema=dict.fromkeys(caveats.COLUMNS, pl.String))
    shown = _rows(("reference", "GPU X", "Xeon"), ("reference", "GPU X", "EPYC"), ("reference", "cpu", "Xeon"),
                  ("local", "GPU Y", "Xeon"), ("local", "cpu", "EPYC"))
    # GPU X once (two hosts), the Xeon CPU by its model; GPU Y and the EPYC only in own runs: not shown
    assert caveats.for_devices(table, shown)["what"].to_list() == ["1", "2"]
    assert caveats.for_devices(table, shown.clear()).height == 0
    assert caveats.for_devices(table.clear(), shown).height == 0


def test_the_shipped_caveats_load_and_name_the_audited_problems():
    frame = caveats.load_caveats(REPO / "data" / "reference" / "caveats.csv")
    files = {p.name for p in (REPO / "data" / "reference").glob("*.parquet")}
    assert set(frame["file"]) <= files  # every caveat names a shipped file
    h200 = frame.filter(pl.col("file") == "nvidia-h200-2026-11-26.micro.parquet")
    assert {"matmul bfloat16", "memory_bandwidth", "all (fixed cost per call)", "host_to_device 16 MiB"} <= set(
        h200["subject"])
    assert (h200["device_kind"] == "NVIDIA H200").all()
    host = frame.filter(pl.col("file") == "nvidia-h200-host-cpu-2026-11-26.parquet")
    assert host["subject"].to_list() == ["mlp bfloat16"] and host["cpu_model"].to_list() == [
        "Intel(R) Xeon(R) Processor"]
    # each caveat's device really is in its file
    for row in frame.iter_rows(named=True):
        data = pl.read_parquet(REPO / "data" / "reference" / row["file"], columns=["device_kind", "cpu_model"])
        match = data.filter(pl.col("device_kind") == row["device_kind"])
        if row["cpu_model"] is not None:
            match = match.filter(pl.col("cpu_model") == row["cpu_model"])
        assert match.height, row
