"""The fixture judge qc_short_video.json, evaluated by `pique-engine evaluate` on generated 9:16 clips."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pique_engine import synth
from scipy import ndimage

pytestmark = pytest.mark.integration  # each test runs `pique-engine evaluate` in a subprocess on a 12 s clip

JUDGE = Path(__file__).resolve().parents[3] / "fixtures" / "judges" / "qc_short_video.json"
W, H, FPS, SECONDS = 108, 192, 30, 12


def short_video(*, black_until: float = 0.0, strobe: tuple[float, float] | None = None):
    """A shot every 2 s (each its own brightness, drifting a pixel a frame), optionally black at
    the start and strobing at 4 Hz over `strobe` seconds."""
    rng = np.random.default_rng(9)
    levels = [60, 170, 90, 200, 70, 150]
    textures = [np.clip(level + 40 * ndimage.gaussian_filter(rng.standard_normal((2 * H, W)), 2), 20, 235).astype(np.uint8)
                for level in levels]

    def picture(index: int, t: float) -> np.ndarray:
        if t < black_until:
            return np.full((H, W), 16, np.uint8)
        if strobe and strobe[0] <= t < strobe[1]:
            return np.full((H, W), 235 if int((t - strobe[0]) * 8) % 2 == 0 else 16, np.uint8)
        return textures[int(t // 2)][index % H : index % H + H]

    return picture


def evaluate(path: Path) -> dict:
    done = subprocess.run([sys.executable, "-m", "pique_engine", "evaluate", str(path), "--judge", str(JUDGE)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return {r["criterion_id"]: r for r in json.loads(done.stdout)["results"]}


def clip(path: Path, picture, amplitude: float) -> Path:
    """The picture over a 997 Hz tone of peak `amplitude` on both channels (20*log10(amplitude) LUFS)."""
    sound = synth.tone(SECONDS, 48000, 2, freq=997, amplitude=amplitude)
    return synth.write_video(path, width=W, height=H, fps=FPS, seconds=SECONDS, audio_rate=48000, picture=picture,
                             sound=sound, codec_options={"preset": "ultrafast", "crf": "18"})


def test_a_clean_short_video_passes_every_criterion(media_dir):
    path = clip(media_dir / "clean.mp4", short_video(), 0.2)
    results = evaluate(path)
    failed = {k: r["rationale"] for k, r in results.items() if not r["pass_check"]}
    assert failed == {}
    assert results["loudness"]["metrics"]["audio_loudness"]["integrated_lufs"] == pytest.approx(-14.0, abs=0.5)
    assert results["pace"]["metrics"]["scene_cuts"]["cuts_per_minute"] == pytest.approx(25, abs=0.1)


def test_black_start_strobe_and_quiet_sound_fail_their_criteria_only(media_dir):
    picture = short_video(black_until=1.0, strobe=(6.0, 8.0))
    path = clip(media_dir / "bad.mp4", picture, 0.02)
    results = evaluate(path)
    failed = {k for k, r in results.items() if not r["pass_check"]}
    # a black second is also a still one, so the freeze criterion fails with the black one
    assert failed == {"no_long_black", "no_long_freeze", "photosensitivity", "loudness"}
    assert results["no_long_black"]["metrics"]["black_frames"]["leading_black_sec"] == pytest.approx(1.0, abs=0.04)
    assert results["photosensitivity"]["metrics"]["flashes"]["max_flashes_per_sec"] == 4
