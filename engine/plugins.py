"""Loading plugins and collecting the detectors they register.

Built-in detectors are ordinary plugin modules listed in `DEFAULT_PLUGINS`; third-party
plugins come from the ``pique_engine`` entry-point group and are loaded one at a time, so a
plugin that fails to import is reported by name and skipped instead of breaking the CLI.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import TYPE_CHECKING

import pluggy

from . import hookspecs
from .detector import Detector
from .errors import PluginError
from .registry import DetectorRegistry, RegisteredDetector

if TYPE_CHECKING:
    from .judge import Judge
    from .payloads import CriterionResult

log = logging.getLogger(__name__)

DEFAULT_PLUGINS: tuple[str, ...] = (
    "pique_engine.detectors.video_specs",
    "pique_engine.detectors.image_dimensions",
    "pique_engine.detectors.audio_sample_rate",
    "pique_engine.scoring",
)


@dataclass(frozen=True)
class PluginInfo:
    """What `pique-engine detectors` and `plugins` show about one loaded plugin."""

    name: str
    version: str
    hooks: tuple[str, ...]
    builtin: bool


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that could not be loaded or could not register its detectors."""

    name: str
    error: str


@dataclass
class Plugins:
    """The loaded plugins as the pipeline sees them: detectors by name and the overall score.

    The pipeline asks this facade, never the pluggy manager, so how hooks are called (and
    which plugin wins `overall_score`) stays in this module.
    """

    pm: pluggy.PluginManager
    detectors: DetectorRegistry
    plugins: list[PluginInfo] = field(default_factory=list)
    failures: list[PluginFailure] = field(default_factory=list)

    def detector(self, name: str) -> Detector | None:
        """The installed detector called `name`, or None."""
        return self.detectors.get(name)

    def overall_score(self, judge: Judge, results: Sequence[CriterionResult]) -> float | None:
        """The evaluation's overall score: the first plugin's valid answer (the built-in answers last).

        A plugin that raises or answers outside 0..1 (or NaN) is logged and skipped, so one bad
        scoring plugin falls back to the next instead of failing every evaluation.
        """
        # pluggy calls implementations last-registered first; `trylast` ones (the built-in) at the end.
        for impl in reversed(self.pm.hook.overall_score.get_hookimpls()):
            try:
                score = impl.function(**{k: v for k, v in (("judge", judge), ("results", results)) if k in impl.argnames})
            except Exception as exc:
                log.warning("overall_score of plugin %r raised %s: %s; skipped", impl.plugin_name, type(exc).__name__, exc)
                continue
            if score is None:
                continue
            if isinstance(score, bool) or not isinstance(score, (int, float)) or not 0.0 <= score <= 1.0:
                log.warning("overall_score of plugin %r returned %r, not a number in 0..1; skipped", impl.plugin_name, score)
                continue
            return float(score)
        return None


def _engine_version() -> str:
    try:
        return metadata.version("pique-engine")
    except metadata.PackageNotFoundError:  # running from a source tree
        return "0+unknown"


class _Loader:
    """One `load_plugins` call: the manager being built, each plugin's version, the failures."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.result = Plugins(pm=self.pm, detectors=DetectorRegistry())
        self.versions: dict[str, tuple[str, bool]] = {}

    def fail(self, name: str, error: str) -> None:
        if self.strict:
            raise PluginError(f"plugin {name!r} failed: {error}")
        log.warning("skipping plugin %r: %s", name, error)
        self.result.failures.append(PluginFailure(name=name, error=error))

    def add_builtins(self) -> None:
        engine_version = _engine_version()
        for module_name in DEFAULT_PLUGINS:
            self.pm.register(importlib.import_module(module_name), name=module_name)
            self.versions[module_name] = (engine_version, True)

    def add_entry_points(self, load: Iterable[str] | None) -> None:
        wanted = None if load is None else {n.strip() for n in load if n.strip()}
        for ep in sorted(metadata.entry_points(group=hookspecs.PROJECT), key=lambda e: e.name):
            dist_name = ep.dist.name if ep.dist else ep.name
            if wanted is not None and ep.name not in wanted and dist_name not in wanted:
                continue
            if self.pm.has_plugin(ep.name):
                continue
            try:
                self.pm.register(ep.load(), name=ep.name)
            except Exception as exc:  # a broken plugin must not break the others
                self.fail(ep.name, f"import failed: {type(exc).__name__}: {exc}")
                continue
            self.versions[ep.name] = (ep.dist.version if ep.dist else "unknown", False)

    def add_extra(self, extra: Iterable[ModuleType | object]) -> None:
        for plugin in extra:
            name = self.pm.register(plugin, name=getattr(plugin, "__name__", None))
            self.versions[name] = ("unknown", False)
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            self.fail(getattr(exc.plugin, "__name__", str(exc.plugin)), str(exc))

    def register_detectors(self) -> None:
        # Call each plugin's registration hook on its own: pluggy stops a hook call at the
        # first exception, and one plugin's bug must not hide every other plugin's detectors.
        for impl in self.pm.hook.register_detectors.get_hookimpls():
            name = impl.plugin_name
            version = self.versions.get(name, ("unknown", False))[0]
            staged: list[Detector] = []
            try:
                impl.function(register=staged.append)
                for det in staged:
                    if not isinstance(det, Detector):
                        raise PluginError(f"register() expects a pique_engine.Detector, got {type(det).__name__}")
                    self.result.detectors.add(RegisteredDetector(detector=det, plugin=name, version=version))
            except Exception as exc:
                self.fail(name, f"register_detectors failed: {type(exc).__name__}: {exc}")

    def describe_plugins(self) -> None:
        for name, plugin in self.pm.list_name_plugin():
            version, builtin = self.versions.get(name, ("unknown", False))
            hooks = tuple(sorted(h.name for h in self.pm.get_hookcallers(plugin) or ()))
            self.result.plugins.append(PluginInfo(name=name, version=version, hooks=hooks, builtin=builtin))


def load_plugins(
    load: Iterable[str] | None = None,
    *,
    strict: bool = False,
    extra: Iterable[ModuleType | object] = (),
) -> Plugins:
    """Build a plugin manager with the built-ins, the selected entry-point plugins, and `extra`.

    `load` selects third-party plugins by entry-point or distribution name (None loads them
    all, an empty list none): this is ``PIQUE_LOAD_PLUGINS``. With `strict`, the first
    plugin that fails raises `PluginError` instead of being skipped. `extra` registers plugin
    objects directly (tests, embedding applications).
    """
    loader = _Loader(strict)
    loader.add_builtins()
    loader.add_entry_points(load)
    loader.add_extra(extra)
    loader.register_detectors()
    loader.describe_plugins()
    return loader.result
