"""engine.analysis.scaling (throughput and efficiency against the device count) and figures.scaling."""

import polars as pl
import pytest

from engine.analysis import scaling
from engine.charts import figures
from engine.runlog import store

SAMPLES, BATCH = 1024, 64  # 16 steps of 64: 1,024 samples per epoch


def run(n: int, epoch_s: float, platform="gpu", kind="NVIDIA H100", width=256, host="box", status="ok",
        emulated=None, times=None, **extra) -> dict:
    """A run record of an MLP on `n` devices whose epochs take `epoch_s` seconds."""
    return {
        "run_id": f"{platform}-{width}-{n}-{epoch_s}", "status": status, "platform": platform, "device_kind": kind,
        "cpu_model": "Test CPU", "cpu_cores": 8, "host": host, "device_count": n, "mesh_shape": f"data={n}",
        "devices_emulated": emulated, "model": "mlp", "width": width, "depth": 2, "input_shape": "784",
        "n_classes": 10, "params": width * 1000, "batch_size": BATCH, "dataset_size": SAMPLES,
        "steps_per_epoch": SAMPLES // BATCH, "dtype": "float32", "matmul_precision": "default", "mode": "fused",
        "epoch_s_median": epoch_s, "epoch_times_s": [epoch_s] * 3 if times is None else times, **extra,
    }


def frame(*records) -> pl.DataFrame:
    return store.records_to_frame(list(records))


def test_throughput_ideal_and_efficiency():
    table = scaling.scaling_table(frame(run(1, 1.0), run(2, 0.5), run(4, 0.4)))
    assert table["device_count"].to_list() == [1, 2, 4]
    assert table["samples_per_s"].to_list() == pytest.approx([1024.0, 2048.0, 2560.0])
    assert table["ideal_samples_per_s"].to_list() == pytest.approx([1024.0, 2048.0, 4096.0])
    assert table["speedup"].to_list() == pytest.approx([1.0, 2.0, 2.5])
    assert table["efficiency"].to_list() == pytest.approx([1.0, 1.0, 0.625])
    assert table["mesh_shape"].to_list() == ["data=1", "data=2", "data=4"]
    assert not table["series_emulated"].any() and "emulated" not in table["label"][0]


def test_repeats_pool_their_raw_epoch_times():
    table = scaling.scaling_table(frame(run(1, 1.0, times=[1.0, 1.0]), run(1, 3.0, times=[3.0]),
                                        run(2, 1.0, times=[0.5, 0.5, 0.9])))
    one = table.filter(pl.col("device_count") == 1).row(0, named=True)
    assert one["runs"] == 2 and one["epochs_timed"] == 3 and one["epoch_s"] == pytest.approx(1.0)
    two = table.filter(pl.col("device_count") == 2).row(0, named=True)
    assert two["epoch_s"] == pytest.approx(0.5) and two["efficiency"] == pytest.approx(1.0)


def test_series_are_kept_apart_and_one_device_only_series_dropped():
    runs = frame(run(1, 1.0), run(2, 0.6),  # series A: scales
                 run(1, 2.0, width=512),  # one device only: no scaling to show
                 run(1, 1.0, host="other"), run(1, 1.0, kind="NVIDIA H200"),  # other machine, other device kind
                 run(2, 0.1, status="oom"))  # failed runs never count
    table = scaling.scaling_table(runs)
    assert table.height == 2 and table["width"].unique().to_list() == [256]
    assert table["host"].unique().to_list() == ["box"] and table["device"].unique().to_list() == ["NVIDIA H100"]
    assert table.filter(pl.col("device_count") == 2)["efficiency"].item() == pytest.approx(1 / 1.2)


def test_series_without_a_one_device_run_has_no_ideal():
    table = scaling.scaling_table(frame(run(2, 1.0), run(4, 0.6)))
    assert table.height == 2
    assert table["baseline_samples_per_s"].is_null().all() and table["efficiency"].is_null().all()
    fig = figures.scaling(table)
    assert not any(t.name.startswith("ideal (linear)") for t in fig.data)


