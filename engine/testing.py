"""A test kit for detector authors (installed as a pytest plugin with pique-engine).

    from pique_engine.testing import run_detector
    from pique_engine import synth

    def test_loud_tone_passes(tmp_path):
        path = synth.write_audio(tmp_path / "tone.wav", synth.tone(2.0, 48000), 48000)
        result = run_detector("audio_loudness", path, {"target_lufs": -14})
        assert result.pass_check

Fixtures: `pique_plugins` (the installed plugins, loaded once per session) and `media_dir`
(a temporary folder for generated media).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

from .detector import Detector, DetectorResult, Media
from .errors import PluginError
from .evaluation import MediaSource, check_content_type
from .media.info import ContentType
from .plugins import Plugins, load_plugins
from .media.probe import ProbeLimits, probe


@lru_cache(maxsize=1)
def installed_plugins() -> Plugins:
    """Every installed plugin, loaded strictly: a broken plugin fails its author's tests."""
    return load_plugins(strict=True)


def run_detector(
    detector: str | Detector,
    path: str | Path,
    params: dict[str, Any] | None = None,
    *,
    content_type: ContentType | None = None,
    limits: ProbeLimits | None = None,
) -> DetectorResult:
    """Probe `path` and run one detector on it with `params`, exactly as a judge would.

    Unlike an evaluation, a detector's exception propagates, so a test sees the traceback.
    """
    if isinstance(detector, str):
        found = installed_plugins().detectors.get(detector)
        if found is None:
            raise PluginError(f"detector {detector!r} is not installed (installed: {', '.join(installed_plugins().detectors.names())})")
        detector = found
    info = probe(path, limits)
    declared = content_type or info.kind
    check_content_type(info, declared)
    if declared not in detector.content_types:
        raise ValueError(f"detector {detector.name!r} does not handle {declared} content")
    source = MediaSource.from_path(path)
    media = Media(info=info, name=source.name, opener=source.open_content)
    return detector.evaluate(media, detector.params.model_validate(params or {}))


@pytest.fixture(scope="session")
def pique_plugins() -> Plugins:
    """The installed plugins, loaded strictly once per test session."""
    return installed_plugins()


@pytest.fixture
def media_dir(tmp_path: Path) -> Path:
    """A folder for media a test generates with `pique_engine.synth`."""
    d = tmp_path / "media"
    d.mkdir()
    return d
