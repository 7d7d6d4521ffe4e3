"""A link with a non-finite number for a number input (issue 21: "inf" raised OverflowError, and the broken link
stayed broken): the value is removed from the URL, the widget takes its default, and an error names the field."""

import pytest
from page_helpers import APP, TIMEOUT_S, open_page, texts
from streamlit.testing.v1 import AppTest


@pytest.mark.parametrize("value", ["inf", "-inf", "1e400", "nan"])
def test_a_non_finite_number_in_the_link_is_named_and_dropped(data_dirs, value):
    at = open_page("pages/overview.py", {"ov_epochs": value, "ov_preset": "10-billion-parameter network"})
    assert not at.exception
    assert f"ov_epochs={value!r} in the link is not a finite number; its default is used." in texts(at.error)
    assert "ov_epochs" not in at.query_params and at.query_params["ov_preset"] == "10-billion-parameter network"


@pytest.mark.parametrize("page, key", [("pages/benchmark.py", "bm_epochs"), ("pages/benchmark.py", "bm_device_count"),
                                       ("pages/cost.py", "cost_epochs")])
def test_every_page_survives_it(data_dirs, page, key):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
    at.query_params[key] = "inf"
    at.run()
    at.switch_page(page).run()
    assert not at.exception and key not in at.query_params
