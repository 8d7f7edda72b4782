"""Describing containers through FFmpeg (PyAV): MP4/MOV, Matroska/WebM, M4A, MPEG-TS, AVI, ...

The demuxer is pinned to the sniffed format and the probe kept small, so FFmpeg reads headers
instead of decoding frames; the display rotation of MP4/MOV comes from the `tkhd` box, and
the pixel format from the stream's decoder configuration record.
"""

from __future__ import annotations

from fractions import Fraction
from typing import IO

from ..errors import ProbeError
from .info import AudioStream, MediaInfo, VideoStream
from .limits import ProbeLimits
from .pixel_format import pixel_format
from .rotation import video_rotation
from .sniff import Format
from .timing import check_timing

# Header-carrying containers describe their streams without FFmpeg decoding a frame, so the
# probe can be as small as FFmpeg allows; raw streams (ADTS, MPEG-TS, MP3) need packets.
_SMALL_PROBE = {"mov", "matroska", "wav", "flac", "ogg"}

# In MP4/MOV and Matroska the header alone describes every stream, yet FFmpeg's
# find_stream_info still reads the first packet and decodes it whenever a stream lacks a pixel
# format, or has no frame-rate or timestamp samples yet: the first keyframe of a 40 Mb/s video
# is ~1 MB of reads and a frame decode. Zero frame-rate and timestamp samples, and a pixel
# format handed to the probing decoder, leave it nothing to read. The pixel format FFmpeg then
# reports is the one we gave it, so the probe reads the real one from the stream's decoder
# configuration record instead (`pixel_format`; None for codecs without one, such as VP9).
_HEADER_ONLY = {"mov", "matroska"}
_NO_PACKETS = {"fpsprobesize": "0", "max_ts_probe": "0"}
_NO_DECODE = {"pixel_format": "yuv420p"}


def probe_pyav(f: IO[bytes], fmt: Format, size: int, limits: ProbeLimits) -> MediaInfo:
    """Describe a container FFmpeg reads, or raise `ProbeError`."""
    header_only = fmt.demuxer in _HEADER_ONLY
    try:
        return _probe_pyav_once(f, fmt, size, limits, header_only=header_only)
    except _IncompleteHeader:
        # The header leaves a picture size or sample rate to the codec: let FFmpeg read a packet.
        f.seek(0)
        return _probe_pyav_once(f, fmt, size, limits, header_only=False)


class _IncompleteHeader(Exception):
    """The container header does not say everything; a packet must be read."""


def _probe_pyav_once(f: IO[bytes], fmt: Format, size: int, limits: ProbeLimits, *, header_only: bool) -> MediaInfo:
    import av

    small = fmt.demuxer in _SMALL_PROBE
    options = {
        # Only the sniffed demuxer may open the file: no playlist, concat or image2 demuxer
        # that would follow references named inside an upload.
        "format_whitelist": fmt.demuxer or "",
        "probesize": "32" if small else str(1 << 20),
        "analyzeduration": "0" if small else str(5_000_000),
        **(_NO_PACKETS if header_only else {}),
    }
    try:
        container = av.open(
            f, format=fmt.demuxer, container_options=options, options=_NO_DECODE if header_only else None, buffer_size=16384
        )
    except av.FFmpegError as exc:
        raise ProbeError(f"FFmpeg cannot read this {fmt.container} file (is it complete and undamaged?): {_ffmpeg_reason(exc)}") from None
    except (ValueError, OSError) as exc:
        raise ProbeError(f"FFmpeg cannot read this {fmt.container} file: {exc}") from None
    with container:
        video_stream = next((s for s in container.streams.video if _usable(s) and not _is_cover_art(s)), None)
        audio_stream = next((s for s in container.streams.audio if _usable(s)), None)
        if video_stream is None and audio_stream is None:
            raise ProbeError(f"the {fmt.container} file has no video or audio stream")
        duration = container.duration / 1_000_000 if container.duration and container.duration > 0 else None
        if duration is None:
            duration = _stream_duration(video_stream) or _stream_duration(audio_stream)
        if duration is None and fmt.demuxer == "matroska":
            duration = _demuxed_duration(container, limits)
        bit_rate = container.bit_rate or None
        if header_only and not _described(video_stream, audio_stream):
            raise _IncompleteHeader
        video = _video(video_stream, f, fmt, duration, header_only, size) if video_stream is not None else None
        audio = _audio(audio_stream, duration) if audio_stream is not None else None
    kind = "video" if video else "audio"
    container_name = fmt.container if (video or fmt.container != "mp4") else "m4a"
    return MediaInfo(kind=kind, container=container_name, size_bytes=size, duration_sec=duration, bit_rate=bit_rate, video=video, audio=audio)


