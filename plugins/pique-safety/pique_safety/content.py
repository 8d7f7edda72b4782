"""What the detectors ask the decode pass for, and how they read it back."""

from __future__ import annotations

from collections.abc import Iterator

from pique_engine import Frame, ImagePixels, VideoFrames


def image_request(info, fps: float, *, max_side: int, shot_starts: bool = False):
    """RGB pictures: the image itself, or a video's frames sampled `fps` times a second.

    With `shot_starts`, a video's frames also include the first frame of each shot, when a
    scene-cut filter runs in the same pass.
    """
    if info.kind == "image":
        return ImagePixels(format="rgb", max_width=max_side, max_height=max_side)
    return VideoFrames(fps=fps, shot_starts=shot_starts, format="rgb", max_width=max_side, max_height=max_side)


def pictures(media, name: str = "frames") -> Iterator[Frame]:
    """The frames of the stream `name`, in time order."""
    for item in media.stream(name):
        if isinstance(item, Frame):
            yield item
