"""Opening a media file once and describing it as a `MediaInfo`.

The reader is chosen from the file's first bytes (`sniff`): Pillow for images (header only,
pixels are never decoded), soundfile for the audio formats libsndfile reads (a header read),
PyAV for everything else, with the demuxer pinned to the sniffed format and the probe kept
small so FFmpeg reads headers instead of decoding frames.
"""

from __future__ import annotations

import io
import logging
import os
import stat
import struct
import warnings
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO

from . import integrity
from . import rotation as mp4
from .pixel_format import pixel_format
from ..errors import MediaLimitError, ProbeError
from .info import AudioStream, ImageInfo, MediaInfo, VideoStream
from .sniff import HEAD_BYTES, Format, sniff

log = logging.getLogger(__name__)

# Pillow's own hard limit (twice MAX_IMAGE_PIXELS); above it an image is a decompression bomb.
DEFAULT_MAX_IMAGE_PIXELS = 178_956_970


@dataclass(frozen=True)
class ProbeLimits:
    """Safety limits checked from headers, before anything is decoded."""

    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    max_video_pixels: int = 8192 * 8192
    max_duration_sec: float = 6 * 3600.0


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
    size = f.seek(0, io.SEEK_END)
    f.seek(0)
    head = f.read(HEAD_BYTES)
    f.seek(0)
    fmt = sniff(head)
    if fmt.reader == "pillow":
        info = _probe_image(f, fmt, size, limits)
    elif fmt.reader == "soundfile":
        try:
            info = _probe_soundfile(f, fmt, size)
        except ProbeError:
            f.seek(0)
            info = _probe_pyav(f, fmt, size, limits)  # e.g. a WAV codec libsndfile lacks
    else:
        info = _probe_pyav(f, fmt, size, limits)
    _check_limits(info, limits)
    integrity.check_complete(f, fmt, size)
    return info


def _check_limits(info: MediaInfo, limits: ProbeLimits) -> None:
    if info.video and info.video.width * info.video.height > limits.max_video_pixels:
        raise MediaLimitError(
            f"the video claims {info.video.width}x{info.video.height} pixels per frame, above the "
            f"{limits.max_video_pixels:,}-pixel limit (PIQUE_MAX_VIDEO_PIXELS)"
        )
    if info.duration_sec is not None and info.duration_sec > limits.max_duration_sec:
        raise MediaLimitError(
            f"the file claims a duration of {info.duration_sec:,.0f} s, above the "
            f"{limits.max_duration_sec:,.0f} s limit (PIQUE_MAX_DURATION_SEC)"
        )


# -- images ---------------------------------------------------------------------------------

_SWAPPING_ORIENTATIONS = {5, 6, 7, 8}


