"""engine.analysis.confidence: bootstrap speedup intervals on synthetic epoch times with known answers."""

import numpy as np
import polars as pl
import pytest

from engine.analysis.confidence import bootstrap_speedup, with_speedup_ci

CPU = [1.00, 1.02, 0.98, 1.05, 0.97]


def test_exact_speedup_of_four_is_four_with_interval_containing_four():
    gpu = [t / 4 for t in CPU]
    result = bootstrap_speedup(CPU, gpu)
    assert result.speedup == pytest.approx(4.0, rel=1e-12)
    assert result.low <= 4.0 <= result.high
    assert result.n_cpu == result.n_other == 5
    assert "4x" in result.describe()


def test_noisy_times_give_a_wider_interval():
    rng = np.random.default_rng(1)
    quiet_cpu = 1.0 + 0.01 * rng.standard_normal(9)
    noisy_cpu = 1.0 + 0.2 * np.abs(rng.standard_normal(9))
    quiet = bootstrap_speedup(quiet_cpu, quiet_cpu / 4)
    noisy = bootstrap_speedup(noisy_cpu, quiet_cpu / 4)
    assert noisy.high - noisy.low > 5 * (quiet.high - quiet.low)
    assert noisy.low <= noisy.speedup <= noisy.high


def test_single_epoch_each_gives_a_point_interval():
    result = bootstrap_speedup([2.0], [0.5])
    assert (result.speedup, result.low, result.high) == (4.0, 4.0, 4.0)


def test_end_to_end_counts_fixed_seconds_once():
    # CPU: 0 + 10 x 1 s = 10 s; GPU: 5 s compile + 10 x 0.25 s = 7.5 s -> 4/3.
    result = bootstrap_speedup([1.0, 1.0, 1.0], [0.25, 0.25, 0.25], other_fixed_s=5.0, epochs=10)
    assert result.speedup == pytest.approx(10 / 7.5)
    assert result.low == pytest.approx(10 / 7.5) and result.high == pytest.approx(10 / 7.5)


def test_deterministic_for_a_seed():
    a = bootstrap_speedup(CPU, [0.3, 0.2, 0.25])
    b = bootstrap_speedup(CPU, [0.3, 0.2, 0.25])
    assert a == b


@pytest.mark.parametrize("bad", [[], [1.0, -1.0], [1.0, float("nan")], [0.0]])
def test_bad_times_are_refused(bad):
    with pytest.raises(ValueError, match="cpu_times"):
        bootstrap_speedup(bad, [1.0])


def test_frame_version_matches_the_scalar_one_and_nulls_bad_rows():
    rng = np.random.default_rng(7)
    cpu_lists = [list(1 + 0.1 * rng.random(5)) for _ in range(4)] + [list(1 + 0.1 * rng.random(3)), [], None]
    gpu_lists = [list(0.2 + 0.05 * rng.random(5)) for _ in range(4)] + [list(0.3 + 0.1 * rng.random(3)), [0.1], [0.1]]
    pairs = pl.DataFrame(
        {"epoch_times_s_cpu": cpu_lists, "epoch_times_s_gpu": gpu_lists},
        schema={"epoch_times_s_cpu": pl.List(pl.Float64), "epoch_times_s_gpu": pl.List(pl.Float64)},
    )
    out = with_speedup_ci(pairs)
    assert out.columns[-3:] == ["speedup", "ci_low", "ci_high"]
    for row, c, g in zip(out.iter_rows(named=True), cpu_lists, gpu_lists):
        if not c:
            assert row["speedup"] is None and row["ci_low"] is None
            continue
        expected = bootstrap_speedup(c, g)
        assert row["speedup"] == pytest.approx(expected.speedup)
        assert row["ci_low"] == pytest.approx(expected.low)
        assert row["ci_high"] == pytest.approx(expected.high)


def test_frame_end_to_end_with_columns():
    pairs = pl.DataFrame(
        {
            "epoch_times_s_cpu": [[1.0, 1.0], [2.0, 2.0]],
            "epoch_times_s_gpu": [[0.25, 0.25], [0.5, 0.5]],
            "cpu_fixed": [0.0, None],
            "gpu_fixed": [5.0, 1.0],
            "epochs": [10, 4],
        }
    )
    out = with_speedup_ci(pairs, cpu_fixed_col="cpu_fixed", other_fixed_col="gpu_fixed", epochs="epochs",
                          prefix="e2e_")
    assert out["e2e_speedup"].to_list() == pytest.approx([10 / 7.5, 8 / 3])
    assert out["e2e_ci_low"].to_list() == pytest.approx([10 / 7.5, 8 / 3])
