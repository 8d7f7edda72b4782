"""The package as the engine sees it, and its models working with the network cut off."""

from __future__ import annotations

from importlib import metadata

import numpy as np
import pytest

from pique_engine import synth
from pique_engine.plugins import load_plugins
from pique_safety import models, nsfw, onscreen_text, speech
from safety_media import run_content, speech as spoken


def test_the_entry_point_registers_the_three_detectors():
    entry = [ep for ep in metadata.entry_points(group="pique_engine") if ep.name == "safety"]
    assert [ep.value for ep in entry] == ["pique_safety"]
    detectors = load_plugins(strict=True).detectors
    assert {"nsfw", "onscreen_text", "speech"} <= set(detectors.names())
    assert detectors.get("nsfw").content_types == {"video", "image"}
    assert detectors.get("onscreen_text").content_types == {"video", "image"}
    assert detectors.get("speech").content_types == {"audio", "video"}


def test_params_defaults_are_the_documented_ones():
    assert nsfw.NsfwParams().model_dump() == {"threshold": 0.8, "sample_fps": 1.0, "min_flagged_frames": 2, "window_sec": 3.0,
                                          "per_shot": True}
    text = onscreen_text.OnscreenTextParams()
    assert (text.sample_fps, text.forbidden_words, text.required_words, text.max_text_area_ratio) == (0.5, [], [], None)
    s = speech.SpeechParams()
    assert (s.require_speech, s.min_speech_ratio, s.max_speech_ratio) == (False, None, None)
    with pytest.raises(ValueError, match="min_speech_ratio"):
        speech.SpeechParams(min_speech_ratio=0.8, max_speech_ratio=0.2)


def test_models_load_once_per_process():
    assert models.nsfw_classifier() is models.nsfw_classifier()
    assert models.ocr_engine() is models.ocr_engine()
    assert models.vad() is models.vad()


def test_the_detectors_run_with_outbound_connections_blocked(tmp_path, no_network):
    for loader in (models.nsfw_classifier, models.ocr_engine, models.vad):
        loader.cache_clear()  # load again, behind the blocked sockets
    rate = 16_000
    sound = np.concatenate([np.zeros(rate, np.float32), spoken("Hello there", rate), np.zeros(rate, np.float32)])
    seconds = len(sound) / rate
    path = synth.write_video(tmp_path / "offline.mp4", width=320, height=180, fps=10, seconds=seconds,
                             audio_rate=rate, audio_channels=1, sound=sound[:, None],
                             picture=synth.with_text(synth.moving_bars(320, 180, 10), "OFFLINE", size=40, xy=(20, 60)))
    assert run_content(nsfw, path).metrics["nsfw"]["frames_scored"] >= 2
    texts = run_content(onscreen_text, path, {"sample_fps": 1}).metrics["onscreen_text"]["texts"]
    assert [t["text"] for t in texts] == ["OFFLINE"]
    assert len(run_content(speech, path).metrics["speech"]["segments"]) == 1
