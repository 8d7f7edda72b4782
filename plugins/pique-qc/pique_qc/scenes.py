"""`scene_cuts`: FFmpeg's scdet, run in the decode pass; cuts, their rate and shot lengths."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from pique_engine import Checks, DetectorResult
from pique_engine.media.content import VideoFilter

from .ranges import duration, ms

NAME = "scene_cuts"


class SceneParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    threshold: float = Field(default=10.0, ge=0, le=100, description="scdet `threshold` (FFmpeg default 10).")
    min_cuts_per_minute: float | None = Field(default=None, ge=0, description="e.g. 6 for a short video.")
    max_cuts_per_minute: float | None = Field(default=None, ge=0)
    max_shot_sec: float | None = Field(default=None, gt=0, description="Longest shot allowed.")


def requests(params: SceneParams, info) -> dict:
    return {"scdet": VideoFilter(chain=f"scdet=threshold={params.threshold:g}")}


def evaluate(media, params: SceneParams) -> DetectorResult:
    cuts = [ms(float(e.metadata["lavfi.scd.time"])) for e in media.stream("scdet") if "lavfi.scd.time" in e.metadata]
    end = duration(media.info)
    edges = [0.0, *cuts, end]
    shots = [b - a for a, b in zip(edges, edges[1:]) if b > a]
    per_minute = round(len(cuts) * 60 / end, 2) if end else 0.0
    metrics = {
        "cuts": cuts,
        "cuts_per_minute": per_minute,
        "shortest_shot_sec": ms(min(shots, default=0.0)),
        "longest_shot_sec": ms(max(shots, default=0.0)),
    }
    c = Checks()
    c.within("cuts per minute", per_minute, params.min_cuts_per_minute, params.max_cuts_per_minute)
    c.within("longest shot", metrics["longest_shot_sec"], high=params.max_shot_sec, unit="s")
    return c.result(name=NAME, metrics=metrics, summary=f"{len(cuts)} cut(s), {per_minute:g} per minute")
