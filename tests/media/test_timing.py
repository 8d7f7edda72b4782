"""Sample tables that contradict the duration or the file size fail the evaluation."""

from __future__ import annotations

import io
import random
from fractions import Fraction

import pytest

from pique_engine.errors import ProbeError
from pique_engine.evaluation import Evaluator, MediaSource
from pique_engine.judge import bind_judge, parse_judge
from pique_engine.media.probe import probe
from pique_engine.media.timing import MAX_FPS, check_timing, seconds
from pique_engine.plugins import load_plugins

from .. import crafted_media as hm


def test_real_timings_pass():
    check_timing("mp4", 30.0, 1141, 38.03, 383_774)
    check_timing("mp4", 240.0, 2400, 10.0, 50_000_000)  # a phone's slow-motion capture
    check_timing("mp4", None, None, None, 10)
    check_timing("mp4", 30.0, 1, 0.001, 1000)  # a one-frame clip


@pytest.mark.parametrize(
    "fps, frames, duration, size, words",
    [
        (15_360.0, 10**9, 38.0, 383_774, "an average of 15,360 frames per second"),
        (30.0, 10**9, 38.0, 383_774, "1,000,000,000 frames in a file of 383,774 bytes"),
        (30.0, 400_000, 38.0, 10**9, "400,000 frames in 38.0 s"),
        (MAX_FPS + 1, None, None, 10**9, "frames per second"),
    ],
)
def test_impossible_timings_name_the_contradiction(fps, frames, duration, size, words):
    with pytest.raises(ProbeError, match="the mp4 file's timing tables are inconsistent") as info:
        check_timing("mp4", fps, frames, duration, size)
    assert words in str(info.value)


def test_the_fixture_with_1e9_samples_in_38_s_is_refused_not_reported_as_15360_fps():
    intact = probe(io.BytesIO(hm.fixture("contract_576x1024_30fps.mp4"))).video
    assert (intact.fps, intact.frames) == (30.0, 1141)
    with pytest.raises(ProbeError, match="timing tables are inconsistent: they give an average of 15,360 frames per second"):
        probe(io.BytesIO(hm.mp4_with_timing_tables(10**9, 1)))


def test_the_evaluation_of_such_a_file_fails_with_that_message(tmp_path):
    path = tmp_path / "clip.mp4"
    path.write_bytes(hm.mp4_with_timing_tables(10**9, 1))
    plugins = load_plugins([])
    judge = bind_judge(parse_judge({"judge_id": "j", "criteria": [{"criterion_id": "v", "detector": "video_specs"}]}), plugins.detectors)
    payload = Evaluator(plugins).evaluate(MediaSource.from_path(path), judge, job_id="job_t").payload
    assert payload.status == "failed"
    assert "the mp4 file's timing tables are inconsistent" in payload.error


def test_seconds_equal_fraction_arithmetic_to_the_last_bit():
    rng = random.Random(4)
    bases = [Fraction(1, 90000), Fraction(1, 48000), Fraction(1001, 30000), Fraction(1, 1000), Fraction(1, 12800), Fraction(1, 44100)]
    for _ in range(20000):
        pts, base = rng.randrange(-10**6, 10**13), rng.choice(bases)
        assert seconds(pts, base) == float(pts * base)
