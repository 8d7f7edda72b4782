"""Tests for `audio_loudness`, on media generated with pique_engine.synth (nothing is downloaded).

Reference levels come from ITU-R BS.1770-4: a 0 dBFS 997 Hz sine in one of L, R or C reads
-3.01 LKFS (the -0.691 offset cancels the K-filter's +0.691 dB at 997 Hz), so a sine of
peak amplitude A reads 20·log10(A) - 3.01 LUFS in one channel and 20·log10(A) LUFS in both
stereo channels (twice the energy, +3.01 dB).
"""

from __future__ import annotations

import math
from importlib import metadata

import numpy as np
import pytest
from pydantic import ValidationError
from scipy import signal

from pique_qc import loudness_meter
from pique_engine import DetectorError, synth
from pique_engine.plugins import load_plugins
from pique_engine.testing import run_detector

RATES = [44100, 48000]


def db(amplitude: float) -> float:
    return 20 * math.log10(amplitude)


def sine(seconds: float, rate: int, *, freq: float = 997.0, amplitude: float = 1.0, phase: float = 0.0,
         fade: float = 0.0) -> np.ndarray:
    """A sine, optionally faded in and out over `fade` seconds (a hard start rings in any oversampler)."""
    t = np.arange(int(round(seconds * rate))) / rate
    x = amplitude * np.sin(2 * np.pi * freq * t + phase)
    if fade:
        ramp = np.sin(np.linspace(0, np.pi / 2, int(fade * rate))) ** 2
        x[: len(ramp)] *= ramp
        x[len(x) - len(ramp) :] *= ramp[::-1]
    return x.astype(np.float32)


def write(media_dir, name: str, samples: np.ndarray, rate: int):
    if samples.ndim == 1:
        samples = samples[:, None]
    return synth.write_audio(media_dir / name, samples, rate, subtype="FLOAT")


def metrics(result) -> dict:
    return result.metrics["audio_loudness"]


@pytest.mark.parametrize("rate", RATES)
def test_full_scale_997_hz_sine_in_one_stereo_channel_reads_minus_3_01_lufs(media_dir, rate):
    left = sine(5, rate)
    path = write(media_dir, "left.wav", np.stack([left, np.zeros_like(left)], axis=1), rate)
    m = metrics(run_detector("audio_loudness", path))
    assert m["integrated_lufs"] == pytest.approx(-3.01, abs=0.05)
    assert (m["sample_rate"], m["channels"]) == (rate, 2)
    assert m["duration_sec"] == pytest.approx(5.0)


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("amplitude", [1.0, 0.1, 0.01])
def test_sine_on_both_stereo_channels_reads_its_peak_level_in_lufs(media_dir, rate, amplitude):
    tone = synth.tone(5, rate, channels=2, freq=997, amplitude=amplitude)
    path = synth.write_audio(media_dir / "tone.wav", tone, rate, subtype="FLOAT")
    m = metrics(run_detector("audio_loudness", path))
    assert m["integrated_lufs"] == pytest.approx(db(amplitude), abs=0.05)  # 0, -20, -40 LUFS


def test_mono_file_is_one_channel_not_dual_mono(media_dir):
    path = write(media_dir, "mono.wav", sine(5, 48000, amplitude=0.5), 48000)
    assert metrics(run_detector("audio_loudness", path))["integrated_lufs"] == pytest.approx(db(0.5) - 3.01, abs=0.05)


def test_surround_channels_weigh_1_41_and_lfe_is_ignored_in_5_1(media_dir):
    rate = 48000
    tone = sine(5, rate)
    five_one = np.zeros((len(tone), 6), np.float32)
    five_one[:, 4] = tone  # Ls
    m = metrics(run_detector("audio_loudness", write(media_dir, "ls.wav", five_one, rate)))
    assert m["integrated_lufs"] == pytest.approx(-3.01 + 10 * math.log10(1.41), abs=0.05)  # -1.52
    lfe_only = np.zeros_like(five_one)
    lfe_only[:, 3] = tone
    assert metrics(run_detector("audio_loudness", write(media_dir, "lfe.wav", lfe_only, rate)))["integrated_lufs"] is None


