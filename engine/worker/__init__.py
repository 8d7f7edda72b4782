"""The worker: notifications in, isolated evaluations, results and webhooks out. Imports the pipeline, storage, store and webhooks."""

from ..plugins import DEFAULT_PLUGINS as _DEFAULT_PLUGINS
from .sandbox import preload as _preload

# Every sandbox child the worker layer starts (evaluations of uploads and of local files) forks
# from a forkserver that imported these once: without the pipeline, the storage client, the
# media libraries and the built-in detectors, each evaluation paid ~0.5-1.5 s of imports, and
# a library imported after the child's memory limit is set can fail to start (OpenBLAS).
# `preload` last: it loads the selected plugins, with everything above already imported.
_preload([
    "pique_engine.evaluation", "pique_engine.plugins", "pique_engine.worker.child", "pique_engine.storage.gcs",
    "pique_engine.storage.local", "av", "PIL.Image", "soundfile", "numpy", *_DEFAULT_PLUGINS, "pique_engine.worker.preload",
])  # fmt: skip
