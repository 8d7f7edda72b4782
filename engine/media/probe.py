"""Opening a media file once and describing it as a `MediaInfo`.

The reader is chosen from the file's first bytes (`sniff`): Pillow for images (`images`,
header only, pixels are never decoded), libsndfile for the audio formats it reads
(`sndfile`, a header read), FFmpeg through PyAV for everything else (`ffmpeg`, with the
demuxer pinned to the sniffed format and the probe kept small).
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import IO

from ..errors import ProbeError
from . import integrity
from .ffmpeg import probe_pyav
from .images import probe_image
from .info import MediaInfo
from .limits import ProbeLimits, check_limits
from .sndfile import probe_soundfile
from .sniff import HEAD_BYTES, sniff

__all__ = ["ProbeLimits", "probe", "probe_file"]


def probe(source: str | os.PathLike[str] | IO[bytes], limits: ProbeLimits | None = None) -> MediaInfo:
    """Describe the media in `source`, a path or a seekable binary file object.

    A path is opened here as a plain file, so FFmpeg never sees a file name or URL it could
    interpret (a path ending in .m3u8 is still just bytes). Raises `ProbeError` for files that
    are not readable media and `MediaLimitError` for files past a safety limit.
    """
    limits = limits or ProbeLimits()
    if isinstance(source, (str, os.PathLike)):
        try:
            with open(source, "rb") as f:
                return probe_file(f, limits)
        except OSError as exc:
            raise ProbeError(f"cannot open {str(Path(source))!r}: {exc.strerror}") from None
    return probe_file(source, limits)


def probe_file(f: IO[bytes], limits: ProbeLimits) -> MediaInfo:
    """Describe the media in the seekable binary file `f` (see `probe`)."""
    size = f.seek(0, io.SEEK_END)
    f.seek(0)
    head = f.read(HEAD_BYTES)
    f.seek(0)
    fmt = sniff(head)
    if fmt.reader == "pillow":
        info = probe_image(f, fmt, size, limits)
    elif fmt.reader == "soundfile":
        try:
            info = probe_soundfile(f, fmt, size)
        except ProbeError:
            f.seek(0)
            info = probe_pyav(f, fmt, size, limits)  # e.g. a WAV codec libsndfile lacks
    else:
        info = probe_pyav(f, fmt, size, limits)
    check_limits(info, limits)
    integrity.check_complete(f, fmt, size)
    return info