def test_relative_gate_drops_a_passage_20_lu_down_but_keeps_the_blocks_that_straddle_it(media_dir):
    rate = 48000
    loud, quiet = sine(10, rate, amplitude=0.5), sine(10, rate, amplitude=0.05)
    path = write(media_dir, "gated.wav", np.concatenate([loud, quiet]), rate)
    # 97 all-loud 400 ms blocks pass the gate (-12 LUFS over the whole file, minus 10 LU), and
    # so do the 3 that straddle the change, 3/4, 1/2 and 1/4 loud; the 97 quiet ones do not.
    straddling = sum(f + (1 - f) / 100 for f in (0.75, 0.5, 0.25))
    expected = db(0.5) - 3.01 + 10 * math.log10((97 + straddling) / 100)  # -9.10, not the ungated -12.0
    assert metrics(run_detector("audio_loudness", path))["integrated_lufs"] == pytest.approx(expected, abs=0.01)


def test_sample_peak_of_a_half_amplitude_sine_is_minus_6_02_dbfs(media_dir):
    path = synth.write_audio(media_dir / "half.wav", synth.tone(2, 48000, 2, freq=1000, amplitude=0.5), 48000, subtype="FLOAT")
    m = metrics(run_detector("audio_loudness", path))
    assert m["sample_peak_dbfs"] == pytest.approx(-6.02, abs=0.01)
    assert m["true_peak_dbtp"] == pytest.approx(-6.02, abs=0.05)


@pytest.mark.parametrize("rate", RATES)
def test_true_peak_finds_the_inter_sample_peak_3_db_above_the_samples(media_dir, rate):
    # A sine at fs/4 with a 45° phase is sampled at ±0.707 of its peak, never at the peak.
    tone = sine(2, rate, freq=rate / 4, amplitude=0.5, phase=math.pi / 4, fade=0.05)
    m = metrics(run_detector("audio_loudness", write(media_dir, "isp.wav", tone, rate)))
    assert m["sample_peak_dbfs"] == pytest.approx(db(0.5 / math.sqrt(2)), abs=0.01)  # -9.03
    assert m["true_peak_dbtp"] == pytest.approx(db(0.5), abs=0.1)  # -6.02
    assert m["true_peak_dbtp"] - m["sample_peak_dbfs"] == pytest.approx(3.01, abs=0.1)


def test_true_peak_over_full_scale_fails_the_limit_and_names_it(media_dir):
    tone = sine(2, 48000, freq=12000, amplitude=1.0, phase=math.pi / 4, fade=0.05)
    result = run_detector("audio_loudness", write(media_dir, "over.wav", tone, 48000), {"max_true_peak_dbtp": -1})
    assert not result.pass_check and result.score == 0.0
    assert metrics(result)["true_peak_dbtp"] == pytest.approx(0.0, abs=0.1)
    assert "true peak" in result.rationale and "(required <= -1 dBTP)" in result.rationale


