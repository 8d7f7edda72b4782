"""The pipeline: one probe, every applicable criterion, a contract-shaped payload."""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time

import pytest

from pique_engine import Detector, DetectorResult, hookimpl
from pique_engine.evaluation import Evaluator, MediaSource
from pique_engine.judge import bind_judge, parse_judge
from pique_engine.payloads import CompletedPayload, FailedPayload
from pique_engine.plugins import load_plugins

from .conftest import FIXTURES

MEDIA = FIXTURES / "media"


class Misbehaving:
    """Detectors that raise or return nonsense, beside healthy ones."""

    __name__ = "misbehaving"

    @hookimpl
    def register_detectors(self, register):
        def raises(media, params):
            raise RuntimeError("model weights missing")

        def returns_nonsense(media, params):
            return {"score": 2}

        def counts_calls(media, params):
            self.calls += 1
            return DetectorResult(score=0.25, pass_check=False, rationale="quarter", metrics={"quarter": {"n": 1}})

        register(Detector(name="raises", content_types={"video", "audio"}, evaluate=raises))
        register(Detector(name="nonsense", content_types={"video"}, evaluate=returns_nonsense))
        register(Detector(name="quarter", content_types={"video"}, evaluate=counts_calls))

    calls = 0


@pytest.fixture(scope="module")
def env():
    plugin = Misbehaving()
    plugins = load_plugins([], extra=[plugin])
    return plugins, Evaluator(plugins), plugin


def bind(plugins, *criteria):
    return bind_judge(parse_judge({"judge_id": "judge_t", "criteria": list(criteria)}), plugins.detectors)


def test_completed_payload_for_the_contract_video(env):
    plugins, evaluator, _ = env
    judge = bind(plugins, {"criterion_id": "c1", "detector": "video_specs", "params": {"aspect_ratio": "9:16"}})
    ev = evaluator.evaluate(MediaSource.from_path(MEDIA / "contract_576x1024_30fps.mp4"), judge, job_id="job_1")
    p = ev.payload
    assert isinstance(p, CompletedPayload)
    body = json.loads(p.to_bytes())
    assert list(body) == ["evaluation_id", "job_id", "content_id", "judge_id", "status", "overall_score", "timestamp", "results"]
    assert (body["job_id"], body["judge_id"], body["status"], body["overall_score"]) == ("job_1", "judge_t", "completed", 1.0)
    assert body["timestamp"].endswith("Z")
    assert list(body["results"][0]) == ["criterion_id", "detector_name", "pass_check", "score", "rationale", "metrics"]
    assert body["results"][0]["metrics"]["video_specs"]["aspect_ratio"] == "9:16"


def test_one_failing_detector_fails_only_its_criterion(env):
    plugins, evaluator, plugin = env
    judge = bind(
        plugins,
        {"criterion_id": "boom", "detector": "raises"},
        {"criterion_id": "junk", "detector": "nonsense"},
        {"criterion_id": "q", "detector": "quarter", "weight": 2},
        {"criterion_id": "specs", "detector": "video_specs"},
    )
    before = plugin.calls
    p = evaluator.evaluate(MediaSource.from_path(MEDIA / "clip_320x240.webm"), judge, job_id="job_2").payload
    assert isinstance(p, CompletedPayload)
    by_id = {r.criterion_id: r for r in p.results}
    assert by_id["boom"].rationale == "detector 'raises' failed: RuntimeError: model weights missing"
    assert (by_id["boom"].score, by_id["boom"].pass_check) == (0.0, False)
    assert by_id["boom"].metrics == {"raises": {"error": by_id["boom"].rationale}}
    assert "returned dict, expected DetectorResult" in by_id["junk"].rationale
    assert by_id["specs"].pass_check is True
    assert plugin.calls == before + 1
    # weighted mean: (0 + 0 + 2*0.25 + 1) / 5
    assert p.overall_score == 0.3


def test_criteria_for_other_content_types_do_not_apply(env):
    plugins, evaluator, _ = env
    judge = bind(plugins, {"criterion_id": "v", "detector": "video_specs"}, {"criterion_id": "a", "detector": "audio_sample_rate"})
    p = evaluator.evaluate(MediaSource.from_path(MEDIA / "tone_48000_stereo.flac"), judge, job_id="job_3").payload
    assert [r.criterion_id for r in p.results] == ["a"]


def test_no_applicable_criterion_fails_the_evaluation(env):
    plugins, evaluator, _ = env
    judge = bind(plugins, {"criterion_id": "v", "detector": "video_specs"})
    p = evaluator.evaluate(MediaSource.from_path(MEDIA / "square_512.png"), judge, job_id="job_4").payload
    assert isinstance(p, FailedPayload)
    assert p.error == "judge 'judge_t' has no criterion for image content (its detectors handle: video)"


