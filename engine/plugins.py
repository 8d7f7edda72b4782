"""Loading plugins and collecting the detectors they register.

Built-in detectors are ordinary plugin modules listed in `DEFAULT_PLUGINS`; third-party
plugins come from the ``pique_engine`` entry-point group and are loaded one at a time, so a
plugin that fails to import is reported by name and skipped instead of breaking the CLI.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType

import pluggy

from . import hookspecs
from .detector import Detector
from .errors import PluginError

log = logging.getLogger(__name__)

DEFAULT_PLUGINS: tuple[str, ...] = (
    "pique_engine.detectors.video_specs",
    "pique_engine.detectors.image_dimensions",
    "pique_engine.detectors.audio_sample_rate",
    "pique_engine.scoring",
)


@dataclass(frozen=True)
class RegisteredDetector:
    """A detector and the plugin that registered it."""

    detector: Detector
    plugin: str
    version: str


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

    def __iter__(self):
        return iter(sorted(self._by_name.values(), key=lambda e: e.detector.name))

    def __len__(self) -> int:
        return len(self._by_name)


@dataclass
class Plugins:
    """The loaded plugin manager, its detectors, and what failed to load."""

    pm: pluggy.PluginManager
    detectors: DetectorRegistry
    plugins: list[PluginInfo] = field(default_factory=list)
    failures: list[PluginFailure] = field(default_factory=list)


def _engine_version() -> str:
    try:
        return metadata.version("pique-engine")
    except metadata.PackageNotFoundError:  # running from a source tree
        return "0+unknown"


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
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    result = Plugins(pm=pm, detectors=DetectorRegistry())
    versions: dict[str, tuple[str, bool]] = {}

    def fail(name: str, error: str) -> None:
        if strict:
            raise PluginError(f"plugin {name!r} failed: {error}")
        log.warning("skipping plugin %r: %s", name, error)
        result.failures.append(PluginFailure(name=name, error=error))

    engine_version = _engine_version()
    for module_name in DEFAULT_PLUGINS:
        pm.register(importlib.import_module(module_name), name=module_name)
        versions[module_name] = (engine_version, True)

    wanted = None if load is None else {n.strip() for n in load if n.strip()}
    for ep in sorted(metadata.entry_points(group=hookspecs.PROJECT), key=lambda e: e.name):
        dist_name = ep.dist.name if ep.dist else ep.name
        if wanted is not None and ep.name not in wanted and dist_name not in wanted:
            continue
        if pm.has_plugin(ep.name):
            continue
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
        except Exception as exc:  # a broken plugin must not break the others
            fail(ep.name, f"import failed: {type(exc).__name__}: {exc}")
            continue
        versions[ep.name] = (ep.dist.version if ep.dist else "unknown", False)

    for plugin in extra:
        name = pm.register(plugin, name=getattr(plugin, "__name__", None))
        versions[name] = ("unknown", False)

    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        fail(getattr(exc.plugin, "__name__", str(exc.plugin)), str(exc))

    # Call each plugin's registration hook on its own: pluggy stops a hook call at the
    # first exception, and one plugin's bug must not hide every other plugin's detectors.
    for impl in pm.hook.register_detectors.get_hookimpls():
        name = impl.plugin_name
        version = versions.get(name, ("unknown", False))[0]
        staged: list[Detector] = []
        try:
            impl.function(register=staged.append)
            for det in staged:
                if not isinstance(det, Detector):
                    raise PluginError(f"register() expects a pique_engine.Detector, got {type(det).__name__}")
                result.detectors.add(RegisteredDetector(detector=det, plugin=name, version=version))
        except Exception as exc:
            fail(name, f"register_detectors failed: {type(exc).__name__}: {exc}")

    for name, plugin in pm.list_name_plugin():
        version, builtin = versions.get(name, ("unknown", False))
        hooks = tuple(sorted(h.name for h in pm.get_hookcallers(plugin) or ()))
        result.plugins.append(PluginInfo(name=name, version=version, hooks=hooks, builtin=builtin))
    return result
