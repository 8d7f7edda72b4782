"""The display rotation comes from the video track's `tkhd` matrix, in clockwise degrees."""

from __future__ import annotations

import io
import math
import struct

import pytest

from pique_engine.media.rotation import overrunning_box, video_rotation

from ..conftest import FIXTURES
from ..crafted_media import box


def tkhd(a: float, b: float, c: float, d: float, *, version: int = 0) -> bytes:
    """A track header whose display matrix is [a b 0; c d 0; 0 0 1] (16.16 fixed point)."""
    times = struct.pack(">QQIIQ", 0, 0, 1, 0, 0) if version == 1 else struct.pack(">IIIII", 0, 0, 1, 0, 0)
    fixed = [round(x * 65536) for x in (a, b, 0, c, d, 0)]
    matrix = struct.pack(">iiiiii", *fixed) + struct.pack(">iii", 0, 0, 1 << 30)
    return box(b"tkhd", bytes([version, 0, 0, 3]) + times + b"\x00" * 16 + matrix + struct.pack(">II", 640 << 16, 360 << 16))


def track(header: bytes, handler: bytes) -> bytes:
    hdlr = box(b"hdlr", b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00" + handler + b"\x00" * 12 + b"\x00")
    return box(b"trak", header + box(b"mdia", hdlr))


def movie(*tracks: bytes) -> io.BytesIO:
    return io.BytesIO(box(b"ftyp", b"isom\x00\x00\x02\x00isom") + box(b"moov", b"".join(tracks)))


def matrix_for(clockwise: int) -> tuple[float, float, float, float]:
    # The matrix a phone writes to show the stored picture turned `clockwise` degrees.
    r = math.radians(clockwise)
    return math.cos(r), math.sin(r), -math.sin(r), math.cos(r)


@pytest.mark.parametrize("degrees", [0, 90, 180, 270])
def test_the_matrix_gives_clockwise_degrees(degrees):
    assert video_rotation(movie(track(tkhd(*matrix_for(degrees)), b"vide"))) == degrees


def test_a_version_1_track_header_is_read_too():
    assert video_rotation(movie(track(tkhd(*matrix_for(90), version=1), b"vide"))) == 90


def test_the_first_video_track_counts_not_an_audio_track_before_it():
    f = movie(track(tkhd(*matrix_for(180)), b"soun"), track(tkhd(*matrix_for(270)), b"vide"))
    assert video_rotation(f) == 270


def test_no_video_track_or_a_damaged_header_means_no_rotation():
    assert video_rotation(movie(track(tkhd(*matrix_for(90)), b"soun"))) == 0
    assert video_rotation(movie(track(box(b"tkhd", b"\x00\x00\x00\x00"), b"vide"))) == 0
    assert video_rotation(io.BytesIO(b"\x00\x00\x00\x04free")) == 0


def test_the_phone_fixture_is_turned_90_degrees_clockwise():
    with open(FIXTURES / "media" / "phone_rotated_90.mp4", "rb") as f:
        assert video_rotation(f) == 90


def test_a_top_level_box_running_past_the_end_of_the_file_is_named():
    data = box(b"ftyp", b"isom\x00\x00\x00\x00") + struct.pack(">I4s", 1000, b"mdat") + b"\x00" * 10
    assert overrunning_box(io.BytesIO(data), len(data)) == ("mdat", 16 + 1000)
    whole = box(b"ftyp", b"isom\x00\x00\x00\x00") + box(b"mdat", b"\x00" * 10)
    assert overrunning_box(io.BytesIO(whole), len(whole)) is None
