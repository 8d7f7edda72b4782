"""black_frames, frozen_frames and silence against known faults and the system ffmpeg's own filters.

Clips are 10 s at 30 fps of fresh noise (nothing still) with stretches of 0.1, 0.5 and 3 s at
the start, middle and end, each length at each place across the three layouts.
"""

from __future__ import annotations

import numpy as np
import pytest
from pique_engine import synth

from qc_kit import encode, ffmpeg_log, floats, metrics, noise, run

FPS = 30
FRAME = 1 / FPS
# (start, end) of each stretch: the lengths 0.1, 0.5 and 3 s rotate through start, middle, end.
LAYOUTS = {
    "short_first": [(0.0, 0.1), (4.0, 4.5), (7.0, 10.0)],
    "half_first": [(0.0, 0.5), (4.0, 7.0), (9.9, 10.0)],
    "long_first": [(0.0, 3.0), (5.0, 5.1), (9.5, 10.0)],
}


def stretched(kind: str, layout: list[tuple[float, float]]):
    picture = noise(128, 72)
    for start, end in layout:
        picture = synth.black_stretch(picture, start, end) if kind == "black" else synth.frozen_stretch(picture, start, end)
    return picture


@pytest.fixture(scope="module", params=list(LAYOUTS))
def black_clip(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("black") / f"{request.param}.mp4"
    return encode(path, stretched("black", LAYOUTS[request.param]), width=128, height=72, seconds=10), LAYOUTS[request.param]


@pytest.fixture(scope="module", params=list(LAYOUTS))
def frozen_clip(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("frozen") / f"{request.param}.mp4"
    # Lossless, so a repeated frame decodes identical (a lossy encoder refines it frame by frame).
    return encode(path, stretched("frozen", LAYOUTS[request.param]), width=128, height=72, seconds=10, crf=0), LAYOUTS[request.param]


def assert_edges(found, expected, tolerance):
    assert len(found) == len(expected), (found, expected)
    for (a, b), (c, d) in zip(found, expected):
        assert a == pytest.approx(c, abs=tolerance) and b == pytest.approx(d, abs=tolerance), (found, expected)


def test_black_frames_finds_every_stretch_within_a_frame_and_matches_blackdetect(black_clip):
    path, layout = black_clip
    m = metrics("black_frames", path)
    assert_edges(m["segments"], layout, FRAME + 0.001)
    log = ffmpeg_log(path, vf="blackdetect=d=0.1:pix_th=0.1:pic_th=0.98")
    starts, ends = floats(r"black_start:([\d.]+)", log), floats(r"black_end:([\d.]+)", log)
    # FFmpeg 5.1 ends a stretch still black at the end of the file at the last frame's start,
    # not its end, so it drops one that lasts less than d plus a frame; the pack keeps it.
    kept = [seg for seg in m["segments"] if not (seg[1] >= 9.999 and seg[1] - seg[0] < 0.1 + FRAME)]
    assert [s for s, _ in kept] == pytest.approx(starts, abs=FRAME + 0.001)
    assert [e for _, e in kept] == pytest.approx(ends, abs=FRAME + 0.001)
    assert m["leading_black_sec"] == pytest.approx(layout[0][1], abs=FRAME + 0.001)
    assert m["trailing_black_sec"] == pytest.approx(layout[-1][1] - layout[-1][0], abs=FRAME + 0.001)
    assert m["black_sec"] == pytest.approx(sum(b - a for a, b in layout), abs=3 * FRAME)


def test_black_frames_fails_a_stretch_over_the_limit(black_clip):
    path, _layout = black_clip
    result = run("black_frames", path, {"max_black_sec": 0.5})
    assert not result.pass_check and "longest black stretch 3." in result.rationale
    assert run("black_frames", path, {"max_black_sec": 3.1}).pass_check


def test_frozen_frames_finds_stretches_freezedetect_finds(frozen_clip):
    path, layout = frozen_clip
    m = metrics("frozen_frames", path, {"min_duration_sec": 0.1})
    log = ffmpeg_log(path, vf="freezedetect=n=-60dB:d=0.1")
    starts, ends = floats(r"freeze_start: ([\d.]+)", log), floats(r"freeze_end: ([\d.]+)", log)
    assert [s for s, _ in m["segments"]] == pytest.approx(starts, abs=FRAME + 0.001)
    assert [e for _, e in m["segments"]][: len(ends)] == pytest.approx(ends, abs=FRAME + 0.001)
    # freezedetect decides once a still has lasted d by a frame's start: a still that ends the
    # file needs d plus the last frame's own duration.
    long_enough = [(a, b) for a, b in layout if b - a >= 0.1 - 1e-6 and not (b >= 10 and b - a < 0.1 + FRAME)]
    assert_edges(m["segments"], long_enough, FRAME + 0.001)


def test_frozen_frames_default_ignores_stills_under_half_a_second(frozen_clip):
    path, layout = frozen_clip
    m = metrics("frozen_frames", path)
    expected = [(a, b) for a, b in layout if b - a >= 0.5 - 1e-6 and not (b >= 10 and b - a < 0.5 + FRAME)]
    assert_edges(m["segments"], expected, FRAME + 0.001)


def bursts(rate: int) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Speech-like tone bursts (a warbling 300-900 Hz tone) with silence before, between and after."""
    silences = [(0.0, 0.7), (2.0, 3.0), (4.0, 5.0)]
    t = np.arange(5 * rate) / rate
    voice = 0.3 * np.sin(2 * np.pi * (600 + 300 * np.sin(2 * np.pi * 3 * t)) * t)
    for a, b in silences:
        voice[int(a * rate) : int(b * rate)] = 0
    return voice.astype(np.float32)[:, None].repeat(2, axis=1), silences


@pytest.mark.parametrize("suffix", [".wav", ".mp4"])
def test_silence_edges_within_10_ms_of_silencedetect(media_dir, suffix):
    sound, silences = bursts(48000)
    if suffix == ".wav":
        path = synth.write_audio(media_dir / "voice.wav", sound, 48000, subtype="FLOAT")
    else:
        path = synth.write_video(media_dir / "voice.mp4", width=64, height=64, fps=30, seconds=5, audio_rate=48000, sound=sound)
    m = metrics("silence", path)
    log = ffmpeg_log(path, af="silencedetect=n=-60dB:d=0.5")
    starts, ends = floats(r"silence_start: (-?[\d.]+)", log), floats(r"silence_end: ([\d.]+)", log)
    assert [s for s, _ in m["segments"]] == pytest.approx([max(0.0, s) for s in starts], abs=0.01)
    assert [e for _, e in m["segments"]][: len(ends) - 1] == pytest.approx(ends[:-1], abs=0.01)
    # A silence running to the end ends with the stream's duration; FFmpeg ends it with the last
    # decoded sample, which in AAC includes the encoder's padding (up to one 1024-sample frame).
    assert m["segments"][-1][1] == pytest.approx(ends[-1], abs=0.01 if suffix == ".wav" else 1024 / 48000)
    assert_edges(m["segments"], silences, 0.05)  # AAC rings a little into each silence
    assert m["leading_silence_sec"] == pytest.approx(0.7, abs=0.05)
    assert m["trailing_silence_sec"] == pytest.approx(1.0, abs=0.05)
    assert m["longest_silence_sec"] == pytest.approx(1.0, abs=0.05)
