"""engine.base.fmt: numbers for people (issue 18 item 6: "1,220x", "6,870 runs", "1 epoch", never "1.22e+03")."""

import math

import pytest

from engine.base import fmt


@pytest.mark.parametrize("value, text", [
    (1220.4, "1,220"), (2595.3, "2,600"), (999.6, "1,000"), (12_345_678, "12,300,000"), (4.71, "4.71"),
    (4.7, "4.7"), (21.0, "21"), (0.5, "0.5"), (0.001234, "0.00123"), (1e-7, "0.0000001"), (-3.14159, "-3.14"),
    (0, "0"), (None, "n/a"), (math.nan, "n/a"), (math.inf, "n/a"),
])
def test_number_has_three_significant_figures_and_no_exponent(value, text):
    assert fmt.number(value) == text


@pytest.mark.parametrize("n, word, words, text", [
    (1, "epoch", None, "1 epoch"), (0, "epoch", None, "0 epochs"), (10, "epoch", None, "10 epochs"),
    (6870, "training run", None, "6,870 training runs"), (2, "process", "processes", "2 processes"),
])
def test_plural(n, word, words, text):
    assert fmt.plural(n, word, words) == text


def test_a_verdict_over_a_thousand_times_faster_reads_in_full():
    """The shipped bf16 speedup of 2,595x was written '2.6e+03x'."""
    from types import SimpleNamespace

    from engine.answer.explain import interval_text

    v = SimpleNamespace(speedup_low=1234.5, speedup_high=2595.3, interval="95% CI")
    assert interval_text(v) == "95% CI 1,230–2,600x"


@pytest.mark.parametrize("value, text", [(0.0042, "4.2 ms"), (75, "75 s"), (150, "2.5 min"), (9000, "2.5 h"),
                                         (3 * 86400, "3 days"), (5000 * 86400, "5,000 days")])
def test_seconds_read_in_a_unit_of_time_without_exponents(value, text):
    assert fmt.seconds(value) == text
