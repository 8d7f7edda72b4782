"""One decode pass serves every request: rates, sizes, formats, rotation, audio, images, limits."""

from __future__ import annotations

import io
import tracemalloc

import av
import numpy as np
import pytest

from pique_engine import synth
from pique_engine.errors import MediaLimitError, ProbeError
from pique_engine.media.consumers import Collect
from pique_engine.media.content import AudioBlocks, ImagePixels, VideoFrames
from pique_engine.media.decode_pass import run_pass
from pique_engine.media.limits import ProbeLimits

from ..conftest import FIXTURES

# x264 with B-frames and a keyframe every second (as phones and streaming encoders do), no
# scene-cut keyframes, so where keyframes fall is known.
GOP_1S = {"preset": "veryfast", "g": "10", "keyint_min": "10", "sc_threshold": "0", "bf": "3", "crf": "30"}


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """4 s at 10 fps, 96x64, black from 1.5 s to 2.5 s, stereo tone silent from 1.0 s to 2.5 s."""
    picture = synth.black_stretch(synth.moving_bars(96, 64, 10), 1.5, 2.5)
    sound = synth.silent_stretch(synth.tone(4.0, 48000, 2), 48000, 1.0, 2.5)
    path = tmp_path_factory.mktemp("pass") / "clip.mp4"
    return synth.write_video(path, width=96, height=64, fps=10, seconds=4, audio_rate=48000, picture=picture,
                             sound=sound, codec_options=GOP_1S)


@pytest.fixture(scope="module")
def long_gop(tmp_path_factory):
    """6 s at 30 fps with a keyframe every 2 s and a picture that changes every frame."""
    def picture(i, t):
        y = np.full((72, 128), 40 + (i * 7) % 150, np.uint8)
        y[:, (i * 3) % 120 : (i * 3) % 120 + 8] = 220
        return y

    path = tmp_path_factory.mktemp("pass") / "gop.mp4"
    options = {**GOP_1S, "g": "60", "keyint_min": "60"}
    return synth.write_video(path, width=128, height=72, fps=30, seconds=6, audio_rate=None, picture=picture, codec_options=options)


def _pass(path, *requests, **kwargs):
    outs = [Collect() for _ in requests]
    stats = run_pass(path, list(zip(requests, outs)), **kwargs)
    assert stats.failures == {}
    assert all(o.closed for o in outs)
    return stats, [o.items for o in outs]


def test_every_frame_arrives_in_order_with_its_time_and_stored_luma(clip):
    stats, [frames] = _pass(clip, VideoFrames())
    assert [round(f.time, 3) for f in frames] == [round(i / 10, 3) for i in range(40)]
    assert stats.video_frames_decoded == 40
    first = frames[0].image
    assert first.shape == (64, 96) and first.dtype == np.uint8
    black = [f.image.mean() for f in frames if 1.5 <= f.time < 2.5]
    assert len(black) == 10 and all(abs(m - synth.BLACK_LUMA) < 1.5 for m in black)  # limited range
    assert [f.keyframe for f in frames].count(True) == 4


def test_each_consumer_gets_its_own_size_and_format_from_one_decode(clip):
    stats, [small, gray, rgb] = _pass(clip, VideoFrames(max_width=48), VideoFrames(format="gray", max_height=16), VideoFrames(format="rgb"))
    assert stats.video_frames_decoded == 40
    assert small[0].image.shape == (32, 48)
    assert gray[0].image.shape == (16, 24)
    assert rgb[0].image.shape == (64, 96, 3)
    at_black = [f for f in gray if 1.5 <= f.time < 2.5]
    assert all(f.image.max() <= 3 for f in at_black)  # full-range grey: black is 0, not 16
    assert all(not f.image.flags.writeable for f in small)  # pictures may be shared between consumers


def test_frames_are_never_scaled_up(clip):
    _, [frames] = _pass(clip, VideoFrames(max_width=4000, max_height=4000))
    assert frames[0].image.shape == (64, 96)


