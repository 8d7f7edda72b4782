"""Content detectors run side by side; BLAS's own threads on top of them only burn CPU."""

import json
import os
import subprocess
import sys

import pytest

from pique_engine import AudioBlocks, Checks, Detector, hookimpl
from pique_engine.blas_threads import _CHOSEN_BY_OPERATOR
from pique_engine.evaluation import Evaluator, MediaSource
from pique_engine.judge import bind_judge, parse_judge
from pique_engine.plugins import load_plugins
from pique_engine.synth import tone, write_audio

PROBE = """
import json, numpy
from threadpoolctl import threadpool_info
from pique_engine.blas_threads import limit_blas_threads
def blas(): return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
before = blas()
limit_blas_threads()
after = blas()
try:
    import scipy.linalg  # its own OpenBLAS, loaded after the first cap
except ImportError:
    later = None
else:
    limit_blas_threads()  # the next content run
    later = blas()
print(json.dumps({"before": before, "after": after, "later": later}))
"""


def _threads(env: dict[str, str]) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", PROBE], env={**clean, **env}, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@pytest.mark.integration
def test_blas_is_limited_to_one_thread_unless_the_operator_set_a_count():
    limited = _threads({})
    if not limited["before"]:
        pytest.skip("numpy here is built without a BLAS that threadpoolctl knows")
    assert limited["after"] == [1] * len(limited["before"])
    if limited["later"] is not None:  # a BLAS loaded by a detector is capped at the next run
        assert limited["later"] and set(limited["later"]) == {1}
    chosen = _threads({"OPENBLAS_NUM_THREADS": "2"})
    assert chosen["after"] == chosen["before"] == [2] * len(chosen["before"])


def test_an_evaluation_with_content_criteria_runs_its_detectors_with_one_blas_thread(tmp_path):
    from threadpoolctl import threadpool_info

    if any(os.environ.get(name) for name in _CHOSEN_BY_OPERATOR):
        pytest.skip("a BLAS thread count is set in this environment; the engine leaves it alone")
    seen = []

    def evaluate(media, params):
        list(media.stream("audio"))
        seen.extend(p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas")
        return Checks().result(name="probe", metrics={}, summary="ok")

    class Plugin:
        __name__ = "blas_probe"

        @hookimpl
        def register_detectors(self, register):
            register(Detector(name="blas_probe", content_types={"audio"}, evaluate=evaluate,
                              requests=lambda p, i: {"audio": AudioBlocks()}))

    plugins = load_plugins([], extra=[Plugin()])
    path = write_audio(tmp_path / "tone.wav", tone(0.5, 16000), 16000)
    judge = bind_judge(parse_judge({"judge_id": "j", "criteria": [{"criterion_id": "c", "detector": "blas_probe"}]}), plugins.detectors)
    payload = Evaluator(plugins).evaluate(MediaSource.from_path(path), judge, job_id="job_blas").payload
    assert payload.results[0].pass_check, payload.results[0].rationale
    assert seen and set(seen) == {1}
