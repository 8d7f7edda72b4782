"""`evaluate_upload`, the evaluation a sandbox child runs for one upload, called in-process
against storage in a folder (and a storage that fails) so each outcome is exact."""

from __future__ import annotations

import pickle
import shutil

import pytest

from pique_engine.errors import StorageError
from pique_engine.storage.gcs import GcsStorage
from pique_engine.storage.local import LocalStorage
from pique_engine.worker.child import UploadRequest, evaluate_upload

from ..conftest import FIXTURES
from ..worker_harness import REELS

CLIP = FIXTURES / "media" / "phone_rotated_90.mp4"
NAME = "org_1/pending/job_1/clip.mp4"


@pytest.fixture
def storage(tmp_path):
    s = LocalStorage(tmp_path)
    s.path(NAME).parent.mkdir(parents=True)
    shutil.copy(CLIP, s.path(NAME))
    return s


def request(storage, **changes) -> UploadRequest:
    found = storage.locate(NAME)
    fields = dict(job_id="job_1", storage=storage, object_name=NAME, generation=found.generation, size=found.size,
                  content_type="video", declared_size=found.size, judge=REELS, plugin_selection=[])  # fmt: skip
    return UploadRequest(**{**fields, **changes})


def run(req: UploadRequest):
    return evaluate_upload(req, progress=lambda label: None)


def test_the_notified_generation_is_evaluated_and_completes(storage):
    outcome = run(request(storage))
    assert outcome.transient_error is None and outcome.evaluation.completed
    assert outcome.evaluation.payload.job_id == "job_1"


def test_an_upload_of_another_size_than_declared_fails_without_reading_it(storage):
    outcome = run(request(storage, declared_size=100))
    assert outcome.evaluation.payload.error == (
        f"the upload is {CLIP.stat().st_size:,} bytes but 100 were declared; create a new job with the file's real size"
    )


def test_a_generation_that_is_no_longer_there_fails_as_gone_instead_of_reading_another(storage):
    outcome = run(request(storage, generation=storage.locate(NAME).generation - 1))
    assert outcome.gone
    assert outcome.evaluation.payload.error.endswith("no longer exists (overwritten or deleted); upload each file to its own job")


def test_a_judge_naming_a_detector_this_worker_lacks_fails_the_evaluation(storage):
    judge = {"judge_id": "j", "criteria": [{"criterion_id": "c", "detector": "not_installed"}]}
    outcome = run(request(storage, judge=judge))
    assert "not_installed" in outcome.evaluation.payload.error


class Unreachable(LocalStorage):
    def open_head(self, object_name, generation, size=None):
        raise StorageError("reading gs://b/o failed: connection refused. This is usually transient; retry later.")


def test_storage_that_cannot_be_read_is_a_transient_error_worth_a_retry(storage):
    outcome = run(request(Unreachable(storage.root)))
    assert outcome.evaluation is None
    assert outcome.transient_error.startswith("reading gs://b/o failed: connection refused")


def test_a_request_for_gcs_pickles_into_the_child_without_its_client():
    gcs = GcsStorage("uploads", "proj")
    gcs._handle = object()  # stands for a client made in the parent: it must not cross
    copy = pickle.loads(pickle.dumps(gcs))
    assert (copy.bucket, copy.project, copy._handle) == ("uploads", "proj", None)
