"""A WebP's size, orientation, frame count, mode and codec from its RIFF chunk headers.

Pillow hands the whole file to libwebp to learn even the size. The chunks each carry their
length, so this walk seeks from header to header and reads a few bytes of each. The mode is
Pillow's: RGBA when libwebp reports alpha (VP8X flag, VP8L header bit, or an ALPH chunk).
"""

from __future__ import annotations

import struct
from typing import IO

from ..errors import ProbeError
from .exif import orientation_in_exif
from .limits import too_many_frames

_ALPHA, _ANIMATION = 0x10, 0x02
_MAX_EXIF = 1 << 20
# Chunks besides the frames: VP8X, ICCP, ANIM, EXIF, XMP, ALPH and room for unknown ones.
_OTHER_CHUNKS = 64


def webp_header(f: IO[bytes], size: int, max_frames: int) -> tuple[int, int, int, int, str]:
    """(width, height, EXIF orientation, frames, mode) from a WebP's chunk headers."""
    f.seek(12)
    first = f.read(30)
    kind, payload = first[:4], first[8:]
    if kind == b"VP8 ":
        if len(payload) < 10 or payload[3:6] != b"\x9d\x01\x2a":
            raise _damaged("no VP8 key frame header")
        w, h = struct.unpack("<HH", payload[6:10])
        return w & 0x3FFF, h & 0x3FFF, 1, 1, "RGB"
    if kind == b"VP8L":
        if len(payload) < 5 or payload[0] != 0x2F:
            raise _damaged("no VP8L signature")
        bits = int.from_bytes(payload[1:5], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, 1, 1, "RGBA" if bits >> 28 & 1 else "RGB"
    if kind != b"VP8X" or len(payload) < 10:
        raise _damaged(f"unexpected first chunk {kind!r}")
    flags = payload[0]
    w = int.from_bytes(payload[4:7], "little") + 1
    h = int.from_bytes(payload[7:10], "little") + 1
    start = 12 + 8 + _even(int.from_bytes(first[4:8], "little"))
    animated = bool(flags & _ANIMATION)
    frames, alpha, exif = _walk_chunks(f, start, size, animated, max_frames)
    orientation = orientation_in_exif(exif) if exif else 1
    alpha = alpha if alpha is not None else bool(flags & _ALPHA)
    return w, h, orientation, max(frames, 1) if animated else 1, "RGBA" if alpha else "RGB"


def _walk_chunks(f: IO[bytes], pos: int, size: int, animated: bool, max_frames: int) -> tuple[int, bool | None, bytes | None]:
    """(ANMF frames, alpha if a chunk says so, the EXIF block) from the chunks after VP8X."""
    frames, alpha, exif = 0, None, None
    for _ in range(max_frames + _OTHER_CHUNKS):
        if pos + 8 > size:
            return frames, alpha, exif
        f.seek(pos)
        header = f.read(8 if animated else 13)
        if len(header) < 8:
            return frames, alpha, exif
        kind, length = header[:4], int.from_bytes(header[4:8], "little")
        if kind == b"ANMF":
            frames += 1
            if frames > max_frames:
                break
        elif kind == b"EXIF" and exif is None and length <= _MAX_EXIF:
            f.seek(pos + 8)
            exif = f.read(length)
        elif not animated and kind == b"ALPH":
            alpha = True
        elif not animated and kind == b"VP8L" and len(header) >= 13 and header[8] == 0x2F:
            alpha = bool(int.from_bytes(header[9:13], "little") >> 28 & 1)  # libwebp lets VP8L decide
        pos += 8 + _even(length)
    raise too_many_frames("webp", max_frames)


def webp_is_lossy(f: IO[bytes]) -> bool:
    """Whether a WebP's first picture is lossy VP8 (decoded to YUV) rather than lossless VP8L (RGB)."""
    pos = 12
    for _ in range(_OTHER_CHUNKS):
        f.seek(pos)
        header = f.read(8)
        if len(header) < 8:
            return False
        kind = header[:4]
        if kind in (b"VP8 ", b"VP8L"):
            return kind == b"VP8 "
        # An animation frame's picture chunks follow its 16 bytes of placement and timing.
        pos += 8 + (16 if kind == b"ANMF" else _even(int.from_bytes(header[4:8], "little")))
    return False


def _damaged(why: str) -> ProbeError:
    return ProbeError(f"the file starts like a WEBP image but cannot be read: {why}")


def _even(n: int) -> int:
    return n + (n & 1)