def test_results_do_not_depend_on_how_the_stream_is_cut_into_blocks():
    rate = 44100
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((rate * 3, 2)) * 0.2).astype(np.float32)
    x[: rate // 2] = 0  # silence either side, so a one-shot resample sees the whole ringing
    x[-rate // 2 :] = 0
    whole = loudness_meter.measure([x], rate)
    for size in (1, 1023, 4410, 65536):
        parts = [x[i : i + size] for i in range(0, len(x), size)] if size > 1 else np.array_split(x, 7)
        assert loudness_meter.measure(parts, rate) == whole
    oneshot = np.abs(signal.resample_poly(x.astype(np.float64), 4, 1, axis=0)).max()
    assert whole.true_peak_dbtp == pytest.approx(db(oneshot), abs=0.01)


def test_loudness_range_measures_the_spread_between_loud_and_quiet_passages():
    rate = 48000
    x = np.concatenate([sine(20, rate, amplitude=0.5), sine(20, rate, amplitude=0.5 / 10 ** (6 / 20))])
    m = loudness_meter.measure([x], rate)
    assert m.loudness_range_lu == pytest.approx(6.0, abs=0.2)
    assert m.max_short_term_lufs == pytest.approx(db(0.5) - 3.01, abs=0.05)


@pytest.mark.parametrize("rate", RATES)
def test_leading_and_trailing_silence_of_a_padded_tone(media_dir, rate):
    tone = synth.tone(2, rate, 2, amplitude=0.5, lead_silence=1.5, tail_silence=0.75)
    path = synth.write_audio(media_dir / "padded.wav", tone, rate)
    result = run_detector("audio_loudness", path, {"max_leading_silence_sec": 1.0, "max_trailing_silence_sec": 1.0})
    m = metrics(result)
    assert m["leading_silence_sec"] == pytest.approx(1.5, abs=0.002)
    assert m["trailing_silence_sec"] == pytest.approx(0.75, abs=0.002)
    assert m["duration_sec"] == pytest.approx(4.25, abs=0.001)
    assert not result.pass_check and result.score == 0.5
    assert result.rationale == "1 of 2 checks failed: leading silence 1.50s (required <= 1s)"


def test_silence_threshold_decides_what_counts_as_silence(media_dir):
    hum = synth.tone(1, 48000, amplitude=10 ** (-50 / 20), freq=50)
    path = synth.write_audio(media_dir / "hum.wav", np.concatenate([hum, synth.tone(1, 48000, amplitude=0.5)]), 48000, subtype="FLOAT")
    assert metrics(run_detector("audio_loudness", path))["leading_silence_sec"] < 0.01  # -50 dBFS is sound at -60
    lenient = metrics(run_detector("audio_loudness", path, {"silence_threshold_dbfs": -40}))
    assert lenient["leading_silence_sec"] == pytest.approx(1.0, abs=0.002)


def test_all_silent_file_has_null_levels_and_fails_the_target(media_dir):
    path = synth.write_audio(media_dir / "silence.wav", np.zeros((96000, 2), np.float32), 48000)
    result = run_detector("audio_loudness", path, {"target_lufs": -14, "max_true_peak_dbtp": -1})
    m = metrics(result)
    assert m["integrated_lufs"] is None and m["sample_peak_dbfs"] is None and m["true_peak_dbtp"] is None
    assert m["loudness_range_lu"] is None and m["max_momentary_lufs"] is None
    assert m["leading_silence_sec"] == m["trailing_silence_sec"] == m["duration_sec"] == 2.0
    assert not result.pass_check and result.score == 0.5
    assert "integrated loudness none (silent" in result.rationale and "required -14 LUFS ±1 LU" in result.rationale
    result.model_dump_json()  # no -inf/NaN anywhere in the payload


def test_clip_shorter_than_one_gating_block_has_no_integrated_loudness(media_dir):
    path = synth.write_audio(media_dir / "blip.wav", synth.tone(0.3, 48000, amplitude=0.5), 48000)
    result = run_detector("audio_loudness", path, {"min_lufs": -30})
    assert metrics(result)["integrated_lufs"] is None
    assert metrics(result)["sample_peak_dbfs"] == pytest.approx(-6.02, abs=0.01)
    assert "shorter than one 400 ms block" in result.rationale


def test_passing_tone_scores_1_with_a_summary_of_loudness_and_true_peak(media_dir):
    amplitude = 10 ** (-14 / 20)  # -14 LUFS on both stereo channels, true peak -14 dBTP
    path = synth.write_audio(media_dir / "ok.wav", synth.tone(5, 48000, 2, freq=997, amplitude=amplitude), 48000, subtype="FLOAT")
    params = {"target_lufs": -14, "tolerance_lu": 0.5, "min_lufs": -16, "max_lufs": -10, "max_true_peak_dbtp": -1,
              "max_sample_peak_dbfs": -1, "max_leading_silence_sec": 0.1, "max_trailing_silence_sec": 0.1}
    result = run_detector("audio_loudness", path, params)
    assert result.pass_check and result.score == 1.0
    assert result.rationale == "Loudness meets requirements: -14.0 LUFS, -14.0 dBTP"


def test_score_is_the_share_of_checks_that_pass_and_the_rationale_gives_measured_vs_required(media_dir):
    path = synth.write_audio(media_dir / "quiet.wav", synth.tone(5, 48000, 2, freq=997, amplitude=0.1), 48000, subtype="FLOAT")
    result = run_detector("audio_loudness", path, {"target_lufs": -14, "max_true_peak_dbtp": -1, "max_lufs": -9})
    assert result.score == pytest.approx(2 / 3, abs=1e-4)
    assert result.rationale.startswith("1 of 3 checks failed: integrated loudness -20.0")
    assert "LUFS (required -14 LUFS ±1 LU)" in result.rationale


def test_audio_track_of_an_mp4_video_is_measured(media_dir):
    video = synth.write_video(media_dir / "clip.mp4", width=64, height=64, fps=10, seconds=3, audio_rate=48000)
    result = run_detector("audio_loudness", video, {"max_true_peak_dbtp": 0})
    m = metrics(result)
    # The same 440 Hz, 0.5 tone as PCM: AAC must land within a fraction of an LU of it.
    pcm = synth.write_audio(media_dir / "clip.wav", synth.tone(3, 48000, 2), 48000, subtype="FLOAT")
    reference = metrics(run_detector("audio_loudness", pcm))
    assert m["integrated_lufs"] == pytest.approx(reference["integrated_lufs"], abs=0.3)
    assert (m["sample_rate"], m["channels"]) == (48000, 2)
    assert m["duration_sec"] == pytest.approx(3.0, abs=0.1)
    assert result.pass_check
    as_audio = run_detector("audio_loudness", video, content_type="audio")
    assert metrics(as_audio)["integrated_lufs"] == m["integrated_lufs"]


def test_video_without_audio_raises_a_detector_error_saying_so(media_dir):
    video = synth.write_video(media_dir / "mute.mp4", width=64, height=64, fps=10, seconds=1, audio_rate=None)
    with pytest.raises(DetectorError, match="has no audio track, so its loudness cannot be measured"):
        run_detector("audio_loudness", video, {"target_lufs": -14})


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"target_lufs": -14, "loudness": 3}, "Extra inputs are not permitted"),
        ({"min_lufs": -10, "max_lufs": -20}, "min_lufs (-10.0) is greater than max_lufs (-20.0)"),
        ({"tolerance_lu": 2}, "tolerance_lu applies to target_lufs"),
        ({"target_lufs": 5}, "less than or equal to 0"),
        ({"silence_threshold_dbfs": 0}, "less than 0"),
        ({"max_leading_silence_sec": -1}, "greater than or equal to 0"),
    ],
)
def test_invalid_params_are_rejected(media_dir, params, message):
    path = synth.write_audio(media_dir / "t.wav", synth.tone(1, 48000), 48000)
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run_detector("audio_loudness", path, params)


