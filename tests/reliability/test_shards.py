"""Sharded sweeps (issue 16, item 3): `sweep --shard K/N` measures one of N disjoint parts of a preset, and
`merge` joins the parts' files, refusing duplicates. Measuring is replaced by a stand-in that writes a real
record per config (the sharding and the files are what is under test here, not the timing)."""

from __future__ import annotations

import polars as pl
import pytest
from reliability_helpers import run_cli

from engine.base.shards import parse_shard, shard
from engine.runlog import store
from engine.runlog.record import run_identity


@pytest.mark.parametrize("text, parsed", [("1/1", (1, 1)), ("2/3", (2, 3)), (" 3/3 ", (3, 3)),
                                          ("10000/10000", (10_000, 10_000))])
def test_parse_shard(text, parsed):
    assert parse_shard(text) == parsed


@pytest.mark.parametrize("text", ["0/3", "4/3", "1/0", "3", "a/b", "1/2/3", "-1/3", "1/10001", "", "/"])
def test_bad_shards_name_the_flag_and_what_is_allowed(text):
    with pytest.raises(ValueError, match=r"--shard=.* is not allowed: expected K/N with 1 <= K <= N <= 10,000"):
        parse_shard(text)


def test_parts_are_round_robin_disjoint_and_cover_everything():
    items = list("abcdefg")
    assert [shard(items, k, 3) for k in (1, 2, 3)] == [["a", "d", "g"], ["b", "e"], ["c", "f"]]
    assert shard(items, 1, 1) == items
    assert shard(items, 7, 7) == ["g"] and shard(items, 8, 8) == []
    with pytest.raises(ValueError):
        shard(items, 4, 3)


@pytest.fixture
def stand_in_measure(monkeypatch):
    """engine.measure.bench.measure replaced: one ok record per config, nothing trained."""
    import engine.cli as cli
    import engine.measure.bench as bench

    def measure(config, spec, progress=None, batch_id=None, source="local"):
        return run_identity(config, spec, batch_id, source) | {
            "status": "ok", "epoch_s_median": 0.01, "epoch_s_iqr": 0.0, "noisy": False, "epoch_times_s": [0.01],
            "samples_per_s": 1e5, "achieved_flops_per_s": 1e9, "compile_s": 0.1}

    monkeypatch.setattr(bench, "measure", measure)
    monkeypatch.setattr(cli, "enable_compilation_cache", lambda: None)
    monkeypatch.delenv("CROSSOVER_ENFORCE_LIMITS", raising=False)


IDENTITY = ["model", "width", "depth", "channels", "heads", "seq_len", "vocab", "batch_size", "dataset_size", "dtype",
            "matmul_precision"]


def test_three_shards_of_the_quick_preset_merge_into_the_whole_preset_each_config_once(tmp_path, stand_in_measure):
    whole = tmp_path / "whole.parquet"
    assert run_cli(["sweep", "--preset", "quick", "--out", str(whole)])[0] == 0
    parts = []
    for k in (1, 2, 3):
        part = tmp_path / f"part-{k}.parquet"
        code, out, err = run_cli(["sweep", "--preset", "quick", "--shard", f"{k}/3", "--out", str(part)])
        assert code == 0, err
        assert out.splitlines()[0].startswith(f"part {k} of 3: ") and out.splitlines()[0].endswith(" of the 7 configs")
        parts.append(part)
    sizes = [pl.read_parquet(p).height for p in parts]
    assert sizes == [3, 2, 2]
    merged = tmp_path / "merged.parquet"
    code, out, err = run_cli(["merge", *map(str, parts), "--out", str(merged)])
    assert code == 0, err
    assert out.strip() == f"7 runs from 3 files written to {merged}"
    got = pl.read_parquet(merged).select(IDENTITY)
    want = pl.read_parquet(whole).select(IDENTITY)
    assert got.height == 7 and got.unique().height == 7  # each config once
    assert sorted(got.rows(), key=repr) == sorted(want.rows(), key=repr)  # exactly the unsharded preset's
    assert store.load_runs([merged]).skipped == []


def test_an_empty_part_is_refused_before_measuring(tmp_path, stand_in_measure):
    code, out, err = run_cli(["sweep", "--preset", "quick", "--shard", "8/8", "--out", str(tmp_path / "p.parquet")])
    assert code == 2 and out == ""
    assert "part 8 of 8 is empty: the selection holds 7 configs, so N may be at most 7" in err
    assert not (tmp_path / "p.parquet").exists()
    code, _, err = run_cli(["sweep", "--preset", "quick", "--shard", "2", "--out", str(tmp_path / "p.parquet")])
    assert code == 2 and "--shard='2' is not allowed" in err


