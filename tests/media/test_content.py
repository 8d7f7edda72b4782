"""Content detectors as a plugin author writes them: black frames and silence from one pass."""

from __future__ import annotations

import math

import numpy as np
import pydantic
import pytest

from pique_engine import synth
from pique_engine.media.consumers import Collect, Iterating
from pique_engine.media.content import AudioBlocks, Frame, VideoFrames
from pique_engine.media.decode_pass import run_pass


# -- the examples -----------------------------------------------------------------------------

class BlackFrames:
    """Black stretches, from the mean of the stored luma plane (limited range: black is 16).

    A consumer the pass feeds directly: `feed` is called once per frame, on the pass's thread.
    """

    request = VideoFrames(fps=5, max_width=160, format="luma")

    def __init__(self, threshold: float = 20.0) -> None:
        self.threshold = threshold
        self.stretches: list[list[float]] = []  # [start, end] seconds
        self.frames = 0
        self.closed = False

    def feed(self, frame: Frame) -> None:
        self.frames += 1
        black = frame.image.mean() <= self.threshold
        if black and (not self.stretches or self.stretches[-1][1] is not None):
            self.stretches.append([frame.time, None])
        elif not black and self.stretches and self.stretches[-1][1] is None:
            self.stretches[-1][1] = frame.time

    def close(self) -> None:
        self.closed = True


def silence(blocks) -> float:
    """Seconds of audio quieter than -60 dBFS RMS: a detector written as a plain loop."""
    quiet = 0.0
    for block in blocks:
        rms = math.sqrt(float(np.mean(block.samples**2)))
        if rms < 10 ** (-60 / 20):
            quiet += block.duration
    return quiet


SILENCE_REQUEST = AudioBlocks(sample_rate=16000, channels="mono", block_frames=1600)  # 100 ms blocks


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """4 s at 10 fps: black from 1.5 s to 2.5 s, silent from 1.0 s to 2.5 s."""
    picture = synth.black_stretch(synth.moving_bars(96, 64, 10), 1.5, 2.5)
    sound = synth.silent_stretch(synth.tone(4.0, 48000, 2), 48000, 1.0, 2.5)
    path = tmp_path_factory.mktemp("content") / "clip.mp4"
    return synth.write_video(path, width=96, height=64, fps=10, seconds=4, audio_rate=48000, picture=picture, sound=sound)


# -- tests ------------------------------------------------------------------------------------

def test_black_frames_and_silence_detectors_share_one_pass(clip):
    black = BlackFrames()
    quiet = Iterating(silence)
    stats = run_pass(clip, [(black.request, black), (SILENCE_REQUEST, quiet)])
    assert stats.failures == {}
    assert black.closed and black.frames == 20  # 5 per second for 4 s
    assert black.stretches == [[pytest.approx(1.6), pytest.approx(2.6)]]  # samples at 0.2 s steps around 1.5-2.5 s
    # the encoder rings a little into each edge of the silence: 1.5 s, give or take a block
    assert quiet.result() == pytest.approx(1.5, abs=0.2)


def test_a_consumer_that_raises_fails_alone(clip):
    class Broken:
        def feed(self, item):
            raise ZeroDivisionError("bad detector")

        def close(self):
            raise AssertionError("a failed consumer is not closed")

    black = BlackFrames()
    stats = run_pass(clip, [(VideoFrames(fps=1), Broken()), (black.request, black)])
    assert list(stats.failures) == [0] and isinstance(stats.failures[0], ZeroDivisionError)
    assert black.frames == 20 and black.closed


def test_a_loop_detector_that_raises_fails_alone_and_result_raises_it(clip):
    def crashes(frames):
        for frame in frames:
            if frame.time >= 1.0:
                raise ValueError(f"gave up at {frame.time:.1f}")
        return "never"

    failing, fine = Iterating(crashes), Iterating(silence)
    stats = run_pass(clip, [(VideoFrames(fps=2), failing), (SILENCE_REQUEST, fine)])
    assert isinstance(stats.failures[0], ValueError) and "gave up at 1.0" in str(stats.failures[0])
    with pytest.raises(ValueError, match="gave up"):
        failing.result()
    assert fine.result() == pytest.approx(1.5, abs=0.2)


def test_a_loop_detector_that_returns_early_stops_being_fed(clip):
    def first_two(frames):
        seen = []
        for frame in frames:
            seen.append(frame.time)
            if len(seen) == 2:
                return seen
        return seen

    early, collect = Iterating(first_two), Collect()
    stats = run_pass(clip, [(VideoFrames(), early), (VideoFrames(fps=1), collect)])
    assert stats.failures == {}
    assert early.result() == [0.0, pytest.approx(0.1)]
    assert [round(f.time, 3) for f in collect.items] == [0, 1, 2, 3]


def test_result_before_the_pass_ends_says_to_wait():
    waiting = Iterating(silence)
    with pytest.raises(RuntimeError, match="after the decode pass has ended"):
        waiting.result()
    waiting.close()
    assert waiting.result() == 0.0


def test_requests_are_frozen_and_validated():
    with pytest.raises(pydantic.ValidationError, match="either fps or keyframes_only"):
        VideoFrames(fps=1, keyframes_only=True)
    with pytest.raises(pydantic.ValidationError):
        VideoFrames(fps=0)
    with pytest.raises(pydantic.ValidationError):
        AudioBlocks(channels="5.1")
    request = VideoFrames(fps=2)
    with pytest.raises(pydantic.ValidationError):
        request.fps = 3
    assert VideoFrames().every_frame and not request.every_frame
    assert hash(request) == hash(VideoFrames(fps=2))  # usable as a key to merge equal requests
