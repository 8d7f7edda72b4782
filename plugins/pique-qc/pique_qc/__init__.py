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

# (module, content types, description)
DETECTORS = [
    (black, {"video"}, "Black stretches (FFmpeg blackdetect): segments, total, leading and trailing black."),
    (frozen, {"video"}, "Frozen stretches (FFmpeg freezedetect): segments and total."),
    (silence, {"audio", "video"}, "Silent stretches (FFmpeg silencedetect): leading, trailing and longest silence."),
    (loudness, {"audio", "video"}, "Integrated loudness (BS.1770-4 LUFS), range, true and sample peak, clipping, silence."),
    (letterbox, {"video", "image"}, "Black bars (FFmpeg cropdetect's algorithm): active area and bar share."),
    (scenes, {"video"}, "Scene cuts (FFmpeg scdet): cut times, cuts per minute, shot lengths."),
    (sharpness, {"video"}, "Sharpness from FFmpeg blurdetect: median, 10th percentile, blurry stretches."),
    (flashes, {"video"}, "Photosensitive flashing against the WCAG 2.3.1 general flash threshold."),
]


def _params(module):
    return next(v for k, v in vars(module).items() if k.endswith("Params") and isinstance(v, type) and v.__module__ == module.__name__)


@hookimpl
def register_detectors(register):
    for module, content_types, description in DETECTORS:
        register(Detector(name=module.NAME, content_types=content_types, evaluate=module.evaluate,
                          params=_params(module), requests=module.requests, description=description))
