"""pique-qc: content-quality checks for pique-engine that agree with FFmpeg's own filters.

Black and frozen stretches, silence, loudness, letterbox bars, scene cuts, sharpness and
photosensitive flashing, each a detector whose criteria all read one decode pass.
"""

from __future__ import annotations

from importlib import metadata

from pique_engine import Detector, hookimpl

from . import black, flashes, frozen, letterbox, loudness, scenes, sharpness, silence

try:
    __version__ = metadata.version("pique-qc")
except metadata.PackageNotFoundError:  # imported from a source tree
    __version__ = "0+unknown"

# (module, its params model, content types, description)
DETECTORS = [
    (black, black.BlackParams, {"video"}, "Black stretches (FFmpeg blackdetect): segments, total, leading and trailing black."),
    (frozen, frozen.FrozenParams, {"video"}, "Frozen stretches (FFmpeg freezedetect): segments and total."),
    (silence, silence.SilenceParams, {"audio", "video"}, "Silent stretches (FFmpeg silencedetect): leading, trailing and longest silence."),
    (loudness, loudness.LoudnessParams, {"audio", "video"}, "Integrated loudness (BS.1770-4 LUFS), range, true and sample peak, clipping, silence."),
    (letterbox, letterbox.LetterboxParams, {"video", "image"}, "Black bars (FFmpeg cropdetect's algorithm): active area and bar share."),
    (scenes, scenes.SceneParams, {"video"}, "Scene cuts (FFmpeg scdet): cut times, cuts per minute, shot lengths."),
    (sharpness, sharpness.SharpnessParams, {"video", "image"}, "Sharpness from FFmpeg blurdetect: median, 10th percentile, blurry stretches."),
    (flashes, flashes.FlashParams, {"video"}, "Photosensitive flashing against the WCAG 2.3.1 general flash threshold."),
]


@hookimpl
def register_detectors(register):
    for module, params, content_types, description in DETECTORS:
        register(Detector(name=module.NAME, content_types=content_types, evaluate=module.evaluate,
                          params=params, requests=module.requests, description=description))
