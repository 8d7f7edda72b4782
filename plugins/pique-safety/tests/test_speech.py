"""`speech` on espeak-ng speech between silence, noise and music-like tones."""

from __future__ import annotations

import numpy as np
import pytest

from pique_engine import synth
from pique_safety import speech
from safety_media import require_espeak, run_content, speech as spoken

RATE = 44_100
EDGE_SEC = 0.25


def noise(seconds: float, rng: np.random.Generator) -> np.ndarray:
    return (0.08 * rng.standard_normal(int(seconds * RATE))).astype(np.float32)


def music(seconds: float) -> np.ndarray:
    """Chords with harmonics that change every half second, as a jingle under a video."""
    t = np.arange(int(seconds * RATE)) / RATE
    out = np.zeros_like(t)
    roots = [220.0, 261.63, 196.0, 246.94]
    for k, root in enumerate(roots * int(np.ceil(seconds / 2))):
        on = (t >= k * 0.5) & (t < (k + 1) * 0.5)
        for ratio in (1.0, 1.25, 1.5):
            for h in (1, 2, 3):
                out[on] += 0.05 / h * np.sin(2 * np.pi * root * ratio * h * t[on])
    return out.astype(np.float32)


@pytest.fixture(scope="module")
def programme():
    """The soundtrack and where its speech is: [(start, end), ...] in seconds."""
    require_espeak()
    rng = np.random.default_rng(7)
    parts = [
        np.zeros(int(2.0 * RATE), np.float32),
        spoken("Welcome to the summer sale at our store", RATE),
        noise(2.0, rng),
        spoken("Every coffee is half price today", RATE),
        music(3.0),
        spoken("Thank you for watching", RATE),
        np.zeros(int(1.5 * RATE), np.float32),
    ]
    truth, at = [], 0.0
    for i, part in enumerate(parts):
        if i in (1, 3, 5):
            truth.append((at, at + len(part) / RATE))
        at += len(part) / RATE
    return np.concatenate(parts)[:, None], truth


def check_segments(found, truth):
    assert len(found) == len(truth), (found, truth)
    for (a, b), (start, end) in zip(found, truth):
        assert abs(a - start) <= EDGE_SEC and abs(b - end) <= EDGE_SEC, ((a, b), (start, end))


def test_speech_segments_match_the_spoken_stretches(programme, tmp_path):
    samples, truth = programme
    path = synth.write_audio(tmp_path / "programme.wav", samples, RATE)
    result = run_content(speech, path, {"require_speech": True})
    m = result.metrics["speech"]
    check_segments(m["segments"], truth)
    spoken_sec = sum(b - a for a, b in truth)
    assert m["speech_sec"] == pytest.approx(spoken_sec, abs=3 * EDGE_SEC)
    assert m["speech_ratio"] == pytest.approx(spoken_sec / (len(samples) / RATE), abs=0.05)
    assert result.pass_check and result.rationale.startswith(f"speech for {m['speech_sec']:.1f} s")


def test_the_soundtrack_of_a_video_is_read_the_same_way(programme, tmp_path):
    samples, truth = programme
    seconds = len(samples) / RATE
    path = synth.write_video(tmp_path / "programme.mp4", width=160, height=90, fps=10, seconds=seconds,
                             audio_rate=RATE, audio_channels=1, sound=samples)
    check_segments(run_content(speech, path).metrics["speech"]["segments"], truth)


def test_noise_music_and_silence_alone_have_no_speech(tmp_path):
    rng = np.random.default_rng(3)
    samples = np.concatenate([np.zeros(RATE, np.float32), noise(3.0, rng), music(4.0), np.zeros(RATE, np.float32)])
    path = synth.write_audio(tmp_path / "no_speech.wav", samples[:, None], RATE)
    result = run_content(speech, path, {"require_speech": True, "min_speech_ratio": 0.1})
    m = result.metrics["speech"]
    assert m["segments"] == [] and m["speech_sec"] == 0 and m["speech_ratio"] == 0
    assert not result.pass_check and result.score == 0.0
    assert result.rationale == "2 of 2 checks failed: speech none found (required some); speech ratio 0 (required >= 0.1)"


def test_too_much_speech_fails_the_maximum_ratio(programme, tmp_path):
    samples, _ = programme
    path = synth.write_audio(tmp_path / "programme.wav", samples, RATE)
    result = run_content(speech, path, {"max_speech_ratio": 0.1})
    assert not result.pass_check and "speech ratio" in result.rationale and "(required <= 0.1)" in result.rationale


def test_a_video_without_sound_has_no_speech_and_says_why(tmp_path):
    path = synth.write_video(tmp_path / "silent_film.mp4", width=160, height=90, fps=10, seconds=2, audio_rate=None)
    result = run_content(speech, path)
    assert result.pass_check and result.metrics["speech"]["segments"] == []
    assert result.rationale == "no speech: the file has no audio track"
    required = run_content(speech, path, {"require_speech": True})
    assert required.rationale == "1 of 1 checks failed: speech none (no audio track) (required some)"
