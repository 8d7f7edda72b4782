"""FFmpeg filter chains inside the decode pass report what FFmpeg itself reports."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from pique_engine import synth
from pique_engine.media.consumers import Collect
from pique_engine.media.content import AudioFilter, VideoFilter
from pique_engine.media.decode_pass import run_pass
from pique_engine.media.filters import AUDIO_FILTERS, VIDEO_FILTERS, FilterChainError, parse_chain

from ..conftest import require_service

BLACK = "blackdetect=d=0.1:pix_th=0.1"
SILENCE = "silencedetect=n=-60dB:d=0.5"


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """4 s at 10 fps: black from 1.5 s to 2.5 s, silence from 1.0 s to 2.5 s."""
    picture = synth.black_stretch(synth.moving_bars(96, 64, 10), 1.5, 2.5)
    sound = synth.silent_stretch(synth.tone(4.0, 48000, 2), 48000, 1.0, 2.5)
    path = tmp_path_factory.mktemp("filters") / "clip.mp4"
    return synth.write_video(path, width=96, height=64, fps=10, seconds=4, audio_rate=48000, picture=picture, sound=sound)


def _events(clip, request):
    out = Collect()
    stats = run_pass(clip, [(request, out)])
    assert stats.failures == {}
    return {k: (float(v), e.time) for e in out.items for k, v in e.metadata.items()}


def test_blackdetect_reports_the_black_stretch_at_its_time(clip):
    events = _events(clip, VideoFilter(chain=BLACK))
    assert events["lavfi.black_start"][0] == pytest.approx(1.5, abs=1e-6)
    assert events["lavfi.black_end"][0] == pytest.approx(2.5, abs=1e-6)


def test_silencedetect_reports_the_silent_stretch_at_its_time(clip):
    events = _events(clip, AudioFilter(chain=SILENCE))
    # AAC frames are 1024 samples (21 ms) and the encoder's filter rings into the silence.
    assert events["lavfi.silence_start"][0] == pytest.approx(1.0, abs=0.05)
    assert events["lavfi.silence_end"][0] == pytest.approx(2.5, abs=0.05)
    assert float(events["lavfi.silence_duration"][0]) == pytest.approx(1.5, abs=0.05)


def test_a_chain_of_two_filters_with_a_format_conversion_between_them(clip):
    events = _events(clip, VideoFilter(chain=f"scale=48:32,format=gray,{BLACK}"))
    assert events["lavfi.black_start"][0] == pytest.approx(1.5, abs=1e-6)


def test_ebur128_metadata_arrives_per_audio_frame(clip):
    out = Collect()
    run_pass(clip, [(AudioFilter(chain="ebur128=peak=true:metadata=1"), out)])
    momentary = [float(e.metadata["lavfi.r128.M"]) for e in out.items if "lavfi.r128.M" in e.metadata]
    assert len(momentary) > 20
    # a 0.5-amplitude stereo sine sits near -6 LUFS-ish momentary loudness; silence reads far below
    assert max(momentary) > -12 and min(momentary) < -60


def _ffmpeg_metadata(ffmpeg: str, clip, option: str, chain: str, pattern: str) -> dict[str, float]:
    run = subprocess.run([ffmpeg, "-hide_banner", "-nostats", "-i", str(clip), option, chain, "-f", "null", "-"],
                         capture_output=True, text=True, timeout=120)
    return {k: float(v) for k, v in re.findall(pattern, run.stderr)}


def test_blackdetect_and_silencedetect_agree_with_the_ffmpeg_binary(clip):
    ffmpeg = shutil.which("ffmpeg")
    require_service(ffmpeg is not None, "ffmpeg is not installed (apt-get install ffmpeg) to compare against")
    black = _ffmpeg_metadata(ffmpeg, clip, "-vf", BLACK, r"(black_start|black_end):(\S+)")
    silence = _ffmpeg_metadata(ffmpeg, clip, "-af", SILENCE, r"(silence_start|silence_end): (\S+)")
    ours_black = _events(clip, VideoFilter(chain=BLACK))
    ours_silence = _events(clip, AudioFilter(chain=SILENCE))
    assert black["black_start"] == pytest.approx(ours_black["lavfi.black_start"][0], abs=1e-3)
    assert black["black_end"] == pytest.approx(ours_black["lavfi.black_end"][0], abs=1e-3)
    # ffmpeg's CLI resamples nothing here, but it may start audio at the AAC priming offset
    assert silence["silence_start"] == pytest.approx(ours_silence["lavfi.silence_start"][0], abs=0.03)
    assert silence["silence_end"] == pytest.approx(ours_silence["lavfi.silence_end"][0], abs=0.03)


def test_parse_chain_keeps_escaped_commas_and_quotes():
    assert parse_chain(r"select='eq(n\,0)',format=gray", VIDEO_FILTERS) == [("select", r"'eq(n\,0)'"), ("format", "gray")]
    assert parse_chain("silencedetect", AUDIO_FILTERS) == [("silencedetect", None)]


@pytest.mark.parametrize("chain", ["movie=/etc/passwd", "sendcmd=f=cmds.txt,blackdetect", "cropdetect"])
def test_filters_that_read_files_or_are_not_analysis_are_refused_naming_the_allowed_ones(chain):
    with pytest.raises(FilterChainError, match="is not allowed in the decode pass; use one of: .*blackdetect"):
        parse_chain(chain, VIDEO_FILTERS)


def test_a_video_filter_in_an_audio_chain_is_refused():
    with pytest.raises(FilterChainError, match="'blackdetect' .* not allowed"):
        parse_chain("blackdetect", AUDIO_FILTERS)


def test_bad_filter_arguments_fail_only_the_consumer_that_asked_with_ffmpegs_reason(clip):
    good = Collect()
    stats = run_pass(clip, [(VideoFilter(chain="blackdetect=nonsense=1"), Collect()), (VideoFilter(chain=BLACK), good)])
    assert isinstance(stats.failures[0], FilterChainError)
    assert "FFmpeg refused the filter chain 'blackdetect=nonsense=1'" in str(stats.failures[0])
    assert 1 not in stats.failures and len(good.items) == 2
