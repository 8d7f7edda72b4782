"""Counting the frames of multi-frame images in work bounded by the file's size.

Pillow's own counts are either quadratic (TIFF checks each next IFD offset against a list of
all the previous ones: 20,000 IFDs take seconds, 200,000 minutes) or read in Python calls per
255-byte block (GIF). These walks read only the headers that chain the frames, through a
window that counts what it fetches, and stop at `max_frames` with `MediaLimitError`.
"""

from __future__ import annotations

import struct
from typing import IO

from ..errors import ProbeError
from .limits import too_many_frames

# An APNG frame needs at least its fcTL chunk (26 bytes of data, 12 of chunk framing).
_APNG_FRAME_BYTES = 38


class Window:
    """Reads of a file through a window of `chunk` bytes, refusing to fetch more than `budget`.

    A frame walk that jumps back and forth could make each small read fetch a whole window;
    the budget turns that into an error instead of work out of proportion to the file.
    """

    def __init__(self, f: IO[bytes], chunk: int, budget: int) -> None:
        self.f, self.chunk, self.budget = f, chunk, budget
        self.data, self.base = b"", 0  # data holds the file from offset `base`
        self.fetched = 0

    def at(self, pos: int, n: int = 1) -> bytes:
        """`n` bytes from `pos` (fewer at the end of the file)."""
        if not (self.base <= pos and pos + n <= self.base + len(self.data)):
            self.f.seek(pos)
            self.data, self.base = self.f.read(max(n, self.chunk)), pos
            self.fetched += len(self.data)
            if self.fetched > self.budget:
                raise ProbeError(
                    f"the image's frame headers are scattered through the file: counting them read "
                    f"more than {self.budget:,} bytes; re-save it"
                )
        return self.data[pos - self.base : pos - self.base + n]


def tiff_frames(f: IO[bytes], size: int, max_frames: int) -> int:
    """Count a classic TIFF's images (IFDs) by following the chain of next-IFD offsets.

    A repeated offset ends the chain, as Pillow ends it; an offset past the end of the file
    is damage. Each IFD costs two small reads: its entry count and its next offset.
    """
    window = Window(f, chunk=8192, budget=4 * size + (1 << 16))
    head = window.at(0, 8)
    order = "<" if head[:2] == b"II" else ">"
    (offset,) = struct.unpack(order + "I", head[4:8])
    seen: set[int] = set()
    while offset and offset not in seen:
        seen.add(offset)
        if len(seen) > max_frames:
            raise too_many_frames("tiff", max_frames)
        count = window.at(offset, 2)
        if len(count) < 2:
            raise _past_end(len(seen), offset, size)
        (entries,) = struct.unpack(order + "H", count)
        link = window.at(offset + 2 + 12 * entries, 4)
        if len(link) < 4:
            raise _past_end(len(seen), offset, size)
        (offset,) = struct.unpack(order + "I", link)
    return max(len(seen), 1)


def _past_end(n: int, offset: int, size: int) -> ProbeError:
    return ProbeError(
        f"the tiff image is damaged: its image directory {n:,} at byte {offset:,} runs past the end "
        f"of the file ({size:,} bytes)"
    )


def apng_frames(claimed: int, size: int, max_frames: int) -> int:
    """An APNG's frame count as its acTL chunk claims it, once the file could hold that many."""
    if claimed > max_frames:
        raise too_many_frames("png", max_frames)
    if claimed * _APNG_FRAME_BYTES > size:
        raise ProbeError(
            f"the png image's animation chunk claims {claimed:,} frames, more than its {size:,} bytes can hold; "
            f"the file is damaged"
        )
    return max(int(claimed), 1)


def gif_frames(f: IO[bytes], max_frames: int) -> int:
    """Count a GIF's images by walking its blocks in large reads, without decoding them."""
    f.seek(0)
    # The walk only moves forward, so every byte is fetched once.
    window = Window(f, chunk=1 << 18, budget=1 << 62)
    at = window.at

    def skip_sub_blocks(pos: int) -> int:
        while True:
            n = at(pos)
            if not n:
                return -1
            if n[0] == 0:
                return pos + 1
            pos += n[0] + 1

    head = at(0, 13)
    if len(head) < 13:
        return 1
    pos = 13 + (3 << ((head[10] & 7) + 1) if head[10] & 0x80 else 0)
    frames = 0
    while pos >= 0:
        block = at(pos)
        if block == b"\x21":  # extension: label, then sub-blocks
            pos = skip_sub_blocks(pos + 2)
        elif block == b"\x2c":  # image: descriptor, local colour table, LZW code size, data
            frames += 1
            if frames > max_frames:
                raise too_many_frames("gif", max_frames)
            packed = at(pos + 9)
            pos += 10 + (3 << ((packed[0] & 7) + 1) if packed and packed[0] & 0x80 else 0)
            pos = skip_sub_blocks(pos + 1)
        else:  # trailer, end of file, or bytes Pillow would stop at too
            break
    return max(frames, 1)
