"""Pixel formats from decoder configuration records, checked against what FFmpeg decodes.

Each clip is encoded here (a few frames, 64x64) with one codec and pixel format; the header-only
probe's answer must equal the format of the first decoded frame, or be None for 4:4:4, where
the record cannot tell YUV from RGB.
"""

from __future__ import annotations

import av
import numpy as np
import pytest

from pique_engine.media.pixel_format import _unescape, pixel_format
from pique_engine.media.probe import probe

CASES = [
    ("libx264", "yuv420p", {"preset": "ultrafast"}),  # Constrained Baseline: no SPS to read
    ("libx264", "yuv420p", {"preset": "medium"}),  # High: read from the SPS
    ("libx264", "yuv422p", {"preset": "ultrafast"}),
    ("libx264", "yuv444p", {"preset": "ultrafast"}),
    ("libx264", "yuv420p10le", {"preset": "ultrafast"}),
    ("libx264", "yuv444p10le", {"preset": "ultrafast"}),
    ("libx265", "yuv420p", {"preset": "ultrafast", "x265-params": "log-level=none"}),
    ("libx265", "yuv422p10le", {"preset": "ultrafast", "x265-params": "log-level=none"}),
    ("libx265", "yuv420p12le", {"preset": "ultrafast", "x265-params": "log-level=none"}),
    ("libsvtav1", "yuv420p", {"preset": "12"}),
    ("libsvtav1", "yuv420p10le", {"preset": "12"}),
]


def encode(path, codec: str, pix_fmt: str, options: dict[str, str]) -> None:
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 64, pix_fmt
        stream.options = options
        for i in range(5):
            gradient = np.tile(np.arange(64, dtype=np.uint8) * 4, (64, 1))
            frame = av.VideoFrame.from_ndarray(np.dstack([gradient, np.roll(gradient, i, 1), gradient.T]), format="rgb24")
            frame = frame.reformat(format=pix_fmt)
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def decoded_format(path) -> str:
    with av.open(str(path)) as container:
        return next(container.decode(video=0)).format.name


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
@pytest.mark.parametrize(("codec", "pix_fmt", "options"), CASES, ids=[f"{c}-{p}-{o['preset']}" for c, p, o in CASES])
def test_the_probe_names_the_pixel_format_ffmpeg_decodes_to(tmp_path, suffix, codec, pix_fmt, options):
    path = tmp_path / f"clip{suffix}"
    try:
        encode(path, codec, pix_fmt, options)
    except (av.error.FFmpegError, ValueError) as exc:  # an encoder this PyAV build lacks
        pytest.skip(f"{codec} cannot encode {pix_fmt} here: {exc}")
    assert decoded_format(path) == pix_fmt  # the encoder did what was asked
    assert probe(path).video.pix_fmt == (None if pix_fmt.startswith("yuv444p") else pix_fmt)


def test_emulation_prevention_bytes_are_dropped_before_reading_bits():
    assert _unescape(b"\x00\x00\x03\x01\x00\x00\x03\x03\xff") == b"\x00\x00\x01\x00\x00\x03\xff"


def hvcc(chroma: int, depth: int) -> bytes:
    record = bytearray(23)
    record[0], record[16], record[17] = 1, 0xFC | chroma, 0xF8 | (depth - 8)
    return bytes(record)


def av1c(*, high: bool = False, twelve: bool = False, mono: bool = False, sub_x: bool = True, sub_y: bool = True) -> bytes:
    flags = high << 6 | twelve << 5 | mono << 4 | sub_x << 3 | sub_y << 2
    return bytes([0x81, 0x08, flags, 0x00])


def avcc_high(sps_bits: int) -> bytes:
    """A High-profile avcC whose SPS continues, after the level, with the byte `sps_bits`."""
    sps = bytes([0x67, 100, 0x00, 30, sps_bits])
    return bytes([1, 100, 0, 30, 0xFF, 0xE1]) + len(sps).to_bytes(2, "big") + sps


@pytest.mark.parametrize(
    ("codec", "extradata", "expected"),
    [
        # sps_id 0 "1", chroma_format_idc 0 "1", bit_depth_luma 8 "1" / 10 "011"
        ("h264", avcc_high(0b1110_0000), "yuv420p"),  # monochrome: FFmpeg adds blank chroma planes
        ("h264", avcc_high(0b1101_1000), "yuv420p10le"),
        ("hevc", hvcc(0, 8), "gray"),
        ("hevc", hvcc(0, 10), "gray10le"),
        ("hevc", hvcc(2, 12), "yuv422p12le"),
        ("hevc", hvcc(3, 8), None),  # YUV or RGB: the record does not say
        ("av1", av1c(), "yuv420p"),
        ("av1", av1c(high=True, twelve=True), "yuv420p12le"),
        ("av1", av1c(high=True, sub_y=False), "yuv422p10le"),
        ("av1", av1c(mono=True), "gray"),
        ("av1", av1c(high=True, mono=True), "gray10le"),
        ("av1", av1c(sub_x=False, sub_y=False), None),
    ],
)
def test_records_the_encoders_here_do_not_write(codec, extradata, expected):
    assert pixel_format(codec, extradata) == expected


@pytest.mark.parametrize(
    ("codec", "extradata"),
    [
        ("h264", b""),
        ("h264", b"\x01\x64\x00"),  # High profile, cut off before the SPS
        ("h264", bytes([1, 100, 0, 30, 0xFF, 0xE1, 0x00, 0x20, 0x67])),  # SPS length beyond the record
        ("h264", bytes([1, 100, 0, 30, 0xFF, 0xE1, 0x00, 0x05, 0x67, 100, 0, 30, 0x00])),  # Exp-Golomb never ends
        ("hevc", b"\x01" + b"\x00" * 10),
        ("av1", b"\x00\x00\x00\x00"),
        ("vp9", b"\x01\x02\x03"),
        ("prores", None),
    ],
)
def test_malformed_or_unknown_records_give_none(codec, extradata):
    assert pixel_format(codec, extradata) is None
