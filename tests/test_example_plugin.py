"""The example plugin, installed as a third party installs it, is found and runs in a judge."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from .conftest import FIXTURES, IN_CI

pytestmark = pytest.mark.integration  # each test runs the pique-engine CLI in a subprocess


@pytest.fixture(scope="module", autouse=True)
def installed():
    if importlib.util.find_spec("pique_qc") is None:
        why = "the example plugin is not installed: pip install -e plugins/pique-qc (make test does)"
        if IN_CI:
            pytest.fail(why)
        pytest.skip(why)


def test_loudness_plugin_is_discovered_through_its_entry_point():
    r = subprocess.run([sys.executable, "-m", "pique_engine", "detectors", "--json"], capture_output=True, text=True, check=True, timeout=600)
    rows = {row["detector"]: row for row in json.loads(r.stdout)}
    assert rows["audio_loudness"]["plugin"] == "qc"
    assert rows["audio_loudness"]["content_types"] == ["audio", "video"]
    assert rows["audio_loudness"]["reads"] == "content"


def test_loudness_runs_in_a_judge_beside_a_builtin():
    judge = FIXTURES / "judges" / "loudness.json"
    r = subprocess.run(
        [sys.executable, "-m", "pique_engine", "evaluate", str(FIXTURES / "media" / "tone_48000_stereo.flac"), "--judge", str(judge)],
        capture_output=True, text=True, timeout=600,  # ~2 s idle, ~10 s on a loaded 2-core machine
    )
    assert r.returncode == 0, r.stderr
    payload = json.loads(r.stdout)
    by_detector = {res["detector_name"]: res for res in payload["results"]}
    loud = by_detector["audio_loudness"]["metrics"]["audio_loudness"]
    # synth.tone: 0.5 amplitude sine on both channels -> 20*log10(0.5) = -6.02 dBFS sample peak
    assert loud["sample_peak_dbfs"] == pytest.approx(-6.02, abs=0.05)
    # mean square 0.125 per channel, two channels, K-weighting ~0 dB at 440 Hz: -0.691 + 10*log10(0.25)
    assert loud["integrated_lufs"] == pytest.approx(-6.71, abs=0.1)
    assert by_detector["audio_sample_rate"]["pass_check"] is True


def test_loudness_disabled_by_plugin_selection_makes_the_judge_invalid():
    import os

    judge = FIXTURES / "judges" / "loudness.json"
    r = subprocess.run(
        [sys.executable, "-m", "pique_engine", "evaluate", str(FIXTURES / "media" / "tone_48000_stereo.flac"), "--judge", str(judge)],
        capture_output=True, text=True, env={**os.environ, "PIQUE_LOAD_PLUGINS": ""}, timeout=600,
    )
    assert r.returncode == 2
    assert "asks for detector 'audio_loudness', which is not installed" in r.stderr
