"""`sharpness`: FFmpeg's blurdetect, run in the decode pass.

blurdetect reports a blur value per frame (the mean width of edges, in pixels: larger is
blurrier). The metrics report *sharpness*, its reciprocal, so larger is sharper and `p10` is
the blurriest tenth; a frame whose sharpness is under `blurry_below` counts as blurry.
With `fast`, blurdetect sees `fast_fps` frames a second instead of every frame.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pique_engine import Checks, DetectorResult
from pique_engine.media.content import VideoFilter

from .ranges import Ranges, duration, ms

NAME = "sharpness"


class SharpnessParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    blurry_below: float = Field(default=0.15, gt=0, le=1, description="Sharpness (1 / blurdetect blur) under which a frame is blurry.")
    fast: bool = Field(default=False, description="Sample `fast_fps` frames a second.")
    fast_fps: float = Field(default=2.0, gt=0, le=60)
    min_median: float | None = Field(default=None, gt=0, le=1)
    max_blurry_ratio: float | None = Field(default=None, ge=0, le=1)


def requests(params: SharpnessParams, info) -> dict:
    chain = f"fps={params.fast_fps:g},blurdetect" if params.fast else "blurdetect"
    return {"blur": VideoFilter(chain=chain)}


def evaluate(media, params: SharpnessParams) -> DetectorResult:
    times, values = [], []
    for e in media.stream("blur"):
        if "lavfi.blur" in e.metadata:
            times.append(e.time)
            values.append(1.0 / max(float(e.metadata["lavfi.blur"]), 1.0))
    sharp = np.array(values)
    blurry = _blurry_segments(times, sharp < params.blurry_below, duration(media.info))
    metrics = {
        "median": round(float(np.median(sharp)), 4) if sharp.size else None,
        "p10": round(float(np.percentile(sharp, 10)), 4) if sharp.size else None,
        "blurry_segments": blurry,
        "blurry_ratio": round(float(np.mean(sharp < params.blurry_below)), 4) if sharp.size else 0.0,
    }
    c = Checks()
    c.within("median sharpness", metrics["median"], low=params.min_median)
    c.within("blurry ratio", metrics["blurry_ratio"], high=params.max_blurry_ratio)
    return c.result(name=NAME, metrics=metrics, summary=f"median sharpness {metrics['median']}, {len(blurry)} blurry stretch(es)")


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
