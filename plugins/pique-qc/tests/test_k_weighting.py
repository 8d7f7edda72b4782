"""The K-weighting filter (FFmpeg's biquad through PyAV) and the true-peak low-pass, against scipy."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from scipy import signal

from pique_qc import loudness_meter
from pique_qc.k_weighting import KWeighting, k_weighting_sos
from pique_engine import DetectorError

# Sizes that start and end blocks anywhere: one frame, odd and even counts, none, the detector's 32k.
BLOCK_SIZES = [1, 7, 1000, 32768, 0, 2, 4801, 32768, 3]


def test_k_weighting_at_48k_reproduces_the_bs1770_coefficient_table():
    expected = [
        [1.53512485958697, -2.69169618940638, 1.19839281085285, 1.0, -1.69065929318241, 0.73248077421585],
        [1.0, -2.0, 1.0, 1.0, -1.99004745483398, 0.99007225036621],
    ]
    np.testing.assert_allclose(k_weighting_sos(48000), expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize("rate", [32000, 44100, 48000, 88200])
def test_k_weighting_gain_at_997_hz_is_the_offset_the_standard_cancels(rate):
    _, h = signal.sosfreqz(k_weighting_sos(rate), worN=[997.0], fs=rate)
    assert 20 * math.log10(abs(h[0])) == pytest.approx(0.691, abs=0.02)


@pytest.mark.parametrize("rate", [44100, 48000])
def test_k_weighting_equals_scipy_sosfilt_carrying_its_state_across_blocks(rate):
    rng = np.random.default_rng(rate)
    sos = k_weighting_sos(rate)
    ours = KWeighting(rate)
    zi = np.zeros((len(sos), 2, 2))
    ours_energy = scipy_energy = 0.0
    for size in BLOCK_SIZES:
        x = rng.uniform(-1, 1, (2, size))
        if not size:  # scipy refuses an empty block; here it is a no-op
            assert ours(x).shape == (2, 0)
            continue
        expected, zi = signal.sosfilt(sos, x, axis=-1, zi=zi)
        y = ours(x)
        assert y.shape == x.shape
        np.testing.assert_allclose(y, expected, rtol=0, atol=1e-10)
        ours_energy += float(np.square(y).sum())
        scipy_energy += float(np.square(expected).sum())
    assert ours_energy == pytest.approx(scipy_energy, rel=1e-12)


def test_k_weighting_filters_each_of_six_channels_on_its_own():
    rate = 48000
    rng = np.random.default_rng(6)
    x = rng.uniform(-1, 1, (6, 4000))
    x[3] = 0.0  # a silent channel stays silent: nothing leaks between channels
    y = KWeighting(rate)(x)
    np.testing.assert_allclose(y, signal.sosfilt(k_weighting_sos(rate), x, axis=-1), rtol=0, atol=1e-10)
    assert not y[3].any()


def test_a_rate_too_low_to_k_weight_is_refused_with_the_minimum():
    with pytest.raises(DetectorError, match="3364 Hz"):
        KWeighting(3000)


def test_true_peak_low_pass_equals_scipy_firwin_kaiser_times_4():
    expected = signal.firwin(81, 0.25, window=("kaiser", 5.0)) * 4
    np.testing.assert_allclose(loudness_meter._TRUE_PEAK_FIR, expected, rtol=0, atol=1e-12)


def test_importing_pique_qc_does_not_import_scipy():
    code = "import pique_qc, sys; print(sorted(m for m in sys.modules if m.split('.')[0] == 'scipy'))"
    imported = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert imported.strip() == "[]"
