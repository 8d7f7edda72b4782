"""Plugin loading: built-ins as ordinary plugins, entry points one at a time, failures isolated."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from pique_engine import Detector, DetectorResult, PluginError, hookimpl
from pique_engine.plugins import DEFAULT_PLUGINS, load_plugins

BUILTIN_DETECTORS = ["audio_sample_rate", "image_dimensions", "video_specs"]


def make_dist(tmp_path: Path, name: str, module_source: str, *, ep_name: str | None = None) -> None:
    """Put an installed-looking distribution with a pique_engine entry point on sys.path."""
    module = name.replace("-", "_")
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(module_source))
    info = tmp_path / f"{module}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[pique_engine]\n{ep_name or module} = {module}\n")


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for mod in [m for m in sys.modules if m.startswith("fake_")]:
        del sys.modules[mod]


GOOD = """
from pique_engine import Detector, DetectorResult, hookimpl

def evaluate(media, params):
    return DetectorResult(score=1, pass_check=True, rationale="fine", metrics={"fake_check": {}})

@hookimpl
def register_detectors(register):
    register(Detector(name="fake_check", content_types={"audio"}, evaluate=evaluate))
"""


def test_builtins_are_registered_as_ordinary_plugins():
    plugins = load_plugins([])
    assert plugins.detectors.names() == BUILTIN_DETECTORS
    builtin = {p.name for p in plugins.plugins if p.builtin}
    assert builtin == set(DEFAULT_PLUGINS)
    entry = plugins.detectors.entry("video_specs")
    assert entry.plugin == "pique_engine.detectors.video_specs"


def test_entry_point_plugin_is_discovered_with_its_version(site):
    make_dist(site, "fake-good", GOOD)
    plugins = load_plugins(None)
    entry = plugins.detectors.entry("fake_check")
    assert (entry.plugin, entry.version) == ("fake_good", "1.2.3")
    info = next(p for p in plugins.plugins if p.name == "fake_good")
    assert info.hooks == ("register_detectors",) and not info.builtin


def test_load_selection_by_name_and_empty_selection_loads_none(site):
    make_dist(site, "fake-good", GOOD)
    assert "fake_check" in load_plugins(["fake_good"]).detectors.names()
    assert "fake_check" in load_plugins(["fake-good"]).detectors.names()  # distribution name
    assert "fake_check" not in load_plugins([]).detectors.names()
    assert "fake_check" not in load_plugins(["something_else"]).detectors.names()


def test_a_plugin_that_fails_to_import_is_reported_by_name_and_skipped(site):
    make_dist(site, "fake-broken", "raise RuntimeError('missing native library libfoo')\n")
    make_dist(site, "fake-good", GOOD)
    plugins = load_plugins(None)
    assert [(f.name, f.error) for f in plugins.failures] == [
        ("fake_broken", "import failed: RuntimeError: missing native library libfoo")
    ]
    assert "fake_check" in plugins.detectors.names()


def test_strict_mode_raises_on_the_first_broken_plugin(site):
    make_dist(site, "fake-broken", "raise ImportError('nope')\n")
    with pytest.raises(PluginError, match="plugin 'fake_broken' failed: import failed: ImportError: nope"):
        load_plugins(None, strict=True)


def test_a_plugin_whose_registration_raises_does_not_hide_other_detectors():
    class Exploding:
        __name__ = "exploding"

        @hookimpl
        def register_detectors(self, register):
            raise ValueError("bad config")

    plugins = load_plugins([], extra=[Exploding()])
    assert plugins.detectors.names() == BUILTIN_DETECTORS
    assert plugins.failures[0].name == "exploding"
    assert "register_detectors failed: ValueError: bad config" in plugins.failures[0].error


def test_registering_a_taken_detector_name_is_reported():
    class Duplicate:
        __name__ = "duplicate"

        @hookimpl
        def register_detectors(self, register):
            register(Detector(name="video_specs", content_types={"video"}, evaluate=lambda m, p: None))

    plugins = load_plugins([], extra=[Duplicate()])
    assert "already registered by 'pique_engine.detectors.video_specs'" in plugins.failures[0].error


def test_a_misspelt_hook_is_caught_by_check_pending():
    class Typo:
        __name__ = "typo"

        @hookimpl
        def register_detector(self, register):  # missing "s"
            pass

    plugins = load_plugins([], extra=[Typo()])
    assert plugins.failures and "register_detector" in plugins.failures[0].error


def test_detector_declaration_is_validated():
    with pytest.raises(ValueError, match="content_types must be a non-empty subset"):
        Detector(name="x", content_types={"text"}, evaluate=lambda m, p: None)
    with pytest.raises(ValueError, match="must be a Python identifier"):
        Detector(name="my-check", content_types={"video"}, evaluate=lambda m, p: None)


def test_detector_result_rejects_out_of_range_scores():
    with pytest.raises(ValueError):
        DetectorResult(score=1.5, pass_check=True, rationale="", metrics={})
    with pytest.raises(ValueError):
        DetectorResult(score=float("nan"), pass_check=True, rationale="", metrics={})
