"""`flashes`: the WCAG 2.3.1 general flash threshold.

WCAG: content fails when it flashes more than three times in any one second, a flash being a
pair of opposing changes in relative luminance of 10% or more of the maximum where the darker
state is below 0.80, over a large enough area. WCAG sizes that area as 25% of any 10 degree
visual field (341x256 px at 1024x768); not knowing the viewing distance of a phone, this
detector approximates it as `min_area` (25%) of the frame: a frame is a *transition* when at
least that share of its pixels changed luminance by `min_change` or more in the same direction
since the previous frame, the darker side under 0.8. A transition in the direction opposite
to the last counted one starts half a flash (a gradual change in the same direction is not a
new one); the flashes in a one-second window are its opposing transitions halved.
Every frame is read (a strobe is lost by sampling), scaled to at most 160 px wide.
"""

from __future__ import annotations

from collections import deque

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pique_engine import Checks, DetectorResult
from pique_engine.media.content import VideoFrames

from .ranges import Ranges, ms

NAME = "flashes"
# sRGB relative luminance of each 8-bit grey level (IEC 61966-2-1, as WCAG defines it).
_LEVELS = np.arange(256) / 255.0
_LUMINANCE = np.where(_LEVELS <= 0.04045, _LEVELS / 12.92, ((_LEVELS + 0.055) / 1.055) ** 2.4).astype(np.float32)


class FlashParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_change: float = Field(default=0.10, gt=0, le=1, description="Relative luminance change that counts (WCAG: 10%).")
    darker_below: float = Field(default=0.80, gt=0, le=1, description="WCAG: the darker state is below 0.80.")
    min_area: float = Field(default=0.25, gt=0, le=1, description="Share of the frame that must change (WCAG's 25%, of the frame here).")
    max_flashes_per_sec: float | None = Field(default=3, ge=0, description="WCAG's limit: no more than 3; null to only measure.")


def requests(params: FlashParams, info) -> dict:
    return {"frames": VideoFrames(format="gray", max_width=160, max_height=160)}


class FlashCounter:
    """Opposing transitions in a sliding one-second window, and where the limit is passed."""

    def __init__(self, p: FlashParams, limit: float) -> None:
        self.p, self.limit = p, limit
        self.previous: np.ndarray | None = None
        self.direction = 0
        self.window: deque[float] = deque()
        self.most = 0
        self.segments: Ranges = []

    def add(self, time: float, gray: np.ndarray) -> None:
        lum = _LUMINANCE[gray]
        prev, self.previous = self.previous, lum
        if prev is None or prev.shape != lum.shape:
            return
        delta = lum - prev
        dark = np.minimum(lum, prev) < self.p.darker_below
        up = float(np.mean((delta >= self.p.min_change) & dark))
        down = float(np.mean((delta <= -self.p.min_change) & dark))
        direction = 1 if up >= self.p.min_area else -1 if down >= self.p.min_area else 0
        if direction == 0 or direction == self.direction:
            return
        self.direction = direction
        self.window.append(time)
        while self.window and self.window[0] <= time - 1.0:
            self.window.popleft()
        flashes = len(self.window) // 2
        self.most = max(self.most, flashes)
        if flashes > self.limit:
            start, end = ms(self.window[0]), ms(time)
            if self.segments and self.segments[-1][1] >= start:
                self.segments[-1][1] = end
            else:
                self.segments.append([start, end])


def evaluate(media, params: FlashParams) -> DetectorResult:
    limit = params.max_flashes_per_sec if params.max_flashes_per_sec is not None else 3
    counter = FlashCounter(params, limit)
    for frame in media.stream("frames"):
        counter.add(frame.time, frame.image)
    metrics = {"max_flashes_per_sec": counter.most, "segments": counter.segments}
    c = Checks()
    c.within("flashes in one second", counter.most, high=params.max_flashes_per_sec)
    return c.result(name=NAME, metrics=metrics, summary=f"at most {counter.most} flash(es) in any one second")
