"""`letterbox`: black bars, as FFmpeg's `cropdetect=limit=24:round=2:reset=0` finds them.

cropdetect is GPL, so it is not in the LGPL FFmpeg PyAV bundles; this is its algorithm
(libavfilter/vf_cropdetect.c, "black" mode) over the upright luma plane: a row or column is
content when its integer mean luma is above `limit`; the content box only grows over the video
(reset=0), the first two frames are ignored (they may be empty), and the box's origin is
rounded up to even with its size cut to a multiple of `round`. `limit` is on the stored depth,
as FFmpeg reads it: 24 on a 10-bit video is 6 on the 8-bit luma the pass hands out.
With `fast`, `fast_fps` frames a second are read instead of every frame.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pique_engine import Checks, DetectorResult
from pique_engine.media.content import ImagePixels, VideoFrames

NAME = "letterbox"


class LetterboxParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: float = Field(default=24, ge=0, le=65535, description="cropdetect `limit` (mean luma at or below it is black).")
    round: int = Field(default=2, ge=0, le=64, description="cropdetect `round`.")
    fast: bool = Field(default=False, description="Read `fast_fps` frames a second, not every frame.")
    fast_fps: float = Field(default=2.0, gt=0, le=60)
    max_bar_ratio: float | None = Field(default=None, ge=0, le=1, description="Share of the picture the bars may take, e.g. 0.05.")


def requests(params: LetterboxParams, info) -> dict:
    if info.kind == "image":
        return {"pixels": ImagePixels(format="gray")}
    return {"frames": VideoFrames(fps=params.fast_fps if params.fast else None, format="luma")}


class CropDetect:
    """cropdetect's state: the content box grown over every frame it is shown."""

    def __init__(self, limit: float, round_to: int, skip: int = 2) -> None:
        self.limit, self.round, self.skip = limit, round_to, skip
        self.box: tuple[int, int, int, int] | None = None  # x1, y1, x2, y2 (inclusive)
        self.size = (0, 0)

    def add(self, luma: np.ndarray) -> None:
        if self.skip > 0:
            self.skip -= 1
            return
        h, w = luma.shape
        x1, y1, x2, y2 = self.box if self.box and (w, h) == self.size else (w - 1, h - 1, 0, 0)
        self.size = (w, h)
        limit = int(round(self.limit))
        # The box only grows, so only lines outside it can change it: a full-frame picture costs
        # nothing after its first frame. Means are integer, as cropdetect's are.
        y1 = _first(luma[:y1].sum(axis=1, dtype=np.int64) // w > limit, y1)
        stop = max(y2, y1)
        y2 = _last(luma[stop + 1 :].sum(axis=1, dtype=np.int64) // w > limit, stop + 1, y2)
        x1 = _first(luma[:, :x1].sum(axis=0, dtype=np.int64) // h > limit, x1)
        stop = max(x2, x1)
        x2 = _last(luma[:, stop + 1 :].sum(axis=0, dtype=np.int64) // h > limit, stop + 1, x2)
        self.box = (x1, y1, x2, y2)

    def crop(self) -> tuple[int, int, int, int] | None:
        """(x, y, width, height) as cropdetect prints it, or None before any frame counted."""
        if self.box is None:
            return None
        x1, y1, x2, y2 = self.box
        step = 16 if self.round <= 1 else self.round * (2 if self.round % 2 else 1)
        x, y = (x1 + 1) & ~1, (y1 + 1) & ~1
        w, h = x2 - x + 1, y2 - y + 1
        shrink = w % step
        w, x = w - shrink, x + ((shrink // 2 + 1) & ~1)
        shrink = h % step
        h, y = h - shrink, y + ((shrink // 2 + 1) & ~1)
        return x, y, w, h


def _first(content: np.ndarray, current: int) -> int:
    """cropdetect's forward scan over the lines before `current`: the first content line, else `current`."""
    hits = np.flatnonzero(content)
    return int(hits[0]) if hits.size else current


def _last(content: np.ndarray, offset: int, current: int) -> int:
    """The backward scan over the lines from `offset` to the end: the last content line, else `current`."""
    hits = np.flatnonzero(content)
    return int(offset + hits[-1]) if hits.size else current


def _depth_scale(info) -> float:
    """FFmpeg applies `limit` on the stored depth; the pass hands out 8-bit luma."""
    pix_fmt = info.video.pix_fmt if info.video else None
    if not pix_fmt:
        return 1.0
    import av

    try:
        bits = av.VideoFormat(pix_fmt).components[0].bits
    except (ValueError, av.FFmpegError):
        return 1.0
    return 255 / ((1 << bits) - 1) if bits > 8 else 1.0


def evaluate(media, params: LetterboxParams) -> DetectorResult:
    image = media.info.kind == "image"
    if params.limit < 1:  # cropdetect reads it as a fraction of the stored depth's maximum
        limit = params.limit * 255
    else:
        limit = params.limit if image else params.limit * _depth_scale(media.info)
    detect = CropDetect(limit, params.round, skip=0 if image else 2)
    early: list[np.ndarray] = []
    for item in media.stream("pixels" if image else "frames"):
        if len(early) < 2:
            early.append(item.image)
        detect.add(item.image)
    if detect.box is None:  # a video of two frames or fewer: FFmpeg prints nothing, use what there is
        detect.skip = 0
        for picture in early:
            detect.add(picture)
    width, height = detect.size
    x, y, w, h = detect.crop() or (0, 0, width, height)
    w, h = max(w, 0), max(h, 0)
    bars = {"top": y, "bottom": max(0, height - y - h), "left": x, "right": max(0, width - x - w)}
    area = width * height
    metrics = {
        "active_area": [x, y, w, h],
        "bars": bars,
        "bar_ratio": round(1 - w * h / area, 4) if area else 0.0,
        "active_aspect_ratio": round(w / h, 4) if h else None,
    }
    c = Checks()
    c.within("bars", metrics["bar_ratio"], high=params.max_bar_ratio, shown=f"{metrics['bar_ratio']:.1%} of the picture")
    return c.result(name=NAME, metrics=metrics, summary=f"active area {w}x{h} at ({x}, {y}), bars {metrics['bar_ratio']:.1%}")
