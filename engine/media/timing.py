"""Timestamps in seconds, and whether a video's timing tables agree with its duration and size.

MP4/MOV sample tables (`stts`, `stsz`) are the uploader's to write: a file can claim 10^9
frames in 38 s, which FFmpeg reports as a 15,360 fps video. No real video comes near
`MAX_FPS` on average, and no frame takes less than a byte of the file, so a claim past either
bound is refused rather than passed on to detectors as a measurement.
"""

from __future__ import annotations

from ..errors import ProbeError

MAX_FPS = 1000.0


def seconds(pts: int, time_base) -> float:
    """`pts` ticks of `time_base` (a Fraction) in seconds, as `float(pts * time_base)` gives them.

    Integer times and one correctly rounded division give the same float as Fraction arithmetic,
    in 0.12 us against 1.5 us: the decode pass pays it for every packet, frame and filter event.
    """
    return pts * time_base.numerator / time_base.denominator


def check_timing(container: str, fps: float | None, frames: int | None, duration: float | None, size: int) -> None:
    """Raise `ProbeError` when the frame rate or frame count cannot be true of this file."""
    problem = None
    if fps is not None and fps > MAX_FPS:
        problem = f"they give an average of {fps:,.0f} frames per second (no real video exceeds {MAX_FPS:,.0f})"
    elif frames and frames > size:
        problem = f"they claim {frames:,} frames in a file of {size:,} bytes"
    elif frames and duration and frames > MAX_FPS * max(duration, 1.0):
        problem = f"they claim {frames:,} frames in {duration:,.1f} s ({frames / duration:,.0f} per second)"
    if problem:
        raise ProbeError(
            f"the {container} file's timing tables are inconsistent: {problem}; "
            f"the file is damaged or crafted, re-encode it"
        )
