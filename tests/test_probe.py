"""The probe reports what a viewer sees, from headers, for every fixture format."""

from __future__ import annotations

import io

import pytest

from pique_engine.errors import MediaLimitError, ProbeError
from pique_engine.probe import ProbeLimits, probe

from .conftest import FIXTURES

MEDIA = FIXTURES / "media"

# file -> (kind, container, width, height, fps, duration, audio sample rate, rotation)
VIDEOS = {
    "contract_576x1024_30fps.mp4": ("mp4", 576, 1024, 30.0, 38.033, 44100, 0),
    "phone_rotated_90.mp4": ("mp4", 360, 640, 30.0, 2.0, 44100, 90),
    "moov_at_end_320x240_25fps.mp4": ("mp4", 320, 240, 25.0, 2.0, 44100, 0),
    "ntsc_640x360_29.97fps.mp4": ("mp4", 640, 360, 29.97, 2.002, 44100, 0),
    "silent_1080x1350.mp4": ("mp4", 1080, 1350, 24.0, 1.0, None, 0),
    "clip_320x240.mov": ("mov", 320, 240, 30.0, 2.0, 44100, 0),
    "clip_320x240.mkv": ("mkv", 320, 240, 30.0, 2.008, 48000, 0),
    "clip_320x240.webm": ("webm", 320, 240, 30.0, 2.008, 48000, 0),
    "browser_recording_no_duration.webm": ("webm", 320, 240, 30.0, 1.5, None, 0),
}


@pytest.mark.parametrize("name", sorted(VIDEOS))
def test_video_fixture_is_described_as_displayed(name):
    container, w, h, fps, duration, rate, rotation = VIDEOS[name]
    info = probe(MEDIA / name)
    assert info.kind == "video"
    assert info.container == container
    assert (info.video.width, info.video.height) == (w, h)
    assert info.video.rotation == rotation
    assert info.video.fps == pytest.approx(fps, abs=0.01)
    assert info.duration_sec == pytest.approx(duration, abs=0.01)
    assert (info.audio.sample_rate if info.audio else None) == rate


def test_rotated_phone_video_keeps_its_stored_size_too():
    v = probe(MEDIA / "phone_rotated_90.mp4").video
    assert (v.stored_width, v.stored_height) == (640, 360)


AUDIO = {
    "tone_44100_mono.wav": ("wav", 44100, 1, 1.0, "pcm_16"),
    "tone_48000_stereo.flac": ("flac", 48000, 2, 2.0, "flac"),
    "tone_44100_stereo.mp3": ("mp3", 44100, 2, 2.0, "mp3"),
    "tone_48000_stereo.m4a": ("m4a", 48000, 2, 2.0, "aac"),
    "tone_22050_mono.ogg": ("ogg", 22050, 1, 2.0, "vorbis"),
    "voice_16000_mono.opus": ("ogg", 16000, 1, 2.0, "opus"),
}


@pytest.mark.parametrize("name", sorted(AUDIO))
def test_audio_fixture_reports_rate_channels_duration_codec(name):
    container, rate, channels, duration, codec = AUDIO[name]
    info = probe(MEDIA / name)
    assert info.kind == "audio"
    assert info.container == container
    assert (info.audio.sample_rate, info.audio.channels, info.audio.codec) == (rate, channels, codec)
    assert info.duration_sec == pytest.approx(duration, abs=0.06)
    assert info.video is None


IMAGES = {
    "portrait_1080x1350.jpg": ("jpeg", 1080, 1350, 1, 1),
    "exif_rotated_6.jpg": ("jpeg", 480, 640, 6, 1),
    "square_512.png": ("png", 512, 512, 1, 1),
    "animated_64x64_5frames.gif": ("gif", 64, 64, 1, 5),
    "still_300x200.webp": ("webp", 300, 200, 1, 1),
}


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_image_fixture_reports_displayed_size_orientation_frames(name):
    fmt, w, h, orientation, frames = IMAGES[name]
    info = probe(MEDIA / name)
    assert info.kind == "image"
    assert (info.image.format, info.image.width, info.image.height) == (fmt, w, h)
    assert (info.image.orientation, info.image.frames) == (orientation, frames)


def test_exif_orientation_6_swaps_the_stored_size():
    img = probe(MEDIA / "exif_rotated_6.jpg").image
    assert (img.stored_width, img.stored_height) == (640, 480)


@pytest.mark.parametrize(
    "name, error, words",
    [
        ("empty.mp4", ProbeError, "empty (0 bytes)"),
        ("random_bytes.mp4", ProbeError, "match no video, image or audio format"),
        ("truncated_moov_missing.mp4", ProbeError, "is it complete"),
        ("hls_playlist_named_as.mp4", ProbeError, "HLS/M3U playlist"),
        ("bomb_40000x40000.png", MediaLimitError, "1600000000 pixels"),
    ],
)
def test_broken_and_hostile_files_raise_a_clear_error(name, error, words):
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
        probe(MEDIA / name)


def test_a_file_named_mp4_is_read_as_what_its_bytes_are():
    info = probe(MEDIA / "wav_named_as.mp4")
    assert (info.kind, info.container) == ("audio", "wav")


def test_probe_accepts_any_seekable_file_object():
    data = (MEDIA / "phone_rotated_90.mp4").read_bytes()
    info = probe(io.BytesIO(data))
    assert (info.video.width, info.video.height, info.video.rotation) == (360, 640, 90)


class CountingReader(io.RawIOBase):
    """A file object that counts the bytes a reader asks for."""

    def __init__(self, data: bytes) -> None:
        self._f = io.BytesIO(data)
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = self._f.readinto(b)
        self.bytes_read += n
        return n

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._f.seek(offset, whence)

    def tell(self) -> int:
        return self._f.tell()


def test_probing_the_contract_video_reads_a_small_fraction_of_it():
    data = (MEDIA / "contract_576x1024_30fps.mp4").read_bytes()
    reader = CountingReader(data)
    probe(reader)
    # The moov header of this 38 s file is ~20 KB; frames are never decoded.
    assert reader.bytes_read < 100_000 < len(data)


def test_image_pixel_limit_is_configurable():
    with pytest.raises(MediaLimitError, match="262,143-pixel limit"):
        probe(MEDIA / "square_512.png", ProbeLimits(max_image_pixels=512 * 512 - 1))


def test_duration_limit_refuses_long_files_from_their_header():
    with pytest.raises(MediaLimitError, match="duration of 38 s"):
        probe(MEDIA / "contract_576x1024_30fps.mp4", ProbeLimits(max_duration_sec=30))
