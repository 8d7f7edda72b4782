"""A file whose own structure says bytes are missing at its end is reported as truncated."""

from __future__ import annotations

import io

import pytest

from pique_engine.errors import ProbeError
from pique_engine.media.integrity import check_complete
from pique_engine.media.sniff import HEAD_BYTES, sniff

from ..conftest import FIXTURES

MEDIA = FIXTURES / "media"

# fixture -> words naming what is missing once its second half is cut
CHECKED = {
    "contract_576x1024_30fps.mp4": "'mdat' box ends at byte",
    "square_512.png": "does not end with the IEND chunk",
    "portrait_1080x1350.jpg": "no end-of-image marker",
    "still_300x200.webp": "its RIFF header says",
    "clip_320x240.webm": "its Segment says",
    "clip_320x240.mkv": "its Segment says",
    "tone_48000_stereo.flac": "its last audio frames are missing",
}


def check(data: bytes) -> None:
    f = io.BytesIO(data)
    f.seek(7)
    check_complete(f, sniff(data[:HEAD_BYTES]), len(data))
    assert f.tell() == 7  # the caller's position is kept


@pytest.mark.parametrize("name", sorted(CHECKED))
def test_the_whole_fixture_passes(name):
    check((MEDIA / name).read_bytes())


@pytest.mark.parametrize("name", sorted(CHECKED))
def test_the_fixture_cut_in_half_is_truncated_and_says_where(name):
    data = (MEDIA / name).read_bytes()
    with pytest.raises(ProbeError, match="is truncated: .*upload the complete file") as info:
        check(data[: len(data) // 2])
    assert CHECKED[name] in str(info.value)


def test_formats_without_a_length_of_their_own_are_not_judged():
    data = (MEDIA / "tone_44100_mono.wav").read_bytes()
    check(data[: len(data) // 2])  # a WAV's length is what is there


def test_a_live_matroska_recording_of_unknown_size_is_not_judged():
    data = bytearray((MEDIA / "browser_recording_no_duration.webm").read_bytes())
    check(bytes(data[: len(data) // 2]))
