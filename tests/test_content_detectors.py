"""Content detectors: one decode pass feeds every content criterion; each fails alone."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from pydantic import BaseModel

from pique_engine import AudioBlocks, Checks, Detector, DetectorResult, VideoFilter, VideoFrames, synth
from pique_engine.evaluation import Evaluator, MediaSource
from pique_engine.judge import bind_judge, parse_judge
from pique_engine.plugins import load_plugins


class BlackParams(BaseModel):
    min_duration_sec: float = 0.1


def black_requests(params: BlackParams, info):
    return {"luma": VideoFrames(fps=5, format="luma", max_width=64),
            "black": VideoFilter(chain=f"blackdetect=d={params.min_duration_sec}:pix_th=0.10")}


def black_evaluate(media, params: BlackParams) -> DetectorResult:
    dark, frames, starts = 0, 0, []
    for name, item in media.items():
        if name == "luma":
            frames += 1
            dark += float(item.image.mean()) < 20
        elif "lavfi.black_start" in item.metadata:
            starts.append(round(float(item.metadata["lavfi.black_start"]), 3))
    return Checks().result(name="black", metrics={"frames": frames, "dark": dark, "starts": starts}, summary="looked")


def loudness_evaluate(media, params) -> DetectorResult:
    peak = max(float(np.abs(b.samples).max()) for b in media.stream("audio"))
    return Checks().result(name="peak", metrics={"peak": round(peak, 3)}, summary="peak")


BLACK = Detector(name="black", content_types={"video"}, evaluate=black_evaluate, params=BlackParams, requests=black_requests)
PEAK = Detector(name="peak", content_types={"video", "audio"}, evaluate=loudness_evaluate,
                requests=lambda p, info: {"audio": AudioBlocks(sample_rate=8000)})


def _plugin(*detectors: Detector):
    from pique_engine import hookimpl

    class Plugin:
        __name__ = "content_test_plugin"

        @hookimpl
        def register_detectors(self, register):
            for d in detectors:
                register(d)

    return load_plugins([], extra=[Plugin()])


def _judge(plugins, *detector_names: str):
    criteria = [{"criterion_id": f"c{i}", "detector": n} for i, n in enumerate(detector_names)]
    return bind_judge(parse_judge({"judge_id": "j", "criteria": criteria}), plugins.detectors)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("content") / "clip.mp4"
    picture = synth.black_stretch(synth.moving_bars(128, 96, 25), 1.0, 2.0)
    return synth.write_video(path, width=128, height=96, fps=25, seconds=3.0, picture=picture)


def _evaluate(plugins, clip, *names, **kwargs):
    evaluator = Evaluator(plugins, **kwargs.pop("evaluator", {}))
    return evaluator.evaluate(MediaSource.from_path(clip), _judge(plugins, *names), job_id="job_t", **kwargs)


def test_two_content_criteria_are_fed_from_one_pass_and_see_their_own_streams(clip, monkeypatch):
    passes = []
    real = __import__("pique_engine.media.decode_pass", fromlist=["run_pass"]).run_pass

    def counting(*args, **kwargs):
        passes.append(len(args[1]))
        return real(*args, **kwargs)

    monkeypatch.setattr("pique_engine.media.decode_pass.run_pass", counting)
    plugins = _plugin(BLACK, PEAK)
    evaluation = _evaluate(plugins, clip, "black", "peak")
    assert passes == [3]  # one pass, three named streams
    black, peak = evaluation.payload.results
    assert black.metrics["black"]["frames"] == 15  # 5 per second for 3 s
    assert black.metrics["black"]["dark"] == 5  # the second from 1.0 to 2.0
    assert black.metrics["black"]["starts"] == [1.0]
    assert 0.4 < peak.metrics["peak"]["peak"] < 0.7  # synth's tone has amplitude 0.5 (AAC overshoots a little)


def test_a_raising_content_detector_fails_alone_naming_itself(clip):
    def broken(media, params):
        for _ in media.stream("audio"):
            raise RuntimeError("boom")

    plugins = _plugin(BLACK, Detector(name="broken", content_types={"video"}, evaluate=broken,
                                      requests=lambda p, i: {"audio": AudioBlocks()}))
    black, bad = _evaluate(plugins, clip, "black", "broken").payload.results
    assert black.pass_check and black.metrics["black"]["dark"] == 5
    assert not bad.pass_check and bad.rationale == "detector 'broken' failed: RuntimeError: boom"


def test_a_content_detector_past_its_budget_is_abandoned_and_the_others_finish(clip):
    release = threading.Event()

    def stuck(media, params):
        next(iter(media.stream("frames")))
        release.wait(60)  # never set while the evaluation runs: the budget trips first
        return Checks().result(name="stuck", metrics={}, summary="late")

    plugins = _plugin(BLACK, Detector(name="stuck", content_types={"video"}, evaluate=stuck,
                                      requests=lambda p, i: {"frames": VideoFrames()}))
    try:
        evaluation = _evaluate(plugins, clip, "black", "stuck", evaluator={"detector_timeout_sec": 0.5})
    finally:
        release.set()
    black, late = evaluation.payload.results
    assert black.pass_check and black.metrics["black"]["frames"] == 15
    assert not late.pass_check and "detector 'stuck' exceeded its time limit of 0.5 s" in late.rationale


def test_progress_names_the_pass_detectors_and_reports_how_far_it_is(clip):
    labels = []
    _evaluate(_plugin(BLACK, PEAK), clip, "black", "peak", progress=labels.append)
    assert "content pass: detectors 'black', 'peak'" in labels
    percents = [label for label in labels if label.startswith("content pass ") and "%" in label]
    assert percents and percents[-1] == "content pass 100%: detectors 'black', 'peak'"


def test_invalid_requests_fail_that_criterion_with_the_reason(clip):
    plugins = _plugin(BLACK, Detector(name="asks_wrong", content_types={"video"}, evaluate=black_evaluate,
                                      requests=lambda p, i: {"x": "frames please"}))
    black, wrong = _evaluate(plugins, clip, "black", "asks_wrong").payload.results
    assert black.pass_check
    assert "asks_wrong" in wrong.rationale and "str is not a VideoFrames" in wrong.rationale


def test_stream_of_a_name_not_requested_says_which_were(clip):
    def wrong_name(media, params):
        list(media.stream("video"))

    plugins = _plugin(Detector(name="wrong_name", content_types={"video"}, evaluate=wrong_name,
                               requests=lambda p, i: {"frames": VideoFrames(fps=1)}))
    (result,) = _evaluate(plugins, clip, "wrong_name").payload.results
    assert "no stream 'video' was requested; requested: frames" in result.rationale


def test_a_detector_that_returns_early_stops_being_fed_without_stalling_the_pass(clip):
    def first_only(media, params):
        first = next(iter(media.stream("frames")))
        return Checks().result(name="first", metrics={"t": first.time}, summary="first")

    plugins = _plugin(BLACK, Detector(name="first", content_types={"video"}, evaluate=first_only,
                                      requests=lambda p, i: {"frames": VideoFrames()}))
    black, first = _evaluate(plugins, clip, "black", "first").payload.results
    assert first.metrics["first"]["t"] == 0.0 and black.metrics["black"]["frames"] == 15
