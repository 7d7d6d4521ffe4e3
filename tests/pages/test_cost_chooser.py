"""Cost page (pages/cost.py) with many configurations: the chooser of one configuration is narrowed by
filters and offers at most engine.analysis.cost.MAX_CHOICES at once, saying so when it holds some back."""

from page_helpers import by_key, open_page, texts

from engine.analysis import cost

PAGE = "pages/cost.py"


def _labels(at) -> list[str]:
    return list(by_key(at.selectbox, "co_config").options)


def test_filters_narrow_the_choice(data_dirs):
    at = open_page(PAGE)
    everything = _labels(at)
    assert len(everything) == 14 and not any("are offered" in c.value for c in at.caption)
    batch = by_key(at.selectbox, "co_batch")
    value = batch.options[1]  # the first batch size ("any" comes first)
    batch.set_value(int(value.replace(",", ""))).run()
    assert not at.exception
    narrowed = _labels(at)
    assert 0 < len(narrowed) < len(everything) and all(f"batch {value.replace(',', '')} ·" in o for o in narrowed)
    assert len(at.get("plotly_chart")) == 2  # the chosen configuration's cost chart and the idle chart


def test_the_chooser_is_capped_and_says_so(data_dirs, monkeypatch):
    monkeypatch.setattr(cost, "MAX_CHOICES", 5)
    at = open_page(PAGE)
    assert not at.exception
    assert len(_labels(at)) == 5
    assert "The first 5 of 14 configurations (in table order) are offered" in texts(at.caption)
    assert len(at.dataframe[0].value) == 14  # the table still has every configuration
