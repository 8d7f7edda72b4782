"""The corroboration rule and the ranges it reports, on synthetic score sequences."""

from __future__ import annotations

import pytest

from pique_safety.nsfw import NsfwParams, evaluate
from pique_safety.timeline import corroborated, ranges


def test_a_lone_flagged_frame_is_not_corroborated():
    assert corroborated([5.0], min_frames=2, window_sec=3.0) == []


def test_flagged_frames_within_the_window_corroborate_each_other():
    assert corroborated([5.0, 7.0, 20.0], min_frames=2, window_sec=3.0) == [5.0, 7.0]


def test_flagged_frames_further_apart_than_the_window_do_not():
    assert corroborated([5.0, 9.0, 13.0], min_frames=2, window_sec=3.0) == []


def test_three_frames_needed_keeps_only_dense_runs():
    times = [1.0, 2.0, 10.0, 11.0, 12.0, 30.0]
    assert corroborated(times, min_frames=3, window_sec=2.0) == [10.0, 11.0, 12.0]


def test_one_frame_needed_keeps_every_flag():
    assert corroborated([4.0, 1.0], min_frames=1, window_sec=1.0) == [1.0, 4.0]


def test_ranges_split_where_the_gap_exceeds_the_window():
    assert ranges([12.0, 13.0, 14.0, 30.0, 31.0], max_gap=3.0) == [[12.0, 14.0], [30.0, 31.0]]


class _Frames:
    """Stand-in media whose frames carry their own scores (the model is replaced in these tests)."""

    def __init__(self, scores: list[float], fps: float = 1.0) -> None:
        from pique_engine.media.content import Frame
        import numpy as np

        self.info = None
        self.frames = [Frame(time=i / fps, image=np.full((2, 2, 3), i, np.uint8)) for i in range(len(scores))]
        self.scores = scores

    def stream(self, name: str):
        assert name == "frames"
        return iter(self.frames)


@pytest.fixture
def scripted(monkeypatch):
    def make(scores):
        media = _Frames(scores)
        monkeypatch.setattr("pique_safety.nsfw.score", lambda image: media.scores[int(image[0, 0, 0])])
        return media

    return make


def test_scattered_false_positives_pass(scripted):
    media = scripted([0.1, 0.95, 0.1, 0.1, 0.1, 0.1, 0.9, 0.1, 0.1, 0.1])
    result = evaluate(media, NsfwParams(min_flagged_frames=2, window_sec=3.0))
    assert result.pass_check and result.score == 1.0
    m = result.metrics["nsfw"]
    assert m["segments"] == [] and m["flagged_frames"] == []
    assert m["max_score"] == 0.95 and m["frames_scored"] == 10


def test_agreeing_frames_fail_with_where_and_how_many_in_the_rationale(scripted):
    scores = [0.1] * 12 + [0.85, 0.93, 0.81] + [0.1] * 5
    result = evaluate(scripted(scores), NsfwParams(min_flagged_frames=2, window_sec=3.0))
    assert not result.pass_check and result.score == 0.0
    m = result.metrics["nsfw"]
    assert m["segments"] == [[12.0, 14.0]]
    assert [f["t"] for f in m["flagged_frames"]] == [13.0, 12.0, 14.0]  # highest first
    assert result.rationale == "nsfw score 0.93 at 12.0-14.0 s (3 frames)"


def test_flagged_frames_list_at_most_twenty(scripted):
    result = evaluate(scripted([0.9] * 30), NsfwParams())
    assert len(result.metrics["nsfw"]["flagged_frames"]) == 20
    assert result.metrics["nsfw"]["segments"] == [[0.0, 29.0]]
