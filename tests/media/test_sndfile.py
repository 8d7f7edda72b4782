"""Audio described by libsndfile names its codec exactly as FFmpeg does."""

from __future__ import annotations

import av
import pytest

from pique_engine import synth
from pique_engine.media.probe import probe
from pique_engine.media.sndfile import ffmpeg_codec, probe_soundfile
from pique_engine.media.sniff import HEAD_BYTES, sniff


def ffmpeg_name(path) -> str:
    with av.open(str(path)) as container:
        return container.streams.audio[0].codec_context.codec.canonical_name


@pytest.mark.parametrize(
    "name, subtype, expected",
    [
        ("pcm16.wav", "PCM_16", "pcm_s16le"),
        ("pcm24.wav", "PCM_24", "pcm_s24le"),
        ("pcm32.wav", "PCM_32", "pcm_s32le"),
        ("pcmu8.wav", "PCM_U8", "pcm_u8"),
        ("float.wav", "FLOAT", "pcm_f32le"),
        ("double.wav", "DOUBLE", "pcm_f64le"),
        ("ulaw.wav", "ULAW", "pcm_mulaw"),
        ("alaw.wav", "ALAW", "pcm_alaw"),
        ("tone.flac", None, "flac"),
        ("tone.ogg", None, "vorbis"),
        ("tone.mp3", None, "mp3"),
        ("tone.opus", None, "opus"),
    ],
)
def test_the_codec_is_the_name_ffmpeg_gives_the_same_file(tmp_path, name, subtype, expected):
    rate = 48000 if name.endswith(".opus") else 44100
    path = synth.write_audio(tmp_path / name, synth.tone(0.5, rate), rate, subtype=subtype)
    with open(path, "rb") as f:
        fmt = sniff(f.read(HEAD_BYTES))
        described = probe_soundfile(f, fmt, path.stat().st_size)  # libsndfile itself, no FFmpeg fallback
    assert described.audio.codec == expected == ffmpeg_name(path)
    assert probe(path).audio.codec == expected


def test_subtypes_ffmpeg_has_no_name_for_keep_libsndfile_s_name_in_lower_case():
    assert ffmpeg_codec("wav", "NMS_ADPCM_16") == "nms_adpcm_16"
    assert ffmpeg_codec("flac", "PCM_24") == "flac"
    assert ffmpeg_codec("ogg", "PCM_16") == "flac"  # FLAC in Ogg
