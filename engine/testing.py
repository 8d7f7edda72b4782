"""A test kit for detector authors (a pytest plugin; `pip install pique-engine[testing]` brings pytest).

    from pique_engine.testing import run_detector
    from pique_engine import synth

    def test_loud_tone_passes(tmp_path):
        path = synth.write_audio(tmp_path / "tone.wav", synth.tone(2.0, 48000), 48000)
        result = run_detector("audio_loudness", path, {"target_lufs": -14})
        assert result.pass_check

Fixtures: `pique_plugins` (the plugins `PIQUE_LOAD_PLUGINS` selects, all by default, loaded
once per session) and `media_dir` (a temporary folder for generated media).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any, NoReturn

import pytest

from . import hookspecs
from .content_run import run_content
from .detector import Detector, DetectorResult, Media
from .detector_run import Outcome, guarded_media, outcome_of
from .errors import DetectorError, PluginError
from .evaluation import DEFAULT_DETECTOR_TIMEOUT_SEC, MediaSource, check_content_type
from .media.info import ContentType
from .media.probe import ProbeLimits, probe
from .plugins import Plugins, load_plugins
from .settings import Settings


def installed_plugins() -> Plugins:
    """The plugins `PIQUE_LOAD_PLUGINS` selects (all when unset); one broken plugin is skipped, not fatal."""
    return _installed(_selection())


@lru_cache(maxsize=4)
def _installed(selection: tuple[str, ...] | None) -> Plugins:
    return load_plugins(None if selection is None else list(selection))


def _selection() -> tuple[str, ...] | None:
    selection = Settings().plugin_selection()
    return None if selection is None else tuple(selection)


@lru_cache(maxsize=32)
def plugin_with(name: str, selection: tuple[str, ...] | None) -> Plugins:
    """The plugins that provide detector `name`: the built-ins, then one entry point at a time.

    Only the plugin that registers `name` is kept, so a broken plugin installed beside it
    cannot fail its author's tests; with `PIQUE_LOAD_PLUGINS` set, exactly that selection loads.
    """
    if selection is not None:
        candidates = [load_plugins(list(selection))]
    else:
        names = sorted(ep.name for ep in metadata.entry_points(group=hookspecs.PROJECT))
        candidates = (load_plugins(load) for load in [[]] + [[n] for n in names])
    failures = []
    for plugins in candidates:
        if name in plugins.detectors.names():
            return plugins
        failures += plugins.failures
    detector_missing(name, failures)


def detector_missing(name: str, failures=()) -> NoReturn:
    broken = "; ".join(f"{f.name}: {f.error}" for f in failures)
    raise PluginError(
        f"detector {name!r} is not installed"
        + (f" (plugins that failed to load: {broken})" if broken else "")
        + "; install the plugin that provides it, or pass the Detector object itself"
    )


def run_detector(
    detector: str | Detector,
    path: str | Path,
    params: dict[str, Any] | None = None,
    *,
    content_type: ContentType | None = None,
    limits: ProbeLimits | None = None,
    timeout_sec: float = DEFAULT_DETECTOR_TIMEOUT_SEC,
) -> DetectorResult:
    """Probe `path` and run one detector on it with `params`, as an evaluation would.

    A content detector is fed by the same decode pass as in an evaluation. The result is
    validated as in an evaluation; unlike one, a detector's exception propagates, so a test
    sees the traceback.
    """
    if isinstance(detector, str):
        detector = plugin_with(detector, _selection()).detectors.get(detector) or detector_missing(detector)
    info = probe(path, limits)
    declared = content_type or info.kind
    check_content_type(info, declared)
    if declared not in detector.content_types:
        raise ValueError(f"detector {detector.name!r} does not handle {declared} content")
    source = MediaSource.from_path(path)
    media = Media(info=info, name=source.name, opener=source.open_content)
    bound_params = detector.params.model_validate(params or {})
    outcome = _run(detector, media, bound_params, limits or ProbeLimits(), timeout_sec)
    if outcome.exception is not None:
        raise outcome.exception
    if outcome.result is None:
        raise DetectorError(outcome.error or f"detector {detector.name!r} returned no result")
    return outcome.result


def _run(detector: Detector, media: Media, params: Any, limits: ProbeLimits, timeout_sec: float) -> Outcome:
    if detector.requests is None:
        guarded = guarded_media(media, detector)
        return outcome_of(detector, lambda: detector.evaluate(guarded, params))
    outcomes: dict[str, Outcome] = {}
    run_content([("run_detector", detector, params)], media, budget=lambda: timeout_sec, limits=limits,
                on_outcome=outcomes.__setitem__)
    return outcomes["run_detector"]


@pytest.fixture(scope="session")
def pique_plugins() -> Plugins:
    """The installed plugins (as `PIQUE_LOAD_PLUGINS` selects), loaded once per test session."""
    return installed_plugins()


@pytest.fixture
def media_dir(tmp_path: Path) -> Path:
    """A folder for media a test generates with `pique_engine.synth`."""
    d = tmp_path / "media"
    d.mkdir()
    return d
