"""FFmpeg filter chains on a still image: its upright picture, once, as FFmpeg decodes it.

What an analysis filter measures depends on the pixel format it is handed: blurdetect,
blackdetect and most others read the first plane. FFmpeg decodes a JPEG to full-range YCbCr
and a lossy WebP (VP8) to limited-range YUV, whose first plane is luma; PNG, GIF, TIFF, BMP and
lossless WebP come out as RGB or grey, which libavfilter turns into planar GBR for such a
filter (the green plane first) or leaves grey. The picture Pillow decoded is handed to the
chain in the same family, so a chain reads what `ffmpeg -i image -vf chain` reads: the same
pixels for RGB and grey images, and for JPEG a luma that differs only where the two decoders'
IDCTs round differently. The EXIF orientation is applied first, as the ffmpeg command line
applies it; an animation is represented by its first frame, as for `ImagePixels`.
"""

from __future__ import annotations

from fractions import Fraction
from typing import IO, Literal

import numpy as np

from .consumers import Subscriber
from .filters import FilterChainError, FilterRunner
from .sniff import Format
from .webp import webp_is_lossy

YuvRange = Literal["full", "limited"]

# Pillow's 16-bit grey would be clipped, not scaled, by convert("L"); FFmpeg scales it.
_GRAY16_MODES = {"I", "I;16", "I;16L", "I;16B", "I;16N"}
_GRAY_MODES = {"1", "L", "LA", "La", "F"} | _GRAY16_MODES
_YUV_FORMATS: dict[YuvRange, str] = {"full": "yuvj444p", "limited": "yuv444p"}


def stored_yuv(f: IO[bytes], fmt: Format) -> YuvRange | None:
    """The YUV range FFmpeg decodes this image's format to, or None when it decodes to RGB or grey."""
    if fmt.container == "jpeg":
        return "full"
    if fmt.container == "webp" and webp_is_lossy(f):
        return "limited"
    return None


def picture_frame(image, yuv: YuvRange | None):
    """The Pillow `image` as the `av.VideoFrame` FFmpeg's decoder would make of it (time 0)."""
    import av

    if image.mode in _GRAY16_MODES:
        gray16 = np.clip(np.asarray(image, dtype=np.int64), 0, 65535).astype("<u2")
        frame = av.VideoFrame.from_ndarray(gray16, format="gray16le")
    elif image.mode in _GRAY_MODES:
        frame = av.VideoFrame.from_ndarray(np.asarray(image.convert("L")), format="gray")
    else:
        frame = av.VideoFrame.from_ndarray(np.asarray(image.convert("RGB")), format="rgb24")
        if yuv is not None:
            frame = frame.reformat(format=_YUV_FORMATS[yuv])  # swscale's BT.601, as JPEG and VP8 store it
    frame.pts, frame.time_base = 0, Fraction(1, 1)
    return frame


def filter_image(image, yuv: YuvRange | None, subs: list[Subscriber]) -> None:
    """Run each subscriber's chain on the upright `image` and send it the events; a bad chain fails its subscriber only."""
    frame = picture_frame(image, yuv)
    for sub in subs:
        try:
            runner = FilterRunner(sub.request.chain, picture=frame)
            events = runner.push(frame) + runner.push(None)
        except FilterChainError as exc:
            sub.fail(exc)
            continue
        for event in events:
            sub.send(event)
