"""Installed detectors by name, and the plugin that registered each.

The registry sits below `plugins` (which fills it) and `judge` (which binds criteria to it),
so neither needs the other.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from .detector import Detector
from .errors import PluginError


@dataclass(frozen=True)
class RegisteredDetector:
    """A detector and the plugin that registered it."""

    detector: Detector
    plugin: str
    version: str


class DetectorRegistry:
    """Detectors by name."""

    def __init__(self) -> None:
        self._by_name: dict[str, RegisteredDetector] = {}

    def add(self, entry: RegisteredDetector) -> None:
        name = entry.detector.name
        if name in self._by_name:
            other = self._by_name[name].plugin
            raise PluginError(f"plugin {entry.plugin!r} registers detector {name!r}, already registered by {other!r}")
        self._by_name[name] = entry

    def get(self, name: str) -> Detector | None:
        entry = self._by_name.get(name)
        return entry.detector if entry else None

    def entry(self, name: str) -> RegisteredDetector | None:
        return self._by_name.get(name)

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def __iter__(self) -> Iterator[RegisteredDetector]:
        return iter(sorted(self._by_name.values(), key=lambda e: e.detector.name))

    def __len__(self) -> int:
        return len(self._by_name)
