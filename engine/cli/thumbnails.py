"""Small JPEG thumbnails of a file's frames at given moments, for the HTML report.

The file is probed first (the same header checks and safety limits as an evaluation), then
opened the way the probe opens it: the reader chosen from its bytes, FFmpeg's demuxer pinned
to the sniffed format. The work is bounded: at most `MAX_THUMBNAILS` pictures, each at most
`SIZE` pixels on its long side, and at most `MAX_FRAMES_PER_SEEK` frames decoded to reach a
moment from the keyframe before it. Run it in the sandbox (`run_isolated`) for files you do
not trust, as `pique-engine evaluate --report` does.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import IO

from ..errors import ProbeError
from ..media.info import MediaInfo
from ..media.probe import ProbeLimits, probe_file
from ..media.sniff import HEAD_BYTES, Format, sniff

MAX_THUMBNAILS = 12
SIZE = 192
MAX_FRAMES_PER_SEEK = 600
_JPEG_QUALITY = 70


@dataclass(frozen=True)
class Thumbnail:
    """One JPEG picture; `t` is the moment in seconds it shows (None for a still image)."""

    t: float | None
    width: int
    height: int
    jpeg: bytes


def thumbnails(path: str, times: list[float], *, limits: ProbeLimits, progress=None) -> list[Thumbnail]:
    """Thumbnails of `path` at `times` (seconds; at most `MAX_THUMBNAILS` are taken).

    A video without times gets its middle frame, an image itself, audio nothing. Raises
    `ProbeError` or `MediaLimitError` for a file an evaluation would also refuse.
    """
    if progress is not None:
        progress("the report's thumbnails")
    with open(path, "rb") as f:
        info = probe_file(f, limits)
        f.seek(0)
        fmt = sniff(f.read(HEAD_BYTES))
        f.seek(0)
        if info.image is not None:
            return [_image(f, fmt)]
        if info.video is not None:
            return _video(f, fmt, info, sorted(times)[:MAX_THUMBNAILS] or [(info.duration_sec or 0.0) / 2])
    return []


def _image(f: IO[bytes], fmt: Format) -> Thumbnail:
    from PIL import Image, ImageOps

    with warnings.catch_warnings():
        # The probe has already held the picture to PIQUE_MAX_IMAGE_PIXELS.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(f, formats=[fmt.pillow_format]) as img:
            img.draft("RGB", (SIZE * 2, SIZE * 2))  # JPEG decodes at 1/2..1/8 scale: far less work
            try:
                picture = ImageOps.exif_transpose(img)
                picture.thumbnail((SIZE, SIZE))
            except (OSError, SyntaxError, ValueError, EOFError) as exc:
                raise ProbeError(f"the {fmt.container} image cannot be decoded: {exc}") from None
    return _jpeg(picture, None)


def _video(f: IO[bytes], fmt: Format, info: MediaInfo, times: list[float]) -> list[Thumbnail]:
    import av

    try:
        container = av.open(f, format=fmt.demuxer, container_options={"format_whitelist": fmt.demuxer or ""})
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise ProbeError(f"FFmpeg cannot open this {fmt.container} file for thumbnails: {exc}") from None
    out: list[Thumbnail] = []
    with container:
        stream = next((s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic), None)
        if stream is None or stream.time_base is None:
            return []
        stream.thread_type = "AUTO"
        for t in times:
            frame = _frame_at(container, stream, t)
            if frame is not None:
                out.append(_jpeg(_picture(frame, info), t))
    return out


def _frame_at(container, stream, t: float):
    """The first frame shown at or after `t`, or the last one decoded before giving up."""
    import av

    try:
        container.seek(int(t / stream.time_base), stream=stream, backward=True)
        last = None
        for n, frame in enumerate(container.decode(stream)):
            last = frame
            if frame.time is None or frame.time >= t - 0.001 or n >= MAX_FRAMES_PER_SEEK:
                break
        return last
    except av.FFmpegError:
        return None  # a damaged stretch: no picture for this moment


def _picture(frame, info: MediaInfo):
    # Scale while converting to RGB, so a large frame is never held at full size as RGB.
    w, h = frame.width, frame.height
    scale = min(1.0, SIZE / max(w, h, 1))
    picture = frame.to_image(width=max(2, round(w * scale)), height=max(2, round(h * scale)))
    # PyAV gives the display matrix's counter-clockwise angle; PIL's rotate is counter-clockwise too.
    angle = getattr(frame, "rotation", 0) or 0
    if not angle and info.video is not None:
        angle = -info.video.rotation  # the probe's rotation is clockwise
    return picture.rotate(angle, expand=True) if angle % 360 else picture


def _jpeg(picture, t: float | None) -> Thumbnail:
    from PIL import Image

    if picture.mode in ("RGBA", "LA", "P"):
        picture = picture.convert("RGBA")
        backdrop = Image.new("RGB", picture.size, (255, 255, 255))
        backdrop.paste(picture, mask=picture.getchannel("A"))
        picture = backdrop
    elif picture.mode != "RGB":
        picture = picture.convert("RGB")
    buf = io.BytesIO()
    picture.save(buf, "JPEG", quality=_JPEG_QUALITY)
    return Thumbnail(t=t, width=picture.width, height=picture.height, jpeg=buf.getvalue())