def test_audio_loudness_is_discovered_through_the_qc_entry_point_with_its_version():
    plugins = load_plugins(["qc"], strict=True)
    entry = plugins.detectors.entry("audio_loudness")
    assert entry is not None
    assert (entry.plugin, entry.version) == ("qc", metadata.version("pique-qc"))
    assert entry.detector.reads == "content"
    assert entry.detector.content_types == {"audio", "video"}
    info = next(p for p in plugins.plugins if p.name == "qc")
    assert info.hooks == ("register_detectors",) and not info.builtin


def test_the_installed_plugins_fixture_offers_the_detector(pique_plugins):
    assert "audio_loudness" in pique_plugins.detectors.names()


@pytest.mark.parametrize("rate", RATES)
def test_integrated_loudness_agrees_with_pyloudnorm(rate):
    pyln = pytest.importorskip("pyloudnorm")
    rng = np.random.default_rng(1770)
    # Pink-ish noise with loud, quiet and silent passages, so both gates matter.
    noise = signal.lfilter([1.0], [1.0, -0.95], rng.standard_normal((rate * 12, 2)), axis=0)
    noise *= 0.3 / np.abs(noise).max()
    envelope = np.repeat([1.0, 0.3, 0.0, 1.0, 0.05, 0.6], rate * 2)[:, None]
    x = noise * envelope
    ours = loudness_meter.measure([x[i : i + 30000] for i in range(0, len(x), 30000)], rate).integrated_lufs
    assert ours == pytest.approx(pyln.Meter(rate, filter_class="DeMan").integrated_loudness(x), abs=0.05)
    assert ours == pytest.approx(pyln.Meter(rate).integrated_loudness(x), abs=0.1)
