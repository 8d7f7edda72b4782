"""Recognising a file's format from its first bytes, never from its name.

Names and declared types are the uploader's to choose; the bytes decide which reader opens
a file, and which FFmpeg demuxer is allowed to (so a playlist or concat script dressed up
as an MP4 is never handed to a demuxer that follows references).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..errors import ProbeError

Reader = Literal["pillow", "soundfile", "pyav"]

HEAD_BYTES = 64


@dataclass(frozen=True)
class Format:
    """A recognised container: what to call it, who reads it, and which demuxer may."""

    container: str
    reader: Reader
    demuxer: str | None = None  # FFmpeg input format, for pyav (and as soundfile's fallback)
    pillow_format: str | None = None


_MP4_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot"}
_MP4_AUDIO_BRANDS = {b"M4A ", b"M4B ", b"F4A ", b"M4P "}


def sniff(head: bytes) -> Format:
    """Name the format of a file from its first `HEAD_BYTES` bytes, or raise `ProbeError`."""
    if not head:
        raise ProbeError("the file is empty (0 bytes)")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Format("png", "pillow", pillow_format="PNG")
    if head.startswith(b"\xff\xd8\xff"):
        return Format("jpeg", "pillow", pillow_format="JPEG")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return Format("gif", "pillow", pillow_format="GIF")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Format("webp", "pillow", pillow_format="WEBP")
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return Format("tiff", "pillow", pillow_format="TIFF")
    if head[:2] == b"BM" and len(head) >= 18 and head[14] in (12, 40, 52, 56, 64, 108, 124):
        return Format("bmp", "pillow", pillow_format="BMP")
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return Format("wav", "soundfile", demuxer="wav")
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return Format("avi", "pyav", demuxer="avi")
    if head[:4] == b"fLaC":
        return Format("flac", "soundfile", demuxer="flac")
    if head[:4] == b"OggS":
        # Vorbis, Opus and FLAC in Ogg are libsndfile's; Theora video goes to FFmpeg.
        if b"\x80theora" in head:
            return Format("ogg", "pyav", demuxer="ogg")
        return Format("ogg", "soundfile", demuxer="ogg")
    if head[4:8] in _MP4_BOXES:
        container = "m4a" if head[4:8] == b"ftyp" and head[8:12] in _MP4_AUDIO_BRANDS else "mp4"
        if head[8:12] == b"qt  ":
            container = "mov"
        return Format(container, "pyav", demuxer="mov")
    if head[:4] == b"\x1a\x45\xdf\xa3":
        container = "webm" if b"webm" in head else "mkv"
        return Format(container, "pyav", demuxer="matroska")
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE6 == 0xE2):
        return Format("mp3", "soundfile", demuxer="mp3")
    if len(head) > 1 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:
        return Format("aac", "pyav", demuxer="aac")
    if head[0] == 0x47:  # MPEG-TS sync byte; the demuxer confirms it or fails
        return Format("ts", "pyav", demuxer="mpegts")
    raise ProbeError(_describe_unknown(head))


def _describe_unknown(head: bytes) -> str:
    """The error message for a head no reader recognises."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"#EXTM3U"):
        return "not a supported media file: it is an HLS/M3U playlist, which only points at other files; upload the media itself"
    if text.startswith(b"ffconcat"):
        return "not a supported media file: it is an FFmpeg concat script, not media; upload the media itself"
    if _is_text(text):
        return "not a supported media file: it looks like text, not video, image or audio"
    return (
        f"not recognised media: the first bytes ({head[:12].hex(' ')}) match no video, image or audio format "
        f"pique-engine reads; upload a video, image or audio file"
    )


def _is_text(data: bytes) -> bool:
    """Whether `data` reads as UTF-8 text: printable characters and line breaks, nothing else.

    Judged on every byte sniffed, not on the first one: random bytes start with `{` or `<`
    one time in 128, and are still not text.
    """
    if not data:
        return False
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(data) - 3:  # only a character cut at the end of the sniffed head is forgiven
            return False
        decoded = data[: exc.start].decode("utf-8")
    return all(c.isprintable() or c in "\t\r\n" for c in decoded)
