"""audio_loudness against the system ffmpeg's `ebur128=peak=true`, presets and clipping."""

from __future__ import annotations

import numpy as np
import pytest
from pique_engine import synth
from scipy import signal

from qc_kit import ffmpeg_log, floats, metrics, run


def programme(rate: int, gain: float) -> np.ndarray:
    """12 s of pink-ish stereo noise with loud, quiet and silent passages."""
    rng = np.random.default_rng(128)
    noise = signal.lfilter([1.0], [1.0, -0.95], rng.standard_normal((rate * 12, 2)), axis=0)
    noise *= gain / np.abs(noise).max()
    return (noise * np.repeat([1.0, 0.3, 0.0, 1.0, 0.05, 0.6], rate * 2)[:, None]).astype(np.float32)


@pytest.mark.parametrize(("suffix", "gain"), [(".wav", 0.3), (".wav", 0.9), (".mp4", 0.5)])
def test_integrated_within_0_1_lu_and_true_peak_within_0_3_db_of_ebur128(media_dir, suffix, gain):
    sound = programme(48000, gain)
    if suffix == ".wav":
        path = synth.write_audio(media_dir / "p.wav", sound, 48000, subtype="FLOAT")
    else:
        path = synth.write_video(media_dir / "p.mp4", width=64, height=64, seconds=12, audio_rate=48000, sound=sound)
    m = metrics("audio_loudness", path)
    log = ffmpeg_log(path, af="ebur128=peak=true")
    summary = log[log.rindex("Summary:"):]
    assert m["integrated_lufs"] == pytest.approx(floats(r"I:\s+(-?[\d.]+) LUFS", summary)[0], abs=0.1)
    assert m["true_peak_dbtp"] == pytest.approx(floats(r"Peak:\s+(-?[\d.]+) dBFS", summary)[0], abs=0.3)


def test_presets_set_targets_and_explicit_params_win(media_dir):
    # A 997 Hz sine of peak 0.2 on both channels reads 20*log10(0.2) = -13.98 LUFS.
    path = synth.write_audio(media_dir / "s.wav", synth.tone(5, 48000, 2, freq=997, amplitude=0.2), 48000, subtype="FLOAT")
    assert run("audio_loudness", path, {"preset": "streaming"}).pass_check
    ebu = run("audio_loudness", path, {"preset": "ebu_r128"})
    assert not ebu.pass_check and "-23 LUFS" in ebu.rationale
    assert not run("audio_loudness", path, {"preset": "atsc_a85"}).pass_check
    assert run("audio_loudness", path, {"preset": "ebu_r128", "target_lufs": -14}).pass_check
    assert not run("audio_loudness", path, {"preset": "streaming", "max_true_peak_dbtp": -20}).pass_check


def test_clipped_samples_are_counted(media_dir):
    x = np.clip(synth.tone(2, 48000, 2, freq=997, amplitude=1.5), -1, 1)
    path = synth.write_audio(media_dir / "clip.wav", x, 48000, subtype="FLOAT")
    m = metrics("audio_loudness", path)
    expected = int(np.count_nonzero(np.abs(x) >= 32767 / 32768))
    assert m["clipped_samples"] == expected > 1000
    assert not run("audio_loudness", path, {"max_clipped_samples": 0}).pass_check
    clean = synth.write_audio(media_dir / "clean.wav", synth.tone(2, 48000, 2), 48000, subtype="FLOAT")
    assert metrics("audio_loudness", clean)["clipped_samples"] == 0