def _described(video_stream, audio_stream) -> bool:
    """Whether the header gave what the probe reports without any packet being read."""
    if video_stream is not None and not (video_stream.codec_context.width and video_stream.codec_context.height):
        return False
    return audio_stream is None or bool(audio_stream.codec_context.sample_rate)


def _codec_name(ctx) -> str:
    # The codec, not the decoder implementation FFmpeg happens to pick ("av1", not "libdav1d").
    codec = ctx.codec
    return codec.canonical_name if codec is not None else ctx.name


def _ffmpeg_reason(exc: Exception) -> str:
    reason = getattr(exc, "strerror", None) or str(exc)
    return reason.rstrip(".")


def _usable(stream) -> bool:
    # A track cut short before its sample description has no codec parameters at all.
    return stream.codec_context is not None


def _is_cover_art(stream) -> bool:
    import av

    return bool(stream.disposition & av.stream.Disposition.attached_pic)


def _stream_duration(stream) -> float | None:
    if stream is None or not stream.duration or stream.time_base is None:
        return None
    seconds = float(stream.duration * stream.time_base)
    return seconds if seconds > 0 else None


def _demuxed_duration(container, limits: ProbeLimits) -> float | None:
    """Duration of a file whose header has none (WebM from browsers): the last packet's end."""
    end = None
    for packet in container.demux():
        if packet.pts is None or packet.time_base is None:
            continue
        t = float((packet.pts + (packet.duration or 0)) * packet.time_base)
        if end is None or t > end:
            end = t
            if end > limits.max_duration_sec:
                break
    return end if end and end > 0 else None


def _video(stream, f: IO[bytes], fmt: Format, container_duration: float | None, header_only: bool, size: int) -> VideoStream:
    ctx = stream.codec_context
    w, h = int(ctx.width or 0), int(ctx.height or 0)
    if w <= 0 or h <= 0:
        raise ProbeError(f"the {fmt.container} video stream declares no picture size")
    rotation = 0
    if fmt.demuxer == "mov":
        pos = f.tell()
        rotation = video_rotation(f)
        f.seek(pos)
    dw, dh = (h, w) if rotation in (90, 270) else (w, h)
    fps = _fps(stream.average_rate)
    frames = int(stream.frames) if stream.frames else None
    check_timing(fmt.container, fps, frames, container_duration, size)
    return VideoStream(
        codec=_codec_name(ctx),
        width=dw,
        height=dh,
        stored_width=w,
        stored_height=h,
        rotation=rotation,
        fps=fps,
        frames=frames,
        duration_sec=_stream_duration(stream) or container_duration,
        bit_rate=ctx.bit_rate or None,
        pix_fmt=pixel_format(_codec_name(ctx), ctx.extradata) if header_only else ctx.pix_fmt,
    )


def _fps(rate: Fraction | None) -> float | None:
    """The average frame rate, or None when the header gives none or nonsense (below 0.01 fps)."""
    if not rate or rate < Fraction(1, 100):
        return None
    return round(float(rate), 3)


def _audio(stream, container_duration: float | None) -> AudioStream:
    ctx = stream.codec_context
    rate = int(ctx.sample_rate or 0)
    channels = int(ctx.channels or 0) if hasattr(ctx, "channels") else 0
    if not channels and ctx.layout is not None:
        channels = ctx.layout.nb_channels
    if rate <= 0:
        raise ProbeError("the audio stream declares no sample rate")
    return AudioStream(
        codec=_codec_name(ctx),
        sample_rate=rate,
        channels=channels,
        duration_sec=_stream_duration(stream) or container_duration,
        bit_rate=ctx.bit_rate or None,
    )
