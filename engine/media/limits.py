"""The safety limits a probe checks from headers, before anything is decoded."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import MediaLimitError
from .info import MediaInfo

# Pillow's own hard limit (twice MAX_IMAGE_PIXELS); above it an image is a decompression bomb.
DEFAULT_MAX_IMAGE_PIXELS = 178_956_970

# Frames (pages, IFDs, animation frames) an image may have. Counting walks one small header
# per frame, so this bounds the probe's work on a file built of nothing but frame headers.
DEFAULT_MAX_IMAGE_FRAMES = 100_000


@dataclass(frozen=True)
class ProbeLimits:
    """Safety limits checked from headers, before anything is decoded."""

    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    max_video_pixels: int = 8192 * 8192
    max_duration_sec: float = 6 * 3600.0
    max_image_frames: int = DEFAULT_MAX_IMAGE_FRAMES


def check_limits(info: MediaInfo, limits: ProbeLimits) -> None:
    """Raise `MediaLimitError` when a probed stream claims more than the limits allow."""
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


def too_many_frames(container: str, limit: int) -> MediaLimitError:
    """The error for an image with more frames than `limit`."""
    return MediaLimitError(
        f"the {container} image has more than {limit:,} frames, the most pique-engine counts; "
        f"upload a video or an image with fewer frames"
    )
