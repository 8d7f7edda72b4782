"""Reading the display rotation of an MP4/MOV video track from its `tkhd` box.

Phones store portrait video as landscape plus a display matrix in the track header. PyAV
exposes the matrix only on decoded frames, which costs a frame decode (megabytes of reads on
a high-bitrate file); the matrix itself sits in the `moov` header that the demuxer has just
read, so walking the box headers finds it in a few small reads.
"""

from __future__ import annotations

import math
import struct
from typing import IO

_MAX_BOXES = 4096  # a hostile file may nest or loop boxes; stop walking long before that hurts


def video_rotation(f: IO[bytes]) -> int:
    """Clockwise degrees (0, 90, 180, 270) a player turns the first video track; 0 if unknown."""
    budget = [_MAX_BOXES]
    size = _file_size(f)
    for kind, start, end in _boxes(f, 0, size, budget):
        if kind != b"moov":
            continue
        for tkind, tstart, tend in _boxes(f, start, end, budget):
            if tkind != b"trak":
                continue
            matrix = None
            is_video = False
            for bkind, bstart, bend in _boxes(f, tstart, tend, budget):
                if bkind == b"tkhd":
                    matrix = _tkhd_matrix(f, bstart, bend)
                elif bkind == b"mdia":
                    is_video = _handler(f, bstart, bend, budget) == b"vide"
            if is_video:
                return _rotation(matrix) if matrix else 0
        return 0
    return 0


def overrunning_box(f: IO[bytes], size: int) -> tuple[str, int] | None:
    """The first top-level box that claims to end past the file, as (type, end); else None."""
    pos, seen = 0, 0
    while pos + 8 <= size and seen < _MAX_BOXES:
        seen += 1
        f.seek(pos)
        header = f.read(16)
        if len(header) < 8:
            return None
        box_size, kind = struct.unpack(">I4s", header[:8])
        if box_size == 1 and len(header) == 16:
            box_size = struct.unpack(">Q", header[8:16])[0]
        elif box_size == 0:  # "extends to the end of the file"
            return None
        if box_size < 8:
            return None  # not a box structure we can judge; the demuxer decides
        if pos + box_size > size:
            return kind.decode("latin-1"), pos + box_size
        pos += box_size
    return None


def _file_size(f: IO[bytes]) -> int:
    pos = f.tell()
    end = f.seek(0, 2)
    f.seek(pos)
    return end


def _boxes(f: IO[bytes], start: int, end: int, budget: list[int]):
    """Yield (type, payload_start, payload_end) for the boxes laid end to end in [start, end)."""
    pos = start
    while pos + 8 <= end:
        budget[0] -= 1
        if budget[0] < 0:
            return
        f.seek(pos)
        header = f.read(16)
        if len(header) < 8:
            return
        size, kind = struct.unpack(">I4s", header[:8])
        payload = pos + 8
        if size == 1:
            if len(header) < 16:
                return
            size = struct.unpack(">Q", header[8:16])[0]
            payload = pos + 16
        elif size == 0:
            size = end - pos
        if size < payload - pos:
            return  # a size smaller than its own header: stop rather than guess
        # A box claiming to run past its parent is clamped to it, as FFmpeg reads it.
        yield kind, payload, min(pos + size, end)
        pos += size


def _tkhd_matrix(f: IO[bytes], start: int, end: int) -> tuple[float, float, float, float] | None:
    f.seek(start)
    data = f.read(min(end - start, 96))
    if not data:
        return None
    offset = 4 + (32 if data[0] == 1 else 20) + 16  # version/flags, times+ids, reserved..volume
    if len(data) < offset + 36:
        return None
    a, b, _u, c, d, _v = struct.unpack(">iiiiii", data[offset : offset + 24])
    return a / 65536, b / 65536, c / 65536, d / 65536


def _handler(f: IO[bytes], start: int, end: int, budget: list[int]) -> bytes | None:
    for kind, bstart, _bend in _boxes(f, start, end, budget):
        if kind == b"hdlr":
            f.seek(bstart + 8)  # version/flags, pre_defined
            return f.read(4)
    return None


def _rotation(matrix: tuple[float, float, float, float]) -> int:
    a, b, _c, _d = matrix
    if a == 0 and b == 0:
        return 0
    degrees = math.degrees(math.atan2(b, a))
    return int(round(degrees / 90.0)) * 90 % 360
