"""`nsfw`: unsafe imagery, scored by the open_nsfw model on sampled frames."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pique_engine import DetectorResult

from . import models
from .content import image_request, pictures
from .timeline import corroborated, ranges

_MAX_LISTED = 20


class NsfwParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    threshold: float = Field(default=0.8, ge=0.0, le=1.0)
    sample_fps: float = Field(default=1.0, gt=0.0, le=30.0)
    min_flagged_frames: int = Field(default=2, ge=1)
    window_sec: float = Field(default=3.0, gt=0.0)
    per_shot: bool = Field(default=True, description="score the first frame of each shot too, when the judge finds cuts")


def requests(params: NsfwParams, info) -> dict:
    # open_nsfw looks at a 256x256 resize, so frames larger than 512 px only cost decoding.
    # The pass hands each frame over once, so a cut on a sample mark is scored once.
    return {"frames": image_request(info, params.sample_fps, max_side=512, shot_starts=params.per_shot)}


def score(image: np.ndarray) -> float:
    """The open_nsfw probability for one RGB frame, with the package's own preprocessing."""
    return models.nsfw_classifier().classify(image).nsfw


def evaluate(media, params: NsfwParams) -> DetectorResult:
    scored, shot_frames = [], 0
    for frame in pictures(media):  # one at a time: a long video's pictures are never all held
        scored.append((frame.time, score(frame.image)))
        shot_frames += frame.shot_start
    flagged = [(t, s) for t, s in scored if s >= params.threshold]
    # A still image has one frame: it is flagged on its own.
    need = params.min_flagged_frames if len(scored) > 1 else 1
    kept = set(corroborated([t for t, _ in flagged], need, params.window_sec))
    flagged = [(t, s) for t, s in flagged if t in kept]
    segments = ranges([t for t, _ in flagged], params.window_sec)
    values = [s for _, s in scored]
    top = sorted(flagged, key=lambda ts: -ts[1])[:_MAX_LISTED]
    metrics = {
        "max_score": round(max(values), 4) if values else None,
        "mean_score": round(float(np.mean(values)), 4) if values else None,
        "segments": segments,
        "flagged_frames": [{"t": round(t, 3), "score": round(s, 4)} for t, s in top],
        "frames_scored": len(scored),
        "shot_frames": shot_frames,
        "sample_fps": params.sample_fps,
        "model": models.NSFW_MODEL,
    }
    if segments:
        rationale = _found(segments, flagged)
    elif values:
        rationale = f"no unsafe imagery: max nsfw score {metrics['max_score']:.2f} over {len(scored)} frames"
    else:
        rationale = "no frames to score"
    return DetectorResult(score=0.0 if segments else 1.0, pass_check=not segments, rationale=rationale,
                          metrics={"nsfw": metrics})


def _found(segments: list[list[float]], flagged: list[tuple[float, float]]) -> str:
    parts = []
    for a, b in segments[:3]:
        inside = [s for t, s in flagged if a - 1e-6 <= t <= b + 1e-6]
        n = len(inside)
        parts.append(f"nsfw score {max(inside):.2f} at {a:.1f}-{b:.1f} s ({n} frame{'s' if n != 1 else ''})")
    more = f" and {len(segments) - 3} more segments" if len(segments) > 3 else ""
    return "; ".join(parts) + more