def test_a_mislabelled_file_fails_with_what_it_really_is(env):
    plugins, evaluator, _ = env
    judge = bind(plugins, {"criterion_id": "v", "detector": "video_specs"})
    p = evaluator.evaluate(MediaSource.from_path(MEDIA / "wav_named_as.mp4"), judge, job_id="job_5", content_type="video").payload
    assert isinstance(p, FailedPayload)
    assert p.error.startswith("the upload was declared as video but the file is audio (wav, 44100 Hz)")
    body = json.loads(p.to_bytes())
    assert list(body) == ["event", "job_id", "status", "timestamp", "error", "judge_id"]
    assert (body["event"], body["status"]) == ("evaluation.failed", "failed")


def test_the_audio_track_of_a_video_may_be_evaluated_as_audio(env):
    plugins, evaluator, _ = env
    judge = bind(plugins, {"criterion_id": "a", "detector": "audio_sample_rate", "params": {"allowed_sample_rates": [44100]}})
    p = evaluator.evaluate(MediaSource.from_path(MEDIA / "contract_576x1024_30fps.mp4"), judge, job_id="job_6", content_type="audio").payload
    assert isinstance(p, CompletedPayload) and p.results[0].pass_check


@pytest.mark.parametrize("name", ["empty.mp4", "random_bytes.mp4", "truncated_moov_missing.mp4", "hls_playlist_named_as.mp4", "bomb_40000x40000.png"])
def test_broken_files_end_as_failed_payloads_quickly(env, name):
    plugins, evaluator, _ = env
    judge = bind(plugins, {"criterion_id": "v", "detector": "video_specs"}, {"criterion_id": "i", "detector": "image_dimensions"})
    started = time.monotonic()
    p = evaluator.evaluate(MediaSource.from_path(MEDIA / name), judge, job_id="job_7").payload
    assert isinstance(p, FailedPayload)
    assert p.error and "Traceback" not in p.error
    assert time.monotonic() - started < 10  # a generous bound against hangs, not a speed target


def test_an_overall_score_plugin_replaces_the_weighted_mean(env):
    class Strictest:
        __name__ = "strictest"

        @hookimpl
        def overall_score(self, judge, results):
            return min(r.score for r in results)

    plugins = load_plugins([], extra=[Misbehaving(), Strictest()])
    judge = bind(plugins, {"criterion_id": "q", "detector": "quarter"}, {"criterion_id": "specs", "detector": "video_specs"})
    p = Evaluator(plugins).evaluate(MediaSource.from_path(MEDIA / "clip_320x240.mov"), judge, job_id="job_8").payload
    assert p.overall_score == 0.25


class Sloppy:
    """Detectors whose results look right but are not, and one that prints or overruns."""

    __name__ = "sloppy"

    @hookimpl
    def register_detectors(self, register):
        def out_of_range(media, params):
            return DetectorResult.model_construct(score=1.7, pass_check=True, rationale="too good", metrics={})

        def no_rationale(media, params):
            return DetectorResult.model_construct(score=0.5, pass_check=True, metrics={})

        def chatty(media, params):
            print("debugging output from a detector")
            print("and on stderr", file=sys.stderr)
            return DetectorResult(score=1.0, pass_check=True, rationale="spoke", metrics={})

        def peeks(media, params):
            with media.open() as f:
                f.read(4)
            return DetectorResult(score=1.0, pass_check=True, rationale="peeked", metrics={})

        def sleeps(media, params):
            self.release.wait(60)  # never set while the evaluation runs: the 0.3 s budget trips first
            return DetectorResult(score=1.0, pass_check=True, rationale="late", metrics={})

        for name, fn in [("out_of_range", out_of_range), ("no_rationale", no_rationale), ("chatty", chatty),
                         ("peeks", peeks), ("sleeps", sleeps)]:
            register(Detector(name=name, content_types={"video"}, evaluate=fn))

    release = threading.Event()


@pytest.fixture(scope="module")
def sloppy():
    plugin = Sloppy()
    yield load_plugins([], extra=[plugin]), plugin
    plugin.release.set()


def _results(plugins, *detectors, evaluator=None, **kwargs):
    judge = bind(plugins, *({"criterion_id": d, "detector": d} for d in detectors))
    evaluator = evaluator or Evaluator(plugins)
    p = evaluator.evaluate(MediaSource.from_path(MEDIA / "clip_320x240.webm"), judge, job_id="job_s", **kwargs).payload
    return {r.criterion_id: r for r in p.results}, p


