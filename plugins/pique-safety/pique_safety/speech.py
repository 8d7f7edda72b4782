"""`speech`: where people speak, found by the Silero voice-activity model."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from pique_engine import AudioBlock, AudioBlocks, Checks, DetectorResult, check_ranges

from . import models

RATE = 16_000
CHUNK = 512  # the model's fixed window at 16 kHz: 32 ms


class SpeechParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    require_speech: bool = False
    min_speech_ratio: float | None = Field(default=None, ge=0.0, le=1.0)
    max_speech_ratio: float | None = Field(default=None, ge=0.0, le=1.0)
    threshold: float = Field(default=0.5, gt=0.0, lt=1.0)
    min_speech_sec: float = Field(default=0.25, ge=0.0)
    min_silence_sec: float = Field(default=0.3, ge=0.0)

    @model_validator(mode="after")
    def _ordered(self) -> SpeechParams:
        check_ranges(self, "speech_ratio")
        return self


def requests(params: SpeechParams, info) -> dict:
    return {"audio": AudioBlocks(sample_rate=RATE, channels="mono", block_frames=CHUNK * 32)}


def probabilities(blocks: Iterable[AudioBlock]) -> tuple[np.ndarray, float]:
    """Speech probability per 32 ms chunk, and the time of the first chunk."""
    vad = models.vad()
    out: list[float] = []
    start: float | None = None
    pending = np.zeros(0, np.float32)
    with vad.lock:
        vad.model.reset()
        for block in blocks:
            if start is None:
                start = block.time
            pending = np.concatenate([pending, block.samples[:, 0]])
            usable = len(pending) // CHUNK * CHUNK
            for i in range(0, usable, CHUNK):
                out.append(vad.model.process_samples(pending[i : i + CHUNK]))
            pending = pending[usable:]
    return np.asarray(out, np.float32), start or 0.0


def segments(probs: np.ndarray, start: float, params: SpeechParams) -> list[list[float]]:
    """Speech ranges by hysteresis, as Silero's own `get_speech_timestamps` does it.

    Speech starts at a chunk at or over `threshold` and lasts while the probability stays
    over `threshold - 0.15`, bridging dips shorter than `min_silence_sec`; it ends after its
    last chunk at or over `threshold` (the model's memory keeps the probability up a little
    after the voice stops). Ranges shorter than `min_speech_sec` are dropped.
    """
    step = CHUNK / RATE
    low = max(0.01, params.threshold - 0.15)
    found: list[list[float]] = []
    begin: int | None = None
    last_high = quiet_since = 0
    for i, p in enumerate(probs):
        if begin is None:
            if p >= params.threshold:
                begin = last_high = i
                quiet_since = -1
            continue
        if p >= params.threshold:
            last_high = i
        if p >= low:
            quiet_since = -1
        elif quiet_since < 0:
            quiet_since = i
        elif (i - quiet_since) * step >= params.min_silence_sec:
            found.append([begin * step, (last_high + 1) * step])
            begin = None
    if begin is not None:
        found.append([begin * step, (last_high + 1) * step])
    return [[round(start + a, 3), round(start + b, 3)] for a, b in found if b - a >= params.min_speech_sec]


def evaluate(media, params: SpeechParams) -> DetectorResult:
    probs, start = probabilities(item for item in media.stream("audio") if isinstance(item, AudioBlock))
    found = segments(probs, start, params)
    duration = len(probs) * CHUNK / RATE
    speech_sec = round(sum(b - a for a, b in found), 3)
    ratio = round(speech_sec / duration, 4) if duration else 0.0
    metrics = {"segments": found, "speech_sec": speech_sec, "speech_ratio": ratio, "model": models.VAD_MODEL}
    c = Checks()
    if params.require_speech:
        missing = "none found" if media.info.audio is not None else "none (no audio track)"
        c.check("speech", missing if not found else f"{speech_sec:g} s", "some", ok=bool(found))
    c.within("speech ratio", ratio, params.min_speech_ratio, params.max_speech_ratio)
    if found:
        where = ", ".join(f"{a:.1f}-{b:.1f} s" for a, b in found[:3]) + (" ..." if len(found) > 3 else "")
        summary = f"speech for {speech_sec:.1f} s of {duration:.1f} s ({ratio:.0%}) at {where}"
    elif media.info.audio is None:
        summary = "no speech: the file has no audio track"
    else:
        summary = f"no speech in {duration:.1f} s of audio"
    return c.result(name="speech", metrics=metrics, summary=summary)
