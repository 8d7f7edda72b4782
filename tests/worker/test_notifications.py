"""GCS notifications parse into typed events; upload object names map to their job."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pique_engine.worker.notifications import (
    OBJECT_DELETE,
    OBJECT_FINALIZE,
    DedupeKey,
    NotificationError,
    UploadRef,
    parse_notification,
    parse_object_name,
)

NAME = "org_123/pending/job_xKt9mNp2qRs3vWy7/safety_test_video.mp4"
GENERATION = "1795949200994876"

# As fake-gcs-server and GCS publish them (captured from the emulator, abridged).
ATTRIBUTES = {
    "eventType": "OBJECT_FINALIZE",
    "bucketId": "judge-content",
    "objectId": NAME,
    "objectGeneration": GENERATION,
    "payloadFormat": "JSON_API_V1",
    "eventTime": "2026-11-29T10:46:40Z",
    "notificationConfig": "projects/_/buckets/judge-content/notificationConfigs/1",
}
RESOURCE = {
    "kind": "storage#object",
    "id": f"judge-content/{NAME}#{GENERATION}",
    "name": NAME,
    "bucket": "judge-content",
    "generation": GENERATION,
    "metageneration": "1",
    "contentType": "video/mp4",
    "timeCreated": "2026-11-29T10:46:40.968442Z",
    "updated": "2026-11-29T10:46:40.968448Z",
    "storageClass": "STANDARD",
    "size": "52428800",
    "md5Hash": "WkG2akOZimA+uVaQCJIg6g==",
    "crc32c": "XePbmg==",
}
DATA = json.dumps(RESOURCE).encode()


def test_finalize_notification_parses_strings_into_numbers_and_times():
    note = parse_notification(ATTRIBUTES, DATA)
    assert note.event_type == OBJECT_FINALIZE
    assert note.is_finalize
    assert (note.bucket, note.object_name, note.generation) == ("judge-content", NAME, 1795949200994876)
    assert note.event_time == datetime(2026, 11, 29, 10, 46, 40, tzinfo=UTC)
    assert note.overwrote_generation is None
    assert note.size == 52_428_800
    assert note.content_type == "video/mp4"
    assert note.resource.md5_hash == "WkG2akOZimA+uVaQCJIg6g=="
    assert note.resource.metageneration == 1
    assert note.notification_config == "projects/_/buckets/judge-content/notificationConfigs/1"


def test_dedupe_key_is_bucket_object_generation_and_prints_as_a_gs_url():
    key = parse_notification(ATTRIBUTES, DATA).dedupe_key
    assert key == DedupeKey("judge-content", NAME, 1795949200994876)
    assert str(key) == f"gs://judge-content/{NAME}#1795949200994876"


def test_redelivered_message_has_the_same_dedupe_key_and_an_overwrite_a_new_one():
    first = parse_notification(ATTRIBUTES, DATA)
    again = parse_notification(dict(ATTRIBUTES), bytes(DATA))
    overwrite = parse_notification(
        {**ATTRIBUTES, "objectGeneration": "1795949201076091", "overwroteGeneration": GENERATION},
        json.dumps({**RESOURCE, "generation": "1795949201076091"}).encode(),
    )
    assert again.dedupe_key == first.dedupe_key
    assert overwrite.dedupe_key != first.dedupe_key
    assert overwrite.overwrote_generation == first.generation


def test_payload_format_none_has_no_resource_and_no_size():
    note = parse_notification({**ATTRIBUTES, "payloadFormat": "NONE"}, b"")
    assert note.resource is None
    assert (note.size, note.content_type) == (None, None)
    assert note.generation == 1795949200994876


def test_other_event_types_parse_but_are_not_finalize():
    note = parse_notification({**ATTRIBUTES, "eventType": OBJECT_DELETE}, DATA)
    assert note.event_type == OBJECT_DELETE
    assert not note.is_finalize


def test_notification_names_the_job_its_object_belongs_to():
    assert parse_notification(ATTRIBUTES, DATA).upload == UploadRef(
        org_id="org_123", job_id="job_xKt9mNp2qRs3vWy7", filename="safety_test_video.mp4"
    )


@pytest.mark.parametrize(
    ("attributes", "data", "message"),
    [
        ({k: v for k, v in ATTRIBUTES.items() if k != "objectGeneration"}, DATA, "objectGeneration"),
        ({**ATTRIBUTES, "objectGeneration": "latest"}, DATA, "objectGeneration"),
        ({k: v for k, v in ATTRIBUTES.items() if k != "bucketId"}, DATA, "bucketId"),
        ({}, b"", "not a GCS notification"),
        (ATTRIBUTES, b"\xff\xfe not json", "not JSON"),
        (ATTRIBUTES, b"[1, 2]", "not a JSON object"),
        (ATTRIBUTES, json.dumps({**RESOURCE, "size": "-1"}).encode(), "size"),
        (ATTRIBUTES, json.dumps({k: v for k, v in RESOURCE.items() if k != "size"}).encode(), "size"),
        (ATTRIBUTES, json.dumps({**RESOURCE, "generation": "1"}).encode(), "its data describes gs://judge-content/.*#1$"),
        (ATTRIBUTES, json.dumps({**RESOURCE, "name": "org_123/pending/other/x.mp4"}).encode(), "its data describes"),
    ],
    ids=[
        "missing-generation",
        "non-numeric-generation",
        "missing-bucket",
        "empty-message",
        "data-not-json",
        "data-not-object",
        "negative-size",
        "missing-size",
        "data-other-generation",
        "data-other-object",
    ],
)
def test_malformed_messages_raise_notification_error_saying_what_is_wrong(attributes, data, message):
    with pytest.raises(NotificationError, match=message):
        parse_notification(attributes, data)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("org_1/pending/job_1/clip.mp4", UploadRef("org_1", "job_1", "clip.mp4")),
        ("org_1/pending/job_1/my clip (1).MP4", UploadRef("org_1", "job_1", "my clip (1).MP4")),
        ("org_1/pending/job_1/dir/clip.mp4", UploadRef("org_1", "job_1", "dir/clip.mp4")),
        ("org_1/pending/job_1/", None),
        ("org_1/pending/job_1", None),
        ("org_1/pending//clip.mp4", None),
        ("/pending/job_1/clip.mp4", None),
        ("org_1/processed/job_1/clip.mp4", None),
        ("org_1/pending/job_1/dir//clip.mp4", None),
        ("clip.mp4", None),
        ("", None),
    ],
)
def test_parse_object_name_accepts_only_pending_upload_names(name, expected):
    assert parse_object_name(name) == expected


segment = st.text(st.characters(blacklist_characters="/", blacklist_categories=("Cs",)), min_size=1, max_size=40)


@given(org_id=segment, job_id=segment, filename=segment)
def test_upload_ref_object_name_round_trips_through_parse_object_name(org_id, job_id, filename):
    ref = UploadRef(org_id, job_id, filename)
    assert parse_object_name(ref.object_name) == ref
