"""`sharpness`: FFmpeg's blurdetect, run in the decode pass, on video and on still images.

blurdetect reports a blur value per frame (the mean width of edges, in pixels: larger is
blurrier). The metrics report *sharpness*, its reciprocal, so larger is sharper and `p10` is
the blurriest tenth; a frame whose sharpness is under `blurry_below` counts as blurry.
With `fast`, blurdetect sees `fast_fps` frames a second instead of every frame.
A picture with no edges at all (flat, or black) has no blur value: blurdetect reports NaN.
It is left out of `median` and `p10` and counts as not blurry.

An image is one upright picture, read as `ffmpeg -i image -vf blurdetect` reads it: `median`
and `p10` are its sharpness, `blurry_ratio` is 0 or 1, and `blurry_segments` stays empty
because an image has no timeline.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pique_engine import Checks, DetectorResult
from pique_engine.media.content import VideoFilter

from .ranges import Ranges, duration, ms

NAME = "sharpness"


class SharpnessParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    blurry_below: float = Field(default=0.15, gt=0, le=1, description="Sharpness (1 / blurdetect blur) under which a frame is blurry.")
    fast: bool = Field(default=False, description="Sample `fast_fps` frames a second (video only).")
    fast_fps: float = Field(default=2.0, gt=0, le=60)
    min_median: float | None = Field(default=None, gt=0, le=1)
    max_blurry_ratio: float | None = Field(default=None, ge=0, le=1)


def requests(params: SharpnessParams, info) -> dict:
    fast = params.fast and info.kind != "image"  # an image is a single picture: nothing to sample
    return {"blur": VideoFilter(chain=f"fps={params.fast_fps:g},blurdetect" if fast else "blurdetect")}


def evaluate(media, params: SharpnessParams) -> DetectorResult:
    times, values = [], []
    for e in media.stream("blur"):
        if "lavfi.blur" in e.metadata:
            times.append(e.time)
            values.append(_sharpness(e.metadata["lavfi.blur"]))
    sharp = np.array(values, dtype=np.float64)
    measured = sharp[np.isfinite(sharp)]
    blurry = sharp < params.blurry_below  # NaN, a picture without edges, compares False: not blurry
    image = media.info.kind == "image"
    segments = [] if image else _blurry_segments(times, blurry, duration(media.info))
    metrics = {
        "median": round(float(np.median(measured)), 4) if measured.size else None,
        "p10": round(float(np.percentile(measured, 10)), 4) if measured.size else None,
        "blurry_segments": segments,
        "blurry_ratio": round(float(np.mean(blurry)), 4) if sharp.size else 0.0,
    }
    c = Checks()
    c.within("median sharpness", metrics["median"], low=params.min_median)
    c.within("blurry ratio", metrics["blurry_ratio"], high=params.max_blurry_ratio)
    if metrics["median"] is None:
        summary = "no edges to measure sharpness on"
    elif image:
        summary = f"sharpness {metrics['median']}" + (" (blurry)" if metrics["blurry_ratio"] else "")
    else:
        summary = f"median sharpness {metrics['median']}, {len(segments)} blurry stretch(es)"
    return c.result(name=NAME, metrics=metrics, summary=summary)


def _sharpness(blur: str) -> float:
    """1 / blurdetect's blur, capped at 1 (an edge is at least a pixel wide); NaN when it found no edges."""
    value = float(blur)  # FFmpeg prints "nan" or "-nan" when the picture has no edges
    return math.nan if math.isnan(value) else 1.0 / max(value, 1.0)


def _blurry_segments(times: list[float], blurry: np.ndarray, end: float) -> Ranges:
    out: Ranges = []
    for i, t in enumerate(times):
        if not blurry[i]:
            continue
        until = times[i + 1] if i + 1 < len(times) else end
        if out and abs(out[-1][1] - ms(t)) < 0.0005:
            out[-1][1] = ms(until)
        else:
            out.append([ms(t), ms(until)])
    return out
