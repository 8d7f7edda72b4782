import pytest

from pique_engine.media.ratio import aspect_ratio_label, parse_ratio, ratio_matches


@pytest.mark.parametrize(
    "w, h, label",
    [(576, 1024, "9:16"), (1080, 1920, "9:16"), (1080, 1350, "4:5"), (1920, 1080, "16:9"), (1366, 768, "16:9"), (512, 512, "1:1"), (1000, 301, "1000:301")],
)
def test_aspect_ratio_label_is_reduced_or_the_common_name(w, h, label):
    assert aspect_ratio_label(w, h) == label


def test_ratio_matches_within_relative_tolerance():
    assert ratio_matches(1080, 1920, "9:16", 0.0)
    assert ratio_matches(1080, 1900, "9:16", 0.02)
    assert not ratio_matches(1080, 1900, "9:16", 0.005)


@pytest.mark.parametrize("text", ["", "9", "0:16", "9:0", "a:b"])
def test_parse_ratio_rejects_nonsense(text):
    with pytest.raises(ValueError):
        parse_ratio(text)
