"""A video stream's pixel format, read from its decoder configuration record, not from a frame.

MP4/MOV and Matroska carry each stream's configuration (FFmpeg's *extradata*): ``avcC``
for H.264, ``hvcC`` for HEVC, ``av1C`` for AV1. Chroma subsampling and bit depth are in
there, so the header-only probe can name the pixel format FFmpeg would decode to without
decoding a frame. Names are FFmpeg's (``yuv420p``, ``yuv422p10le``, ``gray``). The colour
range is not read: a full-range H.264 stream FFmpeg calls ``yuvj420p`` is ``yuv420p`` here.
4:4:4 gives None: the record does not say whether the planes are YUV or RGB (``gbrp``), which
only the stream's colour matrix tells. Anything unknown, absent or malformed gives None, never
an error.
"""

from __future__ import annotations

__all__ = ["pixel_format"]

# H.264 profiles whose sequence parameter set carries chroma format and bit depth; every other
# profile (Baseline, Main, Extended) is 8-bit 4:2:0 by definition.
_H264_HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}


def pixel_format(codec: str, extradata: bytes | None) -> str | None:
    """FFmpeg's name for the pixel format `extradata` describes, or None when it does not say."""
    if codec == "vp8":  # 8-bit 4:2:0 is all VP8 has, and it carries no configuration record
        return "yuv420p"
    if not extradata:
        return None
    try:
        read = {"h264": _avcc, "hevc": _hvcc, "av1": _av1c}.get(codec)
        return _name(*read(extradata)) if read else None
    except (IndexError, ValueError):
        return None


def _name(chroma: int, depth: int) -> str | None:
    """FFmpeg's name for chroma format `chroma` (0 mono, 1 4:2:0, 2 4:2:2) at `depth` bits."""
    base = {0: "gray", 1: "yuv420p", 2: "yuv422p"}.get(chroma)
    if base is None or depth not in (8, 10, 12):
        return None
    return base if depth == 8 else f"{base}{depth}le"


def _avcc(data: bytes) -> tuple[int, int]:
    # AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.3.3.1): version, profile, compatibility,
    # level, length size, then the SPS count and the first SPS.
    if data[0] != 1:
        raise ValueError("not an avcC record")
    if data[1] not in _H264_HIGH_PROFILES:
        return 1, 8
    if data[5] & 0x1F == 0:
        raise ValueError("no sequence parameter set")
    length = int.from_bytes(data[6:8], "big")
    sps = data[8 : 8 + length]
    if len(sps) != length:
        raise ValueError("truncated sequence parameter set")
    bits = _Bits(_unescape(sps[1:]))  # skip the NAL header byte
    bits.read(24)  # profile_idc, constraint flags, level_idc
    bits.ue()  # seq_parameter_set_id
    chroma = bits.ue()
    if chroma == 3:
        bits.read(1)  # separate_colour_plane_flag
    depth = bits.ue() + 8
    return chroma or 1, depth  # FFmpeg decodes monochrome H.264 with blank 4:2:0 chroma planes


def _hvcc(data: bytes) -> tuple[int, int]:
    # HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 8.3.3.1): chromaFormat at byte 16,
    # bitDepthLumaMinus8 at byte 17, each under reserved high bits.
    if data[0] != 1 or len(data) < 23:
        raise ValueError("not an hvcC record")
    return data[16] & 0x03, (data[17] & 0x07) + 8


def _av1c(data: bytes) -> tuple[int, int]:
    # AV1CodecConfigurationRecord: marker and version, profile and level, then
    # tier, high_bitdepth, twelve_bit, monochrome, subsampling_x, subsampling_y.
    if data[0] != 0x81:
        raise ValueError("not an av1C record")
    flags = data[2]
    high, twelve, mono = flags & 0x40, flags & 0x20, flags & 0x10
    sub_x, sub_y = flags & 0x08, flags & 0x04
    depth = 12 if high and twelve else 10 if high else 8
    if mono:
        return 0, depth
    return (1 if sub_y else 2) if sub_x else 3, depth


def _unescape(rbsp: bytes) -> bytes:
    """Drop the emulation-prevention bytes (00 00 03 -> 00 00) of a NAL unit payload."""
    return rbsp.replace(b"\x00\x00\x03", b"\x00\x00")


class _Bits:
    """An MSB-first bit reader with H.264's unsigned Exp-Golomb codes."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def read(self, n: int) -> int:
        value = 0
        for _ in range(n):
            byte = self.data[self.pos >> 3]  # IndexError past the end: malformed
            value = (value << 1) | ((byte >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return value

    def ue(self) -> int:
        zeros = 0
        while self.read(1) == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("Exp-Golomb code too long")
        return (1 << zeros) - 1 + self.read(zeros)
