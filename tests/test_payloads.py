import json
from datetime import UTC, datetime

from pique_engine.payloads import CompletedPayload, CriterionResult, FailedPayload

MOMENT = datetime(2025, 11, 12, 23, 16, 8, 526491, tzinfo=UTC)


def test_completed_payload_bytes_match_the_contract_example_shape():
    p = CompletedPayload(
        evaluation_id="a1922bbb-7264-4e2e-82f6-778702b05a30",
        job_id="job_AbC123XyZ456789",
        content_id="550e8400-e29b-41d4-a716-446655440000",
        judge_id="a1b2c3d4",
        overall_score=0.85,
        timestamp=MOMENT,
        results=[CriterionResult(criterion_id="c", detector_name="video_specs", pass_check=True, score=1, rationale="ok", metrics={"video_specs": {"fps": 30}})],
    )
    assert p.to_bytes() == (
        b'{"evaluation_id":"a1922bbb-7264-4e2e-82f6-778702b05a30","job_id":"job_AbC123XyZ456789",'
        b'"content_id":"550e8400-e29b-41d4-a716-446655440000","judge_id":"a1b2c3d4","status":"completed",'
        b'"overall_score":0.85,"timestamp":"2025-11-12T23:16:08.526491Z","results":[{"criterion_id":"c",'
        b'"detector_name":"video_specs","pass_check":true,"score":1.0,"rationale":"ok","metrics":{"video_specs":{"fps":30}}}]}'
    )


def test_failed_payload_bytes_match_the_contract_example():
    p = FailedPayload(job_id="job_3vp2mT7dJh5vhZmpk2G_yg", timestamp=MOMENT, error="Failed to process video", judge_id="9e8ed8b4")
    assert json.loads(p.to_bytes()) == {
        "event": "evaluation.failed",
        "job_id": "job_3vp2mT7dJh5vhZmpk2G_yg",
        "status": "failed",
        "timestamp": "2025-11-12T23:16:08.526491Z",
        "error": "Failed to process video",
        "judge_id": "9e8ed8b4",
    }
