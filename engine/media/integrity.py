"""Whether a file is whole: cheap structural checks for bytes missing at its end.

A truncated upload often keeps its header, and a header-only probe would describe it as the
whole file (a faststart MP4 cut in half still says 38 s). Each check here reads a few bytes
where the format records its own length or its end, so the probe stays header-only.
"""

from __future__ import annotations

import io
import struct
from typing import IO

from ..errors import ProbeError
from .rotation import overrunning_box
from .sniff import Format

_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_EBML, _SEGMENT = 0x1A45DFA3, 0x18538067
_JPEG_TAIL = 512  # room for the padding some writers leave after EOI


def check_complete(f: IO[bytes], fmt: Format, size: int) -> None:
    """Raise `ProbeError` when the file's own structure says bytes are missing at its end."""
    check = _CHECKS.get(fmt.container) or _CHECKS.get(fmt.demuxer or "")
    if check is None:
        return
    pos = f.tell()
    try:
        problem = check(f, size)
    finally:
        f.seek(pos)
    if problem:
        raise ProbeError(f"the {fmt.container} file is truncated: {problem}; upload the complete file")


def _mov(f: IO[bytes], size: int) -> str | None:
    over = overrunning_box(f, size)
    if over is None:
        return None
    kind, end = over
    return f"its '{kind}' box ends at byte {end:,} but the file has {size:,}"


def _tail(f: IO[bytes], size: int, n: int) -> bytes:
    f.seek(max(0, size - n))
    return f.read(n)


def _png(f: IO[bytes], size: int) -> str | None:
    return None if _tail(f, size, len(_PNG_END)) == _PNG_END else "it does not end with the IEND chunk"


def _jpeg(f: IO[bytes], size: int) -> str | None:
    # Entropy-coded data cannot contain FF D9, so a file cut mid-scan has no EOI in its tail.
    return None if b"\xff\xd9" in _tail(f, size, _JPEG_TAIL) else "it has no end-of-image marker"


def _webp(f: IO[bytes], size: int) -> str | None:
    f.seek(4)
    (riff,) = struct.unpack("<I", f.read(4))
    end = 8 + riff
    return None if end <= size else f"its RIFF header says {end:,} bytes but the file has {size:,}"


def _matroska(f: IO[bytes], size: int) -> str | None:
    f.seek(0)
    head = io.BytesIO(f.read(4096))
    ident, length = _element(head)
    if ident != _EBML or length is None:
        return None
    head.seek(length, io.SEEK_CUR)
    ident, length = _element(head)
    if ident != _SEGMENT or length is None:  # unknown size: a live recording, cannot tell
        return None
    end = head.tell() + length
    return None if end <= size else f"its Segment says {end:,} bytes but the file has {size:,}"


def _element(b: io.BytesIO) -> tuple[int | None, int | None]:
    """An EBML element's ID (marker kept) and data size (None when unknown or unreadable)."""
    ident = _vint(b, keep_marker=True)
    length = _vint(b, keep_marker=False, unknown_is_none=True)
    return ident, length


def _vint(b: io.BytesIO, *, keep_marker: bool, unknown_is_none: bool = False) -> int | None:
    first = b.read(1)
    if not first or first[0] == 0:
        return None
    width = 8 - first[0].bit_length() + 1
    rest = b.read(width - 1)
    if len(rest) != width - 1:
        return None
    value = first[0] if keep_marker else first[0] & (0xFF >> width)
    for byte in rest:
        value = (value << 8) | byte
    if unknown_is_none and value == (1 << (7 * width)) - 1:
        return None
    return value


def _sndfile_tail(f: IO[bytes], size: int) -> str | None:
    """FLAC and MP3 (with a Xing header) know their length: decode the last frames only."""
    import soundfile

    f.seek(0)
    try:
        with soundfile.SoundFile(f) as sf:
            if sf.frames <= 0:
                return None
            sf.seek(max(0, sf.frames - 2048))
            got = len(sf.read(2048, dtype="float32"))
            wanted = min(2048, sf.frames)
    except (RuntimeError, ValueError, soundfile.LibsndfileError):
        # ValueError: a lying Xing header can land the seek past the end, and the read then
        # asks numpy for a negative length.
        got, wanted = 0, 1
    return None if got == wanted else "its last audio frames are missing"


_CHECKS = {
    "mov": _mov,
    "png": _png,
    "jpeg": _jpeg,
    "webp": _webp,
    "matroska": _matroska,
    "flac": _sndfile_tail,
    "mp3": _sndfile_tail,
}
