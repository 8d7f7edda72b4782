"""Imported once by the sandbox's forkserver (listed in `pique_engine.worker`): load the selected
plugins there, so every child starts with them instead of importing each plugin (and its
dependencies) per evaluation."""

try:
    from ..settings import Settings
    from .child import cached_plugins

    _selection = Settings().plugin_selection()
    cached_plugins(None if _selection is None else tuple(_selection))
except Exception:  # noqa: BLE001 - a child loads them itself, and reports what fails
    pass