def test_sampled_request_gets_one_frame_per_mark(clip):
    _, [frames] = _pass(clip, VideoFrames(fps=2))
    times = [f.time for f in frames]
    assert len(times) == 8
    for k, t in enumerate(times):
        assert k / 2 <= t < k / 2 + 0.25  # at its mark, or a few frames after when skipping


def test_keyframes_only_gets_exactly_the_keyframes(clip):
    with av.open(str(clip)) as c:
        keys = [float(p.pts * p.time_base) for p in c.demux(video=0) if p.is_keyframe]
    stats, [frames] = _pass(clip, VideoFrames(keyframes_only=True))
    assert [f.time for f in frames] == pytest.approx(keys) and keys == pytest.approx([0, 1, 2, 3])
    assert stats.video_frames_decoded == 4


def test_sampling_decodes_a_fraction_of_the_frames_and_the_samples_are_exact(long_gop):
    _, [every] = _pass(long_gop, VideoFrames())
    by_time = {round(f.time, 4): f.image for f in every}
    stats, [sampled] = _pass(long_gop, VideoFrames(fps=1))
    assert [round(f.time, 3) for f in sampled] == [0, 1, 2, 3, 4, 5]
    for f in sampled:  # skipped frames never change a frame that is delivered
        assert np.array_equal(f.image, by_time[round(f.time, 4)])
    # P-frames before each mark must be decoded; the non-reference B-frames are not
    assert stats.video_frames_decoded < 0.6 * len(every)


def test_sampling_keeps_up_over_many_gops_of_one_keyframe_each(media_dir):
    # With one sample per GOP only keyframes are decoded, and the decoder hands each out
    # several packets later: every mark must still get its frame, not only the first few.
    path = synth.write_video(media_dir / "many.mp4", width=64, height=48, fps=10, seconds=12, audio_rate=None, codec_options=GOP_1S)
    stats, [frames] = _pass(path, VideoFrames(fps=1))
    assert [round(f.time, 3) for f in frames] == list(range(12))
    assert stats.video_frames_decoded == 12


def test_sampling_at_one_frame_per_gop_drops_whole_gops_unread(clip):
    stats, [frames] = _pass(clip, VideoFrames(fps=0.5))
    assert [round(f.time, 3) for f in frames] == [0, 2]
    assert stats.video_packets == 40
    assert stats.video_packets_skipped >= 18  # the GOPs at 1 s and 3 s are never decoded
    assert stats.video_frames_decoded <= 4


def test_a_phone_video_delivers_upright_frames(media_dir):
    def marker(i, t):  # stored landscape 64x32, a bright block in the stored top-left corner
        y = np.full((32, 64), 60, np.uint8)
        y[:8, :8] = 230
        return y

    path = synth.write_video(media_dir / "phone.mp4", width=64, height=32, fps=10, seconds=0.5, rotation=90, picture=marker)
    _, [luma, rgb, small] = _pass(path, VideoFrames(), VideoFrames(format="rgb"), VideoFrames(max_height=32))
    image = luma[0].image
    assert image.shape == (64, 32)  # portrait, as a player shows it
    # turned 90 degrees clockwise, the stored top-left corner is shown top-right
    assert image[:8, -8:].mean() > 200 and image[:8, :8].mean() < 100
    assert rgb[0].image.shape == (64, 32, 3)
    assert small[0].image.shape == (32, 16)


def test_audio_blocks_at_the_rate_layout_and_size_asked(clip):
    _, [mono, original] = _pass(clip, AudioBlocks(sample_rate=16000, block_frames=1600), AudioBlocks(channels="original"))
    assert all(b.samples.shape == (1600, 1) and b.samples.dtype == np.float32 for b in mono[:-1])
    assert 0 < len(mono[-1].samples) <= 1600 and mono[0].sample_rate == 16000
    assert [round(b.time, 3) for b in mono[:5]] == [0.0, 0.1, 0.2, 0.3, 0.4]
    assert sum(len(b.samples) for b in mono) == pytest.approx(4.0 * 16000, abs=1600)
    rms = {round(b.time, 1): float(np.sqrt(np.mean(b.samples**2))) for b in mono}
    assert max(rms[t] for t in (1.2, 1.5, 2.0, 2.3)) < 1e-3
    assert min(rms[t] for t in (0.3, 0.6, 3.0, 3.5)) > 0.2
    assert original[0].samples.shape[1] == 2 and original[0].sample_rate == 48000