def _probe_image(f: IO[bytes], fmt: Format, size: int, limits: ProbeLimits) -> MediaInfo:
    if fmt.container == "webp":
        # Pillow hands the whole file to libwebp to learn the size; the RIFF chunks say it.
        return _image_info(fmt, size, limits, *_webp_header(f, size))
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(f, formats=[fmt.pillow_format])
    except Image.DecompressionBombError as exc:
        raise MediaLimitError(f"the {fmt.container} image is too large to evaluate safely: {exc}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ProbeError(f"the file starts like a {fmt.container.upper()} image but cannot be read: {exc}") from None
    with img:
        w, h = img.size
        _check_image_size(fmt, w, h, limits)
        orientation = _exif_orientation(img)
        try:
            # Pillow counts GIF frames with a Python read per 255-byte sub-block.
            frames = _gif_frames(f) if fmt.container == "gif" else int(getattr(img, "n_frames", 1))
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise ProbeError(f"the {fmt.container} image is damaged: {exc}") from None
        mode = img.mode
    return _image_info(fmt, size, limits, w, h, orientation, frames, mode)


def _check_image_size(fmt: Format, w: int, h: int, limits: ProbeLimits) -> None:
    if w <= 0 or h <= 0:
        raise ProbeError(f"the {fmt.container} image declares an empty size {w}x{h}")
    if w * h > limits.max_image_pixels:
        raise MediaLimitError(
            f"the {fmt.container} image claims {w}x{h} = {w * h:,} pixels, above the "
            f"{limits.max_image_pixels:,}-pixel limit (PIQUE_MAX_IMAGE_PIXELS)"
        )


def _image_info(fmt: Format, size: int, limits: ProbeLimits, w: int, h: int, orientation: int, frames: int, mode: str) -> MediaInfo:
    _check_image_size(fmt, w, h, limits)
    dw, dh = (h, w) if orientation in _SWAPPING_ORIENTATIONS else (w, h)
    image = ImageInfo(
        format=fmt.container,
        width=dw,
        height=dh,
        stored_width=w,
        stored_height=h,
        orientation=orientation,
        frames=frames,
        mode=mode,
    )
    return MediaInfo(kind="image", container=fmt.container, size_bytes=size, duration_sec=None, bit_rate=None, image=image)


def _exif_orientation(img) -> int:
    # Only EXIF the header already holds: getexif() on a PNG decodes the whole image to look
    # for an eXIf chunk after the pixels.
    raw = img.info.get("exif")
    if raw:
        return _orientation_in_exif(raw)
    if hasattr(img, "tag_v2"):  # TIFF keeps it among its own tags
        try:
            value = img.tag_v2.get(0x0112, 1)
        except Exception:  # a damaged tag must not fail an otherwise readable image
            return 1
        return value if isinstance(value, int) and 1 <= value <= 8 else 1
    return 1


def _orientation_in_exif(raw: bytes) -> int:
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns about each damaged tag; we fall back to 1
            exif = Image.Exif()
            exif.load(raw)
            value = exif.get(0x0112, 1)
    except Exception:  # a damaged EXIF block must not fail an otherwise readable image
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


# WebP: RIFF chunks, each with its size, so the walk seeks from header to header. The mode is
# Pillow's: RGBA when libwebp reports alpha (VP8X flag, VP8L header bit, or an ALPH chunk).
_WEBP_ALPHA, _WEBP_EXIF, _WEBP_ANIMATION = 0x10, 0x08, 0x02
_MAX_CHUNKS = 1 << 16


def _webp_header(f: IO[bytes], size: int) -> tuple[int, int, int, int, str]:
    """(width, height, EXIF orientation, frames, mode) from a WebP's chunk headers."""

    def damaged(why: str) -> ProbeError:
        return ProbeError(f"the file starts like a WEBP image but cannot be read: {why}")

    f.seek(12)
    first = f.read(30)
    kind, payload = first[:4], first[8:]
    if kind == b"VP8 ":
        if len(payload) < 10 or payload[3:6] != b"\x9d\x01\x2a":
            raise damaged("no VP8 key frame header")
        w, h = struct.unpack("<HH", payload[6:10])
        return w & 0x3FFF, h & 0x3FFF, 1, 1, "RGB"
    if kind == b"VP8L":
        if len(payload) < 5 or payload[0] != 0x2F:
            raise damaged("no VP8L signature")
        bits = int.from_bytes(payload[1:5], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, 1, 1, "RGBA" if bits >> 28 & 1 else "RGB"
    if kind != b"VP8X" or len(payload) < 10:
        raise damaged(f"unexpected first chunk {kind!r}")
    flags = payload[0]
    w = int.from_bytes(payload[4:7], "little") + 1
    h = int.from_bytes(payload[7:10], "little") + 1
    alpha = bool(flags & _WEBP_ALPHA)
    animated = bool(flags & _WEBP_ANIMATION)
    frames = 0
    exif = None
    pos = 12 + 8 + _even(int.from_bytes(first[4:8], "little"))
    for _ in range(_MAX_CHUNKS):
        if pos + 8 > size:
            break
        f.seek(pos)
        header = f.read(8 if animated else 13)
        if len(header) < 8:
            break
        kind, length = header[:4], int.from_bytes(header[4:8], "little")
        if kind == b"ANMF":
            frames += 1
        elif kind == b"EXIF" and exif is None and length <= 1 << 20:
            f.seek(pos + 8)
            exif = f.read(length)
        elif not animated and kind == b"ALPH":
            alpha = True
        elif not animated and kind == b"VP8L" and len(header) >= 13 and header[8] == 0x2F:
            alpha = bool(int.from_bytes(header[9:13], "little") >> 28 & 1)  # libwebp lets VP8L decide
        pos += 8 + _even(length)
    orientation = _orientation_in_exif(exif) if exif else 1
    return w, h, orientation, max(frames, 1) if animated else 1, "RGBA" if alpha else "RGB"


def _even(n: int) -> int:
    return n + (n & 1)


def _gif_frames(f: IO[bytes]) -> int:
    """Count a GIF's images by walking its blocks in large reads, without decoding them."""
    f.seek(0)
    data, base = b"", 0  # data holds the file from offset `base`

    def at(pos: int, n: int = 1) -> bytes:
        nonlocal data, base
        if pos + n > base + len(data):
            f.seek(pos)
            data, base = f.read(max(n, 1 << 18)), pos
        return data[pos - base : pos - base + n]

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
            packed = at(pos + 9)
            pos += 10 + (3 << ((packed[0] & 7) + 1) if packed and packed[0] & 0x80 else 0)
            pos = skip_sub_blocks(pos + 1)
        else:  # trailer, end of file, or bytes Pillow would stop at too
            break
    return max(frames, 1)


# -- audio through libsndfile ---------------------------------------------------------------

_SF_CODECS = {"MPEG_LAYER_III": "mp3", "VORBIS": "vorbis", "OPUS": "opus"}


def _probe_soundfile(f: IO[bytes], fmt: Format, size: int) -> MediaInfo:
    import soundfile

    fd = _descriptor(f)
    saved = os.lseek(fd, 0, os.SEEK_CUR) if fd is not None else 0
    try:
        if fd is not None:
            # A real file: libsndfile reads the descriptor itself, without a Python call per read
            # (80 -> 47 us for a WAV header). The descriptor's offset is put back afterwards, so
            # the buffered file object `f` stays consistent for a fallback reader.
            os.lseek(fd, 0, os.SEEK_SET)
        with soundfile.SoundFile(f if fd is None else fd, closefd=False) as sf:
            rate, channels, frames, subtype = sf.samplerate, sf.channels, sf.frames, sf.subtype
    except (RuntimeError, soundfile.LibsndfileError, TypeError, ValueError) as exc:
        raise ProbeError(f"libsndfile cannot read this {fmt.container}: {exc}") from None
    finally:
        if fd is not None:
            os.lseek(fd, saved, os.SEEK_SET)
    if rate <= 0 or channels <= 0:
        raise ProbeError(f"the {fmt.container} header declares {rate} Hz and {channels} channels")
    duration = frames / rate if frames > 0 else None
    codec = _SF_CODECS.get(subtype, fmt.container if fmt.container == "flac" else subtype.lower())
    bit_rate = int(size * 8 / duration) if duration else None
    audio = AudioStream(codec=codec, sample_rate=rate, channels=channels, duration_sec=duration, bit_rate=bit_rate)
    return MediaInfo(kind="audio", container=fmt.container, size_bytes=size, duration_sec=duration, bit_rate=bit_rate, audio=audio)


def _descriptor(f: IO[bytes]) -> int | None:
    """The OS descriptor of a regular file opened for reading, or None (GCS readers, pipes, memory)."""
    try:
        fd = f.fileno()
        return fd if stat.S_ISREG(os.fstat(fd).st_mode) else None
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None


# -- everything else through FFmpeg ---------------------------------------------------------

# Header-carrying containers describe their streams without FFmpeg decoding a frame, so the
# probe can be as small as FFmpeg allows; raw streams (ADTS, MPEG-TS, MP3) need packets.
_SMALL_PROBE = {"mov", "matroska", "wav", "flac", "ogg"}

# In MP4/MOV and Matroska the header alone describes every stream, yet FFmpeg's
# find_stream_info still reads the first packet and decodes it whenever a stream lacks a pixel
# format, or has no frame-rate or timestamp samples yet: the first keyframe of a 40 Mb/s video
# is ~1 MB of reads and a frame decode. Zero frame-rate and timestamp samples, and a pixel
# format handed to the probing decoder, leave it nothing to read. The pixel format FFmpeg then
# reports is the one we gave it, so the probe reads the real one from the stream's decoder
# configuration record instead (`codecconfig`; None for codecs without one, such as VP9).
_HEADER_ONLY = {"mov", "matroska"}
_NO_PACKETS = {"fpsprobesize": "0", "max_ts_probe": "0"}
_NO_DECODE = {"pixel_format": "yuv420p"}


def _probe_pyav(f: IO[bytes], fmt: Format, size: int, limits: ProbeLimits) -> MediaInfo:
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
        video = _video(video_stream, f, fmt, duration, header_only) if video_stream is not None else None
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


def _video(stream, f: IO[bytes], fmt: Format, container_duration: float | None, header_only: bool) -> VideoStream:
    ctx = stream.codec_context
    w, h = int(ctx.width or 0), int(ctx.height or 0)
    if w <= 0 or h <= 0:
        raise ProbeError(f"the {fmt.container} video stream declares no picture size")
    rotation = 0
    if fmt.demuxer == "mov":
        pos = f.tell()
        rotation = mp4.video_rotation(f)
        f.seek(pos)
    dw, dh = (h, w) if rotation in (90, 270) else (w, h)
    fps = _fps(stream.average_rate)
    frames = int(stream.frames) if stream.frames else None
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