def test_emulated_cpu_devices_are_labelled():
    # Recorded flag (new files) or the same rule for files without it: CPU and more than one device.
    table = scaling.scaling_table(frame(run(1, 1.0, platform="cpu", kind="cpu", emulated=False),
                                        run(4, 2.0, platform="cpu", kind="cpu", emulated=None)))
    assert table["emulated"].to_list() == [False, True] and table["series_emulated"].all()
    assert "emulated" in table["label"][0] and "CPU: Test CPU (8 cores)" in table["label"][0]


def test_old_rows_without_device_count_are_one_device_runs():
    old = frame(run(1, 1.0)).with_columns(pl.lit(None, pl.Int32).alias("device_count"))
    table = scaling.scaling_table(pl.concat([old, frame(run(2, 0.5))]))
    assert table["device_count"].to_list() == [1, 2] and table["efficiency"].to_list() == pytest.approx([1.0, 1.0])


def test_labels_are_unique_per_series():
    table = scaling.scaling_table(frame(run(1, 1.0), run(2, 0.5), run(1, 1.0, matmul_precision="highest"),
                                        run(2, 0.7, matmul_precision="highest")))
    assert table["label"].n_unique() == 2


def test_no_runs_no_rows():
    assert scaling.scaling_table(store.empty_runs()).height == 0
    assert scaling.multi_device_runs(store.empty_runs()) == 0
    fig = figures.scaling(scaling.scaling_table(store.empty_runs()))
    assert [t.name for t in fig.data] == ["ideal efficiency 1 (perfect linear scaling)"]


def test_figure_from_real_emulated_runs(emulated_scaling_runs):
    """Runs made by `python -m engine run --device-counts 1,2,4` on 4 emulated CPU devices."""
    runs = store.load_runs([emulated_scaling_runs]).frame.collect()
    assert scaling.multi_device_runs(runs) == 2
    table = scaling.scaling_table(runs)
    assert table["device_count"].to_list() == [1, 2, 4] and table["series_emulated"].all()
    fig = figures.scaling(table)
    names = [t.name for t in fig.data]
    (label,) = table["label"].unique().to_list()
    assert "emulated" in label
    measured = [t for t in fig.data if t.name == label]
    assert len(measured) == 1 and list(measured[0].x) == [1, 2, 4]
    assert list(measured[0].y) == pytest.approx(table["samples_per_s"].to_list())
    (ideal,) = [t for t in fig.data if t.name == f"ideal (linear): {label}"]
    assert list(ideal.y) == pytest.approx([table["samples_per_s"][0] * n for n in (1, 2, 4)])
    assert ideal.line.dash == "dash"
    (efficiency,) = [t for t in fig.data if t.name == f"efficiency: {label}"]
    assert list(efficiency.y) == pytest.approx(table["efficiency"].to_list())
    assert "ideal efficiency 1 (perfect linear scaling)" in names
    assert "emulated" in fig.layout.title.text
    # the device's colour on every chart (issue 18): the same hex the hardware charts give this CPU
    from engine.charts.style import device_color

    device = table["device"][0]
    assert measured[0].line.color == ideal.line.color == efficiency.line.color == device_color(device)


def test_devices_within_a_host_and_across_hosts_are_separate_series_with_one_baseline():
    """Issue 16: one device (1.0 s/epoch); 2 devices in one process (0.5 s); 2 processes on this host (0.8 s);
    4 processes on 2 hosts (0.5 s). Efficiencies by hand: 1024/0.5 / (2 x 1024) = 1.0; 1/0.8/2 = 0.625;
    1/0.5/4 = 0.5."""
    runs = frame(run(1, 1.0), run(2, 0.5),
                 run(2, 0.8, process_count=2, hosts="box,box", run_id="two-processes"),
                 run(4, 0.5, process_count=4, hosts="box,box,b2,b2", run_id="two-hosts"))
    table = scaling.scaling_table(runs)
    got = {(r["layout"], r["device_count"]): r["efficiency"] for r in table.iter_rows(named=True)}
    assert got == pytest.approx({("one process", 1): 1.0, ("one process", 2): 1.0,
                                 ("2 processes on one host", 2): 0.625, ("across 2 hosts", 4): 0.5})
    labels = table.select("layout", "label").unique().sort("layout")
    assert labels["label"].str.ends_with(" · across 2 hosts").to_list() == [False, True, False]  # sorted: "2 p", "a", "o"
    assert labels.filter(pl.col("layout") == "one process")["label"].item().endswith("NVIDIA H100")
