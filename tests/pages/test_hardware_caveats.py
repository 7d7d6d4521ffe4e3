"""Hardware page: known problems of the reference measurements (data/reference/caveats.csv) for the devices
shown, their text escaped; and the fixed cost per call beside the roofs."""

import csv
import re

from page_helpers import open_page, texts

PAGE = "pages/hardware.py"
FAKE_GPU = "TEST GPU (synthetic fixture)"  # tests/fixtures/fixture_data.py
HOSTILE = "[Free GPU](http://evil.example/x) ![p](https://evil.example/p.png) <b>bold</b> ~a~ `code`"


def _write_caveats(folder, rows):
    with open(folder / "caveats.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(("file", "device_kind", "cpu_model", "subject", "what", "why"))
        writer.writerows(rows)


def _caveat_text(at) -> str:
    return texts(at.markdown)


def test_caveats_of_the_devices_shown_appear_escaped(data_dirs):
    _, reference = data_dirs
    _write_caveats(reference, [
        ("reference-gpu.micro.parquet", FAKE_GPU, "", "matmul bfloat16", "628 TFLOP/s from 10 short calls", HOSTILE),
        ("other.micro.parquet", "NVIDIA B200", "", "matmul", "NOT SHOWN: no such device here", "x"),
    ])
    at = open_page(PAGE)
    assert not at.exception
    assert "Known problems in the reference measurements of the devices shown (1)" in texts(at.warning)
    shown = _caveat_text(at)
    assert "628 TFLOP/s from 10 short calls" in shown and "matmul bfloat16" in shown
    assert "NOT SHOWN" not in shown
    # the file's Markdown is shown as text: every active character escaped
    assert r"\[Free GPU\]\(http://evil\.example/x\) \!\[p\]" in shown
    assert r"\<b\>bold\</b\>" in shown and r"\~a\~ \`code\`" in shown
    assert "[Free GPU](" not in shown and "<b>" not in shown


def test_shipped_reference_shows_the_h200_and_host_cpu_caveats(shipped_reference_dirs):
    at = open_page(PAGE)
    assert not at.exception
    warning = texts(at.warning)
    assert "Known problems in the reference measurements of the devices shown (7)" in warning
    shown = _caveat_text(at)
    assert "628 TFLOP/s at n = 8192" in shown  # the H200's bf16 matmul from short calls
    assert r"59 % of the H200's 4\.8 TB/s specification" in shown
    assert r"26\.9 s per epoch against 1\.81 s in float32 \(15x slower\)" in shown  # the host CPU's bf16 run


def test_no_caveats_file_no_warning(data_dirs):
    at = open_page(PAGE)
    assert not at.exception
    assert "Known problems" not in texts(at.warning)
    per_device = at.dataframe[0].value
    cost = per_device["fixed cost per call"].to_list()  # words where the files predate call_overhead, not None
    assert cost and all(v == "not measured" or re.fullmatch(r"\d+(\.\d+)? µs", v) for v in cost), cost


def test_an_unreadable_caveats_file_is_an_error_not_a_crash(data_dirs):
    _, reference = data_dirs
    (reference / "caveats.csv").write_text("file,what\na,b\n")
    at = open_page(PAGE)
    assert not at.exception
    assert r"missing columns device\_kind" in texts(at.error)  # escaped: the message names the file
