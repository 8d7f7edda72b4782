"""Describing images through Pillow, from their headers: pixels are never decoded.

Pillow names the size and mode from the first bytes it reads; frame counts and WebP sizes
come from this package's own walks (`image_frames`, `webp`), because Pillow's take time
quadratic in the frame count (TIFF) or read the whole file (GIF, WebP).
"""

from __future__ import annotations

import warnings
from typing import IO

from ..errors import MediaLimitError, ProbeError
from .exif import exif_orientation
from .image_frames import apng_frames, gif_frames, tiff_frames
from .info import ImageInfo, MediaInfo
from .limits import ProbeLimits
from .sniff import Format
from .webp import webp_header

_SWAPPING_ORIENTATIONS = {5, 6, 7, 8}


def probe_image(f: IO[bytes], fmt: Format, size: int, limits: ProbeLimits) -> MediaInfo:
    """Describe an image (EXIF orientation applied to the size) or raise `ProbeError`/`MediaLimitError`."""
    if fmt.container == "webp":
        # Pillow hands the whole file to libwebp to learn the size; the RIFF chunks say it.
        return _image_info(fmt, size, limits, *webp_header(f, size, limits.max_image_frames))
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
        orientation = exif_orientation(img)
        try:
            frames = _frames(img, f, fmt, size, limits)
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise ProbeError(f"the {fmt.container} image is damaged: {exc}") from None
        mode = img.mode
    return _image_info(fmt, size, limits, w, h, orientation, frames, mode)


def _frames(img, f: IO[bytes], fmt: Format, size: int, limits: ProbeLimits) -> int:
    if fmt.container == "gif":  # Pillow counts GIF frames with a Python read per 255-byte sub-block
        return gif_frames(f, limits.max_image_frames)
    if fmt.container == "tiff":  # Pillow's IFD walk is quadratic in the number of IFDs
        return tiff_frames(f, size, limits.max_image_frames)
    if fmt.container == "png":  # an APNG's frame count is a claim in its acTL chunk
        return apng_frames(getattr(img, "n_frames", 1), size, limits.max_image_frames)
    # JPEG (MPO) and BMP: Pillow reads the count from a bounded header table.
    return int(getattr(img, "n_frames", 1))


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