def test_a_model_construct_result_is_validated_again_and_fails_its_criterion_only(sloppy):
    by_id, p = _results(sloppy[0], "out_of_range", "no_rationale", "video_specs")
    assert by_id["out_of_range"].rationale.startswith("detector 'out_of_range' returned an invalid DetectorResult: score:")
    assert by_id["no_rationale"].rationale == "detector 'no_rationale' returned an invalid DetectorResult: rationale: Field required"
    assert by_id["video_specs"].pass_check
    assert p.overall_score == pytest.approx(1 / 3, abs=1e-4)


def test_what_a_detector_prints_goes_to_the_log_not_the_output(sloppy, capsys, caplog):
    caplog.set_level(logging.INFO, logger="pique_engine.detector_run")
    by_id, _ = _results(sloppy[0], "chatty")
    assert by_id["chatty"].pass_check
    out, err = capsys.readouterr()
    assert "debugging output" not in out and "on stderr" not in err
    assert "detector stdout (job job_s): debugging output from a detector" in caplog.messages
    assert "detector stderr (job job_s): and on stderr" in caplog.messages


def test_a_header_only_detector_that_opens_the_content_fails_saying_what_to_declare(sloppy):
    by_id, _ = _results(sloppy[0], "peeks")
    assert by_id["peeks"].rationale.startswith("detector 'peeks' declares reads='header' but opened the content; declare reads='content'")


def test_a_detector_past_its_time_budget_is_abandoned_and_the_rest_complete(sloppy):
    plugins = sloppy[0]
    by_id, p = _results(plugins, "sleeps", "video_specs", evaluator=Evaluator(plugins, detector_timeout_sec=0.3))
    assert by_id["sleeps"].rationale.startswith("detector 'sleeps' exceeded its time limit of 0.3 s and was abandoned")
    assert by_id["video_specs"].pass_check and isinstance(p, CompletedPayload)


def test_on_result_skip_and_only_let_a_parent_resume_after_a_crash(sloppy):
    plugins = sloppy[0]
    seen = []
    by_id, p = _results(plugins, "chatty", "peeks", "video_specs", on_result=seen.append,
                        skip={"peeks": "detector 'peeks' crashed its process (signal 11)"})
    assert [r.criterion_id for r in seen] == ["chatty", "peeks", "video_specs"]
    assert by_id["peeks"].rationale == "detector 'peeks' crashed its process (signal 11)"
    only, _ = _results(plugins, "chatty", "peeks", "video_specs", only={"video_specs"})
    assert list(only) == ["video_specs"]


@pytest.mark.parametrize("answer", [RuntimeError("scoring service down"), 1.5, -0.1, float("nan")])
def test_an_overall_score_plugin_that_raises_or_answers_outside_0_1_is_skipped(env, answer, caplog):
    class Broken:
        __name__ = "broken_scoring"

        @hookimpl
        def overall_score(self, judge, results):
            if isinstance(answer, Exception):
                raise answer
            return answer

    plugins = load_plugins([], extra=[Misbehaving(), Broken()])
    judge = bind(plugins, {"criterion_id": "q", "detector": "quarter"}, {"criterion_id": "specs", "detector": "video_specs"})
    p = Evaluator(plugins).evaluate(MediaSource.from_path(MEDIA / "clip_320x240.mov"), judge, job_id="job_9").payload
    assert p.overall_score == 0.625  # the built-in weighted mean: (0.25 + 1) / 2
    assert any("overall_score of plugin 'broken_scoring'" in m and "skipped" in m for m in caplog.messages)


def test_evaluations_running_at_once_restore_the_real_streams_when_the_last_ends(sloppy):
    plugins = sloppy[0]
    before = sys.stdout, sys.stderr
    threads = [threading.Thread(target=_results, args=(plugins, "chatty", "video_specs")) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (sys.stdout, sys.stderr) == before


def test_a_detector_gets_no_more_than_what_is_left_of_the_evaluations_own_limit(sloppy):
    plugins = sloppy[0]
    evaluator = Evaluator(plugins, detector_timeout_sec=600, evaluation_timeout_sec=3)
    by_id, _ = _results(plugins, "video_specs", "sleeps", evaluator=evaluator)
    limit = re.match(r"detector 'sleeps' exceeded its time limit of ([\d.]+) s", by_id["sleeps"].rationale)
    assert limit and float(limit.group(1)) <= 3  # what was left of the evaluation's 3 s, not the detector's 600
    assert by_id["video_specs"].pass_check
