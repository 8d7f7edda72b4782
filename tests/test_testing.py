"""The plugin authors' test kit: run_detector, plugin selection, and the documented example."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import pytest

from pique_engine import Checks, Detector, DetectorError, PluginError, hookimpl, synth, testing
from pique_engine.testing import run_detector

DOCS = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"


def _doc_example() -> dict:
    text = DOCS.read_text(encoding="utf-8")
    block = text.split("A complete content detector", 1)[1]
    code = re.search(r"```python\n(.*?)```", block, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, str(DOCS), "exec"), namespace)  # noqa: S102 - our own documentation
    return namespace


@pytest.fixture(scope="module")
def black_clip(tmp_path_factory):
    picture = synth.black_stretch(synth.moving_bars(160, 90, 25), 1.0, 2.0)
    return synth.write_video(tmp_path_factory.mktemp("kit") / "black.mp4", width=160, height=90, fps=25,
                             seconds=3.0, picture=picture)


def test_the_documented_content_detector_runs_and_finds_the_black_second(black_clip):
    example = _doc_example()
    registered = []
    example["register_detectors"](registered.append)
    (detector,) = registered
    result = run_detector(detector, black_clip, {"max_black_sec": 0.5})
    assert result.metrics["black_frames"]["black_ranges"] == [[1.0, 2.0]]
    assert result.metrics["black_frames"]["darkest_luma"] == 16.0  # limited-range black
    assert not result.pass_check and "black time 1 (required <= 0.5 s)" in result.rationale


def test_run_detector_lets_a_detectors_exception_propagate(black_clip):
    def broken(media, params):
        raise ZeroDivisionError("the author's bug")

    with pytest.raises(ZeroDivisionError, match="the author's bug"):
        run_detector(Detector(name="broken", content_types={"video"}, evaluate=broken), black_clip)


def test_run_detector_validates_the_result_as_an_evaluation_does(black_clip):
    from pique_engine import DetectorResult

    def too_good(media, params):
        return DetectorResult.model_construct(score=1.7, pass_check=True, rationale="x", metrics={})

    with pytest.raises(DetectorError, match="returned an invalid DetectorResult: score"):
        run_detector(Detector(name="too_good", content_types={"video"}, evaluate=too_good), black_clip)


class GoodPlugin:
    __name__ = "good_plugin"

    @hookimpl
    def register_detectors(self, register):
        register(Detector(name="always_fine", content_types={"video"},
                          evaluate=lambda media, params: Checks().result(name="always_fine", metrics={}, summary="fine")))


GOOD = GoodPlugin()


@pytest.fixture
def installed_beside_a_broken_plugin(monkeypatch):
    """Two entry points: ours, and one whose module does not import."""
    eps = metadata.EntryPoints([
        metadata.EntryPoint("a_broken", "pique_engine_no_such_module_here", "pique_engine"),
        metadata.EntryPoint("good", "tests.test_testing:GOOD", "pique_engine"),
    ])
    monkeypatch.setattr(metadata, "entry_points", lambda group=None, **kw: eps if group == "pique_engine" else metadata.EntryPoints([]))
    monkeypatch.delenv("PIQUE_LOAD_PLUGINS", raising=False)
    testing.plugin_with.cache_clear()
    yield
    testing.plugin_with.cache_clear()


def test_run_detector_loads_only_the_plugin_under_test(installed_beside_a_broken_plugin, black_clip):
    result = run_detector("always_fine", black_clip)
    assert result.rationale == "fine"
    plugins = testing.plugin_with("always_fine", None)
    assert [p.name for p in plugins.plugins if not p.builtin] == ["good"]
    assert plugins.failures == []


def test_run_detector_honours_pique_load_plugins(installed_beside_a_broken_plugin, black_clip, monkeypatch):
    monkeypatch.setenv("PIQUE_LOAD_PLUGINS", "")  # none but the built-ins
    with pytest.raises(PluginError, match="detector 'always_fine' is not installed"):
        run_detector("always_fine", black_clip)


def test_a_missing_detector_names_the_plugins_that_failed_to_load(installed_beside_a_broken_plugin, black_clip):
    with pytest.raises(PluginError, match=r"not installed \(plugins that failed to load: a_broken: import failed"):
        run_detector("nobody_has_this", black_clip)
