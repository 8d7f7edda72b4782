"""Whether a video's timing tables agree with its duration and its size."""

from __future__ import annotations


def check_timing(container: str, fps: float | None, frames: int | None, duration: float | None, size: int) -> None:
    return None
