"""The built-in detectors: metrics as the contract names them, checks scored as a share."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pique_engine import DetectorError
from pique_engine.testing import run_detector

from .conftest import FIXTURES

MEDIA = FIXTURES / "media"
CONTRACT = MEDIA / "contract_576x1024_30fps.mp4"


def test_video_specs_metrics_match_the_contract_example():
    r = run_detector("video_specs", CONTRACT)
    m = r.metrics["video_specs"]
    assert {k: m[k] for k in ("width", "height", "aspect_ratio", "fps", "audio_sample_rate")} == {
        "width": 576,
        "height": 1024,
        "aspect_ratio": "9:16",
        "fps": 30,
        "audio_sample_rate": 44100,
    }
    assert isinstance(m["fps"], int)
    assert m["duration_sec"] == pytest.approx(38.033, abs=0.01)
    assert r.rationale == "Video specs meet requirements: 576x1024 (9:16), 30.0fps, 38.0s"
    assert (r.score, r.pass_check) == (1.0, True)


def test_video_specs_scores_the_share_of_checks_that_pass_and_names_failures():
    params = {"aspect_ratio": "16:9", "min_fps": 24, "max_duration_sec": 30, "require_audio": True}
    r = run_detector("video_specs", CONTRACT, params)
    assert r.score == 0.5
    assert r.pass_check is False
    assert "aspect ratio 9:16 (required 16:9 ±1%)" in r.rationale
    assert "duration 38.0s (required <= 30s)" in r.rationale
    assert r.rationale.startswith("2 of 4 checks failed")


def test_video_specs_uses_the_displayed_size_of_a_rotated_phone_video():
    r = run_detector("video_specs", MEDIA / "phone_rotated_90.mp4", {"aspect_ratio": "9:16"})
    m = r.metrics["video_specs"]
    assert (m["width"], m["height"], m["rotation"], r.pass_check) == (360, 640, 90, True)


def test_video_specs_reports_fractional_fps_and_missing_audio():
    r = run_detector("video_specs", MEDIA / "ntsc_640x360_29.97fps.mp4", {"min_fps": 29.9})
    assert r.metrics["video_specs"]["fps"] == 29.97 and r.pass_check
    silent = run_detector("video_specs", MEDIA / "silent_1080x1350.mp4", {"require_audio": True, "audio_sample_rates": [48000]})
    assert silent.metrics["video_specs"]["audio_sample_rate"] is None
    assert silent.metrics["video_specs"]["aspect_ratio"] == "4:5"
    assert silent.score == 0.0
    assert "audio track absent (required present)" in silent.rationale


def test_video_specs_rejects_contradictory_params():
    with pytest.raises(ValidationError, match="min_width \\(800\\) is greater than max_width \\(400\\)"):
        run_detector("video_specs", CONTRACT, {"min_width": 800, "max_width": 400})
    with pytest.raises(ValidationError, match="must look like 'W:H'"):
        run_detector("video_specs", CONTRACT, {"aspect_ratio": "tall"})


def test_image_dimensions_applies_exif_orientation_and_checks_format_and_animation():
    r = run_detector("image_dimensions", MEDIA / "exif_rotated_6.jpg", {"aspect_ratio": "3:4", "formats": ["jpg"]})
    assert r.metrics["image_dimensions"] == {
        "width": 480, "height": 640, "aspect_ratio": "3:4", "format": "jpeg", "frames": 1, "orientation": 6, "mode": "RGB",
    }
    assert r.pass_check
    gif = run_detector("image_dimensions", MEDIA / "animated_64x64_5frames.gif", {"allow_animation": False, "formats": ["png"]})
    assert gif.score == 0.0
    assert "frames 5 (required 1 (no animation))" in gif.rationale
    assert "format gif (required one of png)" in gif.rationale


def test_image_dimensions_summary_on_pass():
    r = run_detector("image_dimensions", MEDIA / "portrait_1080x1350.jpg", {"min_width": 1080})
    assert r.rationale == "Image meets requirements: 1080x1350 (4:5), jpeg"


def test_audio_sample_rate_metrics_and_checks():
    r = run_detector("audio_sample_rate", MEDIA / "tone_22050_mono.ogg", {"allowed_sample_rates": [44100, 48000], "max_channels": 2})
    assert r.metrics["audio_sample_rate"] == {"sample_rate": 22050, "channels": 1, "duration_sec": pytest.approx(2.0, abs=0.01), "codec": "vorbis"}
    assert (r.score, r.pass_check) == (0.5, False)
    assert "sample rate 22050 Hz (required one of 44100 Hz, 48000 Hz)" in r.rationale


def test_audio_sample_rate_passes_the_audio_track_of_an_m4a():
    r = run_detector("audio_sample_rate", MEDIA / "tone_48000_stereo.m4a", {"min_sample_rate": 44100, "min_channels": 2})
    assert r.pass_check and r.rationale.startswith("Audio meets requirements: 48000 Hz, 2 ch, 2.0s, aac")


def test_a_detector_given_the_wrong_media_raises_a_detector_error():
    from pique_engine.detectors import video_specs
    from pique_engine.detector import Media
    from pique_engine.media.probe import probe

    info = probe(MEDIA / "tone_44100_mono.wav")
    with pytest.raises(DetectorError, match="has no video stream"):
        video_specs.evaluate(Media(info=info, name="x", opener=lambda: None), video_specs.VideoSpecsParams())


def test_audio_sample_rate_names_codecs_as_video_specs_does():
    wav = run_detector("audio_sample_rate", MEDIA / "tone_44100_mono.wav").metrics["audio_sample_rate"]["codec"]
    flac = run_detector("audio_sample_rate", MEDIA / "tone_48000_stereo.flac").metrics["audio_sample_rate"]["codec"]
    video = run_detector("video_specs", MEDIA / "phone_rotated_90.mp4").metrics["video_specs"]
    assert (wav, flac, video["audio_codec"], video["rotation"]) == ("pcm_s16le", "flac", "aac", 90)
