"""`audio_blocks` yields a file's first audio stream as float samples, through either reader."""

from __future__ import annotations

import io

import numpy as np
import pytest

from pique_engine import Media, audio_blocks, synth
from pique_engine.errors import ProbeError
from pique_engine.media.probe import probe

from ..conftest import FIXTURES


def media_of(path) -> Media:
    return Media(info=probe(path), name=path.name, opener=lambda: open(path, "rb"))


@pytest.mark.parametrize("suffix, channels", [(".wav", 1), (".flac", 2), (".m4a", 2)])
def test_blocks_hold_every_sample_in_range_with_the_right_channels(tmp_path, suffix, channels):
    rate = 48000
    path = synth.write_audio(tmp_path / f"tone{suffix}", synth.tone(1.0, rate, channels, amplitude=0.5), rate)
    blocks = list(audio_blocks(media_of(path), block_frames=4096))
    samples = np.concatenate(blocks)
    assert samples.dtype == np.float32 and samples.shape[1] == channels
    assert abs(len(samples) - rate) <= 2048  # AAC adds priming and padding samples
    assert 0.45 < float(np.max(np.abs(samples))) <= 0.55


def test_libsndfile_blocks_are_the_size_asked_for(tmp_path):
    path = synth.write_audio(tmp_path / "tone.wav", synth.tone(1.0, 8000), 8000)
    assert [len(b) for b in audio_blocks(media_of(path), block_frames=3000)] == [3000, 3000, 2000]


def test_a_video_s_soundtrack_is_decoded_through_ffmpeg():
    path = FIXTURES / "media" / "phone_rotated_90.mp4"
    samples = np.concatenate(list(audio_blocks(media_of(path))))
    assert samples.shape[1] == 2
    assert abs(len(samples) - 2 * 44100) <= 2048


def test_a_file_without_audio_is_refused_with_what_it_is():
    path = FIXTURES / "media" / "silent_1080x1350.mp4"
    with pytest.raises(ProbeError, match=r"a video \(mp4, 1080x1350\) has no audio track"):
        next(audio_blocks(media_of(path)))


def test_samples_far_outside_the_unit_range_are_damage(tmp_path):
    rate = 8000
    path = synth.write_audio(tmp_path / "loud.wav", synth.tone(0.2, rate, amplitude=0.5), rate, subtype="FLOAT")
    data = bytearray(path.read_bytes())
    data[-400:] = np.full(100, 1e6, np.float32).tobytes()  # the last 100 samples
    media = Media(info=probe(io.BytesIO(bytes(data))), name="loud.wav", opener=lambda: io.BytesIO(bytes(data)))
    with pytest.raises(ProbeError, match="decoded samples reach 1e\\+06, far outside"):
        list(audio_blocks(media))
