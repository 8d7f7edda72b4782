"""synth makes the media content tests need: black, frozen and silent stretches, tones, text."""

from __future__ import annotations

import av
import numpy as np
import pytest

from pique_engine import synth
from pique_engine.media.probe import probe


def _luma_means(path) -> list[tuple[float, float]]:
    """(time, mean luma) of every decoded frame, read straight from the Y plane."""
    out = []
    with av.open(str(path)) as c:
        for frame in c.decode(video=0):
            plane = frame.planes[0]
            y = np.frombuffer(plane, np.uint8).reshape(frame.height, plane.line_size)[:, : frame.width]
            out.append((float(frame.time), float(y.mean())))
    return out


def test_black_stretch_frames_have_limited_range_black_luma(media_dir):
    picture = synth.black_stretch(synth.moving_bars(64, 48, 10), 1.0, 2.0)
    assert (picture(12, 1.2) == synth.BLACK_LUMA).all()
    assert picture(5, 0.5).mean() > 60  # grey background with a bright bar outside the stretch
    path = synth.write_video(media_dir / "black.mp4", width=64, height=48, fps=10, seconds=3, picture=picture, audio_rate=None)
    means = _luma_means(path)
    black = [m for t, m in means if 1.0 <= t < 2.0]
    other = [m for t, m in means if not 1.0 <= t < 2.0]
    assert len(black) == 10
    assert all(abs(m - 16) < 1.0 for m in black)
    assert all(m > 60 for m in other)


def test_frozen_stretch_repeats_one_picture_while_the_rest_moves(media_dir):
    picture = synth.frozen_stretch(synth.moving_bars(64, 48, 10), 1.0, 3.0)
    frames = [picture(i, i / 10) for i in range(40)]
    frozen = frames[10:30]
    assert all(np.array_equal(frozen[0], f) for f in frozen)
    assert not np.array_equal(frames[30], frames[29])  # the bar moved on at 3 s
    assert not np.array_equal(frames[0], frames[10])


def test_text_is_drawn_in_white_only_during_its_stretch():
    base = synth.moving_bars(320, 120, 10)
    picture = synth.with_text(base, "PIQUE", size=40, xy=(40, 30), start=1.0, end=2.0)
    before, during = picture(0, 0.0), picture(10, 1.0)
    assert np.array_equal(before, base(0, 0.0))
    changed = during != base(10, 1.0)
    assert changed.sum() > 300  # glyph strokes, not a stray pixel
    assert during.max() == synth.WHITE_LUMA
    rows, cols = np.nonzero(changed)
    assert rows.min() >= 30 and cols.min() >= 40


def test_draw_text_works_on_rgb_images_too():
    rgb = np.zeros((60, 200, 3), np.uint8)
    out = synth.draw_text(rgb, "Hi", size=30, luma=255)
    assert out.shape == rgb.shape and out.max() == 255
    assert rgb.max() == 0  # the input is left alone


def test_silent_stretch_zeroes_exactly_the_samples_in_it():
    tone = synth.tone(2.0, 8000, 2, amplitude=0.5)
    quiet = synth.silent_stretch(tone, 8000, 0.5, 1.25)
    assert not quiet[4000:10000].any()
    assert np.array_equal(quiet[:4000], tone[:4000]) and np.array_equal(quiet[10000:], tone[10000:])
    assert np.abs(quiet[:4000]).max() == pytest.approx(0.5, abs=1e-3)


def test_video_soundtrack_is_the_given_sound_cut_to_the_video(media_dir):
    sound = synth.silent_stretch(synth.tone(5.0, 48000, 1, amplitude=0.5), 48000, 1.0, 2.0)
    path = synth.write_video(media_dir / "s.mp4", width=32, height=32, fps=10, seconds=3, audio_rate=48000,
                             audio_channels=1, sound=sound)
    info = probe(path)
    assert info.audio.sample_rate == 48000 and info.audio.channels == 1
    assert info.duration_sec == pytest.approx(3.0, abs=0.1)
    with av.open(str(path)) as c:
        chunks = [(float(f.time), f.to_ndarray()) for f in c.decode(audio=0)]
    rms = {round(t, 1): float(np.sqrt(np.mean(a**2))) for t, a in chunks if t is not None}
    assert max(v for t, v in rms.items() if 1.1 <= t <= 1.8) < 1e-3
    assert min(v for t, v in rms.items() if 0.2 <= t <= 0.8) > 0.2


def test_picture_of_the_wrong_shape_is_refused_with_the_shape_expected(media_dir):
    with pytest.raises(ValueError, match=r"uint8 luma plane of shape \(48, 64\)"):
        synth.write_video(media_dir / "x.mp4", width=64, height=48, seconds=0.1, picture=lambda i, t: np.zeros((48, 64, 3), np.uint8))


def test_codec_options_set_the_keyframe_interval(media_dir):
    path = synth.write_video(media_dir / "g.mp4", width=64, height=48, fps=10, seconds=3, audio_rate=None,
                             codec_options={"preset": "veryfast", "g": "10", "sc_threshold": "0"})
    with av.open(str(path)) as c:
        keys = [float(p.pts * p.time_base) for p in c.demux(video=0) if p.is_keyframe]
    assert keys == [0.0, 1.0, 2.0]


def test_detailed_image_is_the_same_each_time_and_blurring_it_softens_its_edges():
    sharp, again, soft = synth.detailed_image(96, 64), synth.detailed_image(96, 64), synth.detailed_image(96, 64, blur=3)

    def edge_energy(image) -> float:
        luma = np.asarray(image.convert("L"), np.float64)
        return float(np.abs(np.diff(luma, axis=1)).mean() + np.abs(np.diff(luma, axis=0)).mean())

    assert sharp.size == (96, 64) and sharp.mode == "RGB"
    assert np.array_equal(np.asarray(sharp), np.asarray(again))
    assert edge_energy(soft) < 0.5 * edge_energy(sharp)
