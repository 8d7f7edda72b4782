"""The format is recognised from the bytes, never from the name."""

from __future__ import annotations

import numpy as np
import pytest

from pique_engine.errors import ProbeError
from pique_engine.media.sniff import HEAD_BYTES, sniff

from ..conftest import FIXTURES

MEDIA = FIXTURES / "media"

# fixture -> (container, reader, demuxer)
FORMATS = {
    "contract_576x1024_30fps.mp4": ("mp4", "pyav", "mov"),
    "clip_320x240.mov": ("mov", "pyav", "mov"),
    "clip_320x240.mkv": ("mkv", "pyav", "matroska"),
    "clip_320x240.webm": ("webm", "pyav", "matroska"),
    "tone_48000_stereo.m4a": ("mp4", "pyav", "mov"),  # brand isom: the probe calls audio-only MP4 m4a
    "tone_44100_mono.wav": ("wav", "soundfile", "wav"),
    "tone_48000_stereo.flac": ("flac", "soundfile", "flac"),
    "tone_44100_stereo.mp3": ("mp3", "soundfile", "mp3"),
    "tone_22050_mono.ogg": ("ogg", "soundfile", "ogg"),
    "voice_16000_mono.opus": ("ogg", "soundfile", "ogg"),
    "square_512.png": ("png", "pillow", None),
    "portrait_1080x1350.jpg": ("jpeg", "pillow", None),
    "animated_64x64_5frames.gif": ("gif", "pillow", None),
    "still_300x200.webp": ("webp", "pillow", None),
    "wav_named_as.mp4": ("wav", "soundfile", "wav"),
}


def head(name: str) -> bytes:
    return (MEDIA / name).read_bytes()[:HEAD_BYTES]


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_each_fixture_format_is_recognised_from_its_first_bytes(name):
    fmt = sniff(head(name))
    assert (fmt.container, fmt.reader, fmt.demuxer) == FORMATS[name]


def test_images_name_the_only_pillow_plugin_allowed_to_open_them():
    assert sniff(head("square_512.png")).pillow_format == "PNG"
    assert sniff(b"II*\x00\x08\x00\x00\x00").pillow_format == "TIFF"
    assert sniff(b"MM\x00*\x00\x00\x00\x08").container == "tiff"


def test_mp4_brands_tell_audio_and_quicktime_apart():
    assert sniff(b"\x00\x00\x00\x1cftypM4A \x00\x00\x00\x00").container == "m4a"
    assert sniff(b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00").container == "mov"
    assert sniff(b"\x00\x00\x00\x08free\x00\x00\x00\x08mdat").container == "mp4"


def test_a_misnamed_file_is_what_its_bytes_say():
    assert sniff(head("wav_named_as.mp4")).container == "wav"
    with pytest.raises(ProbeError, match="HLS/M3U playlist"):
        sniff(head("hls_playlist_named_as.mp4"))


@pytest.mark.parametrize(
    "data, words",
    [
        (b"", "the file is empty (0 bytes)"),
        (b"#EXTM3U\n#EXT-X-VERSION:3\n", "HLS/M3U playlist"),
        (b"\xef\xbb\xbf#EXTM3U\n", "HLS/M3U playlist"),
        (b"ffconcat version 1.0\nfile 'a.mp4'\n", "FFmpeg concat script"),
        (b'{"judge_id": "judge_x", "criteria": []}', "it looks like text"),
        ("<p>caf\u00e9</p>".encode() * 8, "it looks like text"),
    ],
)
def test_what_is_not_media_is_named_for_what_it_is(data, words):
    with pytest.raises(ProbeError, match=words.replace("(", r"\(").replace(")", r"\)")):
        sniff(data[:HEAD_BYTES])


@pytest.mark.parametrize("first", [b"{", b"<", b"["])
def test_random_bytes_starting_like_text_are_not_recognised_media_rather_than_text(first):
    rng = np.random.default_rng(list(first)[0])
    for _ in range(20):
        data = first + rng.integers(0, 256, HEAD_BYTES - 1, dtype=np.uint8).tobytes()
        if data[:4] in (b"RIFF", b"OggS") or data[0] == 0x47:
            continue
        with pytest.raises(ProbeError) as info:
            sniff(data)
        assert str(info.value).startswith("not recognised media: the first bytes (")
        assert "text" not in str(info.value)


def test_bytes_with_a_nul_are_not_text():
    with pytest.raises(ProbeError, match="not recognised media"):
        sniff(b"hello\x00world, this is not text at all")