def test_merge_refuses_duplicates_and_an_existing_output(tmp_path, stand_in_measure):
    part1, part2 = tmp_path / "part-1.parquet", tmp_path / "part-2.parquet"
    assert run_cli(["sweep", "--preset", "quick", "--shard", "1/2", "--out", str(part1)])[0] == 0
    # The same file twice: its run ids repeat.
    code, _, err = run_cli(["merge", str(part1), str(part1), "--out", str(tmp_path / "m.parquet")])
    assert code == 2 and "appears 2 times" in err and "was a file given twice?" in err
    # Two machines ran part 1: new run ids, the same configurations on the same device.
    again = tmp_path / "part-1-again.parquet"
    assert run_cli(["sweep", "--preset", "quick", "--shard", "1/2", "--out", str(again)])[0] == 0
    code, _, err = run_cli(["merge", str(part1), str(again), "--out", str(tmp_path / "m.parquet")])
    assert code == 2 and "was measured in 2 files" in err and "4 configurations in all" in err
    assert not (tmp_path / "m.parquet").exists()
    # The right parts join; the output is never an existing file.
    assert run_cli(["sweep", "--preset", "quick", "--shard", "2/2", "--out", str(part2)])[0] == 0
    assert run_cli(["merge", str(part1), str(part2), "--out", str(tmp_path / "m.parquet")])[0] == 0
    code, _, err = run_cli(["merge", str(part1), str(part2), "--out", str(tmp_path / "m.parquet")])
    assert code == 2 and "exists" in err
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really PAR1")
    code, _, err = run_cli(["merge", str(part1), str(tmp_path / "broken.parquet"), "--out", str(tmp_path / "n.parquet")])
    assert code == 2 and "broken.parquet' cannot be used" in err
    code, _, err = run_cli(["merge", str(part1), str(tmp_path / "missing.parquet"), "--out", str(tmp_path / "n.parquet")])
    assert code == 2 and "missing.parquet' is not a file" in err


@pytest.mark.parametrize("name", ["sweep-array.sbatch", "sweep-indexed-job.yaml"])
def test_the_cluster_examples_run_a_valid_sharded_sweep(name):
    """The example job files' command parses with this engine's command line, and their N matches the array size."""
    import re
    import shlex
    from pathlib import Path

    from engine.base.presets import PRESETS
    from engine.cli import build_parser

    text = Path(__file__).resolve().parents[2].joinpath("examples", "cluster", name).read_text()
    body = " ".join(line.strip() for line in text.splitlines() if not line.lstrip().startswith("#"))
    command = re.search(r"python -m engine sweep (.*?--out \S+)", body).group(1)
    argv = shlex.split(command.replace("$K", "2").replace("$N", "4"))
    args = build_parser().parse_args(["sweep", *argv])
    assert parse_shard(args.shard) == (2, 4) and args.preset in PRESETS and args.out.endswith("part-2-of-4.parquet")
    size = re.search(r"--array=1-(\d+)|completions: (\d+)", text)
    assert int(size.group(1) or size.group(2)) == 4
    assert "engine merge" in text


def test_real_shards_measured_by_real_processes_merge_into_the_preset(tmp_path):
    """The same with nothing stood in: the quick preset's three MLPs as 3 parts, each measured by its own
    `python -m engine sweep` process (one timed epoch), then merged."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from engine.base.presets import preset_configs

    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(repo)}
    env.pop("CROSSOVER_ENFORCE_LIMITS", None)
    parts = [tmp_path / f"part-{k}-of-3.parquet" for k in (1, 2, 3)]
    for k, part in enumerate(parts, start=1):
        done = subprocess.run([sys.executable, "-m", "engine", "sweep", "--preset", "quick", "--models", "mlp",
                               "--repeats", "1", "--shard", f"{k}/3", "--no-compile-cache", "--out", str(part)],
                              cwd=repo, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-1500:]
    merged = tmp_path / "merged.parquet"
    assert run_cli(["merge", *map(str, parts), "--out", str(merged)])[0] == 0
    rows = pl.read_parquet(merged)
    assert rows["status"].to_list() == ["ok"] * 3
    want = sorted((c.model.width, c.model.depth, c.train.batch_size, c.data.samples)
                  for c in preset_configs("quick") if c.model.kind == "mlp")
    assert sorted(rows.select("width", "depth", "batch_size", "dataset_size").rows()) == want
