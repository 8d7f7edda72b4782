"""What the detectors ask the decode pass for, and how they read it back."""

from __future__ import annotations

from collections.abc import Iterator

from pique_engine import Frame, ImagePixels, VideoFrames


def image_request(info, fps: float, *, max_side: int):
    """RGB pictures: the image itself, or a video's frames sampled `fps` times a second."""
    if info.kind == "image":
        return ImagePixels(format="rgb", max_width=max_side, max_height=max_side)
    return VideoFrames(fps=fps, format="rgb", max_width=max_side, max_height=max_side)


def pictures(media, name: str = "frames") -> Iterator[Frame]:
    """The frames of the stream `name`, in time order."""
    for item in media.stream(name):
        if isinstance(item, Frame):
            yield item
