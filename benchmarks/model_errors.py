"""How well the performance model predicts runs it was not fitted on, per device, on the shipped data.

    python benchmarks/model_errors.py [--data data/reference]

Prints, per device, the leave-one-out and the extrapolation errors (|predicted / measured - 1|) of
engine.analysis.perfmodel (fitted per device, model kind, dtype, precision and mode), next to the
same errors of the plain line t = overhead + FLOPs / rate (no batch term, no memory floor) that the
model replaced. Leave-one-out: each run predicted by the model fitted on the other runs of its group.
Extrapolation: each group fitted on the smaller half of its distinct FLOP counts, predicting the
larger half. Pure Polars/NumPy: no jax, quick on any machine. Results: docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.analysis import perfmodel, tables  # noqa: E402
from engine.runlog import store  # noqa: E402


def _plain_line(points: pl.DataFrame) -> perfmodel.LineFit:
    return perfmodel.fit_line(points["flops_per_step_analytic"].to_numpy(), points["step_s"].to_numpy())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(ROOT / "data" / "reference"))
    args = parser.parse_args(argv)
    runs = store.load_runs([args.data]).frame.collect()
    micro = tables.with_device(store.load_micro([args.data]).frame.collect())
    model = perfmodel.validation_summary(perfmodel.validation(runs, micro))
    # The replaced model: the same validation with the batch term and the floor switched off.
    original = perfmodel.fit_line
    perfmodel.fit_line = lambda flops, seconds, batch=None, floor=None: original(flops, seconds)
    try:
        plain = perfmodel.validation_summary(perfmodel.validation(runs, None))
    finally:
        perfmodel.fit_line = original
    table = model.join(plain.select("device", pl.col("loo_median_abs_error").alias("plain_loo"),
                                    pl.col("extrapolation_median_abs_error").alias("plain_extrapolation")),
                       on="device")
    print(f"data: {args.data}; {runs.height} runs")
    print(f"{'device':44} {'runs':>4} {'LOO med':>8} {'LOO p90':>8} {'extrap n':>8} {'extrap med':>10} "
          f"{'plain LOO':>9} {'plain extrap':>12}")
    for r in table.iter_rows(named=True):
        print(f"{r['device']:44} {r['runs']:>4} {r['loo_median_abs_error']:>8.1%} {r['loo_p90_abs_error']:>8.1%} "
              f"{r['extrapolated_runs']:>8} {r['extrapolation_median_abs_error']:>10.1%} {r['plain_loo']:>9.1%} "
              f"{r['plain_extrapolation']:>12.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