def test_audio_files_decode_through_the_pinned_demuxer(media_dir):
    wav = synth.write_audio(media_dir / "t.wav", synth.tone(1.0, 22050, 2, amplitude=0.25), 22050)
    _, [blocks] = _pass(wav, AudioBlocks(block_frames=22050))
    assert len(blocks) == 1 and blocks[0].samples.shape == (22050, 1)
    assert float(np.abs(blocks[0].samples).max()) == pytest.approx(0.25, abs=0.01)  # mono is the mean


def test_image_pixels_have_exif_orientation_applied_and_are_bounded(media_dir):
    path = synth.write_image(media_dir / "r.jpg", width=64, height=32, exif_orientation=6)
    _, [rgb, gray] = _pass(path, ImagePixels(), ImagePixels(format="gray", max_height=16))
    assert rgb[0].image.shape == (64, 32, 3)
    assert gray[0].image.shape == (16, 8)


def test_video_requests_on_an_image_and_audio_on_a_silent_video_end_empty(media_dir):
    image = synth.write_image(media_dir / "i.png", width=8, height=8)
    _, [frames] = _pass(image, VideoFrames())
    assert frames == []
    _, [blocks] = _pass(FIXTURES / "media" / "silent_1080x1350.mp4", AudioBlocks())
    assert blocks == []


def test_progress_rises_to_one(clip):
    seen: list[float] = []
    _pass(clip, VideoFrames(fps=1), progress=seen.append)
    assert len(seen) >= 10 and seen[-1] == 1.0
    assert seen == sorted(seen)


def test_a_file_object_is_read_like_a_path(clip):
    _, [frames] = _pass(io.BytesIO(clip.read_bytes()), VideoFrames(keyframes_only=True))
    assert len(frames) == 4


def test_safety_limits_apply_before_and_during_decoding(clip):
    with pytest.raises(MediaLimitError, match="PIQUE_MAX_VIDEO_PIXELS"):
        run_pass(clip, [(VideoFrames(), Collect())], limits=ProbeLimits(max_video_pixels=96 * 63))
    with pytest.raises(MediaLimitError, match="PIQUE_MAX_DURATION_SEC"):
        run_pass(clip, [(VideoFrames(), Collect())], limits=ProbeLimits(max_duration_sec=2.0))


def test_a_playlist_is_never_opened_whatever_its_name(media_dir):
    path = media_dir / "clip.mp4"
    path.write_text("#EXTM3U\n#EXTINF:10,\nhttp://127.0.0.1:9/segment.ts\n#EXT-X-ENDLIST\n")
    with pytest.raises(ProbeError, match="HLS/M3U playlist"):
        run_pass(path, [(VideoFrames(), Collect())])


def test_the_pass_stops_reading_once_every_consumer_has_enough(clip):
    class FirstOnly:
        def __init__(self):
            self.items = []

        def feed(self, item):
            self.items.append(item)
            return True

        def close(self):
            pass

    first = FirstOnly()
    stats = run_pass(clip, [(VideoFrames(), first)])
    assert len(first.items) == 1
    assert stats.video_packets < 20


def test_memory_stays_flat_however_long_the_file(media_dir):
    def peak(seconds):
        path = synth.write_video(media_dir / f"m{seconds}.mp4", width=160, height=120, fps=30, seconds=seconds, audio_rate=None)
        tracemalloc.start()
        try:
            run_pass(path, [(VideoFrames(format="rgb"), _Discard()), (VideoFrames(format="gray", fps=5), _Discard())])
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    short, long = peak(1), peak(8)
    assert long < short * 1.5 + 200_000, (short, long)


class _Discard:
    def feed(self, item):
        pass

    def close(self):
        pass
