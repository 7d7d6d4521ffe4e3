"""engine.analysis.memory and engine.analysis.workload: memory estimates against hand counts, presets, verdicts."""

import polars as pl
import pytest

from engine.analysis.memory import estimate
from engine.analysis.workload import (
    activation_elements,
    dense_chain,
    from_config,
    mlp_for_params,
    preset_10b_network,
    preset_final_layer_200b,
)
from engine.base.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from engine.base.counts import flops_per_step, parameter_count
from engine.runlog.store import load_runs


def _mlp(width=64, depth=2, batch=32, samples=100, optimizer="adam", dtype="float32"):
    return RunConfig(model=ModelConfig("mlp", width=width, depth=depth), data=DataConfig(samples=samples),
                     train=TrainConfig(batch_size=batch, optimizer=optimizer, dtype=dtype))


def test_mlp_with_adam_matches_a_hand_count():
    # 784-64-64-10: (784*64+64) + (64*64+64) + (64*10+10) = 55,050 parameters.
    params = 55_050
    m = estimate(_mlp())
    assert m.params_bytes == params * 4
    assert m.grads_bytes == params * 4
    assert m.optimizer_bytes == 2 * params * 4  # Adam: first and second moments
    # Layer outputs per example 64 + 64 + 10 = 138; x batch 32 x 4 bytes x 2 (kept for backward).
    assert m.activations_bytes == 2 * 32 * 4 * 138
    # 100 samples at batch 32 -> 3 whole batches = 96 examples of 784 float32 + an int32 label.
    assert m.dataset_bytes == 96 * (784 * 4 + 4)
    assert m.total_bytes == 4 * params * 4 + 2 * 32 * 4 * 138 + 96 * 3140
    assert estimate(_mlp(), dataset_on_device=False).dataset_bytes == 0


def test_sgd_momentum_and_bfloat16():
    m = estimate(_mlp(optimizer="sgd", dtype="bfloat16"))
    assert m.optimizer_bytes == 55_050 * 4
    assert m.params_bytes == 55_050 * 4  # parameters stay float32
    assert m.activations_bytes == 2 * 32 * 2 * 138


def test_activation_elements_cnn_and_transformer():
    cnn = RunConfig(model=ModelConfig("cnn", width=32, depth=2, channels=4), data=DataConfig(samples=64),
                    train=TrainConfig(batch_size=8))
    # 32x32x4 conv + 16x16x4 pooled, 16x16x8 conv + 8x8x8 pooled, dense 32, logits 10.
    assert activation_elements(cnn) == 32 * 32 * 4 + 16 * 16 * 4 + 16 * 16 * 8 + 8 * 8 * 8 + 32 + 10
    tr = RunConfig(model=ModelConfig("transformer", width=16, depth=2, heads=4, seq_len=8, vocab=32),
                   data=DataConfig(samples=64), train=TrainConfig(batch_size=8))
    s, d = 8, 16
    assert activation_elements(tr) == s * d + 2 * (16 * s * d + 4 * s * s) + s * d + d + 10


def test_dense_chain_agrees_with_engine_counts():
    for cfg in (_mlp(), _mlp(width=300, depth=3, batch=16, optimizer="sgd"), _mlp(width=7, depth=1)):
        chain = dense_chain((784, *[cfg.model.width] * cfg.model.depth, 10), batch_size=cfg.train.batch_size,
                            samples=cfg.data.samples, optimizer=cfg.train.optimizer)
        exact = from_config(cfg)
        assert chain.params == exact.params == parameter_count(cfg)
        assert chain.flops_per_step == exact.flops_per_step == flops_per_step(cfg)
        assert chain.activation_elements == exact.activation_elements
        assert chain.dataset_bytes == exact.dataset_bytes


def test_dataset_bytes_match_what_the_harness_recorded():
    runs = load_runs(["data/reference"]).frame.collect().filter(pl.col("model") == "mlp").head(3)
    for row in runs.iter_rows(named=True):
        cfg = _mlp(width=row["width"], depth=row["depth"], batch=row["batch_size"], samples=row["dataset_size"])
        assert from_config(cfg).dataset_bytes == row["dataset_bytes"]


def test_mlp_for_params_hits_the_target():
    w = mlp_for_params(1e6, depth=2)
    assert w.params == pytest.approx(1e6, rel=0.01)
    assert not w.exact and "2-hidden-layer MLP of width" in w.note


def test_presets_and_their_verdicts():
    ten = preset_10b_network()
    assert ten.params == pytest.approx(10e9, rel=1e-3)
    assert ten.flops_per_step == pytest.approx(6 * ten.params * ten.batch_size, rel=0.05)
    big = preset_final_layer_200b()
    assert big.params == 784 * 2000 + 2000 + 2000 * 100_000_000 + 100_000_000
    m = estimate(big)
    # Adam: 16 bytes per parameter, 3.2 TB; activations 2 x 128 x 4 x (2,000 + 1e8).
    assert m.params_bytes + m.grads_bytes + m.optimizer_bytes == 16 * big.params
    assert m.activations_bytes == 2 * 128 * 4 * (2_000 + 100_000_000)
    h200 = 141 * 10**9
    v = m.verdict(h200)
    assert not v.fits and v.devices_needed == -(-m.total_bytes // h200)
    assert v.devices_needed >= 23
    assert "does not fit" in v.describe("NVIDIA H200")
    small = estimate(_mlp()).verdict(h200)
    assert small.fits and small.devices_needed == 1 and small.describe().startswith("fits")
    with pytest.raises(ValueError, match="device_memory_bytes"):
        m.verdict(0)


def test_adamw_keeps_two_moments_like_adam():
    assert estimate(_mlp(optimizer="adamw")).optimizer_bytes == 2 * 55_050 * 4


def test_sizes_and_shares_in_the_words():
    from engine.analysis.memory import MemoryEstimate, _gb

    assert (_gb(10**12), _gb(10**12 - 10**9), _gb(10**8), _gb(10**8 - 1)) == ("1.00 TB", "999.00 GB", "0.10 GB",
                                                                           "100.0 MB")
    m = MemoryEstimate(params_bytes=400, grads_bytes=400, optimizer_bytes=800, activations_bytes=200, dataset_bytes=0)
    assert m.describe() == ("parameters 0.0 MB, gradients 0.0 MB, optimizer state 0.0 MB, activations 0.0 MB; "
                            "total 0.0 MB")
    exact = m.verdict(1800)  # exactly the device's memory: it fits
    assert exact.fits and exact.devices_needed == 1 and exact.describe("D") == "fits: 0.0 MB of 0.0 MB on D (100.0%)"
    assert m.verdict(1799).devices_needed == 2 and not m.verdict(1799).fits
    assert m.verdict(1_800_000).describe("D").endswith("(0.1%)")  # a share of exactly 0.1 %
    assert m.verdict(1_800_001).describe("D").endswith("(<0.1%)")
    assert m.verdict(1).devices_needed == 1800  # one byte is a (tiny) device
    assert m.verdict(3600).describe("D").endswith("(50.0%)")
